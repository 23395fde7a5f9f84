"""The notes' 时间序列预测 network: a recurrent layer (nn.RNN, nn.LSTM or nn.GRU, batch_first)
and a Linear head that reads every step's hidden state: `[B, T, F] -> [B, T, F]`.

The forward takes and returns the recurrent state (the notes' `hidden_prev`), so a task can
carry it across batches or feed its own predictions back one step at a time.
"""

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from torchlab.config import ModelConfig, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.size import MAX_LAYERS

RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SequenceRegressor(nn.Module):
    """`rnn` maps `(x [B, T, F], state)` to `(hidden [B, T, H], state)`, as nn.LSTM(batch_first=True) does."""

    def __init__(self, rnn: nn.Module, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, state = self.rnn(x, state)
        return self.head(hidden), state


@dataclass
class RecurrentConfig(ModelConfig):
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers

    def __post_init__(self) -> None:
        in_range("model", 1, hidden_size=self.hidden_size)
        in_range("model", 1, MAX_LAYERS, "[]", num_layers=self.num_layers)
        in_range("model", 0, 1, dropout=self.dropout)


def build_recurrent(kind: str, cfg: RecurrentConfig, info: DataInfo) -> SequenceRegressor:
    features = info.input_shape[-1]
    rnn = RECURRENT[kind](features, cfg.hidden_size, cfg.num_layers, batch_first=True, dropout=cfg.dropout)
    return SequenceRegressor(rnn, cfg.hidden_size, features)


for kind in RECURRENT:
    MODELS.register(kind, config=RecurrentConfig, tasks=("forecast",))(partial(build_recurrent, kind))
