"""DenseNet: a dense block (each layer reads every earlier map), its growth rate, and the transition.

The notes give DenseNet one line under 深度残差网络: 每一层跟前面的每一层直接相连. ResNet adds a block's
input to its output (x + F(x)); a dense layer concatenates: [x, F(x)]. With growth rate k, layer i
of a block sees C + i·k channels and adds k, so a block of L layers ends with C + L·k channels. A
transition (BN-ReLU-Conv1x1 compressing the channels, then 2x2 average pooling) keeps that growth in
check between blocks. models/densenet.py builds the whole network; `torchlab train fashion-densenet`.
"""

import torch

from torchlab.notes import show
from torchlab.notes.resnet import ResBlk

ORDER = 255
BLOCKS = ()


def block_channels(ch_in: int, layers: int, growth: int) -> list[int]:
    """The channels entering each layer of a dense block, then leaving it."""
    return [ch_in + i * growth for i in range(layers + 1)]


class DenseBlock(torch.nn.Module):
    def __init__(self, ch_in: int, layers: int, growth: int) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Sequential(
                torch.nn.BatchNorm2d(c), torch.nn.ReLU(), torch.nn.Conv2d(c, growth, 3, padding=1, bias=False)
            )
            for c in block_channels(ch_in, layers, growth)[:-1]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)  # dense: keep every earlier map, add `growth` new ones
        return x


def transition(ch_in: int, ch_out: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.BatchNorm2d(ch_in),
        torch.nn.ReLU(),
        torch.nn.Conv2d(ch_in, ch_out, 1, bias=False),
        torch.nn.AvgPool2d(2),
    )


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    x = torch.randn(2, 32, 14, 14)
    block = DenseBlock(32, layers=4, growth=16)
    out = block(x)
    show("dense block, 4 layers, growth 16: channels entering each layer", block_channels(32, 4, 16))
    show("DenseBlock(32, 4, 16)(x [2,32,14,14]).shape", tuple(out.shape))
    show("its input survives untouched in the first 32 channels", torch.equal(out[:, :32], x))
    show("transition(96, 48)(out).shape: half the channels, half the size", tuple(transition(96, 48)(out).shape))
    show("parameters: dense block 32->96 vs one ResBlk 32->96", (parameters(block), parameters(ResBlk(32, 96))))
