"""LeNet-5 (LeCun et al., 1998): two 5x5 convolutions with subsampling, then 120-84-classes.

The original takes 32x32 images with tanh activations and average-pool subsampling. Smaller
inputs such as 28x28 (MNIST, Fashion-MNIST) get 2 pixels of zero padding in the first
convolution, so that they see every later shape of the classic net. `activation` and `pool`
choose the modern ReLU/max-pool variant.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from torchlab.config import ModelConfig
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.layers import Flatten

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class LeNet5(nn.Module):
    def __init__(
        self, in_channels: int = 1, num_classes: int = 10, image_size: int = 32, activation: str = "tanh", pool="avg"
    ) -> None:
        super().__init__()
        act, subsample = ACTIVATIONS[activation], POOLS[pool]
        padding = 2 if image_size < 32 else 0
        size = ((image_size + 2 * padding - 4) // 2 - 4) // 2  # 5 for 32x32 and 28x28
        if size < 1:
            raise TorchlabError(f"LeNet-5 needs images of at least 12x12 pixels, got {image_size}x{image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding),  # C1
            act(),
            subsample(kernel_size=2, stride=2),  # S2
            nn.Conv2d(6, 16, kernel_size=5),  # C3
            act(),
            subsample(kernel_size=2, stride=2),  # S4
        )
        self.classifier = nn.Sequential(
            Flatten(),
            nn.Linear(16 * size * size, 120),  # C5
            act(),
            nn.Linear(120, 84),  # F6
            act(),
            nn.Linear(84, num_classes),  # logits
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass
class LeNet5Config(ModelConfig):
    activation: Literal["tanh", "relu", "sigmoid"] = "tanh"
    pool: Literal["avg", "max"] = "avg"


@MODELS.register("lenet5", config=LeNet5Config, tasks=("classify",))
def build_lenet5(cfg: LeNet5Config, info: DataInfo) -> LeNet5:
    channels, height, width = info.input_shape
    if height != width:
        raise TorchlabError(f"LeNet-5 takes square images, got {height}x{width}")
    return LeNet5(channels, info.num_classes, height, cfg.activation, cfg.pool)
