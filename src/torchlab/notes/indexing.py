"""Indexing and slicing: start:end:step, index_select, `...`, masked_select.

`totch.masked_select` is a typo for torch.masked_select. The notes' `a[0:28:2]` (隔行索引, every
other row) steps the first dimension, on a [b, c, h, w] batch the images: every other row is
`a[:, :, 0:28:2]`.
"""

import torch

from torchlab.notes import show

ORDER = 40
BLOCKS = ()


def examples(a: torch.Tensor) -> dict[str, torch.Tensor]:
    """The table's operations on a [4, 3, 28, 28] batch of images."""
    return {
        "a[:, :, 0:28:2] (every other row)": a[:, :, 0:28:2],
        "a.index_select(0, tensor([0, 2]))": a.index_select(0, torch.tensor([0, 2])),
        "a[0, ...]": a[0, ...],
        "a[0, :, :, :]": a[0, :, :, :],
    }


def masked(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """torch.masked_select(x, x.ge(threshold)): the values >= threshold, flattened to 1-D."""
    return torch.masked_select(x, x.ge(threshold))


def main() -> None:
    a = torch.rand(4, 3, 28, 28)
    for label, value in examples(a).items():
        show(f"{label}.shape", tuple(value.shape))
    x = torch.tensor([[0.1, 0.7], [0.5, 0.2]])
    show("x", x)
    show("mask = x.ge(0.5)", x.ge(0.5))
    show("torch.masked_select(x, mask)", masked(x))
