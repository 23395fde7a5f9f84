"""Activations: sigmoid, tanh, ReLU and their derivatives, checked against autograd.

sigma' = sigma(1 - sigma), tanh' = 1 - tanh^2, relu' = 1 for x > 0 else 0 (PyTorch uses 0 at x = 0).
Sigmoid's derivative vanishes at both ends: the gradient vanishing the notes describe.
"""

from collections.abc import Callable

import torch

from torchlab.notes import show

ORDER = 100
BLOCKS = ("梯度弥散", "Tanh", "Rectified Linear Unit")

ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "sigmoid": (torch.sigmoid, lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))),
    "tanh": (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2),
    "relu": (torch.relu, lambda x: (x > 0).to(x.dtype)),
}


def derivatives(name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(closed-form derivative, autograd's derivative) of an activation at x."""
    fn, closed_form = ACTIVATIONS[name]
    x = x.detach().requires_grad_()
    (grad,) = torch.autograd.grad(fn(x).sum(), x)
    return closed_form(x.detach()), grad


def main() -> None:
    x = torch.linspace(-10, 10, 5)
    show("x", x)
    for name in ACTIVATIONS:
        closed, auto = derivatives(name, x)
        show(f"torch.{name}(x)", ACTIVATIONS[name][0](x))
        show(f"{name}'(x) closed form", closed)
        show(f"{name}'(x) autograd", auto)
