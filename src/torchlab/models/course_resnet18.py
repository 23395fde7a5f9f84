"""The course's "ResNet18" (lesson 45 for CIFAR-10, lesson 63 for the Pokemon folder): a strided stem
and four strided ResBlks, one per stage, so 10 convolutions rather than ResNet-18's 18.

CIFAR-10 (`head: pool`, the defaults): Conv(3→64, 3x3, stride 3) + BN + ReLU, ResBlks 64→128→256→
512→512, each with stride 2, global average pool, Linear(512, 10): 32 → 10 → 5 → 3 → 2 → 1 pixels.
Pokemon (`widths: [16, 32, 64, 128, 256]`, `strides: [3, 3, 3, 2, 2]`, `head: flatten`): 224 →
74 → 25 → 9 → 5 → 3 pixels, flattened into Linear(256·3·3, classes).

Kept from the course (torchlab's `resnet` and models/resblk.py fix them):
- the shortcut is a 1x1 convolution only where the channels change; the last CIFAR block keeps 512
  channels at stride 2, so its identity shortcut (2x2) and its branch (1x1) differ in size and
  the addition *broadcasts*: the block's output stays 2x2, and nothing raises;
- convolutions carry a bias in front of their BatchNorm (which cancels it).
"""

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.config import ModelConfig, count_in_range, in_range
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.layers import Flatten
from torchlab.models.resblk import ResBlk
from torchlab.models.size import MAX_LAYERS


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class CourseResNet18(nn.Module):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        widths: list[int],
        strides: list[int],
        head: Literal["pool", "flatten"] = "pool",
    ) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=strides[0], padding=0), nn.BatchNorm2d(widths[0])
        )
        size = out_size(image_size, 3, strides[0], 0)
        blocks = []
        for ch_in, ch_out, stride in zip(widths, widths[1:], strides[1:], strict=False):
            blocks.append(ResBlk(ch_in, ch_out, stride, conv_bias=True, stride_shortcut=False))
            if ch_in != ch_out:  # an identity shortcut keeps the input's size (it broadcasts)
                size = out_size(size, 3, stride, 1)
        if size < 1:
            raise TorchlabError(f"the course's ResNet18 with strides {strides} needs larger images than {image_size}")
        self.blocks = nn.Sequential(*blocks)
        if head == "pool":
            self.outlayer = nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(widths[-1], num_classes))
        else:
            self.outlayer = nn.Sequential(Flatten(), nn.Linear(widths[-1] * size * size, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outlayer(self.blocks(F.relu(self.conv1(x))))


@dataclass
class CourseResNet18Config(ModelConfig):
    widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 512])  # the stem's, then each block's
    strides: list[int] = field(default_factory=lambda: [3, 2, 2, 2, 2])
    head: Literal["pool", "flatten"] = "pool"  # global average pool, or flatten the last map (Pokemon)

    def __post_init__(self) -> None:
        in_range("model", 1, widths=self.widths, strides=self.strides)
        count_in_range("model", 2, MAX_LAYERS, widths=self.widths, strides=self.strides)


@MODELS.register("course-resnet18", config=CourseResNet18Config, tasks=("classify",))
def build_course_resnet18(cfg: CourseResNet18Config, info: DataInfo) -> CourseResNet18:
    if len(cfg.widths) != len(cfg.strides):  # the config checked each list itself
        raise TorchlabError(
            f"model.widths and model.strides must be lists of one length, got {cfg.widths} and {cfg.strides}"
        )
    channels, height, width = info.input_shape
    if height != width:
        raise TorchlabError(f"the course's ResNet18 takes square images, got {height}x{width}")
    return CourseResNet18(channels, info.num_classes, height, cfg.widths, cfg.strides, cfg.head)
