"""Pooling and upsampling: MaxPool2d, avg_pool2d, interpolate, ReLU(inplace=True).

inplace=True makes ReLU overwrite x with relu(x) (saves memory); it is x's VALUES that are replaced,
not "x's derivative" as the notes say.
"""

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.notes import show

ORDER = 230
BLOCKS = ("池化层与采样",)


def relu_inplace(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(x after nn.ReLU(inplace=True)(x), whether the output is x's own storage)."""
    out = nn.ReLU(inplace=True)(x)
    return x, out.data_ptr() == x.data_ptr()


def main() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    show("x", x[0, 0])
    show("nn.MaxPool2d(2, stride=2)(x)", nn.MaxPool2d(2, stride=2)(x)[0, 0])
    show("F.avg_pool2d(x, 2, stride=2)", F.avg_pool2d(x, 2, stride=2)[0, 0])
    small = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    show(
        "F.interpolate([[1, 2], [3, 4]], scale_factor=2, mode='nearest')",
        F.interpolate(small, scale_factor=2, mode="nearest")[0, 0],
    )
    feature_map = torch.rand(1, 16, 14, 14)
    show("MaxPool2d(2, 2) of [1,16,14,14]", tuple(nn.MaxPool2d(2, 2)(feature_map).shape))
    show("interpolate x2 of [1,16,14,14]", tuple(F.interpolate(feature_map, scale_factor=2).shape))
    after, same = relu_inplace(torch.tensor([-1.0, 0.5, -2.0, 3.0]))
    show("x after nn.ReLU(inplace=True)(x); output is x itself", (after, same))
    show("F.relu(x) (a new tensor)", F.relu(torch.tensor([-1.0, 0.5])))
