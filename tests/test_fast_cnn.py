"""mnist-cnn reaches 99.0%; the fast paths train (bf16 autocast, fp16 with loss scaling,
torch.compile); the IDX reader matches torchvision; a centre crop keeps the middle of each image."""

import json

import pytest
import torch
from torchvision import datasets, transforms

from tests.conftest import run_cli
from torchlab import api
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint
from torchlab.core.runtime import bf16_matmul_speedup, fast_bf16
from torchlab.data import build_data
from torchlab.data.idx import read_idx
from torchlab.recipes import load_recipe


def test_idx_reader_matches_torchvision(mnist_root):
    theirs = datasets.MNIST(str(mnist_root), train=False, download=False)
    raw = mnist_root / "MNIST" / "raw"
    assert torch.equal(read_idx(raw / "t10k-images-idx3-ubyte", 3), theirs.data)
    assert torch.equal(read_idx(raw / "t10k-labels-idx1-ubyte", 1).long(), theirs.targets)


@pytest.mark.parametrize("size", [24, 25])  # an even and an odd margin
def test_center_crop_matches_torchvision_on_every_split(size, mnist_root):
    data = build_data(load_recipe("mnist-cnn", [f"data.center_crop={size}"]).data, torch.device("cpu"))
    assert data.info.input_shape == (1, size, size)
    raw = read_idx(mnist_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte", 3)[:, None]
    assert torch.equal(data.test_images, transforms.CenterCrop(size)(raw))
    assert data.val_images.shape[1:] == data.train_images.shape[1:] == (1, size, size)


def test_mnist_cnn_crop_keeps_the_digits_ink(mnist_root):
    train = read_idx(mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte", 3).double()
    crop = load_recipe("mnist-cnn").data.center_crop
    assert transforms.CenterCrop(crop)(train).sum() / train.sum() > 0.997  # 0.23% lost at 24


@pytest.mark.parametrize("size", [0, 29])
def test_a_center_crop_outside_the_image_is_refused(size, tmp_path, mnist_root, capsys):
    assert main(["train", "mnist-cnn", "--out", str(tmp_path / "r"), f"data.center_crop={size}"]) == 2
    assert f"data.center_crop: expected 1 to 28 pixels, got {size}" in capsys.readouterr().err


@pytest.mark.slow
def test_mnist_cnn_recipe_reaches_99_percent_in_one_epoch(tmp_path, mnist_root):
    out = tmp_path / "run"
    done = run_cli("train", "mnist-cnn", "--out", str(out), "--logger", "none", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["test"]["accuracy"] >= 0.99  # the recipe's promise, whole test set


@pytest.mark.slow
def test_mnist_cnn_learns_with_bf16_autocast(tmp_path, mnist_root):
    out = tmp_path / "run"
    args = ["--logger", "none", "data.subset=4096", "data.eval_subset=500", "data.batch_size=64", "train.epochs=1"]
    done = run_cli("train", "mnist-cnn", "--out", str(out), *args, "train.amp=bf16", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] > 0.85  # 64 steps of OneCycle, from 10% chance


def test_the_bf16_timing_leaves_the_runs_random_stream_alone():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    assert bf16_matmul_speedup(size=64, rounds=2) > 0
    assert torch.equal(torch.get_rng_state(), state)  # a seeded run draws the same numbers with amp=auto


@pytest.mark.slow
def test_amp_auto_picks_bf16_where_it_is_fast_and_a_resume_keeps_the_first_choice(tmp_path, mnist_root):
    out = tmp_path / "run"
    args = ["--logger", "none", "data.subset=2048", "data.eval_subset=500", "train.amp=auto"]
    assert main(["train", "mnist-mlp", "--out", str(out), "--epochs=1", *args]) == 0
    picked = "bf16" if fast_bf16(torch.device("cpu")) else "none"
    assert json.loads((out / "summary.json").read_text())["amp"] == picked
    other = {"bf16": "none", "none": "bf16"}[picked]  # as if the run had started on the other kind of host
    for name in ("last.pt", "best.pt"):
        path = out / "checkpoints" / name
        torch.save({**load_checkpoint(path), "amp": other}, path)
    assert main(["resume", str(out), "--epochs", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["amp"] == other
    assert "amp: auto" in (out / "config.yaml").read_text()  # the run keeps what was asked
    # `torchlab eval` tests in the run's precision, not this host's: exactly the run's figures
    assert api.evaluate(out) == {f"test.{k}": v for k, v in summary["test"].items()}


@pytest.mark.slow
def test_fp16_autocast_scales_the_loss_at_every_step(tmp_path, mnist_root):
    out = tmp_path / "run"
    args = ["--logger", "none", "data.subset=4096", "data.eval_subset=500", "train.epochs=1", "train.amp=fp16"]
    done = run_cli("train", "mnist-mlp", "--out", str(out), *args, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["test"]["accuracy"] > 0.6  # 32 steps; chance 0.1
    scaler = load_checkpoint(out / "checkpoints" / "last.pt")["scaler"]
    assert scaler["scale"] > 1 and scaler["_growth_tracker"] == 32  # 4096 / 128: every step went through it


@pytest.mark.slow
def test_compiled_training_lands_on_eager_weights(tmp_path, mnist_root):
    """train.compile=true changes how the steps run, not what they compute, and its checkpoints hold
    the plain model's keys (no `_orig_mod.` prefix), so they load without compiling."""
    args = ["--logger", "none", "data.subset=2048", "data.eval_subset=500", "train.epochs=1"]
    weights = {}
    for compiled in ("false", "true"):
        out = tmp_path / compiled
        done = run_cli("train", "mnist-mlp", "--out", str(out), *args, f"train.compile={compiled}", timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        weights[compiled] = load_checkpoint(out / "checkpoints" / "last.pt")["model"]
    assert weights["true"].keys() == weights["false"].keys()
    for name, eager in weights["false"].items():  # 16 SGD steps; inductor's fused kernels round differently
        torch.testing.assert_close(weights["true"][name], eager, rtol=1e-4, atol=1e-5)
