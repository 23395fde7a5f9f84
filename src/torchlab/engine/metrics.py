"""Running means of step metrics, kept on the device and read once at the end of an epoch."""

import torch

from torchlab.engine.distributed import all_reduce_sum


class RunningMeans:
    """Sample-weighted means of batch-mean metrics; `.means()` is the only host sync (and, under
    torchrun, the one all-reduce: every rank gets the means over all ranks' samples)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, metrics: dict[str, torch.Tensor], n: int) -> None:
        for name, value in metrics.items():
            value = value.detach().float() * n
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.count += n

    def means(self) -> dict[str, float]:
        if not self.sums:
            return {}
        count = torch.tensor([float(self.count)], device=next(iter(self.sums.values())).device)
        totals = all_reduce_sum(torch.cat([torch.stack(list(self.sums.values())), count])).cpu()
        return dict(zip(self.sums, (totals[:-1] / max(totals[-1].item(), 1)).tolist(), strict=True))

    def state_dict(self) -> dict:
        """Tensors and an int only, so a mid-epoch checkpoint can carry the epoch's means so far."""
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.count = dict(state["sums"]), state["count"]
