"""Graceful stops: a Ctrl-C (SIGINT) or SIGTERM is handled as the phase of the run it arrives in
says (`PHASES`, the one place that decides it); a second one stops at once.

While training (steps, validation, checkpoints) the first signal asks the Trainer to stop: it
checks `stop.requested` between steps and after each epoch's checkpoint, writes
checkpoints/last.pt and raises `Interrupted`. A second signal stops training at once, also while
it waits in a call outside torchlab (a Dataset's read, a logger's request): the last checkpoint
stays as it was, and the message says what it holds. In every other phase the run stops at once with
`Interrupted`, whose message says what is kept and what to run next. The command line turns it
into one line and exit status 128 + the signal (130 / 143). Every file is written atomically, so
even a stop at once corrupts nothing.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)

# What a stop means in each phase. None: the training loop stops at its next check (after the
# current step; during validation or checkpointing, after the epoch's checkpoint) and writes last.pt.
# A text: stop at once; the text (after "stopped by SIGNAL") says what is kept and what comes next.
PHASES: dict[str, str | None] = {
    "": "",  # outside a run (another command, or before its data is loaded): nothing to keep
    "start-up": "before training began; `torchlab resume {run}` starts it",
    "training": None,
    "test": "during the final test; checkpoints/last.pt holds the trained run: `torchlab resume {run}` tests it",
    "figures": "while drawing the figures; the run is complete: `torchlab report {run}` draws them",
}


class Interrupted(KeyboardInterrupt):
    """The run stopped on a signal; `exit_status` is what a shell reports for it."""

    def __init__(self, signum: int, detail: str = "", processes: int = 1) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}" + (f" {detail}" if detail else ""))
        self.signum = signum
        self.exit_status = 128 + signum
        self.processes = processes  # the run resumes only in this many (stopped inside a torchrun epoch)


class StopRequest:
    """Set by the signal handler in the training phase; read by the training loop between steps."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.phase = ""  # a key of PHASES
        self.run_dir: Path | str = "RUN_DIR"  # named in the messages
        self.kept = ""  # what a second signal in training, which stops at once, leaves (the run says)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handle(self, signum: int, frame: object) -> None:
        detail = PHASES[self.phase]
        if detail is None and self.signum is None:  # the training loop stops at its next check
            self.signum = signum
            return
        raise Interrupted(signum, self.kept if detail is None else detail.format(run=self.run_dir))  # at once

    @contextmanager
    def during(self, phase: str) -> Iterator[None]:
        """The block is `phase` of the run (see PHASES); the phase around it comes back after."""
        outer, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = outer


@contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """Catch SIGINT/SIGTERM for the block's duration (main thread only; elsewhere a no-op). Inside
    another such block (the command line's, around a run's) the outer request serves: one per process."""
    outer = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    if isinstance(outer, StopRequest):
        yield outer
        return
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
