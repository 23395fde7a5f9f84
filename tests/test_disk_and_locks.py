"""Concurrency and disk: one process per run directory; a write that fails (file too large, no
space, read-only) stops the run with exit 2 and the previous checkpoint stays intact."""

import json
import os
import resource
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import cli_env
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # real MNIST runs, and child processes

TINY = ["--logger", "none", "data.subset=1000", "data.eval_subset=200", "data.batch_size=100"]


def train(out: Path, *extra: str) -> int:
    return main(["train", "mnist-mlp", "--out", str(out), *TINY, *extra])


def assert_intact(out: Path, before: dict[str, bytes], err: str) -> None:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for name, data in before.items():
        assert (out / "checkpoints" / name).read_bytes() == data, f"{name} changed"
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    load_checkpoint(out / "checkpoints" / "last.pt")


def checkpoints(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "checkpoints").glob("*.pt")}


@contextmanager
def file_size_limit(limit: int):
    """RLIMIT_FSIZE: the kernel fails any write past `limit` bytes with EFBIG (Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_two_runs_racing_for_one_out_never_interleave(tmp_path, mnist_root):
    out = tmp_path / "run"
    env = cli_env()
    argv = [sys.executable, "-m", "torchlab", "train", "mnist-mlp", "--out", str(out), *TINY, "train.epochs=2"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    (err,) = [err for code, err in results if code == 2]
    assert "another torchlab process" in err or "already holds a run" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]  # one run's records only
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_a_run_in_progress_holds_its_directory(tmp_path, mnist_root, capsys):
    from torchlab.core.files import run_lock

    out = tmp_path / "run"
    assert train(out, "train.epochs=1") == 0
    with run_lock(out):  # as a running `torchlab resume` holds it
        assert main(["resume", str(out), "--epochs", "2"]) == 2
        # it said "; wait for it or pick another --out", which resume, eval and report do not have
        holder = f"another torchlab process (pid {os.getpid()}) is using {out}"
        assert f"{holder}: wait for it to end (or, for a new run, pick another --out)" in capsys.readouterr().err
    assert main(["resume", str(out), "--epochs", "2"]) == 0  # a finished (or killed) holder frees it


def test_a_write_past_the_file_size_limit_stops_with_exit_2(tmp_path, mnist_root, capsys):
    out = tmp_path / "run"
    assert train(out, "train.epochs=1") == 0
    before = checkpoints(out)
    capsys.readouterr()
    with file_size_limit(256 * 1024):  # above metrics and summary, below a checkpoint
        assert main(["resume", str(out), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "could not write" in err and "File too large" in err and "previous version is intact" in err
    assert_intact(out, before, err)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["best_epoch"] == load_checkpoint(out / "checkpoints" / "best.pt")["epoch"] == 1  # not 2
    assert main(["resume", str(out), "--epochs", "2"]) == 0  # room again: it goes on


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB tmpfs (needs mount rights: root in CI containers; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_then_a_read_only_one(small_disk, mnist_root, capsys):
    out = small_disk / "run"
    # Two checkpoints of ~1.6 MB fit in 4 MiB; the third write (epoch 2's best.pt) does not.
    assert train(out, "train.epochs=3") == 2
    err = capsys.readouterr().err
    assert "could not write" in err and "No space left on device" in err, err
    epoch = load_checkpoint(out / "checkpoints" / "last.pt")["epoch"]
    assert epoch >= 1
    before = checkpoints(out)
    assert_intact(out, before, err)

    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert main(["resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Read-only file system" in err, err
    assert_intact(out, before, err)
