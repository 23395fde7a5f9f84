"""Recurrent layers built from cells, one time step at a time, as the notes' RNNCell/LSTMCell code.

Layer k's cell reads layer k-1's hidden state at the same step (the notes' second LSTMCell is fed
`xt` instead of `h1`, which fails: its input size is 30, not 100). With equal sizes and the same
weights, a two-layer LSTMCell stack computes exactly what nn.LSTM(num_layers=2) does.
"""

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from torchlab.config import ModelConfig, count_in_range, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.rnn import SequenceRegressor
from torchlab.models.size import MAX_LAYERS

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


class CellStack(nn.Module):
    """`(x [B, T, F], state) -> (h of the last layer [B, T, H_last], state)`, batch first.

    `state` is a list with one entry per layer: h `[B, H]`, or `(h, c)` for LSTM cells; None
    starts from zeros.
    """

    def __init__(self, cell: str, input_size: int, hidden_sizes: list[int]) -> None:
        super().__init__()
        sizes = [input_size, *hidden_sizes]
        self.cells = nn.ModuleList(CELLS[cell](n_in, n_out) for n_in, n_out in zip(sizes, sizes[1:], strict=False))

    def forward(self, x: torch.Tensor, state: list[Any] | None = None) -> tuple[torch.Tensor, list[Any]]:
        state = list(state) if state is not None else [None] * len(self.cells)
        outputs = []
        for xt in x.unbind(1):
            for k, cell in enumerate(self.cells):
                state[k] = cell(xt, state[k])
                xt = state[k][0] if isinstance(state[k], tuple) else state[k]  # h feeds the next layer
            outputs.append(xt)
        return torch.stack(outputs, 1), state


@dataclass
class CellsConfig(ModelConfig):
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])

    def __post_init__(self) -> None:
        in_range("model", 1, hidden_sizes=self.hidden_sizes)
        count_in_range("model", 1, MAX_LAYERS, hidden_sizes=self.hidden_sizes)


def build_cells(cell: str, cfg: CellsConfig, info: DataInfo) -> SequenceRegressor:
    features = info.input_shape[-1]
    return SequenceRegressor(CellStack(cell, features, cfg.hidden_sizes), cfg.hidden_sizes[-1], features)


for cell in CELLS:
    MODELS.register(f"{cell}-cells", config=CellsConfig, tasks=("forecast",))(partial(build_cells, cell))
