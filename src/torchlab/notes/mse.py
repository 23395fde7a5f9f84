"""MSE and autograd: loss = ||y - (xw + b)||^2, torch.autograd.grad against backward().

F.mse_loss averages by default (reduction="mean"): it is the squared L2 norm divided by N; the sum
in the notes is reduction="sum". autograd.grad returns the gradients; backward() stores them in .grad.
F.mse_loss takes (input, target): pred first, where the notes write (y, pred) (the same value, MSE
being symmetric). The notes' w1, w2 are (w, b) of one layer here, and autograd.grad keeps the graph
(retain_graph=True) so that backward() can run through it after.
"""

import torch
import torch.nn.functional as F

from torchlab.notes import show

ORDER = 110
BLOCKS = ("均方差函数MSE（Mean Squared Error）",)


def mse_forms(y: torch.Tensor, pred: torch.Tensor) -> dict[str, float]:
    return {
        "F.mse_loss(pred, y)": F.mse_loss(pred, y).item(),
        "F.mse_loss(pred, y, reduction='sum')": F.mse_loss(pred, y, reduction="sum").item(),
        "(y - pred).norm(2) ** 2": ((y - pred).norm(2) ** 2).item(),
        "(y - pred).norm(2) ** 2 / N": ((y - pred).norm(2) ** 2 / y.numel()).item(),
    }


def grad_vs_backward(x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Gradients of mse(x @ w + b, y) w.r.t. (w, b): from autograd.grad, then from backward()."""
    w = torch.full((x.shape[1], 1), 0.5).requires_grad_()
    b = torch.zeros(1, requires_grad=True)
    mse = F.mse_loss(x @ w + b, y)
    grads = list(torch.autograd.grad(mse, [w, b], retain_graph=True))  # returned; w.grad is still None
    # without retain_graph the graph is freed here, and backward() below would raise
    mse.backward()  # returns nothing; the gradients land on .grad
    return grads, [w.grad, b.grad]


def main() -> None:
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    pred = x @ torch.ones(3, 1)
    for label, value in mse_forms(y, pred).items():
        show(label, round(value, 5))
    grads, stored = grad_vs_backward(x, y)
    show("torch.autograd.grad(mse, [w, b])", [g.flatten().tolist() for g in grads])
    show("mse.backward(); [w.grad, b.grad]", [g.flatten().tolist() for g in stored])
