"""nn.Module: save and load a state_dict, train()/eval(), your own layers (Flatten, MyLinear).

Load with torch.load(..., weights_only=True): plain torch.load of a file from elsewhere may run
code. map_location loads a CUDA checkpoint on any machine. The notes' TestNet does not subclass
nn.Module, its Conv2d has no kernel_size and the Linear must take 16*14*14 features, not 1*14*14.
The notes' torch.device('cuda') is CUDA where there is one, else the CPU; their undefined Net() is
TestNet, and 'ckpt.md1' a ckpt.pt in a temporary folder. Flatten leaves out an __init__ that only
calls super's.
"""

import tempfile
from pathlib import Path

import torch
from torch import nn

from torchlab.notes import show
from torchlab.notes.device import pick_device

ORDER = 260
BLOCKS = ("save and load", "train/test", "implement own layer：实现展平操作", "own linear layer：自定义自己的类")


class Flatten(nn.Module):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return input.view(input.size(0), -1)


class TestNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1),
            nn.MaxPool2d(2, 2),
            Flatten(),
            nn.Linear(16 * 14 * 14, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MyLinear(nn.Module):
    def __init__(self, inp: int, outp: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(outp, inp))  # nn.Parameter: requires_grad, listed by parameters()
        self.b = nn.Parameter(torch.randn(outp))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w.t() + self.b


def save_and_load(net: nn.Module, path: Path) -> nn.Module:
    """Save net's state_dict and load it into a fresh TestNet, safely and on any device."""
    torch.save(net.state_dict(), path)
    fresh = TestNet().to(pick_device())
    fresh.load_state_dict(torch.load(path, map_location=pick_device(), weights_only=True))
    return fresh


def main() -> None:
    net, x = TestNet().to(pick_device()), torch.rand(2, 1, 28, 28, device=pick_device())
    show("TestNet()(x [2,1,28,28]).shape", tuple(net(x).shape))
    with tempfile.TemporaryDirectory() as tmp:
        loaded = save_and_load(net, Path(tmp) / "ckpt.pt")
    show("loaded net gives the same output", torch.equal(loaded(x), net(x)))
    net.train()
    show("net.train(): training flag", net.training)
    net.eval()
    show("net.eval(): training flag (dropout off, BatchNorm uses running stats)", net.training)
    layer = MyLinear(4, 3)
    show("MyLinear(4, 3) parameters", [(name, tuple(p.shape)) for name, p in layer.named_parameters()])
    show("MyLinear(4, 3)(x [2, 4]).shape", tuple(layer(torch.rand(2, 4)).shape))
