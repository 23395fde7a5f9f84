"""CIFAR-10 from torchvision's layout (`ROOT/cifar-10-batches-py/`), held in memory as uint8.

The batches are Python pickles. They are read with an unpickler that builds nothing but
dicts, lists and numpy arrays, so a tampered file cannot run code (as weights_only does for
checkpoints). Missing files are downloaded through torchvision where a network exists.
"""

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchlab.core.errors import DataNotFound, TorchlabError
from torchlab.core.files import open_data
from torchlab.core.words import counted
from torchlab.data import DATASETS, DataInfo, info_without_files
from torchlab.data.augment import ImageDataConfig, build_augment
from torchlab.data.memory import InMemoryImages
from torchlab.data.root import data_root, dataset_folder, downloads_allowed, fetch, missing_files

FOLDER = "cifar-10-batches-py"
SHAPE = (3, 32, 32)
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]  # batches.meta's
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
FILES = [*TRAIN_FILES, "test_batch", "batches.meta"]


class _ArraysOnly(pickle.Unpickler):
    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


def _read(path: Path) -> dict[str, Any]:
    with open_data(path) as f:
        try:
            return _ArraysOnly(f, encoding="latin1").load()
        except OSError:  # reading failed: open_data names it
            raise
        # Whatever else fails in the unpickler that builds only arrays is the file's: a damaged length asks
        # for a MemoryError or an OverflowError, a damaged opcode for any of a dozen others.
        except Exception as err:  # noqa: BLE001
            raise TorchlabError(f"CIFAR-10 file {path} is unreadable: {str(err) or type(err).__name__}") from None


def _batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 32, 32], labels int64 [N]) of one batch file; a malformed one names it."""
    batch = _read(path)
    try:
        images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, *SHAPE)
        labels = np.asarray(batch["labels"], dtype=np.int64).reshape(-1)
    except (KeyError, ValueError, TypeError, IndexError) as err:
        raise TorchlabError(f"CIFAR-10 file {path} is malformed: {err!r}") from None
    if len(images) != len(labels):
        raise TorchlabError(
            f"CIFAR-10 file {path} holds {counted(len(images), 'image')} but {counted(len(labels), 'label')}"
        )
    if len(outside := np.flatnonzero((labels < 0) | (labels >= len(CLASSES)))):
        i = int(outside[0])
        raise TorchlabError(f"CIFAR-10 file {path}: label {labels[i]} at index {i} is not a class (0..9)")
    return images, labels


def _images_and_labels(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*(_batch(p) for p in paths), strict=True)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def load_cifar10(root: Path, download: bool) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], list[str]]:
    """((train images, labels), (test images, labels), class names); images uint8 [N, 3, 32, 32]."""
    folder = dataset_folder(root, FOLDER)

    def from_the_web(stage: Path) -> None:
        from torchvision import datasets  # imported only here: it costs a second of startup

        datasets.CIFAR10(str(stage), train=True, download=downloads_allowed(download))

    if why := fetch(root, folder, FILES, from_the_web, download):
        raise DataNotFound(
            f"CIFAR-10 not found in {folder}: missing {', '.join(missing_files(folder, FILES))} ({why}); point "
            f"--data-dir or TORCHLAB_DATA at a folder holding {FOLDER}/ (torchvision's layout)"
        )
    meta = _read(folder / "batches.meta")
    classes = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(classes, list):
        raise TorchlabError(f"CIFAR-10 file {folder / 'batches.meta'} holds no label_names")
    train = _images_and_labels([folder / name for name in TRAIN_FILES])
    test = _images_and_labels([folder / "test_batch"])
    return train, test, [str(c) for c in classes]


@DATASETS.register("cifar10", config=ImageDataConfig)
def cifar10(cfg: ImageDataConfig, device: torch.device) -> InMemoryImages:
    train, test, classes = load_cifar10(data_root(cfg.root), cfg.download)
    augment = build_augment(cfg.augment)
    return InMemoryImages(cfg, device, train, test, mean=MEAN, std=STD, class_names=classes, train_transform=augment)


@info_without_files("cifar10")
def cifar10_info(cfg: ImageDataConfig) -> DataInfo:
    return DataInfo(SHAPE, len(CLASSES), CLASSES, normalization=(MEAN, STD))
