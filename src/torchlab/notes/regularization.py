"""Regularisation: L2 via the optimiser's weight_decay, L1 as an explicit penalty.

SGD's weight_decay=lambda adds lambda * w to the gradient: the same step as adding
(lambda / 2) * ||w||^2 to the loss, the notes' L2 formula. An L1 penalty lambda * sum |w| adds
lambda * sign(w).

The notes' net (called `net`, then `model`) and learning_rate are undefined: a Linear(20, 3) on 16
random samples and lr 0.1 stand in; lambda is the notes' 0.01 for both. The notes' L1 loop over the
parameters is the sum inside sgd_step().
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn, optim

from torchlab.notes import show

ORDER = 190
BLOCKS = ("Regularization（Weight Decay）：防止Overfitting",)


def sgd_step(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, weight_decay: float = 0.0, l2: float = 0.0, l1: float = 0.0
) -> nn.Module:
    """One SGD step on a copy of `net` with cross-entropy plus the given penalties."""
    net = copy.deepcopy(net)
    optimizer = optim.SGD(net.parameters(), lr=0.1, weight_decay=weight_decay)
    loss = F.cross_entropy(net(x), y)
    loss = loss + l2 / 2 * sum(p.pow(2).sum() for p in net.parameters())
    loss = loss + l1 * sum(p.abs().sum() for p in net.parameters())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return net


def max_difference(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


def main() -> None:
    torch.manual_seed(0)
    net, x, y = nn.Linear(20, 3), torch.randn(16, 20), torch.randint(0, 3, (16,))
    decayed = sgd_step(net, x, y, weight_decay=0.01)
    penalised = sgd_step(net, x, y, l2=0.01)
    show("max |weight_decay=0.01 step - (0.01/2)||w||^2 penalty step|", max_difference(decayed, penalised))
    show("max |weight_decay step - plain step| (the decay does act)", max_difference(decayed, sgd_step(net, x, y)))
    l1 = sgd_step(net, x, y, l1=0.01)
    show(
        "L1 step - plain step == -lr * 0.01 * sign(w)",
        torch.allclose(l1.weight - sgd_step(net, x, y).weight, -0.1 * 0.01 * net.weight.sign()),
    )
