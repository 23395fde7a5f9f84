"""LSTM: nn.LSTM shapes, a two-layer LSTMCell loop, and the gates of c_t = f * c_{t-1} + i * g.

The notes feed `xt` to the second cell: it expects the first cell's output h1 (30 features), and
xt (100 features) raises a RuntimeError. The states go in as a tuple (h, c), the type LSTMCell
documents, where the notes pass a list.
"""

import torch
from torch import nn

from torchlab.notes import show

ORDER = 310
BLOCKS = ("LSTM网络",)


def lstm_shapes(x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    lstm = nn.LSTM(input_size=100, hidden_size=20, num_layers=4)
    out, (h, c) = lstm(x)
    return {"out": tuple(out.shape), "h": tuple(h.shape), "c": tuple(c.shape)}


def two_cells(x: torch.Tensor, feed_h1: bool = True) -> torch.Tensor:
    """Two stacked LSTMCells over time; feed_h1=False is the notes' version (feeds xt to cell2)."""
    cell1 = nn.LSTMCell(input_size=100, hidden_size=30)
    cell2 = nn.LSTMCell(input_size=30, hidden_size=20)
    h1, c1 = torch.zeros(x.shape[1], 30), torch.zeros(x.shape[1], 30)
    h2, c2 = torch.zeros(x.shape[1], 20), torch.zeros(x.shape[1], 20)
    for xt in x:
        h1, c1 = cell1(xt, (h1, c1))
        h2, c2 = cell2(h1 if feed_h1 else xt, (h2, c2))
    return h2


def cell_state(c_prev: float, i: float, f: float, g: float = 0.5) -> float:
    """c_t = f * c_{t-1} + i * g, the update the gate table describes (g: the new candidate)."""
    return f * c_prev + i * g


def cell_by_hand(cell: nn.LSTMCell, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """c_t from the gate equations with the cell's own weights (PyTorch stacks gates as i, f, g, o)."""
    gates = x @ cell.weight_ih.t() + cell.bias_ih + h @ cell.weight_hh.t() + cell.bias_hh
    i, f, g, _ = gates.chunk(4, dim=1)
    return torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)


def main() -> None:
    x = torch.randn(10, 3, 100)  # [word num, b, word vec]
    show("nn.LSTM(100, 20, num_layers=4)(x [10,3,100])", lstm_shapes(x))
    show("two LSTMCells, h1 into cell2: h2.shape", tuple(two_cells(x).shape))
    try:
        two_cells(x, feed_h1=False)
    except RuntimeError as err:
        show("the notes' cell2(xt, ...)", f"RuntimeError: {str(err).splitlines()[0]}")
    for i, f, behaviour in [(0, 1, "remember"), (1, 1, "add to"), (0, 0, "erase"), (1, 0, "overwrite")]:
        show(f"input gate {i}, forget gate {f} ({behaviour}): c_prev 2.0 -> c_t (candidate 0.5)", cell_state(2.0, i, f))
    cell = nn.LSTMCell(4, 3)
    xt, h, c = torch.randn(2, 4), torch.randn(2, 3), torch.randn(2, 3)
    show("c_t by hand == LSTMCell's c_t", torch.allclose(cell_by_hand(cell, xt, h, c), cell(xt, (h, c))[1], atol=1e-6))
