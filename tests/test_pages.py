"""Run files and pages without training: the reproduce command is exact, config.yaml and report.html
keep Unicode text as written, learning curves are a grid of at most 3 columns without constant-zero
panels, and the cv and comparison pages say what a reader looks for."""

import html
import json
import re
import shlex
import statistics
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.browser import ink, render
from torchlab.config import flatten, load_run_config, save_config
from torchlab.loggers.hparams import is_hyperparameter
from torchlab.recipes import load_recipe, recipe_names
from torchlab.report.curves import COLUMNS, curves_figure, curves_panels, run_series
from torchlab.report.pages import reproduce_command, write_comparison, write_cv_page, write_run_report


def fake_run(run_dir: Path, recipe: str, overrides=(), epochs: list[dict] = (), summary: dict | None = None) -> Path:
    """A run directory as training leaves it: config.yaml, metrics.jsonl, summary.json."""
    config = load_recipe(recipe, list(overrides))
    save_config(config, run_dir / "config.yaml")
    lines = [json.dumps({"event": "epoch", "epoch": e, "step": 10 * e, **m}) for e, m in enumerate(epochs, 1)]
    (run_dir / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps({"recipe": config.recipe, "run_dir": str(run_dir), **summary}))
    return run_dir


def command_of(run_dir: Path) -> str:
    return reproduce_command(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")), run_dir)


@pytest.mark.parametrize("recipe", recipe_names())
def test_a_default_run_reproduces_with_no_override(recipe, tmp_path):
    # sine-lstm's and mnist-ae's Adam betas are a tuple in the defaults and a list in config.yaml
    assert command_of(fake_run(tmp_path, recipe)) == f"torchlab train {recipe}"


@pytest.mark.parametrize(
    ("recipe", "overrides"),
    [
        ("mnist-mlp", ["optim.name=adam", "optim.betas=[0.8,0.9]", "model.hidden=[50]", "log.loggers=[]",
                       "data.val_split=0.1", "train.min_delta=1e-5", "data.root=/data sets/a", "train.monitor=val.loss",
                       "train.mode=min"]),
        ("sine-lstm", ["model.name=rnn", "data.subset=100", "schedule.name=cosine", "task.context=5"]),
        ("mnist-vae", ["task.beta=0.5", "data.eval_subset=null", "data.subset=1000"]),
    ],
)  # fmt: skip
def test_the_reproduce_command_names_exactly_the_hyperparameters_that_differ(recipe, overrides, tmp_path):
    """It named log.loggers and data.root too, which the page's "This run changed" left out."""
    command = command_of(fake_run(tmp_path, recipe, overrides))
    program, verb, name, *given = shlex.split(command)
    assert (program, verb, name) == ("torchlab", "train", recipe)
    assert hyperparameters_of(load_recipe(name, given)) == hyperparameters_of(load_recipe(recipe, overrides))
    changed = {o.split("=")[0] for o in overrides} - {"data.eval_subset"}  # null is the recipe's own value
    assert {o.split("=")[0] for o in given} == changed - {"log.loggers", "data.root"}


def hyperparameters_of(config) -> dict:
    return {k: v for k, v in flatten(config.to_dict()).items() if is_hyperparameter(k)}


def test_the_report_reproduces_the_run_with_the_keys_it_says_the_run_changed(tmp_path):
    """Reproduce added log.quiet=true log.progress=false, which "This run changed" did not list."""
    overrides = ["optim.lr=0.2", "log.quiet=true", "log.progress=false", "train.device=cpu"]
    page = write_run_report(fake_run(tmp_path, "mnist-mlp", overrides)).read_text(encoding="utf-8")
    assert "<p>This run changed optim.lr=0.2.</p>" in page
    assert "<h2>Reproduce</h2><pre>torchlab train mnist-mlp optim.lr=0.2</pre>" in page


def test_a_run_of_a_users_yaml_reproduces_from_that_yaml(tmp_path):
    mine = tmp_path / "my-experiment.yaml"
    mine.write_text("base: mnist-mlp\noptim:\n  lr: 0.2\n")
    run = tmp_path / "run"
    save_config(load_recipe(str(mine)), run / "config.yaml")
    command = command_of(run)
    assert command == f"torchlab train {mine}"  # the user's own file, by its path
    assert load_recipe(shlex.split(command)[2]).optim.lr == 0.2
    mine.unlink()  # gone: the run's own config.yaml reproduces it
    assert command_of(run) == f"torchlab train {run / 'config.yaml'}"


def test_config_yaml_and_the_report_keep_unicode_as_written(tmp_path):
    description = "我的 MLP 实验, λ = 0.1"
    run = fake_run(tmp_path, "mnist-mlp", [f"description={description}"], summary={"status": "completed"})
    text = (run / "config.yaml").read_text(encoding="utf-8")
    assert description in text and "\\u" not in text
    assert load_run_config(run).description == description
    page = write_run_report(run).read_text(encoding="utf-8")
    assert page.count(description) == 2  # the description, and the config block
    assert "\\u" not in page


def curve_epochs(metrics: dict[str, float], epochs: int = 3) -> list[dict[str, float]]:
    return [{k: v * (1 + 0.1 * e) for k, v in metrics.items()} for e in range(epochs)]


WGAN_GP = {"train.loss": -0.1, "train.g_loss": 0.5, "train.critic_gap": 0.1, "val.loss": -0.1,
           "val.critic_gap": 0.1, "val.within_3sigma": 0.9, "val.modes_covered": 8.0, "lr.generator": 1e-3,
           "lr.critic": 1e-3}  # fmt: skip


def test_learning_curves_are_a_grid_of_at_most_3_columns(tmp_path):
    run = fake_run(tmp_path, "gaussians-wgan-gp", epochs=curve_epochs(WGAN_GP))
    series = {"wgan": run_series(run)}
    assert curves_panels(series) == ["critic_gap", "g_loss", "loss", "modes_covered", "within_3sigma", "lr"]
    fig = curves_figure(series, "wgan")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6 and {ax.get_subplotspec().colspan.start for ax in visible} == set(range(COLUMNS))
    assert fig.get_size_inches()[0] <= 4.2 * COLUMNS and fig.get_size_inches()[1] == pytest.approx(2 * 3.4)
    fig.savefig(tmp_path / "curves.png", dpi=110)
    assert Image.open(tmp_path / "curves.png").width <= 1400  # not the 2772-px strip of one row


def test_a_metric_that_is_always_zero_gets_no_panel(tmp_path):
    ae = {
        "train.loss": 0.03,
        "train.reconstruction": 0.03,
        "train.kl": 0.0,
        "val.loss": 0.02,
        "val.kl": 0.0,
        "lr": 1e-3,
    }
    run = fake_run(tmp_path, "mnist-ae", epochs=curve_epochs(ae))
    assert curves_panels({"ae": run_series(run)}) == ["loss", "reconstruction", "lr"]
    # Compared with a VAE, whose KL is not 0, the panel is back, with both runs' curves.
    vae = fake_run(tmp_path / "vae", "mnist-vae", epochs=curve_epochs({**ae, "train.kl": 25.0, "val.kl": 24.0}))
    both = {"ae": run_series(run), "vae": run_series(vae)}
    assert "kl" in curves_panels(both)
    (kl,) = [ax for ax in curves_figure(both, "both").axes if ax.get_title() == "kl"]
    assert len(kl.lines) == 4


def trained(run_dir: Path, lr: float, best: float | None, loggers: str = "tensorboard") -> Path:
    """A finished mnist-mlp run of `optim.lr=lr` whose best val.accuracy was `best` (None: no summary)."""
    epochs = curve_epochs({"train.loss": 1.0 / lr, "val.loss": 0.9, "val.accuracy": best or 0.5, "lr": lr})
    summary = None
    if best is not None:
        summary = {
            "status": "completed",
            "epochs": 3,
            "best_epoch": 2,
            "monitor": {"metric": "val.accuracy", "best": best},
            "val": {"accuracy": best, "loss": 0.3},
            "test": {"accuracy": best - 0.01, "loss": 0.31},
            "wall_seconds": 12.5,
        }
    run = fake_run(run_dir, "mnist-mlp", [f"optim.lr={lr}", f"log.loggers={loggers}"], epochs, summary)
    write_run_report(run)
    return run


def rows_of(page: str, heading: str) -> list[list[str]]:
    """The body rows of the table under `heading`, each as its cells' text."""
    section = page.split(f"<h2>{heading}</h2>")[1].split("<h2>")[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", section)[1:]
    return [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in rows]


def test_the_comparison_sorts_by_the_monitored_metric_marks_the_best_and_links_reports(tmp_path):
    runs = [
        trained(tmp_path / "lr0.05", 0.05, 0.90, "tensorboard"),
        trained(tmp_path / "lr0.2", 0.2, 0.95, "none"),
        trained(tmp_path / "lr0.1", 0.1, 0.93, "tensorboard,visdom"),
        trained(tmp_path / "lr0.3", 0.3, None),  # stopped before any summary
    ]
    page = write_comparison(runs, tmp_path / "compare").read_text(encoding="utf-8")
    results = rows_of(page, "Results")
    assert [row[0] for row in results] == ["lr0.2 ★ best", "lr0.1", "lr0.05", "lr0.3"]
    assert [row[3] for row in results] == ["0.95", "0.93", "0.9", ""]  # val.accuracy, the sort key, first
    assert '<tr class="marked"><td><b>lr0.2</b> ★ best' in page
    assert "sorted by val.accuracy (highest first)" in page
    hrefs = re.findall(r'<a href="([^"]+)"', page)
    assert hrefs == ["../lr0.2/report.html", "../lr0.1/report.html", "../lr0.05/report.html", "../lr0.3/report.html"]
    assert all((tmp_path / "compare" / href).resolve().is_file() for href in hrefs)
    differing = page.split("Hyper-parameters that differ")[1].split("<h2>")[0]
    assert "optim.lr" in differing and "log.loggers" not in differing  # where a run was watched is no hyper-parameter


def test_a_minimised_monitor_puts_the_lowest_first(tmp_path):
    runs = []
    for name, loss in (("a", 0.3), ("b", 0.1), ("c", 0.2)):
        run = fake_run(tmp_path / name, "sine-lstm", [f"optim.lr={loss}"], summary={
            "status": "completed", "monitor": {"metric": "val.loss", "best": loss}, "val": {"loss": loss}})  # fmt: skip
        runs.append(run)
    page = write_comparison(runs, tmp_path / "compare").read_text(encoding="utf-8")
    assert [row[0] for row in rows_of(page, "Results")] == ["b ★ best", "c", "a"]
    assert "sorted by val.loss (lowest first)" in page
    # an auto-encoder's val.loss (pixel MSE) is no forecaster's: listed, not ranked among them
    ae = fake_run(tmp_path / "ae", "mnist-ae", summary={
        "status": "completed", "monitor": {"metric": "val.loss", "best": 0.01}, "val": {"loss": 0.01}})  # fmt: skip
    page = write_comparison([*runs, ae], tmp_path / "compare").read_text(encoding="utf-8")
    assert [row[0] for row in rows_of(page, "Results")] == ["b ★ best", "c", "a", "ae"]
    assert "runs of another task or dataset than forecast on sine are listed last, unranked" in page


def cv_of(tmp_path: Path, accuracies: list[float]) -> dict:
    """A cross-validation's cv_summary.json over fake folds."""
    folds = [trained(tmp_path / f"fold-{k}", 0.1, a) for k, a in enumerate(accuracies)]

    def stats(values: list[float]) -> dict:
        return {"mean": statistics.mean(values), "std": statistics.stdev(values), "folds": values}

    return {
        "recipe": "mnist-mlp",
        "folds": len(folds),
        "val": {"accuracy": stats(accuracies), "loss": stats([0.3] * len(folds))},
        "test": {"accuracy": stats([a - 0.01 for a in accuracies])},
        "epochs": [3] * len(folds),
        "best_epochs": [2] * len(folds),
        "run_dirs": [str(f) for f in folds],
        "run_dir": str(tmp_path),
    }


def test_the_cv_page_shows_each_fold_the_mean_and_std_and_their_curves(tmp_path):
    page = write_cv_page(cv_of(tmp_path, [0.90, 0.92, 0.97]), tmp_path).read_text(encoding="utf-8")
    rows = rows_of(page, "Folds")
    assert [row[0] for row in rows] == ["fold 0", "fold 1", "fold 2", "mean ± std"]
    assert [row[3] for row in rows] == ["0.9", "0.92", "0.97", "0.93 ± 0.03606"]  # val.accuracy
    assert rows[-1][5] == "0.92 ± 0.03606" and rows[0][2] == "completed"  # test.accuracy; each fold's status
    assert re.findall(r'<a href="([^"]+)"', page) == [f"fold-{k}/report.html" for k in range(3)]
    assert page.count("data:image/png;base64,") == 1  # the folds' curves, overlaid
    assert "<pre>torchlab cv mnist-mlp --folds 3 optim.lr=0.1</pre>" in page  # log.loggers is the default


@pytest.mark.slow
def test_the_cv_and_comparison_pages_render_in_chromium(tmp_path):
    cv = write_cv_page(cv_of(tmp_path / "cv", [0.90, 0.92, 0.97]), tmp_path / "cv")
    runs = [trained(tmp_path / f"lr{lr}", lr, best) for lr, best in ((0.05, 0.9), (0.2, 0.95))]
    comparison = write_comparison(runs, tmp_path / "compare")
    for name, page in (("cv", cv), ("compare", comparison)):
        shot = tmp_path / f"{name}.png"
        assert render(page, shot) == []  # no console message: nothing failed to load
        covered, contrast = ink(shot)
        assert covered > 0.01 and contrast > 10, (name, covered, contrast)


def test_the_report_says_what_the_run_changed_and_claims_no_transfer_learning_from_scratch(tmp_path):
    folder = fake_run(tmp_path / "scratch", "folder-resnet18", ["model.weights=none", "data.folder=/photos"])
    page = write_run_report(folder).read_text(encoding="utf-8")
    said = page.split("</h1>")[1].split("<h2>")[0]
    assert "The recipe folder-resnet18: your image folder, transfer learning from ImageNet" in said
    assert "<b>No transfer learning</b> here: model.weights=none" in said
    assert "This run changed data.folder=/photos, model.weights=none." in said
    default = write_run_report(fake_run(tmp_path / "default", "mnist-mlp")).read_text(encoding="utf-8")
    assert default.split("</h1>")[1].split("<h2>")[0] == f"\n<p>{html.escape(load_recipe('mnist-mlp').description)}</p>"


def test_misclassified_titles_with_long_class_names_do_not_overlap(tmp_path):
    """Each tile's label (true class over the predicted one) stays over its own tile: no red of a label
    reaches the white gap between two tiles, however long the class names ("mewtwo-armored-x" is cut)."""
    import numpy as np
    import torch
    from PIL import Image

    from torchlab.data import DataInfo
    from torchlab.report import FinishedRun, classify

    names = ["bulbasaur", "charmander", "squirtle", "pikachu", "mewtwo-armored-x"]
    labels = torch.arange(40) % 5
    info = DataInfo(input_shape=(3, 32, 32), num_classes=5, class_names=names)
    grey = torch.full((20, 3, 32, 32), 0.5)  # a flat tile: unit_range makes it 0 (black)
    run = FinishedRun(
        config=load_recipe("folder-resnet18"), run_dir=tmp_path, info=info, model=None, task=None,
        device=torch.device("cpu"), test_loader=lambda: [(grey, labels[:20]), (grey, labels[20:])],
        test={"labels": labels, "predicted": (labels + 1) % 5},
    )  # fmt: skip
    classify.misclassified(run, tmp_path)
    picture = np.asarray(Image.open(tmp_path / "misclassified.png").convert("RGB")).astype(int)
    red = (picture[..., 0] - picture[..., 1] > 40).any(0)  # columns holding a label's red
    tile_columns = (picture.sum(-1) == 0).sum(0) > 100  # black down two tiles (the title's text is short)
    assert tile_columns.sum() >= 8 * 100  # eight tiles in a row
    assert red.any() and not (red & ~tile_columns).any()


@pytest.mark.slow
def test_torchlab_cv_writes_its_page(tmp_path, mnist_root, capsys):
    from torchlab.cli import main

    out = tmp_path / "cv"
    tiny = ["data.subset=600", "data.eval_subset=200", "train.epochs=1", "--logger", "none"]
    assert main(["cv", "mnist-mlp", "--folds", "2", "--out", str(out), *tiny]) == 0
    assert f"report           {out / 'report.html'}" in capsys.readouterr().out
    page = (out / "report.html").read_text(encoding="utf-8")
    assert [row[0] for row in rows_of(page, "Folds")] == ["fold 0", "fold 1", "mean ± std"]
    assert all((out / href).is_file() for href in re.findall(r'<a href="([^"]+)"', page))
    assert "torchlab cv mnist-mlp --folds 2 data.subset=600 data.eval_subset=200 train.epochs=1" in page
