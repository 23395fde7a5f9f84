"""What a run prints: epoch lines that fit 80 columns for every recipe, seconds per epoch, a mark on
a new best, 4 significant figures, no constant-zero metrics; bars that are notebook bars in Jupyter."""

import json
import sys
import types
import warnings

import pytest

from torchlab.loggers.console import WIDTH, ConsoleLogger, epoch_lines, legend, number, progress
from torchlab.recipes import load_recipe, recipe_names

# A plausible epoch of each family, at the widest its numbers print in 4 significant figures.
TRAIN_VAL = {
    "classify": ({"loss": 0.001234, "accuracy": 0.9876}, {"loss": 0.001234, "accuracy": 0.9876}),
    "binary": ({"loss": 0.3456, "accuracy": 0.8765}, {"loss": 0.4567, "accuracy": 0.8123}),
    "forecast": ({"loss": 0.0003612}, {"loss": 0.0003612}),
    "reconstruct": (
        {"loss": 105.3, "reconstruction": 80.12, "kl": 25.17},
        {"loss": 104.9, "reconstruction": 79.9, "kl": 25.03},
    ),  # fmt: skip
}
GAN_POINTS = (
    {"loss": -0.01234, "g_loss": -0.5123, "critic_gap": 0.01234},
    {"loss": -0.01456, "critic_gap": 0.01456, "within_3sigma": 0.9712, "modes_covered": 8.0},
)
GAN_IMAGES = (
    {"loss": 0.6931, "g_loss": 0.7123, "critic_gap": -0.001234},
    {"loss": 0.6931, "critic_gap": -0.001234, "confident": 0.7071, "class_entropy": 2.301, "classes": 10.0},
)


def epoch_metrics(recipe: str) -> dict[str, float]:
    """The metrics dict the Trainer hands its loggers after an epoch of `recipe`."""
    config = load_recipe(recipe)
    task = config.task.name
    if task == "adversarial":
        train, val = GAN_IMAGES if config.data.name == "mnist" else GAN_POINTS
        rates = {"lr.generator": 0.0001234, "lr.critic": 0.0001234}  # two optimisers of one optim section
    else:
        train, val = TRAIN_VAL[task]
        rates = {"lr": 0.0001234}
    return {**{f"train.{k}": v for k, v in train.items()}, **{f"val.{k}": v for k, v in val.items()}, **rates}


def without_lr(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not k.startswith("lr")}


def test_the_families_cover_every_task():
    assert {load_recipe(r).task.name for r in recipe_names()} <= {*TRAIN_VAL, "adversarial"}


@pytest.mark.parametrize("recipe", recipe_names())
def test_every_recipe_epoch_line_fits_80_columns(recipe):
    config = load_recipe(recipe)
    epochs = config.train.epochs
    lines = epoch_lines(epochs, epochs, 1234.5, True, epoch_metrics(recipe))
    assert all(len(line) <= WIDTH for line in lines), lines
    assert lines[0].startswith(f"epoch {epochs}/{epochs}  1234s *  loss ")
    assert len(legend(config.train.monitor)) <= WIDTH
    # By design, a GAN's seven metrics continue on a second line, and so does a VAE's first line
    # (the learning rate is shown only where it changed).
    if config.task.name in ("classify", "binary", "forecast"):
        assert len(lines) == 1, lines
    elif config.task.name == "reconstruct":
        lines = epoch_lines(epochs, epochs, 1234.5, True, without_lr(epoch_metrics(recipe)))
        assert len(lines) == 1, lines


def test_a_line_continues_indented_under_the_metrics():
    lines = epoch_lines(3, 60, 1.23, False, epoch_metrics("gaussians-wgan-gp"))
    assert len(lines) == 2 and lines[0].startswith("epoch  3/60   1.2s    loss -0.01234/-0.01456")
    indent = len(lines[1]) - len(lines[1].lstrip())
    assert indent == 8 < lines[0].index("loss")
    assert lines[1].endswith("  modes 8.000  lr 0.0001234")  # one rate for both optimisers, or each by name:
    apart = {**epoch_metrics("gaussians-wgan-gp"), "lr.critic": 0.0009876}
    assert {"lr.generator 0.0001234", "lr.critic 0.0009876"} <= {
        token.strip() for line in epoch_lines(3, 60, 1.23, False, apart) for token in line.split("  ")
    }


def test_numbers_keep_4_significant_figures():
    values = (0.00036123, 0.004123, 0.98123, 0.98, 105.34, 8.0, 1234.5, 12345.0, -0.01)
    assert [number(v) for v in values] == [
        "0.0003612",  # not 0.0004
        "0.004123",
        "0.9812",
        "0.9800",  # lines up under 0.9812
        "105.3",
        "8.000",
        "1234",
        "1.234e+04",
        "-0.01000",
    ]
    assert number(float("nan")) == "nan"
    assert number(-0.0) == "0.000"  # the entropy of one certain class, -(1 * log 1)


def logged(tmp_path, recipe, epochs, overrides=(), capsys=None):
    """Lines printed by a console logger fed `epochs` (a list of metric dicts)."""
    logger = ConsoleLogger(tmp_path, load_recipe(recipe, list(overrides)))
    for epoch, metrics in enumerate(epochs, 1):
        logger.log_metrics(metrics, 10 * epoch, epoch, "epoch")
    return capsys.readouterr().out.splitlines()


def test_a_new_best_is_marked_as_the_trainer_picks_best_pt(tmp_path, capsys):
    values = [0.5, 0.7, 0.7, 0.6, 0.71]  # max mode; 0.71 is not beyond 0.7 by min_delta 0.05
    epochs = [{"train.loss": 1.0, "val.loss": 1.0, "val.accuracy": v, "lr": 0.1} for v in values]
    out = logged(tmp_path, "mnist-mlp", epochs, ["train.min_delta=0.05"], capsys)
    assert out[0] == legend("val.accuracy")
    assert ["*" in line.split()[:4] for line in out[1:]] == [True, True, False, False, False]
    assert all(line.split()[2].endswith("s") for line in out[1:])  # seconds per epoch


def test_a_minimised_monitor_and_a_resumed_run_keep_their_best(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"event": "epoch", "epoch": e, "val.loss": v}) + "\n" for e, v in ((1, 0.3), (2, 0.2)))
    )
    logger = ConsoleLogger(tmp_path, load_recipe("sine-lstm"))
    for epoch, value in ((3, 0.25), (4, 0.1)):
        logger.log_metrics({"train.loss": value, "val.loss": value, "lr": 0.005}, epoch, epoch, "epoch")
    out = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[3] for line in out] == ["loss", "*"]  # 0.25 is not below epoch 2's 0.2


def test_metrics_that_have_only_been_zero_are_left_out(tmp_path, capsys):
    epochs = [
        {"train.loss": 0.03, "train.reconstruction": 0.03, "train.kl": 0.0, "val.loss": 0.02, "val.kl": 0.0},
        {"train.loss": 0.02, "train.reconstruction": 0.02, "train.kl": 0.0, "val.loss": 0.0, "val.kl": 0.0},
    ]
    out = logged(tmp_path, "mnist-ae", epochs, capsys=capsys)
    assert all("kl" not in line for line in out) and "rec 0.03000" in out[1]
    assert "loss 0.02000/0.000" in out[2]  # the loss is always shown, even at 0


def test_a_quiet_console_prints_no_epoch_line(tmp_path, capsys):
    assert logged(tmp_path, "mnist-mlp", [{"train.loss": 1.0, "val.accuracy": 0.5}], ["log.quiet=true"], capsys) == []


def test_bars_are_notebook_bars_in_jupyter_with_ipywidgets(monkeypatch):
    import importlib.util

    from tqdm import std

    assert progress([1], 1, "epoch 1/1", True).disable  # no terminal here (pytest captures stderr)

    class ZMQInteractiveShell:  # the class name IPython gives a Jupyter kernel's shell
        pass

    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=ZMQInteractiveShell))
    assert progress([1], 1, "epoch 1/1", False).disable  # log.progress=false
    # Without ipywidgets: a text bar, where tqdm.auto warned "IProgress not found"
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "ipywidgets" else find_spec(name))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = progress([1], 1, "epoch 1/1", True)
    assert type(bar) is std.tqdm and not bar.disable
    bar.close()
