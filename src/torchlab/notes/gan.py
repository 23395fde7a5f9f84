"""GAN: the optimal discriminator D* = p_r / (p_r + p_g) and the JS identity, on discrete distributions.

JS(p_r || p_g) = (log 4 + L(G, D*)) / 2.
"""

import math

import torch

from torchlab.notes import show

ORDER = 340
BLOCKS = ()


def value(d: torch.Tensor, p_r: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """L(G, D) = E_{p_r}[log D] + E_{p_g}[log(1 - D)] over a discrete space."""
    return (p_r * d.log() + p_g * (1 - d).log()).sum()


def d_star(p_r: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    return p_r / (p_r + p_g)


def train_discriminator(p_r: torch.Tensor, p_g: torch.Tensor, steps: int = 2000) -> torch.Tensor:
    """Maximise L over D = sigmoid(logits) by gradient ascent: what a perfect discriminator learns."""
    logits = torch.zeros_like(p_r, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        loss = -value(torch.sigmoid(logits), p_r, p_g)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return torch.sigmoid(logits).detach()


def js(p_r: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """The definition: KL(p_r || m) / 2 + KL(p_g || m) / 2 with m the mixture."""
    m = (p_r + p_g) / 2
    return 0.5 * torch.special.xlogy(p_r, p_r / m).sum() + 0.5 * torch.special.xlogy(p_g, p_g / m).sum()


def main() -> None:
    p_r, p_g = torch.tensor([0.1, 0.4, 0.3, 0.2]), torch.tensor([0.3, 0.1, 0.2, 0.4])
    show("D* = p_r / (p_r + p_g)", d_star(p_r, p_g))
    show("D learnt by gradient ascent on L", train_discriminator(p_r, p_g))
    show(
        "L(G, D*), L(G, 0.5)",
        (round(value(d_star(p_r, p_g), p_r, p_g).item(), 5), round(value(torch.full((4,), 0.5), p_r, p_g).item(), 5)),
    )
    show("JS by definition", round(js(p_r, p_g).item(), 5))
    show("(log 4 + L(G, D*)) / 2", round((math.log(4) + value(d_star(p_r, p_g), p_r, p_g).item()) / 2, 5))
    show("JS(p, p) (p_g = p_r: D* = 1/2, L = -log 4)", round(js(p_r, p_r).item(), 5))
    disjoint_r, disjoint_g = torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.5, 0.5])
    show(
        "JS of disjoint supports (= log 2: no gradient for G)",
        (round(js(disjoint_r, disjoint_g).item(), 5), round(math.log(2), 5)),
    )
