"""A GAN as one module: the generator and its critic (discriminator), saved and moved together.

The critic ends in a Linear layer with no sigmoid: the standard GAN loss reads its output as a
logit (BCE with logits), WGAN-GP as an unbounded score. With `model.ema` > 0 the GAN also keeps an
exponential moving average of the generator's weights and samples from it: the average of a
generator that keeps circling an equilibrium draws cleaner images than its last iterate (Yazıcı
et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training"). This file also holds the
MLP pair for low-dimensional points (8-Gaussians).
"""

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import mlp


class GAN(nn.Module):
    def __init__(self, generator: nn.Module, critic: nn.Module, latent: int, ema: float = 0.0) -> None:
        super().__init__()
        self.generator, self.critic, self.latent, self.ema = generator, critic, latent, ema
        # A frozen copy, a submodule so that checkpoints, devices and eval mode follow it.
        self.average = copy.deepcopy(generator).requires_grad_(False) if ema else None

    @property
    def sampler(self) -> nn.Module:
        """The generator whose samples are shown and judged: the average when there is one."""
        return self.average if self.average is not None else self.generator

    @torch.no_grad()
    def update_average(self) -> None:
        """average <- ema * average + (1 - ema) * generator; buffers (BatchNorm statistics) copied."""
        if self.average is None:
            return
        torch._foreach_lerp_(list(self.average.parameters()), list(self.generator.parameters()), 1 - self.ema)
        for mine, theirs in zip(self.average.buffers(), self.generator.buffers(), strict=True):
            mine.copy_(theirs)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), drawn on the CPU from `generator` when one is given (fixed noise)."""
        device = next(self.parameters()).device
        if generator is None:
            return torch.randn(n, self.latent, device=device)
        return torch.randn(n, self.latent, generator=generator).to(device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.sampler(z)


@dataclass
class GANConfig(ModelConfig):
    latent: int = 2
    ema: float = 0.0  # decay of the generator's weight average; 0: no average


@dataclass
class MLPGANConfig(GANConfig):
    hidden: list[int] = field(default_factory=lambda: [512, 512, 512])


@MODELS.register("gan-mlp", config=MLPGANConfig)
def build_mlp_gan(cfg: MLPGANConfig, info: DataInfo) -> GAN:
    features = math.prod(info.input_shape)
    generator = nn.Sequential(mlp([cfg.latent, *cfg.hidden, features]), nn.Unflatten(1, info.input_shape))
    critic = nn.Sequential(nn.Flatten(), mlp([features, *cfg.hidden, 1]), nn.Flatten(0))
    return GAN(generator, critic, cfg.latent, cfg.ema)
