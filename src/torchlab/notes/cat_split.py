"""Merging and splitting: cat, stack, split, chunk.

split() can return a single piece (split(len) with len >= the size); chunk(n) returns at most n
pieces (chunk(4) of 6 rows gives 3 pieces of 2).
"""

import torch

from torchlab.notes import show

ORDER = 70
BLOCKS = ()


def shapes(pieces: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in pieces]


def main() -> None:
    a, b = torch.rand(4, 32, 8), torch.rand(5, 32, 8)
    show("torch.cat([a [4,32,8], b [5,32,8]], dim=0).shape", tuple(torch.cat([a, b], dim=0).shape))
    a2 = torch.rand(4, 32, 8)
    show("torch.stack([a, a2], dim=0).shape (new dim)", tuple(torch.stack([a, a2], dim=0).shape))
    try:
        torch.stack([a, b])
    except RuntimeError as err:
        show("torch.stack([a, b]) with different shapes", f"RuntimeError: {str(err).splitlines()[0]}")
    c = torch.rand(6, 32, 8)
    show("c.split(2, dim=0)", shapes(c.split(2, dim=0)))
    show("c.split([1, 5], dim=0)", shapes(c.split([1, 5], dim=0)))
    show("c.split(6, dim=0) (one piece is allowed)", shapes(c.split(6, dim=0)))
    show("c.chunk(3, dim=0)", shapes(c.chunk(3, dim=0)))
    show("c.chunk(4, dim=0) (at most 4 pieces)", shapes(c.chunk(4, dim=0)))
