"""Corrupt or wrong MNIST files: exit 2 with one line naming the file, and nothing written."""

import shutil
import struct
from pathlib import Path

import pytest
import torch

from torchlab.cli import main
from torchlab.config import DataConfig
from torchlab.data.mnist import load_idx_dataset

N_TRAIN, N_TEST = 120, 40


def idx_bytes(tensor: torch.Tensor) -> bytes:
    header = bytes([0, 0, 0x08, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    return header + tensor.numpy().tobytes()


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    """A small, valid MNIST in torchvision's layout, made by the test."""
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 10, (n,), dtype=torch.uint8, generator=g)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return root


def test_the_valid_files_load(good_root):
    (images, labels), (test_images, _), classes = load_idx_dataset_for(good_root)
    assert images.shape == (N_TRAIN, 1, 28, 28) and labels.shape == (N_TRAIN,) and len(classes) == 10
    assert test_images.shape == (N_TEST, 1, 28, 28)


def load_idx_dataset_for(root: Path):
    return load_idx_dataset("MNIST", DataConfig(root=str(root), download=False))


def truncate(data: bytes) -> bytes:
    return data[:-100]


def set_byte(offset: int, value: int):
    return lambda data: data[:offset] + bytes([value]) + data[offset + 1 :]


DAMAGE = {
    "truncated images": ("train-images-idx3-ubyte", truncate, "is truncated"),
    "truncated header": ("t10k-labels-idx1-ubyte", lambda d: d[:6], "is truncated"),
    "empty file": ("train-labels-idx1-ubyte", lambda d: b"", "magic number is missing"),
    "extra bytes": ("t10k-images-idx3-ubyte", lambda d: d + b"\0" * 10, "longer than its header"),
    "wrong magic": ("train-labels-idx1-ubyte", set_byte(2, 0x0D), "magic number is 00000d01"),
    "images as labels": ("train-labels-idx1-ubyte", None, "magic number is 00000803"),
    "corrupted count": ("train-images-idx3-ubyte", set_byte(7, 0x7F), "is truncated"),
    "corrupted label byte": ("t10k-labels-idx1-ubyte", set_byte(8 + 5, 0xC8), "label 200 at index 5"),
    "counts disagree": ("train-labels-idx1-ubyte", "drop-label", "holds 120 images but"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_idx_files_exit_2_naming_the_file(case, good_root, tmp_path, capsys):
    name, damage, message = DAMAGE[case]
    root = tmp_path / "data"
    shutil.copytree(good_root, root)
    path = root / "MNIST" / "raw" / name
    if damage is None:
        shutil.copy(root / "MNIST" / "raw" / "train-images-idx3-ubyte", path)
    elif damage == "drop-label":
        path.write_bytes(idx_bytes(torch.zeros(N_TRAIN - 1, dtype=torch.uint8)))
    else:
        path.write_bytes(damage(path.read_bytes()))
    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--data-dir", str(root), "--out", str(out), "--logger", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(path) in err and message in err, err
    assert not out.exists()
