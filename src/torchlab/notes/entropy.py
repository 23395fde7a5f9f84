"""Entropy, cross-entropy, KL divergence and binary cross-entropy.

H(p) = -sum p log p; H(p, q) = -sum p log q = H(p) + KL(p || q). Higher entropy means MORE
uncertainty (more surprise), not "more stable" as the notes say: the uniform distribution has the
largest entropy, a one-hot one has 0. BCE is -[y log y^ + (1 - y) log(1 - y^)] with the minus over
both terms, averaged over samples by F.binary_cross_entropy.
"""

import torch
import torch.nn.functional as F

from torchlab.notes import show

ORDER = 120
BLOCKS = ()


def entropy(p: torch.Tensor) -> torch.Tensor:
    """-sum p log p, with 0 log 0 = 0."""
    return -torch.special.xlogy(p, p).sum(-1)


def cross_entropy(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return -(p * q.log()).sum(-1)


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) with PyTorch's own kl_div (which takes log q first)."""
    return F.kl_div(q.log(), p, reduction="sum")


def bce(y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
    """The notes' multi-sample BCE with the brackets it needs, averaged over the N samples."""
    return -(y * y_hat.log() + (1 - y) * (1 - y_hat).log()).mean()


def main() -> None:
    for p in (torch.full((4,), 0.25), torch.tensor([0.1, 0.1, 0.1, 0.7]), torch.tensor([0.0, 0.0, 0.0, 1.0])):
        show(f"H({[round(v, 2) for v in p.tolist()]}) (nats)", round(entropy(p).item() + 0.0, 4))
    p, q = torch.tensor([0.1, 0.2, 0.7]), torch.tensor([0.3, 0.3, 0.4])
    show("H(p, q)", round(cross_entropy(p, q).item(), 5))
    show("H(p) + KL(p || q)", round((entropy(p) + kl(p, q)).item(), 5))
    show("H(p, p) == H(p) (KL = 0)", (round(cross_entropy(p, p).item(), 5), round(entropy(p).item(), 5)))
    logits, target = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0])
    show(
        "F.cross_entropy(logits, target), H(one-hot, softmax(logits))",
        (
            round(F.cross_entropy(logits, target).item(), 5),
            round(cross_entropy(F.one_hot(target, 3), logits.softmax(1)).item(), 5),
        ),
    )
    y, y_hat = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.9, 0.2, 0.6])
    show("-mean[y log y^ + (1-y) log(1-y^)]", round(bce(y, y_hat).item(), 5))
    show("F.binary_cross_entropy(y^, y)", round(F.binary_cross_entropy(y_hat, y).item(), 5))
