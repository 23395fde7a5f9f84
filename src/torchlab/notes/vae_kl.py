"""VAE: the KL of two Gaussians, closed form against Monte-Carlo; the reparameterisation trick.

The trick z = mu + sigma * eps lets gradients reach mu and sigma.

KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2; against
N(0, 1) it is the VAE's -1/2 (1 + log s^2 - m^2 - s^2).
"""

import math

import torch
from torch.distributions import Normal, kl_divergence

from torchlab.notes import show

ORDER = 330
BLOCKS = ()


def kl_closed_form(m1: float, s1: float, m2: float, s2: float) -> float:
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def kl_monte_carlo(m1: float, s1: float, m2: float, s2: float, n: int = 200_000, seed: int = 0) -> float:
    """E_{z ~ q}[log q(z) - log p(z)] from n samples."""
    q, p = Normal(m1, s1), Normal(m2, s2)
    z = m1 + s1 * torch.randn(n, generator=torch.Generator().manual_seed(seed))
    return (q.log_prob(z) - p.log_prob(z)).mean().item()


def reparameterised_grads(mu: torch.Tensor, log_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of mean(z^2) w.r.t. mu and log_var through z = mu + exp(log_var / 2) * eps."""
    mu, log_var = mu.clone().requires_grad_(), log_var.clone().requires_grad_()
    z = mu + torch.exp(log_var / 2) * torch.randn(10_000, *mu.shape)
    z.pow(2).mean().backward()
    return mu.grad, log_var.grad


def main() -> None:
    torch.manual_seed(0)
    for args in [(0.0, 1.0, 0.0, 1.0), (1.0, 0.5, 0.0, 1.0), (-1.0, 2.0, 0.5, 0.7)]:
        closed, mc = kl_closed_form(*args), kl_monte_carlo(*args)
        torch_kl = kl_divergence(Normal(*args[:2]), Normal(*args[2:])).item()
        show(
            f"KL(N{args[:2]} || N{args[2:]}): closed form, torch, Monte-Carlo",
            (round(closed, 4), round(torch_kl, 4), round(mc, 4)),
        )
    mu, log_var = torch.tensor([1.0]), torch.tensor([0.0])
    d_mu, d_log_var = reparameterised_grads(mu, log_var)
    show(
        "d mean(z^2) / d mu, d log_var (exact: 2 mu = 2, s^2 = 1)", (round(d_mu.item(), 2), round(d_log_var.item(), 2))
    )
