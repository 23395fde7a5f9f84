"""RNN: nn.RNN's parameters and shapes, a two-layer RNNCell loop, and the gradient through time.

h_t = tanh(W_xh x_t + W_hh h_{t-1} + b), so dh_{k+1}/dh_k = diag(tanh'(W_xh x_{k+1} + W_hh h_k + b)) W_hh
= diag(1 - h_{k+1}^2) W_hh. The notes index the pre-activation with x_i and h_{i-1}: it must be
the step's own x_{k+1} and h_k.

The notes' `run = nn.RNN(...)` is `rnn`, and their `forward(x, h0)` is calling it: rnn(x, h0). Their
undefined x is a batch [10 words, 3, 100].
"""

import torch
from torch import nn

from torchlab.notes import show

ORDER = 280
BLOCKS = ("RNN原理", "RNNCell")


def rnn_shapes(x: torch.Tensor, num_layers: int = 1) -> dict[str, tuple[int, ...]]:
    """x is [seq, b, 100]; h0 is [num_layers, b, 10] (zeros when left out)."""
    rnn = nn.RNN(100, 10, num_layers=num_layers)
    out, ht = rnn(x, torch.zeros(num_layers, x.shape[1], 10))
    return {"out": tuple(out.shape), "ht": tuple(ht.shape)}


def two_cells(x: torch.Tensor) -> torch.Tensor:
    """The notes' RNNCell(100, 30) -> RNNCell(30, 20) over time; the last h2."""
    cell1, cell2 = nn.RNNCell(100, 30), nn.RNNCell(30, 20)
    h1, h2 = torch.zeros(x.shape[1], 30), torch.zeros(x.shape[1], 20)
    for xt in x:
        h1 = cell1(xt, h1)
        h2 = cell2(h1, h2)
    return h2


def step_jacobian(cell: nn.RNNCell, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dh_{k+1}/dh_k from the formula, from autograd) for one sample."""
    h_next = cell(x, h)
    closed = torch.diag(1 - h_next[0] ** 2) @ cell.weight_hh
    auto = torch.autograd.functional.jacobian(lambda v: cell(x, v)[0], h)[:, 0]
    return closed.detach(), auto


def main() -> None:
    rnn = nn.RNN(100, 10, num_layers=1)
    show("nn.RNN(100, 10)._parameters.keys()", list(rnn._parameters.keys()))
    show("weight_ih_l0, weight_hh_l0 shapes", (tuple(rnn.weight_ih_l0.shape), tuple(rnn.weight_hh_l0.shape)))
    x = torch.randn(10, 3, 100)  # [word num, b, word vec]
    show("nn.RNN(100, 10)(x [10,3,100], h0 [1,3,10])", rnn_shapes(x))
    show("with num_layers=4", rnn_shapes(x, num_layers=4))
    show("two RNNCells: h2.shape", tuple(two_cells(x).shape))
    cell = nn.RNNCell(4, 5)
    closed, auto = step_jacobian(cell, torch.randn(1, 4), torch.randn(1, 5))
    show("dh_{k+1}/dh_k = diag(1 - h_{k+1}^2) W_hh matches autograd", torch.allclose(closed, auto, atol=1e-6))
