"""Fully connected layers: nn.Linear, ReLU (functional and module), an MLP as nn.Sequential.

Corrected from the notes: the MLP ends in nn.Linear, not LeakyReLU (logits must stay unbounded for
CrossEntropyLoss); and `def forward` sits at the class's indentation (the notes' 5 spaces do not parse).
`super().__init__()` is Python 3's spelling of the notes' super(MLP, self).__init__(). The notes'
first block chains the three layers bare; their second puts F.relu between: layer_shapes() does that.
"""

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.notes import show

ORDER = 150
BLOCKS = ("nn.Linear", "relu", "Step.")


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(784, 200),
            nn.LeakyReLU(inplace=True),  # a small slope for x < 0 keeps some gradient there
            nn.Linear(200, 200),
            nn.LeakyReLU(inplace=True),
            nn.Linear(200, 10),  # logits: no activation after the last layer
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def layer_shapes(x: torch.Tensor) -> list[tuple[int, ...]]:
    """Shapes after each of the notes' three nn.Linear layers, with F.relu in between."""
    layer1, layer2, layer3 = nn.Linear(784, 200), nn.Linear(200, 200), nn.Linear(200, 10)
    shapes = []
    for layer in (layer1, layer2):
        x = F.relu(layer(x), inplace=True)
        shapes.append(tuple(x.shape))
    shapes.append(tuple(layer3(x).shape))
    return shapes


def main() -> None:
    x = torch.randn(4, 784)
    show("shapes after layer1, layer2, layer3", layer_shapes(x))
    net = MLP()
    print(net)
    show("MLP()(x).shape", tuple(net(x).shape))
    show("logits can be negative", bool((net(x) < 0).any()))
