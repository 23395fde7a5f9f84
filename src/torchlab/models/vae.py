"""The notes' VAE: the encoder gives the mean μ and log-variance log σ² of q(z|x).

Both heads are plain Linear layers: a ReLU on them (as some write-ups have) would forbid
negative means and variances below one.
"""

import math

import torch
from torch import nn

from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import AutoEncoderConfig, mlp


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of x from its mean code (no sampling)."""
        return self.decode(self.encode(x)[0])


@MODELS.register("vae", config=AutoEncoderConfig)
def build_vae(cfg: AutoEncoderConfig, info: DataInfo) -> VAE:
    return VAE(info.input_shape, cfg.hidden, cfg.latent)
