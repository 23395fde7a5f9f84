"""MNIST and Fashion-MNIST, read from torchvision's layout (`ROOT/MNIST/raw/...`)."""

from pathlib import Path

import torch
from torchvision import datasets

from torchlab.config import DataConfig
from torchlab.data import DATASETS
from torchlab.data.augment import ImageDataConfig, build_augment
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


@DATASETS.register("mnist", config=ImageDataConfig)
def mnist(cfg: ImageDataConfig, device: torch.device) -> InMemoryImages:
    train, test, classes = load_idx_dataset(datasets.MNIST, cfg)
    return InMemoryImages(
        cfg,
        device,
        train,
        test,
        mean=(0.1307,),
        std=(0.3081,),
        class_names=classes,
        train_transform=build_augment(cfg.augment),
    )


@DATASETS.register("fashion-mnist", config=ImageDataConfig)
def fashion_mnist(cfg: ImageDataConfig, device: torch.device) -> InMemoryImages:
    train, test, classes = load_idx_dataset(datasets.FashionMNIST, cfg)
    return InMemoryImages(
        cfg,
        device,
        train,
        test,
        mean=(0.2860,),
        std=(0.3530,),
        class_names=classes,
        train_transform=build_augment(cfg.augment),
    )
