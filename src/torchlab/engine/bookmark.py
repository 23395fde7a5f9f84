"""Where in an epoch a stopped run was, so that its resumption continues exactly.

An epoch's batch order is fixed by the shuffling generator's state when the epoch begins. A stop
between two steps (Ctrl-C, SIGTERM) records that state, the batches done and the epoch's running
means; a run resumed from that last.pt draws the same order, skips the batches done, and goes on
from the RNG states and means of the stopped step. The result is bit-identical (on the CPU) to a
run that never stopped.
"""

from collections.abc import Iterator
from typing import Any

import torch

from torchlab.core.metrics import RunningMeans, Snapshot
from torchlab.core.runtime import restore_rng_states


class Bookmark:
    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator  # the data's shuffling generator
        self.epoch_rng: torch.Tensor | None = None  # its state as this epoch began
        self.stopped: dict[str, Any] | None = None  # set by `mark`: this epoch stopped part-way
        self.pending: dict[str, Any] | None = None  # loaded from a mid-epoch last.pt, until `skip_done`

    def begin_epoch(self) -> None:
        """Fix this epoch's order: the generator's state now, or the stopped epoch's."""
        self.epoch_rng = self.pending["epoch_rng"] if self.pending else self.generator.get_state()
        self.generator.set_state(self.epoch_rng)

    def skip_done(self, batches: Iterator, means: RunningMeans, device: torch.device) -> tuple[int, Snapshot]:
        """Pass over the batches the stopped epoch had done, then restore its RNG states and means.
        Returns how many batches were done (0 when no epoch is being resumed) and the means' snapshot
        at the last logged step, so that the first step logged after a resume covers the same steps."""
        if self.pending is None:
            return 0, means.snapshot()
        done = self.pending["batches"]
        for _ in range(done):
            next(batches)
        restore_rng_states(self.pending["rng"], self.generator)
        state = self.pending["means"]
        means.load_state_dict(state, device)
        self.pending = None
        logged = state.get("logged")  # none in a last.pt of an older torchlab
        if not logged:
            return done, means.snapshot()
        return done, ({k: v.to(device) for k, v in logged["sums"].items()}, logged["count"])

    def mark(self, done: int, means: RunningMeans, logged: Snapshot) -> None:
        """This epoch stops after `done` batches, `logged` the means' snapshot at the last logged step
        (the checkpoint written next records them)."""
        sums, count = logged
        at_log = {"sums": {k: v.cpu() for k, v in sums.items()}, "count": count}
        self.stopped = {"epoch_rng": self.epoch_rng, "batches": done, "means": {**means.state_dict(), "logged": at_log}}

    def state_dict(self) -> dict[str, Any] | None:
        """The checkpoint's `position`: None at an epoch's end."""
        return self.stopped

    def load_state_dict(self, position: dict[str, Any] | None, rng: dict[str, Any]) -> None:
        """Resume the epoch `position` stopped in, with the RNG states `rng` of its stopped step."""
        self.pending = {**position, "rng": rng} if position else None
