"""Corrupt or wrong MNIST files: exit 2 with one line naming the file, and nothing written."""

import os
import shutil
import struct
from pathlib import Path

import pytest
import torch

from torchlab.cli import main
from torchlab.config import DataConfig
from torchlab.data.mnist import load_idx_dataset

N_TRAIN, N_TEST = 120, 40
RECIPES = {"MNIST": "mnist-mlp", "FashionMNIST": "fashion-lenet5"}  # a recipe of each dataset in IDX files


def idx_bytes(tensor: torch.Tensor) -> bytes:
    header = bytes([0, 0, 0x08, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    return header + tensor.numpy().tobytes()


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    """A small, valid MNIST and Fashion-MNIST in torchvision's layout, made by the test."""
    root = tmp_path_factory.mktemp("mnist")
    g = torch.Generator().manual_seed(0)
    for folder in RECIPES:
        raw = root / folder / "raw"
        raw.mkdir(parents=True)
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


def assert_refused(root, path, message: str, tmp_path, capsys) -> None:
    """Training on `root` exits 2 with one line naming `path` and `message`, and writes no run."""
    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--data-dir", str(root), "--out", str(out), "--logger", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(path) in err and message in err, err
    assert not out.exists()


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
    assert_refused(root, path, message, tmp_path, capsys)


@pytest.mark.parametrize("folder", RECIPES)
def test_a_truncated_file_is_one_line_naming_it_in_eval_train_and_show(folder, good_root, tmp_path, capsys):
    """Before: show fell back to the planned shapes with exit 0, the damage said only inside its data line."""
    root, run, recipe = tmp_path / "data", tmp_path / "run", RECIPES[folder]
    shutil.copytree(good_root, root)
    args = ["--data-dir", str(root), "--logger", "none"]
    assert main(["train", recipe, "--out", str(run), *args, "train.epochs=1", "data.val_split=20"]) == 0
    path = root / folder / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(truncate(path.read_bytes()))
    capsys.readouterr()
    said = {}
    show = ["show", recipe, "--data-dir", str(root)]
    for command in (["eval", str(run)], ["train", recipe, "--out", str(tmp_path / "again"), *args], show):
        assert main(command) == 2
        out, err = capsys.readouterr()
        said[command[0]] = err.strip().splitlines()
    assert said["eval"] == said["train"] and len(said["train"]) == 1, said
    message = said["train"][0].removeprefix("torchlab: error: ")
    assert message.startswith(f"{path} is truncated")
    assert said["show"] == [
        f"torchlab: error: the data files are damaged or wrong; train and eval would stop with: {message}"
    ]
    assert "data: not read, its files are damaged or wrong (the error below); inputs (1, 28, 28), 10 classes" in out
    assert "(2, 10)" in out  # the layer table, of the planned shapes


# Well-formed files that hold nothing to learn from, or test images of another size (issue 24, case 8).
EMPTY_OR_MISMATCHED = {
    "no training images": ("train-images-idx3-ubyte", (0, 28, 28), "holds no data"),
    "no test labels": ("t10k-labels-idx1-ubyte", (0,), "holds no data"),
    "0 x 0 images": ("train-images-idx3-ubyte", (N_TRAIN, 0, 0), "holds no data"),
    "test images of another size": ("t10k-images-idx3-ubyte", (N_TEST, 20, 20), "20 x 20 pixels"),
}


@pytest.mark.parametrize("case", EMPTY_OR_MISMATCHED)
def test_empty_or_mismatched_idx_files_exit_2_before_training(case, good_root, tmp_path, capsys):
    name, shape, message = EMPTY_OR_MISMATCHED[case]
    root = tmp_path / "data"
    shutil.copytree(good_root, root)
    path = root / "MNIST" / "raw" / name
    path.write_bytes(idx_bytes(torch.zeros(shape, dtype=torch.uint8)))
    assert_refused(root, path, message, tmp_path, capsys)


def sst2_root(tmp_path: Path, train: str | bytes, dev: str | bytes = "sentence\tlabel\na fine film\t1\n") -> Path:
    folder = tmp_path / "data" / "SST-2"
    folder.mkdir(parents=True)
    for name, text in (("train.tsv", train), ("dev.tsv", dev)):
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder.parent


SST2_CASES = {
    "empty train.tsv": ("", None, "train.tsv", "holds no labelled sentence"),
    "header-only train.tsv": ("sentence\tlabel\n", None, "train.tsv", "holds no labelled sentence"),
    "one-line train.tsv": ("sentence\tlabel\ngood\t1\n", None, "train.tsv", "no sample to validate on"),
    "header-only dev.tsv": (
        "sentence\tlabel\n" + "good\t1\nbad\t0\n" * 20,
        "sentence\tlabel\n",
        "dev.tsv",
        "no labelled sentence",
    ),
    "train.tsv cut mid-line": ("sentence\tlabel\ngood\t1\nbad\t0\na fine fi", None, "train.tsv", "line 4: expected"),
    "dev.tsv cut mid-character": (
        "sentence\tlabel\n" + "good\t1\nbad\t0\n" * 20,
        "é\t1\n".encode()[:1],
        "dev.tsv",
        "not UTF-8",
    ),
}


@pytest.mark.parametrize("case", SST2_CASES)
def test_empty_or_damaged_sst2_files_exit_2_naming_the_file_before_training(case, tmp_path, capsys):
    train, dev, name, message = SST2_CASES[case]
    root = sst2_root(tmp_path, train, *([dev] if dev is not None else []))
    out = tmp_path / "run"
    assert main(["train", "sst2-lstm", "--data-dir", str(root), "--out", str(out), "--logger", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(root / "SST-2" / name) in err and message in err, err
    assert not out.exists()  # refused before a run directory was made


def test_an_error_in_a_dataloader_worker_arrives_as_torchlabs_one_line(tmp_path):
    """An image that became unreadable after indexing, read in a worker process (data.workers=1)."""
    from PIL import Image

    from torchlab.config import build_config
    from torchlab.core.errors import TorchlabError
    from torchlab.data import build_data

    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / "images" / label / f"{i}.png")
    config = {"name": "folder", "folder": str(tmp_path / "images"), "image_size": 8, "workers": 1, "batch_size": 4}
    data = build_data(build_config({"data": config}).data, torch.device("cpu"))
    gone = data.datasets[0].paths[0]
    gone.unlink()
    with pytest.raises(TorchlabError) as caught:
        for _ in data.train_loader(torch.Generator().manual_seed(0)):
            pass
    message = str(caught.value)
    assert message == f"{gone} became unreadable after indexing ([Errno 2] No such file or directory: '{gone}')"


IN_THE_WAY = {"a folder": "Is a directory", "a pipe": "not a regular file (a pipe, socket or device)"}
DATA_FILES = {  # a file of each dataset read from files, the command that reads it first
    "MNIST": ("MNIST/raw/train-images-idx3-ubyte", ["train", "mnist-mlp"]),
    "Fashion-MNIST": ("FashionMNIST/raw/t10k-labels-idx1-ubyte", ["train", "fashion-lenet5"]),
    "MNIST in the notes": ("MNIST/raw/t10k-images-idx3-ubyte", ["notes", "data_split"]),
    "SST-2 train": ("SST-2/train.tsv", ["train", "sst2-lstm"]),
    "SST-2 dev": ("SST-2/dev.tsv", ["train", "sst2-lstm"]),
}


@pytest.mark.parametrize("what", IN_THE_WAY)
@pytest.mark.parametrize("dataset", DATA_FILES)
def test_a_folder_or_a_pipe_in_place_of_a_data_file_is_one_line_naming_it(dataset, what, good_root, tmp_path, capsys):
    """Before: SST-2's train.tsv as a folder was an IsADirectoryError traceback (exit 1), an MNIST file as
    a folder "dataset not found ... (downloads are off)", and a pipe kept every reader waiting for ever."""
    root = tmp_path / "data"
    shutil.copytree(good_root, root)
    sst2_root(tmp_path, "sentence\tlabel\n" + "good\t1\nbad\t0\n" * 20)
    name, command = DATA_FILES[dataset]
    path = root / name
    path.unlink()
    path.mkdir() if what == "a folder" else os.mkfifo(path)
    train = ["--out", str(tmp_path / "run"), "--logger", "none"] if command[0] == "train" else []
    assert main([*command, "--data-dir", str(root), *train]) == 2
    assert capsys.readouterr().err.strip() == f"torchlab: error: cannot read {path}: {IN_THE_WAY[what]}"
