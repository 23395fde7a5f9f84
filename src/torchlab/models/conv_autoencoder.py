"""A convolutional AutoEncoder for 28×28 images: two stride-2 convolutions down, two up."""

from dataclasses import dataclass

from torch import nn

from torchlab.config import ModelConfig, in_range
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.autoencoder import EncoderDecoder


class ConvAutoEncoder(EncoderDecoder):
    def __init__(self, channels: int, width: int, latent: int) -> None:
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1),  # 28 -> 14
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),  # 14 -> 7
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 2 * width * 7 * 7),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # 7 -> 14
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),  # 14 -> 28
        )


@dataclass
class ConvAutoEncoderConfig(ModelConfig):
    width: int = 32
    latent: int = 20

    def __post_init__(self) -> None:
        in_range("model", 1, width=self.width, latent=self.latent)


@MODELS.register("conv-autoencoder", config=ConvAutoEncoderConfig, tasks=("reconstruct",))
def build_conv_autoencoder(cfg: ConvAutoEncoderConfig, info: DataInfo) -> ConvAutoEncoder:
    if len(info.input_shape) != 3 or info.input_shape[1:] != (28, 28):
        raise TorchlabError(f"model conv-autoencoder needs 28×28 images, the data gives {info.input_shape}")
    return ConvAutoEncoder(info.input_shape[0], cfg.width, cfg.latent)
