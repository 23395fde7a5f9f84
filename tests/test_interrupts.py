"""Interrupts: SIGINT/SIGTERM finish the step, write last.pt and a resumable summary; a resumed
run ends with the very weights of a run that never stopped. SIGKILL at any moment leaves a
run directory that `torchlab resume` completes, with the same weights.

In-process runs get a real signal from a logger at an exact step (deterministic points); a
few real processes get Ctrl-C, SIGTERM and SIGKILL from outside, as a user's machine would.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ONE_THREAD, cli_env, one_thread
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint
from torchlab.loggers import LOGGERS, Logger

pytestmark = pytest.mark.slow  # real MNIST runs, stopped in and out of process

# 10 steps an epoch, 2 epochs; a step event per step so that a signal can land on any of them.
SMALL = [
    "--logger",
    "signal-at",
    "data.subset=1000",
    "data.eval_subset=200",
    "data.batch_size=100",
    "train.epochs=2",
    "train.log_every=1",
]
PLAN: list[tuple[str, int, int]] = []  # (event, step or epoch, signal) still to send


@LOGGERS.register("signal-at")
class SignalAt(Logger):
    """Sends this process a real signal when the run reaches a planned step or epoch event."""

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        at = step if event == "step" else epoch
        while PLAN and PLAN[0][:2] == (event, at):
            os.kill(os.getpid(), PLAN.pop(0)[2])


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / "last.pt")["model"]


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mnist_root) -> Path:
    """The same run, never stopped."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL]) == 0
    return out


def assert_same_run(run: Path, reference: Path) -> None:
    ours, theirs = weights(run), weights(reference)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours), "resumed weights differ"
    assert summary(run)["test"] == summary(reference)["test"]
    assert summary(run)["val"] == summary(reference)["val"]
    assert summary(run)["status"] == "completed"
    assert not list(run.rglob("*.tmp"))


@pytest.mark.parametrize(
    "plan",
    [
        [("step", 3, signal.SIGINT)],  # mid-epoch, before any checkpoint exists
        [("step", 10, signal.SIGINT)],  # the last step of epoch 1, before validation
        [("epoch", 1, signal.SIGTERM)],  # during epoch 1's logging: stops after its checkpoint
        [("step", 15, signal.SIGTERM)],  # mid-epoch 2
        [("step", 4, signal.SIGINT), ("step", 4, signal.SIGINT)],  # a second Ctrl-C: out at once
        [("step", 5, signal.SIGINT), ("step", 15, signal.SIGTERM)],  # stopped twice, resumed twice
    ],
    ids=["step3", "step10", "epoch1", "step15", "double-ctrl-c", "twice"],
)
def test_interrupt_then_resume_gives_the_same_weights(plan, reference, tmp_path, capsys):
    out = tmp_path / "run"
    PLAN[:] = plan
    stops = sorted({(event, at) for event, at, _ in plan})
    code = main(["train", "mnist-mlp", "--out", str(out), *SMALL])
    for _ in stops:
        signum = plan[0][2] if len(stops) == 1 else None
        assert code in (130, 143)
        if signum is not None:
            assert code == 128 + signum
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert f"torchlab resume {out}" in err or "stopped by" in err
        assert summary(out)["status"] == "interrupted"
        assert summary(out)["resume"] == f"torchlab resume {out}"
        code = main(["resume", str(out)])
    assert code == 0 and not PLAN
    assert_same_run(out, reference)


CARRY = ["--logger", "signal-at", "task.hidden=carry", "data.sequences=1000", "data.test_sequences=100"]
CARRY += ["data.batch_size=50", "train.epochs=2", "train.log_every=1"]  # 18 steps an epoch


def test_a_forecaster_carrying_its_state_between_batches_resumes_exactly(tmp_path, capsys):
    """`task.hidden=carry`: the state the last step ended with is in last.pt, so the step after a
    stop starts from it, as it would have without the stop."""
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert main(["train", "sine-lstm", "--out", str(reference), *CARRY]) == 0
    PLAN[:] = [("step", 7, signal.SIGINT), ("step", 25, signal.SIGTERM)]  # inside epochs 1 and 2
    assert main(["train", "sine-lstm", "--out", str(out), *CARRY]) == 130
    assert main(["resume", str(out)]) == 143
    assert main(["resume", str(out)]) == 0 and not PLAN
    assert_same_run(out, reference)


def test_a_run_stopped_inside_an_epoch_counts_the_samples_and_seconds_it_trained(tmp_path, mnist_root):
    """Before: summary.json's epoch_train_samples, "the last epoch's", was the stopped epoch's part (600
    of epoch 2's 1,000, or 400 of epoch 1's), and it named no samples or seconds behind its rate."""
    out = tmp_path / "run"
    PLAN[:] = [("step", 3, signal.SIGINT), ("step", 15, signal.SIGTERM)]  # inside epochs 1 and 2
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL]) == 130
    first = summary(out)
    assert first["epochs"] == 0 and first["epoch_train_samples"] is None  # no epoch is whole
    assert first["train_samples"] == 400  # 4 steps of 100: the signal's step finished, and the next
    assert main(["resume", str(out)]) == 143
    second = summary(out)
    assert second["epochs"] == 1 and second["epoch_train_samples"] == 1000 and second["train_samples"] == 1600
    assert main(["resume", str(out)]) == 0 and not PLAN
    done = summary(out)
    assert done["epoch_train_samples"] == 1000 and done["train_samples"] == 2000  # each step once, over 3 sessions
    assert 0 < first["train_seconds"] < second["train_seconds"] < done["train_seconds"]
    # train_seconds is rounded to ms, of some 30 ms here
    assert done["train_samples_per_second"] == pytest.approx(2000 / done["train_seconds"], rel=0.05)


PLATEAU = [*SMALL[:-2], "train.epochs=12", "train.log_every=1", "data.subset=300", "optim.lr=0.15"]
PLATEAU += ["schedule.name=plateau", "schedule.patience=1", "train.patience=3", "train.monitor=val.loss"]
# 3 steps an epoch; val.loss worsens in epochs 6, 7 and 8: the rate drops after 7, the run stops after 8
PLATEAU += ["train.mode=min"]


@pytest.mark.parametrize("stop", [("step", 20, signal.SIGINT), ("epoch", 6, signal.SIGTERM)], ids=["step20", "epoch6"])
def test_a_plateau_schedule_and_early_stopping_resume_to_the_same_stop(stop, tmp_path):
    """Only mnist-mlp with a constant rate was stopped and resumed: the plateau schedule's and early
    stopping's counters, which decide when the rate drops and the run ends, had no such test."""
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert main(["train", "mnist-mlp-regularized", "--out", str(reference), *PLATEAU]) == 0
    assert summary(reference)["status"] == "early_stopped" and summary(reference)["epochs"] == 8
    PLAN[:] = [stop]
    assert main(["train", "mnist-mlp-regularized", "--out", str(out), *PLATEAU]) == 128 + stop[2]
    assert main(["resume", str(out)]) == 0 and not PLAN
    assert weights(out).keys() == weights(reference).keys()
    assert all(torch.equal(weights(out)[k], weights(reference)[k]) for k in weights(out))
    ours, theirs = summary(out), summary(reference)
    assert (ours["status"], ours["epochs"], ours["val"], ours["test"]) == (
        theirs["status"], theirs["epochs"], theirs["val"], theirs["test"]
    )  # fmt: skip


def test_a_resumed_run_logs_the_records_of_a_run_that_never_stopped(tmp_path):
    """Every 3rd step logged: the record after a stop at step 7 covers steps 7-9, as without the stop."""
    every_3rd = [*CARRY[:-1], "train.log_every=3"]
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert main(["train", "sine-lstm", "--out", str(reference), *every_3rd]) == 0
    PLAN[:] = [("step", 6, signal.SIGINT)]  # arrives while step 6 is logged: step 7 is the last one done
    assert main(["train", "sine-lstm", "--out", str(out), *every_3rd]) == 130
    assert main(["resume", str(out)]) == 0

    def records(run: Path) -> list[dict]:
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "time"} for r in lines if r.get("status") != "interrupted"]

    assert records(out) == records(reference)


def test_a_stopped_cross_validation_names_the_command_that_continues_it(tmp_path, capsys):
    out = tmp_path / "cv"
    PLAN[:] = [("step", 3, signal.SIGINT)]
    assert main(["cv", "mnist-mlp", "--folds", "2", "--out", str(out), *SMALL]) == 130
    err = capsys.readouterr().err
    again = re.search(r"in fold 0 of 2: `(torchlab cv [^`]*)` continues it, keeping the finished folds", err)
    assert again and "torchlab resume" not in err, err
    assert main(shlex.split(again[1])[1:]) == 0  # the very command the message gave
    assert "fold-0: resuming" in capsys.readouterr().out
    assert (out / "cv_summary.json").is_file()


def test_signal_handlers_are_restored_after_fit(tmp_path, mnist_root):
    """A fit puts back the handlers it found: a script's own, or SIG_IGN where a shell started the
    tests in the background (not necessarily Python's defaults)."""

    def own_handler(signum, frame) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, own_handler)
    try:
        sigint = signal.getsignal(signal.SIGINT)
        assert main(["train", "mnist-mlp", "--out", str(tmp_path / "run"), *SMALL]) == 0
        assert signal.getsignal(signal.SIGINT) is sigint
        assert signal.getsignal(signal.SIGTERM) is own_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- real processes -----------------------------------------------------------------------------
LONG = [
    "--logger",
    "none",
    "data.subset=4000",
    "data.eval_subset=500",
    "data.batch_size=50",
    "train.epochs=2",
    "train.log_every=10",
]


def start(*args: str) -> subprocess.Popen:
    env = cli_env(**ONE_THREAD)
    return subprocess.Popen(
        [sys.executable, "-m", "torchlab", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() > deadline:  # a hung run: stop it, fail with what it printed
            proc.kill()
            pytest.fail(f"the run never got there in {timeout:.0f} s; stderr: {proc.communicate()[1][-2000:]}")
        time.sleep(0.02)


def epochs_logged(out: Path) -> int:
    path = out / "metrics.jsonl"
    return path.read_text().count('"event": "epoch"') if path.exists() else 0


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory, mnist_root) -> Path:
    out = tmp_path_factory.mktemp("long") / "run"
    with one_thread():  # as the real processes compared with it (conftest: ONE_THREAD)
        assert main(["train", "mnist-mlp", "--out", str(out), *LONG]) == 0
    return out


def test_sigterm_and_ctrl_c_in_a_real_process(long_reference, tmp_path):
    out = tmp_path / "run"
    proc = start("train", "mnist-mlp", "--out", str(out), *LONG)
    wait_for(proc, lambda: epochs_logged(out) >= 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().startswith("torchlab: stopped by SIGTERM") and "Traceback" not in err
    assert summary(out)["status"] == "interrupted"

    logged = (out / "metrics.jsonl").stat().st_size
    proc = start("resume", str(out))  # Ctrl-C twice, quickly, once it trains: out at once, nothing torn
    wait_for(proc, lambda: (out / "metrics.jsonl").stat().st_size > logged)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert summary(out)["status"] == "interrupted"

    with one_thread():
        assert main(["resume", str(out)]) == 0
    assert_same_run(out, long_reference)


def test_sigkill_at_several_points_leaves_a_resumable_run(long_reference, tmp_path):
    """Kill -9 at: start-up, first epoch, just after a checkpoint, mid-epoch; resume each time."""
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    points = [
        lambda: (out / "config.yaml").exists(),
        lambda: (out / "metrics.jsonl").exists(),
        lambda: last.exists(),
        lambda: epochs_logged(out) >= 2,  # training done: killed while testing
    ]
    args = ["train", "mnist-mlp", "--out", str(out), *LONG]
    killed = 0
    for point in points:
        proc = start(*args)
        wait_for(proc, point)
        proc.kill()
        proc.wait()
        killed += 1
        args = ["resume", str(out)]
        if last.exists():  # every file is complete: the checkpoint loads
            load_checkpoint(last)
    assert killed == len(points)
    # The last kill races the end of the run: when the test set was already scored, there is
    # nothing left to resume (and resume rightly refuses); else resume finishes the test.
    finished = (out / "summary.json").exists() and summary(out)["status"] == "completed"
    with one_thread():
        assert finished or main(["resume", str(out)]) == 0
    assert_same_run(out, long_reference)
