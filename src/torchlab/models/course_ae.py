"""The course's AutoEncoder (AutoEncoder实战/ae.py): 784-256-64-20 and back, ReLU everywhere, Sigmoid out.

Kept from the course: a ReLU on the 20-d code itself (a code unit that goes negative is dead for
that image) and a Sigmoid on the output, trained with MSE on pixels in [0, 1].
"""

import math

from torch import nn

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import EncoderDecoder


def relu_stack(sizes: list[int]) -> list[nn.Module]:
    """Linear layers, each followed by a ReLU (the last one too)."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return layers


class CourseAE(EncoderDecoder):
    def __init__(self, input_shape: tuple[int, ...] = (1, 28, 28), latent: int = 20) -> None:
        super().__init__()
        features = math.prod(input_shape)
        self.latent = latent
        self.encoder = nn.Sequential(nn.Flatten(), *relu_stack([features, 256, 64, latent]))
        decoder = relu_stack([latent, 64, 256, features])
        decoder[-1] = nn.Sigmoid()
        self.decoder = nn.Sequential(*decoder, nn.Unflatten(1, input_shape))


@MODELS.register("course-ae", tasks=("reconstruct",))
def build_course_ae(cfg: ModelConfig, info: DataInfo) -> CourseAE:
    return CourseAE(info.input_shape)
