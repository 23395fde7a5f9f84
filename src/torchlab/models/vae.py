"""The notes' VAE: the encoder gives the mean μ and log-variance log σ² of q(z|x).

`forward(x)` is what training runs: the decoder's output for a code z drawn from q(z|x) by the
reparameterization trick, with μ and log σ² for the KL term. Both heads are plain Linear
layers: a ReLU on them (as some write-ups have) would forbid negative means and variances below one.
"""

import math

import torch
from torch import nn

from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import AutoEncoderConfig, mlp


def noise_like(mu: torch.Tensor, per_sample: bool) -> torch.Tensor:
    """ε ~ N(0, I) in the shape of `mu` [batch, latent]. `per_sample` (evaluation) draws each sample's ε
    on its own, in order: a sample's ε then follows from the seed and its place in the set alone, so that
    the evaluation figures do not change with how the set is batched (one draw of [batch, latent] gives
    another sample another ε for another batch size). Training draws the whole batch at once (faster)."""
    if not per_sample or len(mu) == 0:
        return torch.randn_like(mu)
    if torch.compiler.is_compiling():  # a loop over the batch: traced, every batch size would be a graph of its own
        return torch.compiler.disable(draws_in_order)(mu)
    return draws_in_order(mu)  # not decorated: `torch.compiler.disable` imports torch._dynamo, 0.6 s


def draws_in_order(mu: torch.Tensor) -> torch.Tensor:
    """One draw a sample from the CPU's stream, moved at once: a GPU would launch a kernel for each."""
    return torch.stack([torch.randn(mu.shape[1:], device="cpu") for _ in range(len(mu))]).to(mu.device, mu.dtype)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """z = μ + σ·ε with ε ~ N(0, I): a sample of N(μ, σ²) that is differentiable in μ and σ; ε as
    `noise_like` draws it."""
    return mu + (0.5 * logvar).exp() * noise_like(mu, per_sample)


class VAE(nn.Module):
    variational = True

    def __init__(self, input_shape: tuple[int, ...], hidden: list[int], latent: int) -> None:
        super().__init__()
        features = math.prod(input_shape)
        self.latent = latent
        self.body = nn.Sequential(nn.Flatten(), mlp([features, *hidden]), nn.ReLU(inplace=True))
        self.mu = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)
        self.decoder = nn.Sequential(mlp([latent, *reversed(hidden), features]), nn.Unflatten(1, input_shape))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(decoder output for a sampled code z ~ q(z|x), μ, log σ²)."""
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar, per_sample=not self.training)), mu, logvar


@MODELS.register("vae", config=AutoEncoderConfig, tasks=("reconstruct",))
def build_vae(cfg: AutoEncoderConfig, info: DataInfo) -> VAE:
    return VAE(info.input_shape, cfg.hidden, cfg.latent)
