"""CrossEntropyLoss = log_softmax + nll_loss, and what a softmax before it costs, measured on real MNIST.

F.cross_entropy(logits, y) is F.nll_loss(F.log_softmax(logits, 1), y): it applies the softmax itself.
A network that ends in a softmax and is then trained with CrossEntropyLoss applies it twice: the
"logits" it feeds are probabilities in [0, 1], so its loss can never fall below
−log(e / (e + 9)) ≈ 1.46 nats, its gradients shrink, and it learns more slowly.

The notes give this heading formulas only; the MLP here is 784-200-10, one hidden layer, trained
300 steps on MNIST. The notes' other mistakes under it (entropy "越高越稳定", the BCE's brackets)
are put right in `torchlab notes entropy`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.notes import show
from torchlab.notes._mnist import mnist, normalized

ORDER = 125
BLOCKS = ()


def decomposition(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {
        "F.cross_entropy(logits, y)": F.cross_entropy(logits, y).item(),
        "F.nll_loss(F.log_softmax(logits, 1), y)": F.nll_loss(F.log_softmax(logits, 1), y).item(),
        "-log softmax(logits)[y], averaged": -logits.softmax(1).gather(1, y[:, None]).log().mean().item(),
    }


def train(double_softmax: bool, steps: int = 300, seed: int = 0) -> dict[str, float]:
    """An MLP 784-200-10 trained by SGD (lr 0.1, batch 100) on MNIST, with or without a softmax
    before CrossEntropyLoss; its test loss (of what it feeds the loss) and accuracy."""
    torch.manual_seed(seed)
    x, y = mnist(True, steps * 100)
    tx, ty = mnist(False, 5000)
    x, tx = normalized(x).flatten(1), normalized(tx).flatten(1)
    layers = [nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 10)]
    net = nn.Sequential(*layers, nn.Softmax(1)) if double_softmax else nn.Sequential(*layers)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for i in range(steps):
        loss = F.cross_entropy(net(x[i * 100 : (i + 1) * 100]), y[i * 100 : (i + 1) * 100])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        out = net(tx)
    return {"test loss": F.cross_entropy(out, ty).item(), "test accuracy": (out.argmax(1) == ty).float().mean().item()}


def main() -> None:
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(8, 10, generator=g) * 3, torch.randint(0, 10, (8,), generator=g)
    for name, value in decomposition(logits, y).items():
        show(name, round(value, 6))
    show(
        "lowest loss a softmax output can feed it (its class at 1, the rest 0)",
        round(math.log((math.e + 9) / math.e), 4),
    )
    for double in (False, True):
        result = train(double)
        label = "softmax then CrossEntropyLoss" if double else "logits into CrossEntropyLoss"
        show(f"{label}, 300 steps on MNIST", {k: round(v, 4) for k, v in result.items()})
