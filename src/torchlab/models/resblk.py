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
    def __init__(self, ch_in: int, ch_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch_in, ch_out, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch_out)
        self.conv2 = nn.Conv2d(ch_out, ch_out, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch_out)
        self.extra = nn.Sequential()  # identity
        if ch_out != ch_in or stride != 1:
            self.extra = nn.Sequential(
                nn.Conv2d(ch_in, ch_out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(ch_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(self.extra(x) + out)
