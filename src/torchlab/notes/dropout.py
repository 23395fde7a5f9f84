"""Dropout: random units zeroed in train() mode, none in eval() mode.

In train() mode each unit is zeroed with probability p and the survivors are scaled by 1/(1-p), so
the expected activation is unchanged; eval() turns it into the identity.

The notes' net ends in Linear(200, 200): 200 scores for MNIST's 10 classes, so labels 10..199
never occur and the argmax can land on a class that does not exist. It must end in Linear(200, 10).
"""

import torch
from torch import nn

from torchlab.notes import show

ORDER = 210
BLOCKS = ("Dropout",)


def net_dropped(classes: int = 10) -> nn.Sequential:
    """The notes' dropout net; classes=200 is the notes' last layer, Linear(200, 200)."""
    return nn.Sequential(
        nn.Linear(784, 200),
        nn.Dropout(0.5),  # p is the probability to DROP a unit
        nn.ReLU(),
        nn.Linear(200, 200),
        nn.Dropout(0.5),
        nn.ReLU(),
        nn.Linear(200, classes),
    )


def dropout_stats(p: float, train: bool, n: int = 100_000) -> tuple[float, float]:
    """(fraction of zeros, mean) of nn.Dropout(p) applied to ones."""
    layer = nn.Dropout(p).train(train)
    out = layer(torch.ones(n))
    return (out == 0).float().mean().item(), out.mean().item()


def main() -> None:
    for train in (True, False):
        zeros, mean = dropout_stats(0.5, train)
        show(f"Dropout(0.5) on ones, train={train}: zero fraction, mean", (round(zeros, 3), round(mean, 3)))
    net, x = net_dropped(), torch.randn(2, 784)
    net.train()
    show("train(): two forward passes differ", not torch.equal(net(x), net(x)))
    net.eval()
    show("eval(): two forward passes agree", torch.equal(net(x), net(x)))
