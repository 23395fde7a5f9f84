"""The course's MLP (lesson 29, MNIST测试): 784-200-200-10 with LeakyReLU, exactly as the course runs it.

Kept from the course, though torchlab's `mlp` drops it: a LeakyReLU after the last Linear, on the
logits (CrossEntropyLoss wants them unbounded; a leaky slope of 0.01 squeezes negative logits
rather than cutting them, so the net still trains). Weights start as nn.Linear's default.
docs/course-vs-torchlab.md measures it against torchlab's `mnist-mlp`.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.models import MODELS


class CourseMLP(nn.Module):
    def __init__(self, in_features: int = 784, num_classes: int = 10, logit_activation: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Flatten(),
            nn.Linear(in_features, 200),
            nn.LeakyReLU(inplace=True),
            nn.Linear(200, 200),
            nn.LeakyReLU(inplace=True),
            nn.Linear(200, num_classes),
        ]
        if logit_activation:
            layers.append(nn.LeakyReLU(inplace=True))  # the course's mistake, kept
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@dataclass
class CourseMLPConfig(ModelConfig):
    logit_activation: bool = True  # the course's LeakyReLU on the logits; false drops it


@MODELS.register("course-mlp", config=CourseMLPConfig, tasks=("classify",))
def build_course_mlp(cfg: CourseMLPConfig, info: DataInfo) -> CourseMLP:
    return CourseMLP(math.prod(info.input_shape), info.num_classes, cfg.logit_activation)
