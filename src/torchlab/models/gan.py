"""A GAN as one module: the generator and its critic (discriminator), saved and moved together,
and, when asked, a moving average of the generator's weights that samples are drawn from.

The critic ends in a Linear layer with no sigmoid: the standard GAN loss reads its output as a
logit (BCE with logits), WGAN-GP as an unbounded score. This file also holds the MLP pair for
low-dimensional points (8-Gaussians).
"""

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from torchlab.config import ModelConfig, count_in_range, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import mlp
from torchlab.models.size import MAX_LAYERS


class GAN(nn.Module):
    def __init__(self, generator: nn.Module, critic: nn.Module, latent: int) -> None:
        super().__init__()
        self.generator, self.critic, self.latent = generator, critic, latent
        self.average: nn.Module | None = None  # see keep_average
        self.decay = 0.0

    def keep_average(self, decay: float) -> "GAN":
        """Also keep an exponential moving average of the generator's weights, updated after each
        generator step, and draw samples from it (Yazıcı et al. 2019: averaging smooths the
        generator's oscillation in the game). Call it after initialising the weights; 0 keeps none."""
        self.decay = decay
        self.average = copy.deepcopy(self.generator).requires_grad_(False) if decay else None
        if decay:  # a buffer, so that a resumed run goes on with the same warm-up
            self.register_buffer("average_updates", torch.zeros((), dtype=torch.long))
        return self

    @torch.no_grad()
    def update_average(self) -> None:
        """One step of the average. Its decay warms up as (1 + n) / (10 + n) after n updates, up to
        `decay` (TensorFlow's ExponentialMovingAverage with num_updates does the same): without it the
        initial weights would still weigh 21% in a 0.999 average after one MNIST epoch (1,563 steps)."""
        if self.average is None:
            return
        n = self.average_updates  # a tensor on the model's device: no host sync per step
        weight = 1 - ((1 + n) / (10 + n)).clamp(max=self.decay)
        self.average_updates += 1
        for averaged, live in zip(self.average.parameters(), self.generator.parameters(), strict=True):
            averaged.lerp_(live, weight.to(averaged.dtype))
        for averaged, live in zip(self.average.buffers(), self.generator.buffers(), strict=True):
            averaged.copy_(live)  # BatchNorm's running statistics: the live generator's

    @property
    def sampler(self) -> nn.Module:
        """The generator that samples come from: the average, when one is kept."""
        return self.generator if self.average is None else self.average

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), drawn on the CPU from `generator` when one is given (fixed noise)."""
        device = next(self.parameters()).device
        if generator is None:
            return torch.randn(n, self.latent, device=device)
        return torch.randn(n, self.latent, generator=generator).to(device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.sampler(z)


@dataclass
class MLPGANConfig(ModelConfig):
    latent: int = 2
    hidden: list[int] = field(default_factory=lambda: [512, 512, 512])
    ema: float = 0.0  # decay of the generator's moving average that samples come from; 0: none

    def __post_init__(self) -> None:
        in_range("model", 1, latent=self.latent, hidden=self.hidden)
        count_in_range("model", 0, MAX_LAYERS, hidden=self.hidden)
        in_range("model", 0, 1, ema=self.ema)


@MODELS.register("gan-mlp", config=MLPGANConfig, tasks=("adversarial",))
def build_mlp_gan(cfg: MLPGANConfig, info: DataInfo) -> GAN:
    features = math.prod(info.input_shape)
    generator = nn.Sequential(mlp([cfg.latent, *cfg.hidden, features]), nn.Unflatten(1, info.input_shape))
    critic = nn.Sequential(nn.Flatten(), mlp([features, *cfg.hidden, 1]), nn.Flatten(0))
    return GAN(generator, critic, cfg.latent).keep_average(cfg.ema)
