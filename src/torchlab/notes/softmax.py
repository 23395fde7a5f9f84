"""Softmax and its Jacobian: dp_i/da_j = p_i (delta_ij - p_j), checked against autograd."""

import torch

from torchlab.notes import show

ORDER = 130
BLOCKS = ()


def jacobian_closed_form(a: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(a, dim=0)
    return torch.diag(p) - p[:, None] * p[None, :]


def jacobian_autograd(a: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.jacobian(lambda v: torch.softmax(v, dim=0), a)


def main() -> None:
    a = torch.tensor([2.0, 1.0, 0.1])
    show("a", a)
    show("softmax(a) = exp(a) / sum exp(a)", torch.softmax(a, dim=0))
    show("p_i (delta_ij - p_j)", jacobian_closed_form(a))
    show("autograd jacobian", jacobian_autograd(a))
