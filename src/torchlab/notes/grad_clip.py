"""Gradient clipping: if ||g|| >= threshold then g <- threshold / ||g|| * g, over ALL parameters.

The notes clip each parameter on its own inside a loop: every tensor then has norm <= 10 but the
total can reach 10 * sqrt(number of tensors) and the update's direction changes. The formula means
one global norm: clip_grad_norm_(model.parameters(), max_norm), once, between backward and step.
The notes' model and loss are undefined here: a small MLP whose loss is scaled by 1000 so that its
gradients explode; the notes' print of each p.grad.norm() is the first line.
"""

import torch
from torch import nn

from torchlab.notes import show

ORDER = 300
BLOCKS = ("Step1.Gradient Exploding：梯度爆炸",)


def exploding_grads(seed: int = 0) -> nn.Module:
    """A small MLP whose gradients are large (a loss scaled by 1000)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    loss = 1000 * model(torch.randn(32, 8)).pow(2).mean()
    loss.backward()
    return model


def grads(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def clip_global(model: nn.Module, max_norm: float) -> float:
    """Clip as the formula says; returns the norm before clipping."""
    return nn.utils.clip_grad_norm_(model.parameters(), max_norm).item()


def clip_per_parameter(model: nn.Module, max_norm: float) -> None:
    """The notes' loop: each parameter's gradient clipped on its own."""
    for p in model.parameters():
        nn.utils.clip_grad_norm_(p, max_norm)


def main() -> None:
    model = exploding_grads()
    before = grads(model).clone()
    show("per-parameter grad norms before", [round(p.grad.norm().item(), 1) for p in model.parameters()])
    show("total norm returned by clip_grad_norm_(model.parameters(), 10)", round(clip_global(model, 10.0), 2))
    after = grads(model)
    show("total norm after", round(after.norm().item(), 4))
    show(
        "direction kept (cosine with the unclipped gradient)",
        round(torch.cosine_similarity(before, after, 0).item(), 6),
    )
    notes = exploding_grads()
    clip_per_parameter(notes, 10.0)
    show("the notes' per-parameter loop: total norm", round(grads(notes).norm().item(), 4))
    show(
        "... and its cosine with the unclipped gradient",
        round(torch.cosine_similarity(before, grads(notes), 0).item(), 6),
    )
