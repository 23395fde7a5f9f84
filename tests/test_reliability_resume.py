"""`resume` never starts a trained run over, and refuses an --epochs it cannot honour before it
writes anything (issue 24, cases 3 and 5)."""

import shutil
from pathlib import Path

import pytest

import torchlab
from tests.conftest import TINY, copy_of, tiny_run
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # real MNIST runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root) -> Path:
    return tiny_run(tmp_path_factory, epochs=2)


@pytest.fixture
def run(trained, tmp_path) -> Path:
    return copy_of(trained, tmp_path)


def snapshot(run: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"
    }


def refused(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("how", ["deleted", "a dangling link"])
def test_resume_refuses_a_trained_run_whose_last_checkpoint_is_gone(how, run, tmp_path, capsys):
    last = run / "checkpoints" / "last.pt"
    last.unlink()
    if how == "a dangling link":
        last.symlink_to(tmp_path / "gone.pt")
    before = snapshot(run)
    err = refused(capsys, "resume", str(run), "--epochs", "3")
    if how == "deleted":
        assert "last.pt is missing" in err and "best.pt exists" in err and "2 epochs done" in err, err
    else:
        assert "last.pt is a symbolic link" in err, err
    assert snapshot(run) == before  # best.pt, the summary (2 epochs), the metrics: all kept


def test_a_run_killed_inside_its_first_epoch_still_starts_again(run, capsys):
    for name in ("checkpoints", "plots"):
        shutil.rmtree(run / name)
    for name in ("summary.json", "metrics.jsonl", "report.html"):
        (run / name).unlink()
    assert main(["resume", str(run)]) == 0
    assert (run / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize(
    ("epochs", "message"),
    [
        ("-1", "expected 1 or more"),
        ("0", "expected 1 or more"),
        ("1", "1 epoch in all (--epochs) is below the 2 epochs"),
    ],
)
def test_resume_refuses_fewer_epochs_than_trained_before_writing(epochs, message, run, capsys):
    before = snapshot(run)
    assert message in refused(capsys, "resume", str(run), "--epochs", epochs)
    assert snapshot(run) == before  # config.yaml still says train.epochs: 2
    assert main(["eval", str(run)]) == 0  # the run still works


def test_resume_refuses_fewer_epochs_than_a_stopped_run_did(run, capsys):
    """A run planned for 3 epochs, stopped after 2: --epochs 0 no longer marks it completed."""
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 3"))
    summary = run / "summary.json"
    summary.write_text(summary.read_text().replace('"completed"', '"interrupted"'))
    before = snapshot(run)
    refused(capsys, "resume", str(run), "--epochs", "0")
    refused(capsys, "resume", str(run), "--epochs", "1")
    assert snapshot(run) == before


def test_resume_of_a_finished_run_says_nothing_is_left_and_what_trains_it_further(run, capsys):
    """Before: "RUN already trained 2 epochs; pass --epochs N to train further", and from Python the
    same flag for a call that takes epochs=."""
    before = snapshot(run)
    assert refused(capsys, "resume", str(run)) == (
        f"torchlab: error: {run} finished all 2 epochs of its train.epochs, so nothing is left to resume; "
        f"`torchlab resume {run} --epochs N` trains it on to N epochs in all"
    )
    with pytest.raises(torchlab.TorchlabError, match=rf"`torchlab.resume\({str(run)!r}, epochs=N\)` trains it on"):
        torchlab.resume(run)
    assert snapshot(run) == before


def test_resume_of_an_early_stopped_run_says_why_more_epochs_are_refused_and_where_its_best_model_is(
    tmp_path, mnist_root, capsys
):
    """Before: "RUN stopped early: no improvement in the last 1 epochs (train.patience)", with no word of
    what to do."""
    out = tmp_path / "run"
    stopped = ["optim.lr=0", "train.patience=1", "train.epochs=5"]  # lr 0: epoch 2 cannot improve on epoch 1
    assert main(["train", "mnist-mlp", "--out", str(out), *TINY, *stopped]) == 0
    before = snapshot(out)
    assert refused(capsys, "resume", str(out), "--epochs", "9") == (
        f"torchlab: error: {out} stopped early after 2 epochs: val.accuracy had not improved for 1 epoch "
        "(train.patience=1), so nothing is left to resume; its best model, of epoch 1, is checkpoints/best.pt. "
        "To train longer, train a new run with a larger train.patience"
    )
    assert snapshot(out) == before


def test_an_untrained_baseline_is_evaluated_exported_and_resumed(tmp_path, mnist_root, monkeypatch, capsys):
    """train.epochs=0 keeps the initial weights as best.pt and last.pt; resuming it to 1 epoch, its
    data moved to another root, gives the weights of a fresh 1-epoch run."""
    baseline, fresh = tmp_path / "baseline", tmp_path / "fresh"
    assert main(["train", "mnist-mlp", "--out", str(baseline), *TINY, "train.epochs=0"]) == 0
    assert main(["eval", str(baseline)]) == 0
    assert "test.accuracy" in capsys.readouterr().out
    assert main(["export", str(baseline), "--format", "safetensors", "--out", str(tmp_path / "b.safetensors")]) == 0

    moved = tmp_path / "moved"
    (moved / "MNIST").mkdir(parents=True)
    (moved / "MNIST" / "raw").symlink_to(mnist_root / "MNIST" / "raw")
    monkeypatch.setenv("TORCHLAB_DATA", str(tmp_path / "nowhere"))
    assert main(["resume", str(baseline), "--epochs", "1", "--data-dir", str(moved), "-q"]) == 0
    assert "epoch 1/1" not in capsys.readouterr().out  # quiet: the summary only
    assert main(["train", "mnist-mlp", "--out", str(fresh), *TINY, "train.epochs=1", "--data-dir", str(moved)]) == 0
    resumed, trained = (load_checkpoint(run / "checkpoints" / "last.pt")["model"] for run in (baseline, fresh))
    assert resumed.keys() == trained.keys() and all(resumed[k].equal(trained[k]) for k in trained)
