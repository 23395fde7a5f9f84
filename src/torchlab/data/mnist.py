"""MNIST and Fashion-MNIST, read from torchvision's layout (`ROOT/MNIST/raw/...`).

The IDX files are read strictly by data/idx.py: importing torchvision costs over a second of
startup, so it is imported only to download missing files.
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import torch

from torchlab.config import DataConfig
from torchlab.core.errors import DataNotFound, TorchlabError
from torchlab.data import DATASETS, DataInfo, info_without_files
from torchlab.data.augment import ImageDataConfig, build_augment
from torchlab.data.idx import read_idx_pair
from torchlab.data.memory import InMemoryImages
from torchlab.data.root import data_root, dataset_folder, downloads_allowed, fetch, missing_files

CLASSES = {
    "MNIST": ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four"]
    + ["5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"],
    "FashionMNIST": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    + ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}
STATS = {"MNIST": (0.1307, 0.3081), "FashionMNIST": (0.2860, 0.3530)}  # mean and std of the training pixels
SIDE = 28
RAW_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def load_idx_dataset(
    name: str, cfg: DataConfig
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], list[str]]:
    """((train images, labels), (test images, labels), class names); images uint8 [N, 1, 28, 28].

    Downloads only when files are missing, downloads are allowed and a network answers;
    otherwise a TorchlabError names the folder and the files it expected. The files are read
    strictly (data/idx.py): a truncated, damaged or mismatched file is a TorchlabError naming it.
    """
    root = data_root(cfg.root)
    raw = dataset_folder(root, name, "raw")

    def from_the_web(stage: Path) -> None:
        from torchvision import datasets  # imported only here: it costs a second of startup

        for train in (True, False):
            getattr(datasets, name)(str(stage), train=train, download=downloads_allowed(cfg.download))

    if why := fetch(root, raw, RAW_FILES, from_the_web, cfg.download):
        raise _missing(raw, missing_files(raw, RAW_FILES), why)
    classes = CLASSES[name]
    train, test = (
        read_idx_pair(raw / f"{split}-images-idx3-ubyte", raw / f"{split}-labels-idx1-ubyte", len(classes))
        for split in ("train", "t10k")
    )
    if train[0].shape[-2:] != test[0].shape[-2:]:
        (h, w), (th, tw) = train[0].shape[-2:], test[0].shape[-2:]
        raise TorchlabError(
            f"{raw / 't10k-images-idx3-ubyte'} holds images of {th} x {tw} pixels, but "
            f"{raw / 'train-images-idx3-ubyte'} holds {h} x {w}: both must be of one size"
        )
    return train, test, classes


def _missing(folder: Path, missing: list[str], why: str) -> DataNotFound:
    return DataNotFound(
        f"dataset not found in {folder}: missing {', '.join(missing)} ({why}); "
        f"point --data-dir or TORCHLAB_DATA at a folder holding {folder.parent.name}/raw/ in torchvision's layout"
    )


@dataclass
class GrayscaleConfig(ImageDataConfig):
    # standardize: zero mean, unit variance (classifiers); unit: [0, 1] (a BCE target);
    # signed: [-1, 1] (a tanh generator's range)
    pixels: Literal["standardize", "unit", "signed"] = "standardize"
    # Keep the central N x N pixels of every image (train, val and test), as torchvision's CenterCrop.
    # MNIST's digits are centred in a 20 x 20 box: a 24 x 24 crop keeps 99.8% of their ink.
    center_crop: int | None = None


def pixel_stats(cfg: GrayscaleConfig, mean: float, std: float) -> dict[str, tuple[float, ...]]:
    """The (mean, std) that InMemoryImages normalises `x / 255` with, for `cfg.pixels`."""
    mean, std = {"standardize": (mean, std), "unit": (0.0, 1.0), "signed": (0.5, 0.5)}[cfg.pixels]
    return {"mean": (mean,), "std": (std,)}


def check_crop(size: int, side: int) -> None:
    if not 1 <= size <= side:
        raise TorchlabError(f"data.center_crop: expected 1 to {side} pixels, got {size}")


def center_crop(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """The central `size` x `size` pixels of `[N, C, H, W]` images (all of them when `size` is None)."""
    if size is None:
        return images
    height, width = images.shape[-2:]
    check_crop(size, min(height, width))
    top, left = (round((side - size) / 2) for side in (height, width))  # torchvision's offsets, odd margins too
    return images[..., top : top + size, left : left + size].contiguous()


def grayscale(name: str, cfg: GrayscaleConfig, device: torch.device) -> InMemoryImages:
    (train_images, train_labels), (test_images, test_labels), classes = load_idx_dataset(name, cfg)
    train = center_crop(train_images, cfg.center_crop), train_labels
    test = center_crop(test_images, cfg.center_crop), test_labels
    stats = pixel_stats(cfg, *STATS[name])
    uncropped = tuple(train_images.shape[-2:]) if cfg.center_crop is not None else None
    augment = build_augment(cfg.augment)
    return InMemoryImages(
        cfg, device, train, test, **stats, class_names=classes, train_transform=augment, uncropped=uncropped
    )


def grayscale_info(name: str, cfg: GrayscaleConfig) -> DataInfo:
    """The DataInfo of `grayscale(name, cfg)` without its files: 28 x 28 images (or the centre crop)."""
    side = cfg.center_crop or SIDE
    check_crop(side, SIDE)
    stats, uncropped = pixel_stats(cfg, *STATS[name]), (SIDE, SIDE) if cfg.center_crop is not None else None
    normalization = (stats["mean"], stats["std"])
    return DataInfo(
        (1, side, side), len(CLASSES[name]), CLASSES[name], normalization=normalization, uncropped=uncropped
    )


for _name, _folder in (("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")):
    DATASETS.register(_name, config=GrayscaleConfig)(partial(grayscale, _folder))
    info_without_files(_name)(partial(grayscale_info, _folder))
