"""Augmentation (数据增强) on whole batches of uint8 images, every sample drawn on its own.

torchvision.transforms.v2 accepts a batch `[N, C, H, W]`, but draws one set of random
parameters for all of it: every image of a batch would flip or turn together. The preset
below draws per sample, on the batch's device, from torch's global RNG (seeded and saved in
checkpoints by the engine), or from the generator it is given. It takes one image `[C, H, W]` as
well: an image folder augments each sample with a generator of its own (`data/folder.py`).

The notes' `RandomRotation([90, 180, 270])` raises (a list means a (min, max) range); what it
means, "one of three right angles", is `right_angles=True`.
"""

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from torchlab.config import DataConfig, in_range
from torchlab.core.errors import TorchlabError


@dataclass
class AugmentConfig:
    """The training split's augmentation; every option is off by default."""

    hflip: float = 0.0  # probability of a horizontal flip
    vflip: float = 0.0  # probability of a vertical flip
    right_angles: bool = False  # turn by 90, 180 or 270 degrees, one chosen at random (square images)
    rotation: float = 0.0  # then rotate by a uniform angle in [-rotation, rotation] degrees
    scale: float = 0.0  # and zoom by a uniform factor in [1 - scale, 1 + scale]
    crop_padding: int = 0  # random crop of the original size from the image padded with zeros
    noise_std: float = 0.0  # Gaussian noise, in units of the full pixel range

    def __post_init__(self) -> None:
        in_range("data.augment", 0, 1, "[]", hflip=self.hflip, vflip=self.vflip)
        in_range("data.augment", 0, 1, scale=self.scale)
        in_range("data.augment", 0, rotation=self.rotation, crop_padding=self.crop_padding, noise_std=self.noise_std)


@dataclass
class ImageDataConfig(DataConfig):
    augment: AugmentConfig = field(default_factory=AugmentConfig)


class TrainPreset:
    """Flips, right-angle turns, rotation and zoom, padded random crop, noise; in that order.

    Takes uint8 images `[N, C, H, W]` or `[C, H, W]` and returns the same shape and dtype.
    """

    def __init__(
        self,
        *,
        hflip: float = 0.0,
        vflip: float = 0.0,
        right_angles: bool = False,
        rotation: float = 0.0,
        scale: float = 0.0,
        crop_padding: int = 0,
        noise_std: float = 0.0,
    ) -> None:
        for name, p in (("hflip", hflip), ("vflip", vflip)):
            if not 0 <= p <= 1:
                raise TorchlabError(f"data.augment.{name} is a probability in [0, 1], got {p}")
        if not 0 <= scale < 1 or rotation < 0 or crop_padding < 0 or noise_std < 0:
            raise TorchlabError(
                "data.augment: scale must lie in [0, 1); rotation, crop_padding and noise_std must not be negative"
            )
        self.hflip, self.vflip, self.right_angles = hflip, vflip, right_angles
        self.rotation, self.scale = rotation, scale
        self.crop_padding, self.noise_std = crop_padding, noise_std

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`generator`: what to draw from (on the images' device); None: torch's global RNG."""
        x = images if images.dim() == 4 else images.unsqueeze(0)
        g = generator
        if self.hflip:
            x = torch.where(self._draw(x, g) < self.hflip, x.flip(-1), x)
        if self.vflip:
            x = torch.where(self._draw(x, g) < self.vflip, x.flip(-2), x)
        if self.right_angles:
            x = self._turn(x, g)
        if self.rotation or self.scale:
            x = self._rotate_and_zoom(x, g)
        if self.crop_padding:
            x = self._crop(x, g)
        if self.noise_std:
            x = _like(x.float() + torch.randn(x.shape, generator=g, device=x.device) * (255 * self.noise_std), x)
        return x if images.dim() == 4 else x.squeeze(0)

    @staticmethod
    def _draw(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        """One uniform number per sample, shaped to broadcast over [N, C, H, W]."""
        return torch.rand(len(x), 1, 1, 1, generator=g, device=x.device)

    def _turn(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        if x.shape[-1] != x.shape[-2]:
            raise TorchlabError(f"data.augment.right_angles needs square images, got {x.shape[-2]}x{x.shape[-1]}")
        quarter_turns = torch.randint(1, 4, (len(x),), generator=g, device=x.device)
        out = x.clone()
        for k in (1, 2, 3):
            chosen = quarter_turns == k
            out[chosen] = torch.rot90(x[chosen], k, dims=(-2, -1))
        return out

    def _rotate_and_zoom(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        n = len(x)
        angle = (torch.rand(n, generator=g, device=x.device) * 2 - 1) * math.radians(self.rotation)
        zoom = 1 + (torch.rand(n, generator=g, device=x.device) * 2 - 1) * self.scale
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # the grid maps output to input
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return _like(F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False), x)

    def _crop(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        """airbench's batched crop: pad every side, then each sample keeps its own window."""
        n, _, h, w = x.shape
        pad = self.crop_padding
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=g, device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=g, device=x.device)
        rows = (torch.arange(h, device=x.device) + dy)[:, None, :, None]  # [N, 1, H, 1]
        cols = (torch.arange(w, device=x.device) + dx)[:, None, None, :]  # [N, 1, 1, W]
        samples = torch.arange(n, device=x.device)[:, None, None, None]
        channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        return padded[samples, channels, rows, cols]

    def __repr__(self) -> str:
        return f"TrainPreset({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


def _like(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Float results back to `like`'s dtype: rounded and clamped to [0, 255] for uint8 images."""
    if like.dtype.is_floating_point:
        return values.to(like.dtype)
    return values.round_().clamp_(0, 255).to(like.dtype)


def build_augment(cfg: AugmentConfig) -> TrainPreset | None:
    """The preset for `cfg`, or None when every option is off (no work per batch)."""
    return TrainPreset(**asdict(cfg)) if cfg != AugmentConfig() else None
