"""The course's WGAN-GP pair for 8-Gaussians (lesson 57, wgan_gp.py): MLPs 2-400-400-400, Kaiming init.

Generator: Linear(latent, 400), ReLU, Linear(400, 400), ReLU, Linear(400, 400), ReLU, Linear(400, 2).
Critic: the same widths to one output, then a Sigmoid, kept from the course: a Wasserstein critic
should be an unbounded score (torchlab's `gan-mlp` has none); squeezed into (0, 1) its outputs
saturate, its gradients vanish far from the data, and the penalty (λ = 0.3 in the course) pulls
toward a gradient norm of 1 that a sigmoid can reach only near 0.5. Every Linear starts from
`kaiming_normal_` weights and zero biases, as the course's `weights_init` does.
"""

import math
from dataclasses import dataclass

from torch import nn

from torchlab.config import ModelConfig, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import mlp
from torchlab.models.gan import GAN


def kaiming_init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.kaiming_normal_(module.weight)
        nn.init.zeros_(module.bias)


@dataclass
class CourseGANConfig(ModelConfig):
    latent: int = 2
    hidden: int = 400
    sigmoid: bool = True  # the course's Sigmoid on the critic; false drops it

    def __post_init__(self) -> None:
        in_range("model", 1, latent=self.latent, hidden=self.hidden)


@MODELS.register("course-gan-mlp", config=CourseGANConfig, tasks=("adversarial",))
def build_course_gan(cfg: CourseGANConfig, info: DataInfo) -> GAN:
    features, h = math.prod(info.input_shape), cfg.hidden
    generator = nn.Sequential(mlp([cfg.latent, h, h, h, features]), nn.Unflatten(1, info.input_shape))
    critic_layers: list[nn.Module] = [nn.Flatten(), mlp([features, h, h, h, 1])]
    if cfg.sigmoid:
        critic_layers.append(nn.Sigmoid())
    critic = nn.Sequential(*critic_layers, nn.Flatten(0))
    model = GAN(generator, critic, cfg.latent)
    model.apply(kaiming_init)
    return model
