"""CIFAR-10 wiring, on batches the test writes in CIFAR-10's on-disk format (pickled dicts)."""

import json
import pickle

import numpy as np
import pytest
import torch

from torchlab.cli import main
from torchlab.config import build_config
from torchlab.core.errors import TorchlabError
from torchlab.data import build_data, planned_info

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_batch(path, rng, n: int) -> None:
    labels = rng.integers(0, 10, n)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[:, :1024] = (labels * 25)[:, None]  # the red plane tells the class
    with path.open("wb") as f:
        pickle.dump({"batch_label": path.name, "labels": labels.tolist(), "data": data}, f)


@pytest.fixture
def cifar_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_batch(folder / name, rng, 40)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": CLASSES, "num_vis": 3072}, f)
    return tmp_path


def test_cifar10_recipe_trains_on_cifar_files(cifar_root, tmp_path):
    out = tmp_path / "run"
    # 20 epochs of 10 steps (about a second): enough to read the class off the red plane
    args = ["--data-dir", str(cifar_root), "--logger", "none", "data.val_split=40", "train.epochs=20"]
    assert main(["train", "cifar10-lenet5", "--out", str(out), *args, "data.batch_size=16"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # chance is 0.1; seeds 0-7 score 0.775-0.825 on these 40 test images (seed 0, the default: 0.825)
    assert summary["status"] == "completed" and summary["test"]["accuracy"] >= 0.5
    cfg = build_config({"data": {"name": "cifar10", "root": str(cifar_root), "val_split": 40}}).data
    data = build_data(cfg, torch.device("cpu"))
    assert data.info.input_shape == (3, 32, 32) and data.info.class_names == CLASSES
    assert (data.train_size, len(data.val_images), len(data.test_images)) == (160, 40, 40)
    assert torch.equal(data.test_images[:, 0, 0, 0], data.test_labels.to(torch.uint8) * 25)


def test_cifar10s_shapes_without_its_files_are_those_it_reads(cifar_root):
    """What `torchlab show` builds the model from while CIFAR-10 is absent (it exited 2 then)."""
    cfg = build_config({"data": {"name": "cifar10", "root": str(cifar_root), "val_split": 0.2}}).data
    assert planned_info(cfg) == build_data(cfg, torch.device("cpu")).info


def test_missing_cifar10_names_the_folder_and_files(tmp_path, capsys):
    assert main(["train", "cifar10-resnet18", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"CIFAR-10 not found in {tmp_path / 'cifar-10-batches-py'}" in err and "data_batch_1" in err
    assert "downloads are off" in err and not (tmp_path / "run").exists()


def with_byte(offset: int, value: int):
    return lambda data: data[:offset] + bytes([value]) + data[offset + 1 :]


DAMAGE = {  # file, damage, what the one line says
    "truncated": ("data_batch_3", lambda data: data[: len(data) // 2], "is unreadable: pickle data was truncated"),
    "a length gone huge": ("test_batch", with_byte(10, 0xFF), "is unreadable: FRAME length exceeds"),
    "a label no class": ("data_batch_2", None, "label 10 at index 0 is not a class (0..9)"),
    "a list, not a dict": ("data_batch_5", [1, 2], "is malformed: TypeError"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_batch_is_exit_2_naming_the_file(case, cifar_root, tmp_path, capsys):
    """Before: a length damaged into a huge one was an OverflowError or MemoryError, a batch of another
    shape a TypeError (tracebacks, exit 1), and a label of no class failed the first step."""
    name, damage, message = DAMAGE[case]
    path = cifar_root / "cifar-10-batches-py" / name
    if damage is None:
        write_batch(path, np.random.default_rng(0), 40)
        batch = pickle.loads(path.read_bytes())
        path.write_bytes(pickle.dumps({**batch, "labels": [10, *batch["labels"][1:]]}))
    elif callable(damage):
        path.write_bytes(damage(pickle.dumps(pickle.loads(path.read_bytes()), protocol=4)))
    else:
        path.write_bytes(pickle.dumps(damage))
    out = tmp_path / "run"
    assert main(["train", "cifar10-lenet5", "--data-dir", str(cifar_root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"CIFAR-10 file {path}" in err and message in err, err
    assert not out.exists()


def test_a_folder_in_place_of_a_batch_is_one_line_naming_it(cifar_root, tmp_path, capsys):
    """Before: "CIFAR-10 not found in ...: missing data_batch_4 (downloads are off)"."""
    path = cifar_root / "cifar-10-batches-py" / "data_batch_4"
    path.unlink()
    path.mkdir()
    assert main(["train", "cifar10-lenet5", "--data-dir", str(cifar_root), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"torchlab: error: cannot read {path}: Is a directory"


class Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_that_runs_code_is_refused(cifar_root):
    with (cifar_root / "cifar-10-batches-py" / "test_batch").open("wb") as f:
        pickle.dump({"labels": [0], "data": Boom()}, f)
    cfg = build_config({"data": {"name": "cifar10", "root": str(cifar_root), "val_split": 40}}).data
    with pytest.raises(TorchlabError, match=r"test_batch is unreadable: builtins\.print is not allowed"):
        build_data(cfg, torch.device("cpu"))
