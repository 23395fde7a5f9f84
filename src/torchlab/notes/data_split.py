"""Train, validation and test sets: the MNIST transform and torch.utils.data.random_split.

Seed random_split with a generator for a split that is the same on every run (the notes' is
unseeded). The validation loader needs no shuffling. (The notes' `test_db` is never defined: it is
MNIST with train=False.) MNIST is read from the data root, never downloaded, and normalised whole as
the notes' transform does image by image (that transform runs on one picture first); the notes'
undefined batch_size is 200.
"""

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset, random_split

from torchlab.notes import show
from torchlab.notes._mnist import mnist, normalized

ORDER = 180
BLOCKS = ("train-val-test：划分数据",)

MNIST_TRANSFORM = torchvision.transforms.Compose(
    [torchvision.transforms.ToTensor(), torchvision.transforms.Normalize((0.1307,), (0.3081,))]
)


def split(dataset: TensorDataset, lengths: list[int], seed: int = 0) -> list[list[int]]:
    """The sample indices random_split puts in each part."""
    parts = random_split(dataset, lengths, generator=torch.Generator().manual_seed(seed))
    return [list(part.indices) for part in parts]


def main() -> None:
    image = Image.fromarray(np.array([[0, 255], [128, 64]], dtype=np.uint8))  # what MNIST yields
    show("ToTensor then Normalize((0.1307,), (0.3081,)) of pixels [[0, 255], [128, 64]]", MNIST_TRANSFORM(image))
    train_images, train_labels = mnist(train=True)  # the real MNIST, from the data root
    test_images, test_labels = mnist(train=False)
    train_db = TensorDataset(normalized(train_images), train_labels)
    test_db = TensorDataset(normalized(test_images), test_labels)  # the notes use test_db undefined
    show("train, test", (len(train_db), len(test_db)))
    show(
        "pixels after Normalize: mean, std",
        (round(train_db.tensors[0].mean().item(), 3) + 0.0, round(train_db.tensors[0].std().item(), 3)),  # no -0.0
    )
    train_part, val_part = split(train_db, [50000, 10000])
    show("db1, db2", (len(train_part), len(val_part)))
    show("disjoint and covering all 60000", len(set(train_part) | set(val_part)) == 60000)
    show("same split again with the same seed", split(train_db, [50000, 10000])[1][:5] == val_part[:5])
    train_loader = DataLoader(torch.utils.data.Subset(train_db, train_part), batch_size=200, shuffle=True)
    val_loader = DataLoader(torch.utils.data.Subset(train_db, val_part), batch_size=200)
    show("batches: train, val", (len(train_loader), len(val_loader)))
    counts = torch.bincount(train_labels[val_part], minlength=10)
    show("images of each digit in the validation part", counts.tolist())
