"""A residual block: two conv-BN layers plus a shortcut (a 1x1 conv where the channels change).

The notes' ResBlk never calls super().__init__() (assigning a submodule then raises
AttributeError) and indents `def forward` by 5 spaces (IndentationError).
"""

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.notes import show

ORDER = 250
BLOCKS = ("深度残差网络",)


class ResBlk(nn.Module):
    def __init__(self, ch_in: int, ch_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch_in, ch_out, kernel_size=3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(ch_out)
        self.conv2 = nn.Conv2d(ch_out, ch_out, kernel_size=3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(ch_out)
        self.extra = nn.Sequential()
        if ch_out != ch_in:
            self.extra = nn.Sequential(nn.Conv2d(ch_in, ch_out, kernel_size=1, stride=1), nn.BatchNorm2d(ch_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.extra(x) + out


def main() -> None:
    x = torch.rand(2, 64, 32, 32)
    for ch_out in (64, 128):
        block = ResBlk(64, ch_out)
        show(f"ResBlk(64, {ch_out})(x [2,64,32,32]).shape; shortcut", (tuple(block(x).shape), block.extra))
