"""Real MNIST for the sections where the notes use it, read from the data root as `torchlab train` reads it.

The data root is `torchlab notes --data-dir`, else $TORCHLAB_DATA, else ~/.cache/torchlab/data, in torchvision's layout
(ROOT/MNIST/raw/train-images-idx3-ubyte, ...). The notes never download: a missing file is a
TorchlabError (exit 2) naming the folder and the files to get.
"""

from pathlib import Path

import torch

from torchlab.core.errors import TorchlabError
from torchlab.data.idx import read_idx_pair
from torchlab.data.root import data_root, missing_files

FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MEAN, STD = 0.1307, 0.3081  # the notes' Normalize((0.1307,), (0.3081,))


data_dir: str | None = None  # `torchlab notes --data-dir`, set by `notes.run`


def mnist_folder() -> Path:
    return data_root(data_dir) / "MNIST" / "raw"


def check() -> Path:
    """The MNIST folder, or a TorchlabError naming it and the files to get."""
    folder = mnist_folder()
    missing = missing_files(folder, FILES[True] + FILES[False])
    if missing:
        raise TorchlabError(
            f"MNIST not found in {folder}: missing {', '.join(missing)}; this section uses the real MNIST, as "
            "the notes do. Point --data-dir or TORCHLAB_DATA at a folder holding MNIST/raw/ "
            "(`torchlab train mnist-mlp` downloads it there where a network exists)"
        )
    return folder


def mnist(train: bool = True, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 [N, 1, 28, 28], labels int64 [N]) of MNIST's training or test set, the first `limit`."""
    folder = check()
    images_file, labels_file = FILES[train]
    images, labels = read_idx_pair(folder / images_file, folder / labels_file, num_classes=10)
    return images[:limit], labels[:limit]


def normalized(images: torch.Tensor) -> torch.Tensor:
    """ToTensor() then Normalize((0.1307,), (0.3081,)), on a batch: floats of mean ~0 and std ~1."""
    return (images.float() / 255 - MEAN) / STD
