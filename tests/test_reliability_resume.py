"""`resume` never starts a trained run over, and refuses an --epochs it cannot honour before it
writes anything (issue 24, cases 3 and 5)."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import copy_of, tiny_run
from torchlab.cli import main

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
        assert "last.pt is missing" in err and "best.pt exists" in err and "2 epoch(s) done" in err, err
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
    ("epochs", "message"), [("-1", "expected 1 or more"), ("0", "expected 1 or more"), ("1", "below the 2 epochs")]
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
