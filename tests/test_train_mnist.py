"""Short real MNIST runs: the engine trains, writes its run directory, and is reproducible."""

import json

import pytest
import torch

from tests.conftest import QUICK, one_thread, overrides_it_has
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # real MNIST runs


def train(tmp_path, name, recipe, *extra):
    out = tmp_path / name
    assert main(["train", recipe, "--out", str(out), *QUICK, *extra]) == 0
    return out, json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize(("recipe", "floor"), [("mnist-mlp", 0.90), ("mnist-mlp-scratch", 0.88)])
def test_short_run_learns_and_writes_the_run_directory(recipe, floor, tmp_path, mnist_root, capsys):
    out, summary = train(tmp_path, "run", recipe)
    assert summary["status"] == "completed" and summary["recipe"] == recipe
    assert summary["test"]["accuracy"] >= floor  # chance is 0.10
    assert summary["epochs"] == 2 and summary["best_epoch"] in (1, 2)
    assert 0 < summary["val"]["accuracy"] <= 1 and summary["test"]["loss"] > 0
    assert summary["wall_seconds"] > 0 and summary["train_samples_per_second"] > 0
    for name in ("config.yaml", "metrics.jsonl", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (out / name).is_file(), name
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["train.loss"] < epochs[0]["train.loss"]
    assert {"lr", "val.accuracy", "train.accuracy"} <= set(epochs[0])
    printed = capsys.readouterr().out
    assert f"accuracy {summary['test']['accuracy']:.4f}" in printed and str(out) in printed


def test_eval_reproduces_the_summary_exactly(tmp_path, mnist_root, capsys):
    out, summary = train(tmp_path, "run", "mnist-mlp")
    capsys.readouterr()
    assert main(["eval", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"test.accuracy {summary['test']['accuracy']:.4f}" in printed
    from torchlab import api

    assert api.evaluate(out) == {f"test.{k}": v for k, v in summary["test"].items()}


def test_same_seed_same_metrics_other_seed_other_metrics(tmp_path, mnist_root):
    strip = lambda s: {k: s[k] for k in ("val", "test", "best_epoch")}  # noqa: E731
    _, first = train(tmp_path, "a", "mnist-mlp", "--seed", "7")
    _, second = train(tmp_path, "b", "mnist-mlp", "--seed", "7")
    _, other = train(tmp_path, "c", "mnist-mlp", "--seed", "8")
    assert strip(first) == strip(second)
    assert first["test"] != other["test"]


@pytest.mark.parametrize(
    "recipe",
    ["mnist-mlp-regularized", "fashion-resnet", "sst2-lstm", "sine-lstm", "mnist-vae", "gaussians-gan", "mnist-dcgan"],
)
def test_the_same_seed_gives_the_same_weights_bit_for_bit_in_every_family(recipe, tmp_path, mnist_root, sst2_root):
    """Only mnist-mlp's metrics were compared: dropout (mlp-regularized), batched augmentation (resnet),
    text batches, sine waves, a VAE's sampled latents and a GAN's noise had no test of the README's promise."""
    tiny = ["--logger", "none", "--epochs", "1", "data.subset=128", "data.eval_subset=64"]
    tiny += overrides_it_has(recipe, task__samples=64)  # a GAN's figures: 64 generated samples, not 10,000
    runs = [tmp_path / name for name in ("a", "b")]
    for out in runs:
        assert main(["train", recipe, "--out", str(out), *tiny]) == 0
    first, second = (load_checkpoint(out / "checkpoints" / "last.pt")["model"] for out in runs)
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    summaries = [json.loads((out / "summary.json").read_text()) for out in runs]
    assert summaries[0]["test"] == summaries[1]["test"]


def test_a_run_records_the_thread_count_its_last_digits_depend_on(tmp_path, mnist_root):
    """summary.json and the report named the seed and torch's version but not the thread count, while
    one seed on 1 and on 2 threads ends in weights that differ in their last digits."""
    with one_thread():
        out, summary = train(tmp_path, "run", "mnist-mlp", "data.subset=500", "data.eval_subset=100")
    assert summary["threads"] == 1
    assert "<td>threads</td><td>1</td>" in (out / "report.html").read_text()


def test_tensorboard_logs_scalars(tmp_path, mnist_root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    assert main(["train", "mnist-mlp", "--out", str(out), *QUICK, "--logger", "tensorboard"]) == 0
    train, val, test = (
        EventAccumulator(str(out / "tensorboard" / split)).Reload() for split in ("train", "val", "test")
    )
    assert {"loss", "accuracy", "lr"} <= set(train.Tags()["scalars"])  # one writer per split, tags shared
    assert {"loss", "accuracy"} <= set(val.Tags()["scalars"])
    summary = json.loads((out / "summary.json").read_text())
    assert test.Scalars("accuracy")[-1].value == pytest.approx(summary["test"]["accuracy"])
    # The MLP is under a million parameters: weight and gradient histograms each epoch (QUICK trains 2).
    own = EventAccumulator(str(out / "tensorboard"), size_guidance={"histograms": 0}).Reload()
    assert len(own.Histograms("weights/model.1.weight")) == 2 and own.Histograms("gradients/model.1.weight")


def test_a_second_train_into_the_same_out_is_refused(tmp_path, mnist_root, capsys):
    out, _ = train(tmp_path, "run", "mnist-mlp")
    before = (out / "summary.json").read_bytes()
    assert main(["train", "mnist-mlp", "--out", str(out), *QUICK]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before
