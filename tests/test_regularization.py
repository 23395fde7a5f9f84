"""Regularisation and early stopping on short real MNIST runs: L1, dropout, early stopping on a
stalled metric, the best checkpoint tested, gradient clipping by one global norm or by value."""

import json

import pytest
import torch

from torchlab import api
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint
from torchlab.engine.trainer import Trainer
from torchlab.loggers.jsonl import read_metrics
from torchlab.recipes import load_recipe

SMALL = ["data.subset=2000", "data.eval_subset=1000", "log.loggers=[none]"]


def trainer(tmp_path, recipe="mnist-mlp", *overrides):
    return Trainer(load_recipe(recipe, [*SMALL, *overrides]), tmp_path / "run")


def weights_l1(state) -> float:
    return sum(t.abs().sum().item() for t in state["model"].values() if t.ndim > 1)


@pytest.mark.slow
def test_l1_lowers_the_weights_l1_norm_on_the_same_seed(tmp_path, mnist_root):
    norms = {}
    for l1 in (0.0, 1e-3):
        out = tmp_path / f"l1-{l1}"
        assert main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--epochs=2", f"train.l1={l1}"]) == 0
        norms[l1] = weights_l1(load_checkpoint(out / "checkpoints" / "last.pt"))
    assert norms[1e-3] < 0.95 * norms[0.0]


def test_l1_skips_biases_and_norm_parameters_unless_asked(tmp_path, mnist_root):
    default, every = trainer(tmp_path), trainer(tmp_path, "mnist-mlp", "train.l1_params=all")
    assert [p.shape for p in default.l1_params["model"]] == [(200, 784), (200, 200), (10, 200)]
    assert len(every.l1_params["model"]) == 6  # three weights and three biases


@pytest.mark.slow
def test_dropout_varies_in_train_mode_and_repeats_in_eval_mode(tmp_path, mnist_root):
    t = trainer(tmp_path, "mnist-mlp-regularized")
    x, _ = next(iter(t.data.val_loader()))
    t.model.train()
    assert not torch.equal(t.model(x), t.model(x))
    first = t.validate()  # the Trainer switches to eval mode ...
    assert not t.model.training
    assert t.validate() == first
    assert torch.equal(t.model(x), t.model(x))
    t.train_epoch([])  # ... and back to train mode for training
    assert t.model.training


@pytest.mark.slow
def test_early_stopping_stops_when_the_metric_stalls(tmp_path, mnist_root):
    # lr=0: the weights never move, so val.accuracy stalls from epoch 1 on; patience 2 stops after epoch 3.
    out = tmp_path / "stall"
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--epochs=10", "optim.lr=0", "train.patience=2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["epochs"], summary["best_epoch"]) == ("early_stopped", 3, 1)
    assert [r["epoch"] for r in read_metrics(out) if r["event"] == "epoch"] == [1, 2, 3]
    assert main(["resume", str(out), "--epochs", "20"]) == 2  # an early stop is an end, not an interruption


@pytest.mark.slow
def test_min_delta_and_the_test_set_scored_with_the_best_checkpoint(tmp_path, mnist_root):
    # The model learns, but no epoch beats the first by min_delta on val.loss: the best stays epoch 1.
    out = tmp_path / "delta"
    args = ["--epochs=10", "train.monitor=val.loss", "train.mode=min", "train.min_delta=10", "train.patience=1"]
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL, *args]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["epochs"], summary["best_epoch"]) == ("early_stopped", 2, 1)
    best, last = (load_checkpoint(out / "checkpoints" / f"{n}.pt") for n in ("best", "last"))
    assert (best["epoch"], last["epoch"]) == (1, 2)
    assert api.evaluate(out) == {f"test.{k}": v for k, v in summary["test"].items()}  # test = best.pt's
    assert summary["val"]["loss"] == best["best"]["value"]


@pytest.mark.slow
def test_a_null_monitor_keeps_the_last_epoch_as_the_best(tmp_path, mnist_root, capsys):
    out = tmp_path / "last"
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--epochs=4", "train.monitor=null"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    epochs = [r for r in read_metrics(out) if r["event"] == "epoch"]
    assert (summary["best_epoch"], summary["monitor"]) == (4, {"metric": None, "best": None})
    assert summary["val"]["accuracy"] == epochs[-1]["val.accuracy"]
    best, last = (load_checkpoint(out / "checkpoints" / f"{n}.pt") for n in ("best", "last"))
    assert best["epoch"] == last["epoch"] == 4
    assert all(torch.equal(best["model"][k], last["model"][k]) for k in last["model"])
    assert "*" not in capsys.readouterr().out.split("epoch 1/4")[1]  # no epoch marked as a new best
    for bad in (["train.patience=2"], ["schedule.name=plateau"]):  # both watch the monitor
        assert main(["train", "mnist-mlp", "--out", str(tmp_path / "bad"), *SMALL, "train.monitor=null", *bad]) == 2
        assert "train.monitor" in capsys.readouterr().err


def one_step_change(t) -> list[torch.Tensor]:
    """Run one real training step of the task; return how far each parameter moved."""
    before = [p.detach().clone() for p in t.model.parameters()]
    t.model.train()
    t.task.training_step(next(iter(t.data.train_loader(t.generator))), t.optimize)
    return [p.detach() - b for p, b in zip(t.model.parameters(), before, strict=True)]


def test_clip_grad_norm_clips_one_global_norm_over_all_parameters(tmp_path, mnist_root):
    t = trainer(tmp_path, "mnist-mlp", "optim.momentum=0", "optim.lr=0.1", "train.clip_grad_norm=0.001")
    delta = one_step_change(t)
    global_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(d) for d in delta]))
    # plain SGD moves by lr * clipped gradient: one global norm of 0.001, not 0.001 per parameter
    assert global_norm.item() == pytest.approx(0.1 * 0.001, rel=1e-3)


def test_clip_grad_value_clips_every_element(tmp_path, mnist_root):
    t = trainer(tmp_path, "mnist-mlp", "optim.momentum=0", "optim.lr=1", "train.clip_grad_value=0.0001")
    largest = max(d.abs().max().item() for d in one_step_change(t))
    assert largest == pytest.approx(1e-4, rel=1e-4)
