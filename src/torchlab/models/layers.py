"""The notes' own layers (nn.Module 实现自己的层): Flatten and MyLinear.

The notes' MyLinear draws its weights from `torch.randn`, whose scale grows the activations
with the fan-in; here they start as nn.Linear's do (uniform in ±1/sqrt(fan_in)).
"""

import math

import torch
from torch import nn


class Flatten(nn.Module):
    """[b, c, h, w] -> [b, c*h*w]: keeps the batch dimension, flattens the rest."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.size(0), -1)


class MyLinear(nn.Module):
    """y = x @ w.T + b with its own parameters, as nn.Linear computes it."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.w = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w.t() + self.b
