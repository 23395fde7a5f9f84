"""The course's VAE (AutoEncoder实战/vae.py): 784-256-64-20, split into μ and σ (10 each), 10-64-256-784.

Kept from the course, each a mistake that does not stop training:
- the encoder's last layer ends in a ReLU, so μ >= 0 and σ >= 0: the code lives in one orthant;
- the second half is σ itself, not log σ²: the KL reads log(σ² + 1e-8), and σ = 0 (a dead ReLU)
  costs a large KL instead of a NaN;
- a Sigmoid output trained with MSE.
`forward` returns (output, μ, log(σ² + 1e-8)), so torchlab's reconstruct task computes the course's
KL, 0.5·Σ(μ² + σ² − log(σ² + 1e-8) − 1), to within 1e-8.
"""

import math

import torch
from torch import nn

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.course_ae import relu_stack
from torchlab.models.vae import noise_like


class CourseVAE(nn.Module):
    variational = True

    def __init__(self, input_shape: tuple[int, ...] = (1, 28, 28), latent: int = 10) -> None:
        super().__init__()
        features = math.prod(input_shape)
        self.latent = latent
        self.encoder = nn.Sequential(nn.Flatten(), *relu_stack([features, 256, 64, 2 * latent]))
        decoder = relu_stack([latent, 64, 256, features])
        decoder[-1] = nn.Sigmoid()
        self.decoder = nn.Sequential(*decoder, nn.Unflatten(1, input_shape))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log(σ² + 1e-8)), both from the ReLU'd encoder output, as the course computes its KL."""
        mu, sigma = self.encoder(x).chunk(2, dim=1)
        return mu, torch.log(1e-8 + sigma.pow(2))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, sigma = self.encoder(x).chunk(2, dim=1)
        z = mu + sigma * noise_like(sigma, per_sample=not self.training)  # the reparameterization trick, with σ itself
        return self.decode(z), mu, torch.log(1e-8 + sigma.pow(2))


@MODELS.register("course-vae", tasks=("reconstruct",))
def build_course_vae(cfg: ModelConfig, info: DataInfo) -> CourseVAE:
    return CourseVAE(info.input_shape)
