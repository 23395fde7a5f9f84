"""MNIST and Fashion-MNIST, read from torchvision's layout (`ROOT/MNIST/raw/...`)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torchvision import datasets

from torchlab.config import DataConfig
from torchlab.data import DATASETS
from torchlab.data.memory import InMemoryImages
from torchlab.data.root import data_root, downloads_allowed
from torchlab.errors import TorchlabError

RAW_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def load_idx_dataset(
    dataset_cls: type[datasets.MNIST], cfg: DataConfig
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], list[str]]:
    """((train images, labels), (test images, labels), class names); images uint8 [N, 1, 28, 28].

    Downloads only when files are missing, downloads are allowed and a network answers;
    otherwise a TorchlabError names the folder and the files it expected.
    """
    root = data_root(cfg.root)
    raw = root / dataset_cls.__name__ / "raw"
    missing = [name for name in RAW_FILES if not (raw / name).is_file()]
    if missing:
        allowed = downloads_allowed(cfg.download)
        if allowed:
            try:
                for train in (True, False):
                    dataset_cls(str(root), train=train, download=allowed)
            except Exception as err:  # any network or disk failure: report what is missing
                raise _missing(raw, missing, f"download failed: {err}") from None
        else:
            raise _missing(raw, missing, "downloads are off")
    try:
        splits = [dataset_cls(str(root), train=train, download=False) for train in (True, False)]
    except (RuntimeError, ValueError, AssertionError, IndexError) as err:
        raise TorchlabError(f"{dataset_cls.__name__} files in {raw} are unreadable: {err}") from None
    train, test = ((s.data.unsqueeze(1), s.targets) for s in splits)
    return train, test, list(splits[0].classes)


def _missing(folder: Path, missing: list[str], why: str) -> TorchlabError:
    return TorchlabError(
        f"dataset not found in {folder}: missing {', '.join(missing)} ({why}); "
        f"point --data-dir or TORCHLAB_DATA at a folder holding {folder.parent.name}/raw/ in torchvision's layout"
    )


@dataclass
class GrayscaleConfig(DataConfig):
    # standardize: zero mean, unit variance (classifiers); unit: [0, 1] (a BCE target);
    # signed: [-1, 1] (a tanh generator's range)
    pixels: Literal["standardize", "unit", "signed"] = "standardize"


def pixel_stats(cfg: GrayscaleConfig, mean: float, std: float) -> dict[str, tuple[float, ...]]:
    """The (mean, std) that InMemoryImages normalises `x / 255` with, for `cfg.pixels`."""
    mean, std = {"standardize": (mean, std), "unit": (0.0, 1.0), "signed": (0.5, 0.5)}[cfg.pixels]
    return {"mean": (mean,), "std": (std,)}


@DATASETS.register("mnist", config=GrayscaleConfig)
def mnist(cfg: GrayscaleConfig, device: torch.device) -> InMemoryImages:
    train, test, classes = load_idx_dataset(datasets.MNIST, cfg)
    return InMemoryImages(cfg, device, train, test, **pixel_stats(cfg, 0.1307, 0.3081), class_names=classes)


@DATASETS.register("fashion-mnist", config=GrayscaleConfig)
def fashion_mnist(cfg: GrayscaleConfig, device: torch.device) -> InMemoryImages:
    train, test, classes = load_idx_dataset(datasets.FashionMNIST, cfg)
    return InMemoryImages(cfg, device, train, test, **pixel_stats(cfg, 0.2860, 0.3530), class_names=classes)
