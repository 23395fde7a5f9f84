"""Backpropagation through the notes' MLP by hand (784-200-200-10, ReLU, cross-entropy), checked against autograd.

With z1 = x W1ᵀ + b1, a1 = relu(z1), z2 = a1 W2ᵀ + b2, a2 = relu(z2), z3 = a2 W3ᵀ + b3 and the mean
cross-entropy L over a batch of B: δ3 = ∂L/∂z3 = (softmax(z3) − onehot(y)) / B; then for each layer
∂L/∂W = δᵀ a_prev, ∂L/∂b = Σ_batch δ, and the error flows back as δ_prev = (δ W) ⊙ relu'(z_prev).
The notes give this heading pictures only. The MLP is mlp_scratch's, corrected as there: no ReLU
on the logits z3 and Kaiming-initialised weights; the batch is 32 random "images".
"""

import torch
import torch.nn.functional as F

from torchlab.notes import show

ORDER = 135
BLOCKS = ()


def init(seed: int = 0) -> list[torch.Tensor]:
    """[W1, b1, W2, b2, W3, b3], Kaiming-initialised, biases zero."""
    g = torch.Generator().manual_seed(seed)
    params = []
    for n_out, n_in in [(200, 784), (200, 200), (10, 200)]:
        params += [torch.randn(n_out, n_in, generator=g) * (2 / n_in) ** 0.5, torch.zeros(n_out)]
    return params


def by_hand(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """∂L/∂(W1, b1, W2, b2, W3, b3) from the chain rule, layer by layer, without autograd."""
    w1, b1, w2, b2, w3, b3 = params
    z1 = x @ w1.t() + b1
    a1 = z1.clamp(min=0)
    z2 = a1 @ w2.t() + b2
    a2 = z2.clamp(min=0)
    z3 = a2 @ w3.t() + b3
    delta3 = (z3.softmax(1) - F.one_hot(y, 10).float()) / len(x)
    delta2 = (delta3 @ w3) * (z2 > 0).float()
    delta1 = (delta2 @ w2) * (z1 > 0).float()
    return [delta1.t() @ x, delta1.sum(0), delta2.t() @ a1, delta2.sum(0), delta3.t() @ a2, delta3.sum(0)]


def by_autograd(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    leaves = [p.clone().requires_grad_() for p in params]
    w1, b1, w2, b2, w3, b3 = leaves
    logits = F.relu(F.relu(x @ w1.t() + b1) @ w2.t() + b2) @ w3.t() + b3
    return list(torch.autograd.grad(F.cross_entropy(logits, y), leaves))


def main() -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 784, generator=g), torch.randint(0, 10, (32,), generator=g)
    params = init()
    hand, auto = by_hand(params, x, y), by_autograd(params, x, y)
    for name, h, a in zip(["W1", "b1", "W2", "b2", "W3", "b3"], hand, auto, strict=True):
        show(f"dL/d{name} {tuple(h.shape)}: max |by hand - autograd|", f"{(h - a).abs().max().item():.2e}")
