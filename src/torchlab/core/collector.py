"""Python's cyclic garbage collector during a command's start-up.

Start-up imports torch and what its optimisers import (torch._dynamo, sympy): about half a million
objects that live until the process ends. While they are being made, the collector's full passes
over all of them ran four to six times per `torchlab train mnist-cnn`, 0.1-0.15 s each on the
2-core machine (BENCHMARKS.md, "Fixed costs"). So a training command (`cli.TRAINING`) runs its
start-up with the collector paused; when training begins, what exists is frozen (`gc.freeze`: left
out of every later pass) and collection resumes: from then on only the run's own objects are examined.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"paused": False, "froze": False}


@contextmanager
def paused_through_start_up() -> Iterator[None]:
    """Pause the collector for the block (one command) until `start_up_done`; afterwards it is
    collecting again, with the objects frozen here handed back. A collector already off (the
    caller's choice) is left alone."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    _state.update(paused=True, froze=False)
    try:
        yield
    finally:
        if _state["froze"]:
            gc.unfreeze()
        _state.update(paused=False, froze=False)
        gc.enable()


def start_up_done() -> None:
    """Training begins: freeze what start-up made and collect again (a no-op unless paused)."""
    if not _state["paused"]:
        return
    if gc.get_freeze_count() == 0:  # objects someone else froze would not be ours to unfreeze
        gc.freeze()
        _state["froze"] = True
    _state["paused"] = False
    gc.enable()
