"""DenseNet (Huang et al., 2017) for small images: every layer reads all earlier layers' feature maps.

The notes (深度残差网络): "DenseNet：每一层跟前面的每一层直接相连". A dense block's layer is BN-ReLU-Conv3x3
producing `growth` new channels, concatenated to its input, so a block of L layers turns C channels
into C + L·growth. Between blocks a transition (BN-ReLU, 2x2 average pool, Conv1x1 to half the
channels) halves the resolution and the width. A 3x3 stem starts it (strided when `stem_stride` is 2,
then BN-ReLU and max-pooled to half size when `stem_pool`); BN-ReLU, global average pool and a
Linear layer end it.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from torchlab.config import ModelConfig, count_in_range, in_range
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.layers import Flatten
from torchlab.models.size import MAX_BLOCKS, MAX_LAYERS


class DenseLayer(nn.Module):
    def __init__(self, ch_in: int, growth: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.BatchNorm2d(ch_in), nn.ReLU(inplace=True), nn.Conv2d(ch_in, growth, 3, padding=1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(x)], 1)  # the layer's input passes on whole, its output is added


def dense_block(ch_in: int, layers: int, growth: int) -> nn.Sequential:
    return nn.Sequential(*[DenseLayer(ch_in + i * growth, growth) for i in range(layers)])


def transition(ch_in: int, ch_out: int) -> nn.Sequential:
    # The paper convolves, then pools. Both are linear, so pooling first gives the same output
    # with the convolution on a quarter of the pixels.
    return nn.Sequential(
        nn.BatchNorm2d(ch_in), nn.ReLU(inplace=True), nn.AvgPool2d(2), nn.Conv2d(ch_in, ch_out, 1, bias=False)
    )


class DenseNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        blocks: list[int],
        growth: int,
        stem: int,
        stem_pool: bool = True,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, stem_stride, padding=1, bias=False)]
        if stem_pool:
            layers += [nn.BatchNorm2d(stem), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels = stem
        for i, depth in enumerate(blocks):
            layers.append(dense_block(channels, depth, growth))
            channels += depth * growth
            if i < len(blocks) - 1:
                layers.append(transition(channels, channels // 2))
                channels //= 2
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class DenseNetConfig(ModelConfig):
    blocks: list[int] = field(default_factory=lambda: [4, 4, 4])  # layers per dense block
    growth: int = 16  # channels each layer adds (the growth rate k)
    stem: int = 32  # the stem's channels
    stem_pool: bool = True  # a 2x2 max-pool after the stem: a quarter of the compute
    stem_stride: int = 1  # 2: the stem convolution itself halves the resolution (cheaper than its max-pool)

    def __post_init__(self) -> None:
        in_range("model", 1, growth=self.growth, stem=self.stem, stem_stride=self.stem_stride)
        in_range("model", 1, MAX_BLOCKS, "[]", blocks=self.blocks)
        count_in_range("model", 1, MAX_LAYERS, MAX_BLOCKS, blocks=self.blocks)


@MODELS.register("densenet", config=DenseNetConfig, tasks=("classify",))
def build_densenet(cfg: DenseNetConfig, info: DataInfo) -> DenseNet:
    size = info.input_shape[-1] // cfg.stem_stride // (2 if cfg.stem_pool else 1) // 2 ** (len(cfg.blocks) - 1)
    if size < 1:
        raise TorchlabError(f"{len(cfg.blocks)} dense blocks halve {info.input_shape[-1]} pixels below 1: use fewer")
    return DenseNet(
        info.input_shape[0], info.num_classes, cfg.blocks, cfg.growth, cfg.stem, cfg.stem_pool, cfg.stem_stride
    )
