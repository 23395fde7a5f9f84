"""K-fold cross-validation: `torchlab cv RECIPE --folds K`, and splits recorded in the run directory."""

import json
import statistics

import pytest
import torch

from torchlab import api
from torchlab.cli import main
from torchlab.data.splits import kfold_indices
from torchlab.errors import TorchlabError

TINY = ["--logger", "none", "--epochs=1", "data.subset=1500", "data.eval_subset=600"]


def test_kfold_parts_are_disjoint_and_cover_the_training_set():
    parts = [kfold_indices(60000, 3, k, seed=0) for k in range(3)]
    held_out = torch.cat([val for _, val in parts])
    assert held_out.sort().values.equal(torch.arange(60000))
    for train, val in parts:
        assert len(val) == 20000 and torch.cat([train, val]).sort().values.equal(torch.arange(60000))
    with pytest.raises(TorchlabError, match="data.fold"):
        kfold_indices(100, 3, 3, seed=0)


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
    assert main(["cv", "mnist-mlp", "--folds", "1", "--out", str(tmp_path / "one"), *TINY]) == 2


def test_cv_has_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["cv", "--help"])
    assert done.value.code == 0 and "--folds" in capsys.readouterr().out
