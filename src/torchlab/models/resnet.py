"""A ResNet for small images (28x28, 32x32) built from the notes' ResBlk.

A 3x3 stem, then one stage per entry of `widths`, each of `blocks[i]` ResBlks; every stage
after the first halves the resolution. `widths=[64, 128, 256, 512], blocks=[2, 2, 2, 2]` is
the usual CIFAR ResNet-18; narrower widths and a max-pooled stem train in minutes on a CPU.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from torchlab.config import ModelConfig, count_in_range, in_range
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.layers import Flatten
from torchlab.models.resblk import ResBlk
from torchlab.models.size import MAX_BLOCKS, MAX_LAYERS


class ResNet(nn.Module):
    def __init__(
        self, in_channels: int, num_classes: int, widths: list[int], blocks: list[int], stem_pool: bool = False
    ) -> None:
        super().__init__()
        stem: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        if stem_pool:
            stem.append(nn.MaxPool2d(kernel_size=2, stride=2))
        stages, ch_in = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, blocks, strict=True)):
            for j in range(depth):
                stages.append(ResBlk(ch_in, width, stride=2 if i > 0 and j == 0 else 1))
                ch_in = width
        self.stem = nn.Sequential(*stem)
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(ch_in, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


@dataclass
class ResNetConfig(ModelConfig):
    widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    blocks: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    stem_pool: bool = False  # a 2x2 max-pool after the stem: a quarter of the compute

    def __post_init__(self) -> None:
        in_range("model", 1, widths=self.widths)
        in_range("model", 1, MAX_BLOCKS, "[]", blocks=self.blocks)
        count_in_range("model", 1, MAX_LAYERS, widths=self.widths)
        count_in_range("model", 1, MAX_LAYERS, MAX_BLOCKS, blocks=self.blocks)


@MODELS.register("resnet", config=ResNetConfig, tasks=("classify",))
def build_resnet(cfg: ResNetConfig, info: DataInfo) -> ResNet:
    if len(cfg.widths) != len(cfg.blocks):  # the config checked each list itself
        raise TorchlabError(
            f"model.widths and model.blocks must be lists of one length, got {cfg.widths} and {cfg.blocks}"
        )
    return ResNet(info.input_shape[0], info.num_classes, cfg.widths, cfg.blocks, cfg.stem_pool)
