"""BatchNorm in train() and eval() mode, on the same batch: batch statistics against running averages.

In train() mode BatchNorm normalises with the batch's own mean and (biased) variance, so every
channel of the output has mean 0 and variance 1, and it updates running_mean/running_var. In
eval() mode it uses those running averages instead: the same batch gives another output, and a
model tested without `model.eval()` is scored with statistics of whatever batch it is shown.

The notes' Batch Normalization lines say nothing of the two modes; a made-up batch of 64 samples
with 3 channels of very different scales shows them. The notes' N(beta, gamma) and "全局" running
statistics are put right in `torchlab notes normalization`.
"""

import torch
from torch import nn

from torchlab.notes import show

ORDER = 245
BLOCKS = ()


def train_vs_eval(x: torch.Tensor, warmup: int = 0) -> dict[str, torch.Tensor]:
    """Per-channel mean and std of BatchNorm1d's output on `x`, in train() and in eval() mode, after
    `warmup` train() passes over `x` (their running averages are what eval() uses)."""
    layer = nn.BatchNorm1d(x.shape[1])
    for _ in range(warmup):
        layer(x)
    with torch.no_grad():
        evaluated = layer.eval()(x)  # first: a train() pass updates the running averages, even under no_grad
        trained = layer.train()(x)
    return {
        "train mean": trained.mean(0),
        "train std": trained.std(0, unbiased=False),
        "eval mean": evaluated.mean(0),
        "eval std": evaluated.std(0, unbiased=False),
    }


def main() -> None:
    x = torch.randn(64, 3) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([3.0, -2.0, 10.0])
    for warmup in (0, 50):
        stats = train_vs_eval(x, warmup)
        print(f"after {warmup} train() passes over this batch:")
        for key, value in stats.items():
            show(f"  {key} per channel", [round(v, 3) + 0.0 for v in value.tolist()])  # + 0.0: no -0.0
