"""Graceful stops: the first Ctrl-C (SIGINT) or SIGTERM asks the Trainer to stop after the
current step; a second one stops at once.

The Trainer checks `stop.requested` between steps, writes checkpoints/last.pt and raises
`Interrupted`, which the command line turns into exit status 128 + the signal (130 / 143).
Every file is written atomically, so even the immediate second stop corrupts nothing.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run stopped on a signal; `exit_status` is what a shell reports for it."""

    def __init__(self, signum: int, detail: str = "") -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}" + (f" {detail}" if detail else ""))
        self.signum = signum
        self.exit_status = 128 + signum


class StopRequest:
    """Set by the signal handler; read by the training loop between steps."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:  # the second signal: stop now
            raise Interrupted(signum)
        self.signum = signum


@contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """Catch SIGINT/SIGTERM for the block's duration (main thread only; elsewhere a no-op)."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {signum: signal.signal(signum, stop.handle) for signum in SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
