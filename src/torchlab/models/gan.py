"""A GAN as one module: the generator and its critic (discriminator), saved and moved together.

The critic ends in a Linear layer with no sigmoid: the standard GAN loss reads its output as a
logit (BCE with logits), WGAN-GP as an unbounded score. This file also holds the MLP pair for
low-dimensional points (8-Gaussians).
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from torchlab.config import ModelConfig, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import mlp


class GAN(nn.Module):
    def __init__(self, generator: nn.Module, critic: nn.Module, latent: int) -> None:
        super().__init__()
        self.generator, self.critic, self.latent = generator, critic, latent

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), drawn on the CPU from `generator` when one is given (fixed noise)."""
        device = next(self.parameters()).device
        if generator is None:
            return torch.randn(n, self.latent, device=device)
        return torch.randn(n, self.latent, generator=generator).to(device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


@dataclass
class MLPGANConfig(ModelConfig):
    latent: int = 2
    hidden: list[int] = field(default_factory=lambda: [512, 512, 512])

    def __post_init__(self) -> None:
        in_range("model", 1, latent=self.latent, hidden=self.hidden)


@MODELS.register("gan-mlp", config=MLPGANConfig)
def build_mlp_gan(cfg: MLPGANConfig, info: DataInfo) -> GAN:
    features = math.prod(info.input_shape)
    generator = nn.Sequential(mlp([cfg.latent, *cfg.hidden, features]), nn.Unflatten(1, info.input_shape))
    critic = nn.Sequential(nn.Flatten(), mlp([features, *cfg.hidden, 1]), nn.Flatten(0))
    return GAN(generator, critic, cfg.latent)
