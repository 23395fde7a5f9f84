"""The notes' 多分类问题实战 network: raw weight tensors and a hand-written forward.

Two fixes to the notes: the weights start from Kaiming initialisation (plain `torch.randn`
gives activations so large that SGD does not train), and the logits get no ReLU.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.models import MODELS


def kaiming_weight(out_features: int, in_features: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(out_features, in_features) * math.sqrt(2.0 / in_features))


class ScratchMLP(nn.Module):
    """w1, b1 ... w3, b3 as in the notes; nn.Module only so they can be saved and moved."""

    def __init__(self, in_features: int = 784, hidden: int = 200, num_classes: int = 10) -> None:
        super().__init__()
        self.w1, self.b1 = kaiming_weight(hidden, in_features), nn.Parameter(torch.zeros(hidden))
        self.w2, self.b2 = kaiming_weight(hidden, hidden), nn.Parameter(torch.zeros(hidden))
        self.w3, self.b3 = kaiming_weight(num_classes, hidden), nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, self.w1.shape[1])
        x = F.relu(x @ self.w1.t() + self.b1)
        x = F.relu(x @ self.w2.t() + self.b2)
        return x @ self.w3.t() + self.b3  # logits: no ReLU


@MODELS.register("mlp-scratch", tasks=("classify",))
def build_scratch(cfg: ModelConfig, info: DataInfo) -> ScratchMLP:
    return ScratchMLP(math.prod(info.input_shape), 200, info.num_classes)
