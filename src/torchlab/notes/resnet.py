"""A residual block: two conv-BN layers plus a shortcut (a 1x1 conv where the channels or the stride change).

The notes' ResBlk never calls super().__init__() (assigning a submodule then raises
AttributeError) and indents `def forward` by 5 spaces (IndentationError). Two more fixes, as in
models/resblk.py: the block takes a stride (the notes' cannot halve the resolution, which every
ResNet stage after the first does), and the sum goes through a ReLU (He et al., 2016; the notes'
block hands the next block a sum that can be negative).
"""

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.notes import show

ORDER = 250
BLOCKS = ("深度残差网络",)


class ResBlk(nn.Module):
    def __init__(self, ch_in: int, ch_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch_in, ch_out, kernel_size=3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(ch_out)
        self.conv2 = nn.Conv2d(ch_out, ch_out, kernel_size=3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(ch_out)
        self.extra = nn.Sequential()
        if ch_out != ch_in or stride != 1:  # the notes check the channels only
            self.extra = nn.Sequential(nn.Conv2d(ch_in, ch_out, kernel_size=1, stride=stride), nn.BatchNorm2d(ch_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(self.extra(x) + out)  # the notes return the sum without the ReLU


def main() -> None:
    x = torch.rand(2, 64, 32, 32)
    for ch_out in (64, 128):
        block = ResBlk(64, ch_out)
        show(f"ResBlk(64, {ch_out})(x [2,64,32,32]).shape; shortcut", (tuple(block(x).shape), block.extra))
    block = ResBlk(64, 128, stride=2)
    out = block(x)
    show("ResBlk(64, 128, stride=2)(x).shape: a stage's first block halves the resolution", tuple(out.shape))
    show("smallest output after the ReLU on the sum (the notes' sum goes negative)", out.min().item())
