"""The notes' AutoEncoder: an MLP encoder to a small code z, and an MLP decoder back.

`encode(x) -> z`, `decode(z) -> logits` shaped like the input; the task decides what the
decoder's output means (Bernoulli logits for BCE, pixel values for MSE).
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from torchlab.config import ModelConfig, count_in_range, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.size import MAX_LAYERS


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them and nothing after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class EncoderDecoder(nn.Module):
    """`self.encoder` to a code z and `self.decoder` back; subclasses build the two."""

    variational = False
    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class AutoEncoder(EncoderDecoder):
    def __init__(self, input_shape: tuple[int, ...], hidden: list[int], latent: int) -> None:
        super().__init__()
        features = math.prod(input_shape)
        self.latent = latent
        self.encoder = nn.Sequential(nn.Flatten(), mlp([features, *hidden, latent]))
        self.decoder = nn.Sequential(mlp([latent, *reversed(hidden), features]), nn.Unflatten(1, input_shape))


@dataclass
class AutoEncoderConfig(ModelConfig):
    hidden: list[int] = field(default_factory=lambda: [400])
    latent: int = 20

    def __post_init__(self) -> None:
        in_range("model", 1, hidden=self.hidden, latent=self.latent)
        count_in_range("model", 0, MAX_LAYERS, hidden=self.hidden)


@MODELS.register("autoencoder", config=AutoEncoderConfig, tasks=("reconstruct",))
def build_autoencoder(cfg: AutoEncoderConfig, info: DataInfo) -> AutoEncoder:
    return AutoEncoder(info.input_shape, cfg.hidden, cfg.latent)
