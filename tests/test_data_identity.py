"""eval, report and resume of a run refuse data other than those it saw: split.json records a digest
of each part (train, val, test) and the class names of data read from files."""

import json
from pathlib import Path

import pytest

from tests.conftest import TINY
from torchlab.cli import main

pytestmark = pytest.mark.slow  # real MNIST runs


def refused(capsys, *args: str) -> str:
    """Run the CLI in process; it must exit 2 with one line and no traceback. Returns that line."""
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def fashion_named_mnist(tmp_path: Path, mnist_root: Path) -> Path:
    """A data root whose MNIST/raw holds Fashion-MNIST's files (a mix-up that every file check passes)."""
    raw = tmp_path / "mixed-up" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for file in (mnist_root / "FashionMNIST" / "raw").glob("*-ubyte"):
        (raw / file.name).symlink_to(file)
    return raw.parent.parent


def test_an_mnist_run_refuses_fashion_mnist_under_mnist_s_name(tmp_path, mnist_root, capsys, monkeypatch):
    """Before: eval printed Fashion-MNIST's test accuracy as the run's, and resume trained on it."""
    run, other = tmp_path / "run", fashion_named_mnist(tmp_path, mnist_root)
    assert main(["train", "mnist-mlp", "--out", str(run), *TINY, "-q"]) == 0
    assert json.loads((run / "split.json").read_text())["contents"]["classes"][0] == "0 - zero"
    err = refused(capsys, "eval", str(run), "--data-dir", str(other))
    assert f"the data differ from those {run} saw: its test set changed" in err and "--data-dir" in err
    err = refused(capsys, "resume", str(run), "--epochs", "2", "--data-dir", str(other))
    assert "its training set, validation set and test set changed" in err
    assert main(["eval", str(run)]) == 0  # the data it saw: as before
    (run / "report.html").unlink()
    monkeypatch.setenv("TORCHLAB_DATA", str(other))
    assert "its test set changed" in refused(capsys, "report", str(run))


def test_a_run_recorded_before_the_digests_is_evaluated_and_resumed(tmp_path, mnist_root):
    run = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--out", str(run), *TINY, "-q"]) == 0
    split = json.loads((run / "split.json").read_text())
    del split["contents"]  # split.json as torchlab wrote it before
    (run / "split.json").write_text(json.dumps(split))
    assert main(["eval", str(run)]) == 0
    (run / "split.json").unlink()  # none at all (an image folder's run before): eval reads, records nothing
    assert main(["eval", str(run)]) == 0 and not (run / "split.json").exists()
    assert main(["resume", str(run), "--epochs", "2", "-q"]) == 0  # what it trains on from now
    assert "contents" in json.loads((run / "split.json").read_text())


def test_an_sst2_run_refuses_its_test_file_with_labels_swapped(tmp_path, capsys):
    """Before: eval scored the run against the flipped labels (its accuracy turned into 1 - accuracy)."""
    folder = tmp_path / "SST-2"
    folder.mkdir()
    phrases = [("a fine film", 1), ("a dull plot", 0), ("fine acting", 1), ("dull and slow", 0)] * 10
    lines = "".join(f"{text} {i}\t{label}\n" for i, (text, label) in enumerate(phrases))
    (folder / "train.tsv").write_text("sentence\tlabel\n" + lines)
    dev = "sentence\tlabel\na fine film\t1\na dull plot\t0\n"
    (folder / "dev.tsv").write_text(dev)
    run = tmp_path / "run"
    assert main(["train", "sst2-lstm", "--data-dir", str(tmp_path), "--out", str(run), "--logger", "none"]) == 0
    (folder / "dev.tsv").write_text(dev.replace("\t1", "\tX").replace("\t0", "\t1").replace("\tX", "\t0"))
    assert "its test set changed" in refused(capsys, "eval", str(run), "--data-dir", str(tmp_path))
