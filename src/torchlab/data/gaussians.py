"""8-Gaussians: the GAN toy set, eight round Gaussians evenly spaced on a circle.

A sample's label is the index of the mode it was drawn from, so a task can tell which modes a
generator covers. Every point is drawn from `data.split_seed`: each run of a recipe sees the
same train, validation and test points.
"""

import math
from dataclasses import dataclass

import torch

from torchlab.config import DataConfig, in_range
from torchlab.data import DATASETS, DataInfo, info_without_files
from torchlab.data.loaders import TensorSplits
from torchlab.data.splits import split_indices, split_sizes


@dataclass
class GaussiansConfig(DataConfig):
    samples: int = 60000  # train + validation; data.val_split holds part of them out
    test_samples: int = 10000
    modes: int = 8
    radius: float = 2.0
    std: float = 0.02
    batch_size: int = 256
    eval_batch_size: int = 10000

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("data", 1, samples=self.samples, test_samples=self.test_samples, modes=self.modes)
        in_range("data", 0, radius=self.radius, std=self.std)


def sample_modes(n: int, modes: int, radius: float, std: float, generator: torch.Generator):
    """`n` points `[n, 2]` and the index of the mode each was drawn from."""
    labels = torch.randint(modes, (n,), generator=generator)
    angles = labels.float() * (2 * math.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return centres + std * torch.randn(n, 2, generator=generator), labels


class Gaussians(TensorSplits):
    def __init__(self, cfg: GaussiansConfig, device: torch.device) -> None:
        generator = torch.Generator().manual_seed(cfg.split_seed)
        n_train, _ = split_sizes(cfg.samples, cfg.val_split)
        points, labels = sample_modes(cfg.samples + cfg.test_samples, cfg.modes, cfg.radius, cfg.std, generator)
        points, labels = points.to(device), labels.to(device)
        self.cfg = cfg
        if cfg.folds:
            train_idx, val_idx = split_indices(cfg.samples, cfg)
        else:  # the points are drawn independently: the first ones train, the rest validate
            train_idx, val_idx = torch.arange(n_train), torch.arange(n_train, cfg.samples)
        self.train = points[train_idx][: cfg.subset], labels[train_idx][: cfg.subset]
        self.val = points[val_idx][: cfg.eval_subset], labels[val_idx][: cfg.eval_subset]
        self.test = points[cfg.samples :][: cfg.eval_subset], labels[cfg.samples :][: cfg.eval_subset]
        self.info = gaussians_info(cfg)
        self.train_size = len(self.train[0])


@info_without_files("8-gaussians")
def gaussians_info(cfg: GaussiansConfig) -> DataInfo:
    """2-d points, a class per mode, each named by its angle."""
    return DataInfo((2,), cfg.modes, [f"{round(360 * k / cfg.modes)}°" for k in range(cfg.modes)])


@DATASETS.register("8-gaussians", config=GaussiansConfig)
def gaussians(cfg: GaussiansConfig, device: torch.device) -> Gaussians:
    return Gaussians(cfg, device)
