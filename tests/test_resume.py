"""Checkpoints and resume: a run killed with SIGKILL mid-epoch and resumed ends bit-identical to
one that never stopped; a diverging run exits 2 and keeps its last good checkpoint; another
model's or a truncated checkpoint is refused with one clear line."""

import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch

from tests.conftest import ONE_THREAD, cli_env, one_thread, run_cli
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint
from torchlab.loggers.jsonl import read_metrics

pytestmark = pytest.mark.slow  # real MNIST runs, killed and resumed

SMALL = ["--logger", "none", "data.subset=2000", "data.eval_subset=1000"]


def assert_identical(a, b, where="checkpoint"):
    """Every tensor equal bit for bit (torch.equal) and every other value equal; the clock aside."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a.keys() - {"clock"}:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def assert_same_run(ref, other):
    for name in ("best.pt", "last.pt"):
        assert_identical(
            load_checkpoint(ref / "checkpoints" / name), load_checkpoint(other / "checkpoints" / name), name
        )
    summaries = [json.loads((d / "summary.json").read_text()) for d in (ref, other)]
    assert [(s["status"], s["epochs"], s["val"], s["test"]) for s in summaries][0] == (
        summaries[1]["status"],
        summaries[1]["epochs"],
        summaries[1]["val"],
        summaries[1]["test"],
    )


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path, mnist_root):
    # dropout, momentum, weight decay and a cosine schedule: every piece of state a resume must restore
    args = ["--epochs=3", "--logger", "none", "data.subset=20000", "data.eval_subset=1000", "train.log_every=5"]
    ref, out = tmp_path / "uninterrupted", tmp_path / "killed"
    with one_thread():  # as the killed and resumed processes (conftest: ONE_THREAD)
        assert main(["train", "mnist-mlp-regularized", "--out", str(ref), *args]) == 0

    env = cli_env(**ONE_THREAD)
    command = [sys.executable, "-m", "torchlab", "train", "mnist-mlp-regularized", "--out", str(out), *args]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "checkpoints" / "last.pt"

    def inside_epoch_2() -> bool:  # epoch 1's last.pt is written and epoch 2 has taken steps
        return last.exists() and any(r["event"] == "step" and r["epoch"] == 1 for r in read_metrics(out))

    try:
        deadline = time.monotonic() + 120  # a run that hangs fails here instead of spinning forever
        while proc.poll() is None and not inside_epoch_2():
            assert time.monotonic() < deadline, "no step of epoch 2 logged after 120 s: the run hangs"
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)  # on time, or after a failed wait: no process is left behind
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(str(last))["epoch"] == 1 and not (out / "summary.json").exists()  # a str path too

    result = run_cli("resume", str(out), **ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert_same_run(ref, out)


def test_resume_between_epochs_with_more_epochs_is_bit_identical(tmp_path, mnist_root):
    extra = [*SMALL, "model.dropout=0.3"]
    ref, out = tmp_path / "two", tmp_path / "one-then-two"
    assert main(["train", "mnist-mlp", "--out", str(ref), "--epochs=2", *extra]) == 0
    assert main(["train", "mnist-mlp", "--out", str(out), "--epochs=1", *extra]) == 0
    assert main(["resume", str(out), "--epochs", "2"]) == 0
    assert_same_run(ref, out)


def test_resuming_on_another_thread_count_says_the_last_digits_will_differ(tmp_path, mnist_root):
    """A run resumed on another thread count than it trained on ended a few 1e-9 away from a run never
    stopped, while the README promised it bit for bit, and nothing said why."""
    out = tmp_path / "run"
    with one_thread(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", "mnist-mlp", "--out", str(out), "--epochs=1", *SMALL]) == 0
        assert main(["resume", str(out), "--epochs", "2"]) == 0
    assert not [w for w in caught if "thread" in str(w.message)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.warns(UserWarning, match=rf"{re.escape(str(out))} trained on 1 thread and continues on 2"):
            assert main(["resume", str(out), "--epochs", "3"]) == 0
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_resuming_past_a_planned_schedule_exits_2_and_changes_nothing(schedule, tmp_path, mnist_root, capsys):
    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--out", str(out), "--epochs=1", *SMALL, f"schedule.name={schedule}"]) == 0
    before = (out / "checkpoints" / "last.pt").read_bytes()
    assert main(["resume", str(out), "--epochs", "2"]) == 2
    assert f"schedule {schedule} is planned over train.epochs=1" in capsys.readouterr().err
    assert main(["resume", str(out)]) == 2  # it said: pass --epochs N, which it then refused
    assert f"nothing is left to resume; its {schedule} schedule ends there: train a new run with more train.epochs" in (
        capsys.readouterr().err
    )
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


@pytest.mark.parametrize(
    ("overrides", "epoch", "kept"),
    [
        (["optim.lr=1e6"], 1, None),  # diverges at once: no epoch finished, no checkpoint
        # epoch 1 is fine at lr 0.05; the step schedule then multiplies the rate by 1e8
        (["schedule.name=step", "schedule.step_size=1", "schedule.gamma=1e8"], 2, 1),
    ],
)
def test_a_diverging_run_exits_2_naming_epoch_and_step(overrides, epoch, kept, tmp_path, mnist_root, capsys):
    out = tmp_path / "diverged"
    assert main(["train", "mnist-mlp", "--out", str(out), "--epochs=3", *SMALL, *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    step = int(re.search(rf"loss became (?:nan|inf|-inf) at epoch {epoch}, step (\d+)", err).group(1))
    assert (epoch - 1) * 16 < step <= epoch * 16  # 2000 samples in batches of 128: 16 steps an epoch
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["epochs"]) == ("diverged", epoch - 1)
    if kept is None:
        assert not (out / "checkpoints" / "last.pt").exists()
    else:
        state = load_checkpoint(out / "checkpoints" / "last.pt")
        assert state["epoch"] == kept
        assert all(torch.isfinite(t).all() for t in state["model"].values())
        assert math.isfinite(state["best"]["value"])


def test_another_models_or_a_truncated_checkpoint_exits_2(tmp_path, mnist_root, capsys):
    run, other = tmp_path / "run", tmp_path / "other"
    assert main(["train", "mnist-mlp", "--out", str(run), "--epochs=1", *SMALL]) == 0
    assert main(["train", "mnist-mlp", "--out", str(other), "--epochs=1", *SMALL, "model.hidden=[50]"]) == 0
    ckpt, summary = run / "checkpoints", (run / "summary.json").read_bytes()
    capsys.readouterr()

    def refused(command: list[str], message: str) -> None:
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert "weights_only" not in err, err  # never the advice to load a file's code

    for name, command in (("best.pt", ["eval", str(run)]), ("last.pt", ["resume", str(run), "--epochs", "2"])):
        good = (ckpt / name).read_bytes()
        shutil.copy(other / "checkpoints" / name, ckpt / name)
        refused(command, "holds weights of another model (mlp from recipe 'mnist-mlp')")
        (ckpt / name).write_bytes(good[: len(good) // 2])
        refused(command, "is corrupt or truncated")
        (ckpt / name).write_bytes(bytes(range(256)) * 20)  # bytes that no torch.save wrote
        refused(command, "is corrupt or truncated")
        torch.save({"format": "torchlab-checkpoint/1", "model": torch.nn.Linear(2, 2)}, ckpt / name)
        refused(command, "refused to load")
        (ckpt / name).write_bytes(good)
    assert (run / "summary.json").read_bytes() == summary  # nothing half-written by the refusals
    assert sorted(p.name for p in ckpt.iterdir()) == ["best.pt", "last.pt"]
