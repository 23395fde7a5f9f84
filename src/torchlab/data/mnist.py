"""MNIST and Fashion-MNIST, read from torchvision's layout (`ROOT/MNIST/raw/...`).

The IDX files are read here directly: importing torchvision costs over a second of startup,
so it is imported only to download missing files.
"""

from pathlib import Path

import numpy as np
import torch

from torchlab.config import DataConfig
from torchlab.data import DATASETS
from torchlab.data.memory import InMemoryImages
from torchlab.data.root import data_root, downloads_allowed
from torchlab.errors import TorchlabError

CLASSES = {
    "MNIST": ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four"]
    + ["5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"],
    "FashionMNIST": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    + ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}
RAW_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (big-endian header: magic with the dimension count, then each size) as uint8."""
    raw = path.read_bytes()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path.name} is not an unsigned-byte IDX file")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=raw[3], offset=4))
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(shape).copy())


def load_idx_dataset(
    name: str, cfg: DataConfig
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], list[str]]:
    """((train images, labels), (test images, labels), class names); images uint8 [N, 1, 28, 28].

    Downloads only when files are missing, downloads are allowed and a network answers;
    otherwise a TorchlabError names the folder and the files it expected.
    """
    root = data_root(cfg.root)
    raw = root / name / "raw"
    missing = [file for file in RAW_FILES if not (raw / file).is_file()]
    if missing:
        allowed = downloads_allowed(cfg.download)
        if allowed:
            from torchvision import datasets

            try:
                dataset_cls = getattr(datasets, name)
                for train in (True, False):
                    dataset_cls(str(root), train=train, download=allowed)
            except Exception as err:  # any network or disk failure: report what is missing
                raise _missing(raw, missing, f"download failed: {err}") from None
        else:
            raise _missing(raw, missing, "downloads are off")
    try:
        images, labels, test_images, test_labels = (read_idx(raw / file) for file in RAW_FILES)
    except ValueError as err:
        raise TorchlabError(f"{name} files in {raw} are unreadable: {err}") from None
    return (images.unsqueeze(1), labels.long()), (test_images.unsqueeze(1), test_labels.long()), CLASSES[name]


def _missing(folder: Path, missing: list[str], why: str) -> TorchlabError:
    return TorchlabError(
        f"dataset not found in {folder}: missing {', '.join(missing)} ({why}); "
        f"point --data-dir or TORCHLAB_DATA at a folder holding {folder.parent.name}/raw/ in torchvision's layout"
    )


@DATASETS.register("mnist")
def mnist(cfg: DataConfig, device: torch.device) -> InMemoryImages:
    train, test, classes = load_idx_dataset("MNIST", cfg)
    return InMemoryImages(cfg, device, train, test, mean=(0.1307,), std=(0.3081,), class_names=classes)


@DATASETS.register("fashion-mnist")
def fashion_mnist(cfg: DataConfig, device: torch.device) -> InMemoryImages:
    train, test, classes = load_idx_dataset("FashionMNIST", cfg)
    return InMemoryImages(cfg, device, train, test, mean=(0.2860,), std=(0.3530,), class_names=classes)
