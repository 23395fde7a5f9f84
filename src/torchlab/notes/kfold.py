"""K-fold cross-validation (K交叉验证) on real MNIST: every training image is validated on exactly once.

The training images are shuffled once and cut into K folds; model k trains on the other K − 1 folds
and is scored on fold k. The K scores' mean estimates how well the recipe generalises, their spread
how much that estimate depends on the split; the test set stays untouched. (`torchlab cv RECIPE
--folds K` does this for any recipe.)
"""

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.notes import show
from torchlab.notes._mnist import mnist, normalized

ORDER = 185
BLOCKS = ()


def folds(n: int, k: int, seed: int = 0) -> list[torch.Tensor]:
    """K disjoint index sets that together cover 0..n-1."""
    return list(torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tensor_split(k))


def fit_and_score(x: torch.Tensor, y: torch.Tensor, train: torch.Tensor, val: torch.Tensor, epochs: int = 2) -> float:
    """A 784-200-10 MLP, SGD with momentum, batch 100; its accuracy on `val`."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for _ in range(epochs):
        for batch in train[torch.randperm(len(train))].split(100):
            loss = F.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return (net(x[val]).argmax(1) == y[val]).float().mean().item()


def cross_validate(n: int = 10000, k: int = 5) -> list[float]:
    """Validation accuracy of each of `k` folds over the first `n` MNIST training images."""
    images, labels = mnist(True, n)
    x = normalized(images).flatten(1)
    parts = folds(n, k)
    return [fit_and_score(x, labels, torch.cat(parts[:i] + parts[i + 1 :]), parts[i]) for i in range(k)]


def main() -> None:
    scores = cross_validate()
    for i, score in enumerate(scores):
        show(f"fold {i}: trained on 8,000 images, validated on the other 2,000", f"{score:.4f}")
    t = torch.tensor(scores)
    show("5-fold accuracy: mean ± std", f"{t.mean().item():.4f} ± {t.std().item():.4f}")
