"""Evaluation figures do not change with how the evaluation set is batched: a learner who sets
data.eval_batch_size (or evaluate's batch_size=) gets the val and test figures of the default, up to
float rounding, through the Trainer's validation and test, `torchlab eval` and `run.evaluate`, in every
family but the GANs (test_generative.py checks theirs). 45 samples in batches of 7 end in a batch of 3;
in batches of 256 they are one batch.

Before: a VAE drew its latent noise for a whole batch at once, so that another batch size gave each
sample another draw: mnist-vae's val loss moved by 2e-3 (relative) between batches of 256 and 7."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import torchlab
from tests.conftest import one_thread
from torchlab import api
from torchlab.core.checkpoint import load_checkpoint, load_weights
from torchlab.data.text import sentences_of
from torchlab.models import for_checkpoint
from torchlab.recipes import load_recipe
from torchlab.runs import load_run_config

WHOLE, CUT = 256, 7  # one batch of the 45 samples; six of 7 and one of 3
SAMPLES = 45
TINY = ["log.loggers=[]", "log.progress=false", "train.epochs=1", "data.batch_size=16", "train.device=cpu"]
SUBSETS = ["data.subset=64", f"data.eval_subset={SAMPLES}"]

# One recipe of each family but the GANs, tiny: a few steps on a small subset
RECIPES = {
    "mnist-mlp": SUBSETS,  # a classifier
    "fashion-lenet5": [*SUBSETS, "task.tta_flip=true"],  # trained with label smoothing, mirror-averaged logits
    "sst2-lstm": [*SUBSETS, "model.embed_dim=16", "model.hidden_size=16"],  # padded sentences, one logit
    "mnist-conv-ae": SUBSETS,  # an auto-encoder: BCE, reconstruction_mse
    "mnist-vae": SUBSETS,  # latent noise, KL, the ELBO
    "course-mnist-vae": SUBSETS,  # the course's VAE draws its own noise, with σ
    "sine-lstm": ["data.sequences=80", f"data.test_sequences={SAMPLES}", f"data.eval_subset={SAMPLES}"],
}


class Regressor(nn.Module):
    """A model of the user's for `torchlab.fit(..., task="regress")`, two outputs per sample."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def prefixed(split: str, figures: dict[str, float]) -> dict[str, float]:
    return {f"{split}.{name}": value for name, value in figures.items()}


def assert_same(got: dict[str, float], expected: dict[str, float]) -> None:
    """The same figures, to float rounding: sums of a few dozen float32 terms in another order."""
    assert got.keys() == expected.keys()
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def trained_recipe(recipe: str, run_dir: Path) -> dict[str, float]:
    """The val and test figures of a tiny run of `recipe`, evaluated in batches of WHOLE."""
    summary = api.train(load_recipe(recipe, [*TINY, *RECIPES[recipe], f"data.eval_batch_size={WHOLE}"]), run_dir)
    return {**prefixed("val", summary["val"]), **prefixed("test", summary["test"])}


def trained_regressor(run_dir: Path) -> dict[str, float]:
    """The val and test figures of a tiny `torchlab.fit` regression, evaluated in batches of WHOLE."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64 + 2 * SAMPLES, 4, generator=generator)
    y = torch.stack([x.sum(1), x[:, 0] * x[:, 1]], 1)
    parts = {"train": (x[:64], y[:64]), "val": (x[64:-SAMPLES], y[64:-SAMPLES]), "test": (x[-SAMPLES:], y[-SAMPLES:])}
    run = torchlab.fit(
        Regressor, **parts, task="regress", out=run_dir, model_kwargs={},
        train__epochs=2, data__batch_size=16, data__eval_batch_size=WHOLE, log__loggers=[],
    )  # fmt: skip
    return {**prefixed("val", run.summary["val"]), **prefixed("test", run.summary["test"])}


def evaluated_by_trainer(run_dir: Path, batch_size: int) -> tuple[dict[str, float], tuple]:
    """The Trainer's validation and test figures of the run's best.pt in batches of `batch_size`, and
    the test set as `run.evaluate` takes it (a text run's: sentences)."""
    config = load_run_config(run_dir)
    config.data.eval_batch_size = batch_size
    with for_checkpoint():
        trainer = api.build_trainer(config, run_dir)
    best = run_dir / "checkpoints" / "best.pt"
    load_weights(trainer.model, load_checkpoint(best), best)
    with trainer:
        figures = {**trainer.validate(), **trainer.test()}
        batches = list(trainer.data.test_loader())
    vocab = trainer.data.info.vocab
    inputs = [s for b in batches for s in sentences_of(b, vocab)] if vocab else torch.cat([b[0] for b in batches])
    return figures, (inputs, torch.cat([b[-1] for b in batches]))


def evaluated_by_cli(run_dir: Path, batch_size: int) -> dict[str, float]:
    """`torchlab eval RUN_DIR`'s figures with the run's data.eval_batch_size set to `batch_size`."""
    config = run_dir / "config.yaml"
    config.write_text(re.sub(r"eval_batch_size: \d+", f"eval_batch_size: {batch_size}", config.read_text()))
    return api.evaluate(run_dir)


CASES: dict[str, Callable[[Path], dict[str, float]]] = {
    **{recipe: lambda run_dir, recipe=recipe: trained_recipe(recipe, run_dir) for recipe in RECIPES},
    "fit-regress": trained_regressor,
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_val_and_test_figures_do_not_change_with_the_evaluation_batch_size(case, tmp_path, mnist_root, sst2_root):
    run_dir = tmp_path / "run"
    with one_thread():
        whole = CASES[case](run_dir)
        cut, (inputs, targets) = evaluated_by_trainer(run_dir, CUT)
        assert_same(cut, whole)
        assert_same(evaluated_by_cli(run_dir, CUT), {k: v for k, v in whole.items() if k.startswith("test.")})
        run = torchlab.load(run_dir)
        if run.config.task.name == "reconstruct":  # run.evaluate refuses it: no predict, its network is run.model
            return
        given = run.evaluate(inputs, targets, batch_size=WHOLE)
        assert_same(run.evaluate(inputs, targets, batch_size=CUT), given)
    # on the run's own test set, evaluate's figures are the test's
    assert_same(prefixed("test", given), {f"test.{k}": whole[f"test.{k}"] for k in given})
    assert len(targets) == SAMPLES


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "pictures"),
    [("mnist-conv-ae", ["reconstructions.png", "interpolation.png"]), ("sine-lstm", ["sine_forecast.png"])],
)
def test_the_reports_pictures_of_test_samples_do_not_change_with_the_evaluation_batch_size(recipe, pictures, tmp_path):
    """Before: they read the first test batch alone: in batches of 2, 2 reconstructions where 16 were
    asked for, 2 forecasts where 3 were, and an interpolation between digits the batch did not hold
    failed (IndexError, a warning and no picture). 45 test images hold no 8: its pair is left out, the
    other three drawn."""
    drawn = {}
    with one_thread():
        for size in (WHOLE, 2):
            run_dir = tmp_path / f"run-{size}"
            api.train(load_recipe(recipe, [*TINY, *RECIPES[recipe], f"data.eval_batch_size={size}"]), run_dir)
            drawn[size] = {name: (run_dir / "plots" / name).read_bytes() for name in pictures}
    assert drawn[2] == drawn[WHOLE]


class Shown:
    """A live logger (TensorBoard's or Visdom's part) that keeps the previews it is shown."""

    def __init__(self) -> None:
        self.previews = []

    def log_preview(self, preview, step: int, epoch: int) -> None:
        self.previews.append(preview)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["mnist-conv-ae", "sst2-lstm"])
def test_the_live_preview_shows_its_samples_whatever_the_evaluation_batch_size(recipe, tmp_path):
    """Before: it showed the first validation batch's samples alone: 2 of log.preview's 16 in batches of
    2. Text batches, each padded to its own length, are joined too."""
    shown = {}
    for size in (WHOLE, 2):
        config = load_recipe(recipe, [*TINY, *RECIPES[recipe], f"data.eval_batch_size={size}"])
        sink = Shown()
        with api.build_trainer(config, tmp_path / f"run-{size}") as trainer:
            trainer.set_training(False)
            trainer.log_preview([sink])
        (shown[size],) = sink.previews
    assert shown[2].text == shown[WHOLE].text
    assert shown[2].text.count("\n") == 16 + (
        16 if recipe == "sst2-lstm" else 0
    )  # a header, a row a sample (and its words)
    for pictures in ("images", "outputs"):
        assert (getattr(shown[2], pictures) is None) == (getattr(shown[WHOLE], pictures) is None)
        if getattr(shown[2], pictures) is not None:
            assert torch.equal(getattr(shown[2], pictures), getattr(shown[WHOLE], pictures))
            assert len(getattr(shown[2], pictures)) == 16
