"""The course's "Lenet5" for CIFAR-10 (Cifar10与ResNet18实战/lenet5.py), which is not LeCun's LeNet-5.

Conv(3→16, 5x5), max-pool 2, Conv(16→32, 5x5), max-pool 2, then Linear(32·5·5, 32), ReLU,
Linear(32, 10). Kept from the course: no activation at all between the convolutions and their
pools (the two convolutions compose into one linear map before the first ReLU). torchlab's
`lenet5` is the classic 6-16 / 120-84 net with tanh and average pooling.
"""

from dataclasses import dataclass

import torch
from torch import nn

from torchlab.config import ModelConfig
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.layers import Flatten


class CourseLeNet5(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        size = ((image_size - 4) // 2 - 4) // 2  # 5 for 32x32
        if size < 1:
            raise TorchlabError(f"the course's Lenet5 needs images of at least 16x16 pixels, got {image_size}")
        self.conv_unit = nn.Sequential(
            nn.Conv2d(in_channels, 16, kernel_size=5),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(16, 32, kernel_size=5),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.fc_unit = nn.Sequential(Flatten(), nn.Linear(32 * size * size, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_unit(self.conv_unit(x))


@dataclass
class CourseLeNet5Config(ModelConfig):
    pass


@MODELS.register("course-lenet5", config=CourseLeNet5Config, tasks=("classify",))
def build_course_lenet5(cfg: CourseLeNet5Config, info: DataInfo) -> CourseLeNet5:
    channels, height, width = info.input_shape
    if height != width:
        raise TorchlabError(f"the course's Lenet5 takes square images, got {height}x{width}")
    return CourseLeNet5(channels, info.num_classes, height)
