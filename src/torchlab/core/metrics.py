"""Running means of step metrics, kept on the device and read once per logging interval."""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from torchlab.core.distributed import sum_over_ranks

Snapshot = tuple[dict[str, torch.Tensor], int]
MAX_PENDING = 64  # batches a PerSample metric keeps before computing: bounds their memory at any log_every


@dataclass
class PerSample:
    """A metric computed only when the means are read: `fn(*tensors)` gives one value per sample.

    Inside the training loop each small op of a metric costs ~10 us a step (measured), a few per
    cent of a small model's step; kept like this, the batches of a logging interval (at most
    `MAX_PENDING`) are concatenated and computed in one go (a classifier's training accuracy:
    argmax, compare).
    """

    fn: Callable[..., torch.Tensor]
    tensors: tuple[torch.Tensor, ...]  # detached


class RunningMeans:
    """Sample-weighted means of batch-mean metrics; `.means()` is the only host sync. This process's
    samples alone, or with `over_ranks` (training, on shards) every rank's: under torchrun `.means()` is
    then the one collective, which every rank takes part in, one that added no samples too."""

    def __init__(self, over_ranks: bool = False) -> None:
        self.over_ranks = over_ranks
        self.sums: dict[str, torch.Tensor] = {}
        self.pending: dict[str, list[PerSample]] = {}  # added, not yet in the sums
        self.count = 0

    def add(self, metrics: dict[str, torch.Tensor | PerSample], n: int) -> None:
        # At most one in-place op per metric and step: this runs in the hot loop.
        for name, value in metrics.items():
            if isinstance(value, PerSample):
                batches = self.pending.setdefault(name, [])
                batches.append(value)
                if len(batches) >= MAX_PENDING:
                    self.settle()
            elif name in self.sums:
                self.sums[name].add_(value.detach(), alpha=n)
            else:
                self.sums[name] = value.detach().float() * n
        self.count += n

    def settle(self) -> None:
        """Add the pending per-sample metrics to the sums, each computed once over all their batches."""
        for name, batches in self.pending.items():
            columns = (torch.cat(column) for column in zip(*(b.tensors for b in batches), strict=True))
            total = batches[0].fn(*columns).float().sum()
            self.sums[name] = self.sums[name] + total if name in self.sums else total
        self.pending = {}

    def snapshot(self) -> Snapshot:
        """The sums so far, for `means(since=...)` over a logging interval."""
        self.settle()
        return {k: v.clone() for k, v in self.sums.items()}, self.count

    def means(self, since: Snapshot | None = None) -> dict[str, float]:
        """The means over every sample added, or over those added after `since`."""
        self.settle()
        old_sums, old_count = since or ({}, 0)
        sums = {k: v - old_sums[k] if k in old_sums else v for k, v in self.sums.items()}
        count = self.count - old_count
        if self.over_ranks:
            sums, count = sum_over_ranks(sums, count)
        if not sums:
            return {}
        totals = torch.stack(list(sums.values())).cpu()
        return dict(zip(sums, (totals / max(count, 1)).tolist(), strict=True))

    def state_dict(self) -> dict:
        """Tensors and an int only, so a mid-epoch checkpoint can carry the epoch's means so far."""
        self.settle()
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.sums, self.count = {k: v.to(device) for k, v in state["sums"].items()}, state["count"]
