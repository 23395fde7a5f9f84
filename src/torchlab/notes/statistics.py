"""Statistics: norm, max/min with dim and keepdim, median, argmax/argmin, topk, kthvalue, where, gather.

max(dim) returns (values, indices); keepdim=True keeps the dim with size 1 (not the original shape).
torch.where(cond, a, b) takes a where cond holds and b elsewhere (the notes swap them).
The notes' `a.grad.norm(2)` is a gradient's norm; any tensor has it, shown here on `a` itself.
"""

import torch

from torchlab.notes import show

ORDER = 90
BLOCKS = ()


def max_shapes(a: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shapes of a.max(dim=1) without and with keepdim."""
    return tuple(a.max(dim=1).values.shape), tuple(a.max(dim=1, keepdim=True).values.shape)


def where(cond: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(cond, a, b)


def gather_labels(prob: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Map each row's top-k indices to label names by lookup: labels[index], via gather."""
    return torch.gather(labels.expand(prob.shape[0], -1), dim=1, index=index)


def main() -> None:
    a = torch.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    show("a", a)
    show("a.norm(1), a.norm(2), a.norm(2, dim=1)", (a.norm(1).item(), round(a.norm(2).item(), 4), a.norm(2, dim=1)))
    show("a.max(), a.min(), a.median()", (a.max().item(), a.min().item(), a.median().item()))
    show("a.max(dim=1)", a.max(dim=1))
    show("shapes of a.max(dim=1) and a.max(dim=1, keepdim=True)", max_shapes(a))
    show("a.argmax() (flattened), a.argmax(dim=1)", (a.argmax().item(), a.argmax(dim=1)))
    show("a.argmin() (flattened), a.argmin(dim=1)", (a.argmin().item(), a.argmin(dim=1)))
    show("a.topk(2, dim=1)", a.topk(2, dim=1))
    show("a.topk(2, dim=1, largest=False)", a.topk(2, dim=1, largest=False))
    show("a.kthvalue(2, dim=1) (2nd smallest)", a.kthvalue(2, dim=1))
    cond = torch.tensor([[True, False], [False, True]])
    show("torch.where(cond, ones, zeros) (ones where cond)", where(cond, torch.ones(2, 2), torch.zeros(2, 2)))
    prob = torch.rand(4, 10)
    index = prob.topk(3, dim=1).indices
    labels = torch.arange(10) + 100
    show("gather: top-3 indices -> labels 100..109", gather_labels(prob, index, labels))
    show("a > 3 (comparison operators are overloaded)", a > 3)
