"""The notes' residual block (深度残差网络), corrected.

Fixes to the notes: `super().__init__()` is called; the shortcut is a 1x1 convolution with
BatchNorm whenever the channels *or the stride* change (the notes only check channels, so a
strided block could not add its two branches); convolutions before BatchNorm carry no bias;
and the sum goes through a ReLU, as in He et al. (2016).
"""

import torch
import torch.nn.functional as F
from torch import nn


class ResBlk(nn.Module):
    """`conv_bias=True, stride_shortcut=False` is the course's block as it stands (course_resnet18.py):
    biases in front of BatchNorm, and an identity shortcut wherever the channels match, strided or not."""

    def __init__(
        self, ch_in: int, ch_out: int, stride: int = 1, *, conv_bias: bool = False, stride_shortcut: bool = True
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch_in, ch_out, kernel_size=3, stride=stride, padding=1, bias=conv_bias)
        self.bn1 = nn.BatchNorm2d(ch_out)
        self.conv2 = nn.Conv2d(ch_out, ch_out, kernel_size=3, stride=1, padding=1, bias=conv_bias)
        self.bn2 = nn.BatchNorm2d(ch_out)
        self.extra = nn.Sequential()  # identity
        if ch_out != ch_in or (stride != 1 and stride_shortcut):
            self.extra = nn.Sequential(
                nn.Conv2d(ch_in, ch_out, kernel_size=1, stride=stride, bias=conv_bias), nn.BatchNorm2d(ch_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(self.extra(x) + out)  # where shapes differ (the course's block), the sum broadcasts
