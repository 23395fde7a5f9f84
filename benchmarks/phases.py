"""Where the time of one whole `torchlab` command goes: a timestamp at the end of each phase.

    PYTHONPATH=src python benchmarks/phases.py train mnist-cnn --logger none --out /tmp/run

Prints seconds since the interpreter started its first line: torch imported, torchlab imported,
Trainer built (data loaded, model and optimisers made), fit done (epochs, validation, test),
figures drawn, report written, main done; the time to exit is the rest of the shell's wall time.
"""

import sys
import time

STARTED = time.perf_counter()


def mark(what: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.2f} s] {what}", file=sys.stderr, flush=True)


def timed(owner: object, name: str) -> None:
    """Replace `owner.name` by a wrapper that marks when it returns."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        result = inner(*args, **kwargs)
        mark(f"{name} done")
        return result

    setattr(owner, name, wrapper)


if __name__ == "__main__":
    import torch  # noqa: F401

    mark("torch imported")
    from torchlab import api, cli
    from torchlab.engine.trainer import Trainer

    mark("torchlab imported")
    timed(Trainer, "__init__")
    timed(Trainer, "fit")
    timed(api, "draw_figures")
    timed(api, "write_run_report")
    timed(cli, "main")
    cli.run()  # the command's own exit path
