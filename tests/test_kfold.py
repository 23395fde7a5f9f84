"""K-fold cross-validation: `torchlab cv RECIPE --folds K`, and splits recorded in the run directory."""

import json
import shutil
import statistics

import pytest
import torch

from torchlab import api
from torchlab.cli import main
from torchlab.core.errors import TorchlabError
from torchlab.data.splits import kfold_indices
from torchlab.recipes import load_recipe

TINY = ["--logger", "none", "--epochs=1", "data.subset=1500", "data.eval_subset=600"]


def test_kfold_parts_are_disjoint_and_cover_the_training_set():
    parts = [kfold_indices(60000, 3, k, seed=0) for k in range(3)]
    held_out = torch.cat([val for _, val in parts])
    assert held_out.sort().values.equal(torch.arange(60000))
    for train, val in parts:
        assert len(val) == 20000 and torch.cat([train, val]).sort().values.equal(torch.arange(60000))
    with pytest.raises(TorchlabError, match=r"data.fold: expected a fold in 0..2, got 3"):
        kfold_indices(100, 3, 3, seed=0)
    with pytest.raises(TorchlabError, match="data.folds: expected 2 to 100 folds of the 100 samples"):
        kfold_indices(100, 101, 0, seed=0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.fold=1"], "data.fold: expected 0 while K-fold is off (set data.folds=K too)"),
        (["data.folds=3", "data.fold=3"], "data.fold: expected a fold in 0..2, got 3"),
        (["data.folds=1"], "data.folds: expected 0 (off) or 2 or more, got 1"),
    ],
)
def test_a_fold_outside_the_folds_is_refused_in_words(overrides, message):
    with pytest.raises(TorchlabError) as refused:
        load_recipe("mnist-mlp", overrides)
    assert message in str(refused.value)


@pytest.mark.slow
def test_cv_with_3_folds_gives_3_results_and_mean_std(tmp_path, mnist_root, capsys):
    out = tmp_path / "cv"
    assert main(["cv", "mnist-mlp", "--folds", "3", "--out", str(out), *TINY]) == 0
    cv = json.loads((out / "cv_summary.json").read_text())
    folds = [json.loads((out / f"fold-{k}" / "summary.json").read_text()) for k in range(3)]
    assert cv["folds"] == 3 and len(cv["run_dirs"]) == 3
    for part in ("val", "test"):
        for metric in ("loss", "accuracy"):
            values = [f[part][metric] for f in folds]
            assert cv[part][metric]["folds"] == values
            assert cv[part][metric]["mean"] == pytest.approx(statistics.mean(values))
            assert cv[part][metric]["std"] == pytest.approx(statistics.stdev(values))
    assert all(f["test"]["accuracy"] > 0.5 for f in folds)  # chance is 0.1; each fold's best model, tested
    assert len({f["val"]["accuracy"] for f in folds}) > 1  # three different held-out parts
    printed = capsys.readouterr().out
    assert "3-fold cross-validation" in printed and f"{cv['test']['accuracy']['mean']:.4f} ± " in printed

    # each fold's config.yaml reproduces its split: eval gives the fold's test metrics again
    splits = [json.loads((out / f"fold-{k}" / "split.json").read_text()) for k in range(3)]
    assert len({s["val_sha256"] for s in splits}) == 3
    fold1 = out / "fold-1"
    assert api.evaluate(fold1) == {f"test.{k}": v for k, v in folds[1]["test"].items()}
    config = (fold1 / "config.yaml").read_text()
    assert "folds: 3" in config and "fold: 1" in config
    (fold1 / "config.yaml").write_text(config.replace("fold: 1", "fold: 2"))
    assert main(["eval", str(fold1)]) == 2
    assert "another train/val split" in capsys.readouterr().err

    assert main(["cv", "mnist-mlp", "--folds", "3", "--out", str(out), *TINY]) == 2  # never overwritten
    capsys.readouterr()
    for command in ("report", "eval"):  # the cv's folder is no run: the message points to its folds
        assert main([command, str(out)]) == 2
        assert f"{out} is a cross-validation, not a run: its folds are the runs" in capsys.readouterr().err
    assert main(["cv", "mnist-mlp", "--folds", "1", "--out", str(tmp_path / "one"), *TINY]) == 2


@pytest.mark.slow
def test_a_stopped_cv_continues_where_it_stopped(tmp_path, mnist_root, capsys):
    out = tmp_path / "cv"
    assert main(["cv", "mnist-mlp", "--folds", "3", "--out", str(out), *TINY]) == 0
    whole = json.loads((out / "cv_summary.json").read_text())
    kept = (out / "fold-0" / "checkpoints" / "best.pt").read_bytes()
    # as if stopped during fold 1's test, before fold 2 started
    (out / "cv_summary.json").unlink()
    (out / "report.html").unlink()
    summary = json.loads((out / "fold-1" / "summary.json").read_text())
    (out / "fold-1" / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    shutil.rmtree(out / "fold-2")
    capsys.readouterr()
    assert main(["cv", "mnist-mlp", "--folds", "3", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "fold-0: finished before, kept" in printed and "fold-1: resuming" in printed
    assert (out / "fold-0" / "checkpoints" / "best.pt").read_bytes() == kept
    again = json.loads((out / "cv_summary.json").read_text())
    assert again["test"] == whole["test"] and again["val"] == whole["val"]  # same seeds, same folds
    (out / "cv_summary.json").unlink()
    (out / "report.html").unlink()
    assert main(["cv", "mnist-mlp", "--folds", "3", "--out", str(out), *TINY, "optim.lr=0.5"]) == 2
    assert "holds a run of another config" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("inside", "message"),
    [
        ({"notes.txt": "mine"}, "holds 'notes.txt', which no cross-validation wrote"),
        ({"config.yaml": "recipe: mnist-mlp", "report.html": "<p>the run's</p>"}, "is a run directory"),
        ({"fold-0/config.yaml": "recipe: mnist-mlp", "report.html": "<p>mine</p>"}, "holds 'report.html', which"),
    ],
    ids=["a-folder-of-other-things", "a-run", "a-fold-beside-other-files"],
)
def test_cv_never_writes_into_a_folder_that_holds_other_things(inside, message, tmp_path, capsys):
    out = tmp_path / "out"
    for name, text in inside.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    assert main(["cv", "mnist-mlp", "--folds", "2", "--out", str(out), *TINY]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(inside)
    assert all((out / name).read_text() == text for name, text in inside.items())


def test_cv_has_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["cv", "--help"])
    assert done.value.code == 0 and "--folds" in capsys.readouterr().out


@pytest.mark.parametrize("recipe", ["sine-lstm", "gaussians-wgan-gp", "sst2-lstm", "mnist-mlp"])
def test_every_family_holds_out_fold_k_of_its_training_set(recipe):
    """`cv` on any dataset: the K validation parts differ and together are the whole training set."""
    from torchlab.data import build_data

    def val_inputs(fold: int) -> tuple[list[torch.Tensor], int]:
        config = load_recipe(recipe, ["data.folds=3", f"data.fold={fold}"])
        data = build_data(config.data, torch.device("cpu"))
        return [row for x, *_ in data.val_loader() for row in x.flatten(1)], data.train_size

    parts = [val_inputs(fold) for fold in range(3)]
    sizes = [len(rows) for rows, _ in parts]
    assert sum(sizes) == parts[0][1] + sizes[0]  # the held-out parts cover train + val once
    first = {tuple(row.tolist()) for row in parts[0][0][:50]}
    assert not first & {tuple(row.tolist()) for row in parts[1][0][:50]}  # fold 1 holds out other samples
