"""The course's from-scratch MLP (lesson 26, LR多分类实战): raw w1..b3, Kaiming init, ReLU on the logits.

The same tensors and initialisation as torchlab's `mlp-scratch` (`torch.randn` overwritten by
`kaiming_normal_`, biases zero); the one difference is the course's `F.relu` on the logits, kept
here: every negative logit becomes 0, so a class can only win by a positive score.
"""

import math

import torch
import torch.nn.functional as F

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.mlp_scratch import ScratchMLP


class CourseScratchMLP(ScratchMLP):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(super().forward(x))  # the course's ReLU on the logits, kept


@MODELS.register("course-mlp-scratch", tasks=("classify",))
def build_course_scratch(cfg: ModelConfig, info: DataInfo) -> CourseScratchMLP:
    return CourseScratchMLP(math.prod(info.input_shape), 200, info.num_classes)
