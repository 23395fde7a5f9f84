"""Issue 24, cases 6 and 7: stops with DataLoader workers, and a signal at any phase of a run.

Case 6: an image-folder run with its default `data.workers=2` (augmentation drawn in the workers)
stopped mid-epoch by SIGKILL or SIGINT and resumed ends bit for bit as a run never stopped; a
SIGTERM to the whole process group (systemd, Slurm: the workers get it too) ends like SIGINT.
Case 7: a signal at start-up, during the last epoch's validation, the final test or the figures is
handled as `engine/interrupt.py: PHASES` says, and `torchlab report RUN` draws a missing report again.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

import torchlab
from tests.conftest import ONE_THREAD, cli_env, run_cli
from tests.test_resume import assert_identical, assert_same_run
from torchlab import api
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint
from torchlab.data import workers
from torchlab.engine import trainer as trainer_module
from torchlab.engine.trainer import Trainer
from torchlab.loggers.jsonl import read_metrics

pytestmark = pytest.mark.slow  # real processes with DataLoader workers, stopped and resumed

# 3 x 60 pictures: 108 training images, 27 steps an epoch; dropout and the recipe's augmentation
# (flips, rotation, zoom: drawn in the 2 workers) are every random stream a resume must reproduce.
FOLDER = [
    "--logger",
    "none",
    "data.image_size=16",
    "data.batch_size=4",
    "data.workers=2",
    "model.name=mlp",
    "model.hidden=[32]",
    "model.dropout=0.2",
    "task.head_lr=null",
    "train.epochs=3",
    "train.log_every=1",
]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pictures") / "shapes"
    rng = np.random.default_rng(0)
    for c, kind in enumerate(("circle", "square", "stripes")):
        (root / kind).mkdir(parents=True)
        for i in range(60):
            image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            image[5:15, 6:18] = 80 * c  # something to learn
            Image.fromarray(image).save(root / kind / f"{i}.png")
    return root


def folder_args(pictures: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "folder-resnet18", "--out", str(out), *FOLDER, f"data.folder={pictures}", *extra]


def child(*args: str) -> subprocess.CompletedProcess:
    """`python -m torchlab ARGS`, computing with one thread (conftest's ONE_THREAD)."""
    return run_cli(*args, **ONE_THREAD)


@pytest.fixture(scope="module")
def folder_reference(pictures, tmp_path_factory) -> Path:
    """A run never stopped, in a process of its own."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result = child(*folder_args(pictures, out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def in_process_reference(pictures, tmp_path_factory) -> Path:
    """A run never stopped, in this process: what the runs stopped in this process are compared with."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(folder_args(pictures, out)) == 0
    return out


def start(args: list[str], **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "torchlab", *args],
        env=cli_env(**ONE_THREAD),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def wait_until_inside_epoch_2(proc: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    """Until epoch 1's last.pt is written and epoch 2 has taken 3 of its 27 steps."""

    def inside() -> bool:
        if not (out / "checkpoints" / "last.pt").exists():
            return False
        return sum(r["event"] == "step" and r["epoch"] == 1 for r in read_metrics(out)) >= 3

    deadline = time.monotonic() + timeout
    while not inside():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never reached epoch 2 (exit {proc.poll()}): {proc.communicate()[1][-2000:]}")
        time.sleep(0.005)


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


# -- case 6: DataLoader workers ------------------------------------------------------------------
def test_workers_do_not_change_what_a_run_learns(pictures, folder_reference, tmp_path):
    """Each sample's augmentation depends on the epoch and the sample only: 0 workers or 2, the same."""
    out = tmp_path / "run"
    result = child(*folder_args(pictures, out, "data.workers=0"))
    assert result.returncode == 0, result.stderr
    for name in ("best.pt", "last.pt"):
        ours, theirs = (load_checkpoint(d / "checkpoints" / name) for d in (out, folder_reference))
        assert_identical(ours["model"], theirs["model"], name)


def stopped_at(out: Path) -> dict:
    """last.pt of a run stopped from outside; where it stopped is printed (pytest shows it on failure).
    The signal lands some steps after the test saw step 3 of epoch 2: mid-epoch, or under load later
    (after an epoch's checkpoint, in the final test); a resume must continue exactly from any of them.
    `test_a_folder_run_with_workers_stopped_at_a_chosen_step_...` stops where it chooses."""
    last = load_checkpoint(out / "checkpoints" / "last.pt")
    print(f"stopped with {last['epoch']} epochs done, then {last['position'] and last['position']['batches']} batches")
    assert last["epoch"] >= 1  # after the epoch the test waited for
    return last


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_folder_run_with_workers_stopped_mid_epoch_resumes_bit_identically(
    signum, pictures, folder_reference, tmp_path
):
    out = tmp_path / "run"
    proc = start(folder_args(pictures, out))
    wait_until_inside_epoch_2(proc, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    last = stopped_at(out)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert last["position"] is None  # no bookmark: resume redoes the killed epoch from its start
    else:
        assert proc.returncode == 130, err
        assert one_line(err).startswith("torchlab: stopped by SIGINT")
        assert summary(out)["status"] == "interrupted"
    result = child("resume", str(out))
    assert result.returncode == 0, result.stderr
    assert_same_run(folder_reference, out)


def test_sigterm_to_the_process_group_with_workers_ends_like_ctrl_c(pictures, folder_reference, tmp_path):
    """systemd and Slurm signal every process of the job: the workers too. Only the main process decides."""
    out = tmp_path / "run"
    proc = start(folder_args(pictures, out), start_new_session=True)
    wait_until_inside_epoch_2(proc, out)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert one_line(err).startswith("torchlab: stopped by SIGTERM")
    assert summary(out)["status"] == "interrupted"
    stopped_at(out)
    deadline = time.monotonic() + 20  # the workers ended with their process, none left behind
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "DataLoader workers outlived the run"
        time.sleep(0.1)
    result = child("resume", str(out))
    assert result.returncode == 0, result.stderr
    assert_same_run(folder_reference, out)


@pytest.mark.parametrize("step", [27, 30], ids=["epoch-1-last-step", "epoch-2-step-3"])
@pytest.mark.usefixtures("no_default_sigterm")
@pytest.mark.filterwarnings("error::UserWarning")  # before: resumed, PyTorch warned of a schedule stepped too early
def test_a_folder_run_with_workers_stopped_at_a_chosen_step_resumes_bit_identically(
    step, pictures, in_process_reference, tmp_path, capsys, monkeypatch
):
    """In process, as from a notebook, at a step chosen (the tests above stop wherever the signal lands).
    At the epoch's last step the resumption runs none of its batches. Before, the workers forked by the
    stopped run shared its run directory's lock and kept it locked: the resumption was refused."""
    out = tmp_path / "run"
    sent = signal_when(monkeypatch, Trainer, "check", signal.SIGTERM, lambda trainer, loss, batch: trainer.step == step)
    capsys.readouterr()
    assert main(folder_args(pictures, out)) == 143 and sent, capsys.readouterr().err
    assert load_checkpoint(out / "checkpoints" / "last.pt")["position"]["batches"] == step - 27 * (step > 27)
    resumed_equals(out, in_process_reference, monkeypatch)


def test_a_sigterm_reaching_a_worker_as_it_starts_leaves_the_run_going(
    pictures, in_process_reference, tmp_path, monkeypatch
):
    """The process group's SIGTERM can reach a worker before its `worker_init_fn` ignores it, where torch's
    own handler ends the worker: before, the run then failed ("DataLoader worker ... killed by signal")."""
    ignore = workers.ignore_stop_signals

    def signalled_first(worker_id: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # in the worker, before it ignores SIGTERM
        ignore(worker_id)

    monkeypatch.setattr(workers, "ignore_stop_signals", signalled_first)
    out = tmp_path / "run"
    assert main(folder_args(pictures, out)) == 0
    assert_same_run(in_process_reference, out)


class Jittered(TensorDataset):
    """Pairs whose inputs a user's augmentation jitters from torch's, NumPy's and Python's global streams."""

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().__getitem__(i)
        return x + 0.1 * torch.randn(8) + float(np.random.rand() + random.random()) / 10, y


def fit_jittered(out: Path, workers: int) -> torchlab.Run:
    x = torch.randn(240, 8, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))
    return torchlab.fit(model, Jittered(x, y), out=out, data__workers=workers, data__batch_size=8,
                        train__epochs=3, log__loggers=[], log__progress=False)  # fmt: skip


def test_a_fit_on_datasets_with_workers_stopped_mid_epoch_continues_bit_identically(tmp_path, monkeypatch):
    """`torchlab.fit` on a Dataset that augments from the global random streams, read by 2 workers,
    stopped near an epoch's end and fitted again into the same folder (which continues it), ends as a
    fit never stopped. Before, its workers' seed was drawn from the shuffling generator when they
    started, and then the workers' streams were not saved: a resumed epoch drew other augmentation."""
    reference = fit_jittered(tmp_path / "reference", 2)
    signal_when(monkeypatch, Trainer, "check", signal.SIGINT, lambda trainer, loss, batch: trainer.step == 51)
    stopped = fit_jittered(tmp_path / "run", 2)  # 27 steps an epoch: stopped 3 steps before the end of epoch 2
    assert stopped.summary["status"] == "interrupted"
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["position"]["batches"] == 24
    monkeypatch.undo()
    assert fit_jittered(tmp_path / "run", 2).summary["status"] == "completed"
    assert_same_run(reference.run_dir, tmp_path / "run")


STUCK_FIT = """
import os, sys, time
from pathlib import Path
import torch, torchlab

class Stuck(torch.utils.data.Dataset):
    \"\"\"Reads hang (a dead network drive) once the first epoch is checkpointed, when STUCK=1.\"\"\"
    def __init__(self, out):
        self.x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
        self.y, self.last = (self.x[:, 0] > 0).long(), Path(out) / "checkpoints" / "last.pt"
    def __len__(self):
        return 64
    def __getitem__(self, i):
        if os.environ["STUCK"] == "1" and self.last.exists():
            time.sleep(600)
        return self.x[i], self.y[i]

out, workers = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
run = torchlab.fit(model, Stuck(out), out=out, data__workers=workers, data__batch_size=8, train__epochs=3,
                   log__loggers=[], log__progress=False)
print(run.summary["status"])
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_second_ctrl_c_ends_a_run_stuck_in_a_datasets_read_at_once_and_it_resumes(workers, tmp_path):
    """A Dataset whose reads hang: the first Ctrl-C waits for the step, the second ends the run at once
    and names what last.pt holds. Before, with workers, the second printed "stopped by SIGINT" and the
    process stayed until the read returned: torch's shutdown sent SIGTERM, which our workers ignore."""
    script, out = tmp_path / "stuck_fit.py", tmp_path / "run"
    script.write_text(STUCK_FIT)
    env = cli_env(**ONE_THREAD, STUCK="1")
    command = [sys.executable, str(script), str(out), str(workers)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (out / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.5)  # in epoch 2's first read
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None  # the first: at the next step, which waits for the read
    proc.send_signal(signal.SIGINT)
    printed, err = proc.communicate(timeout=60)  # before: when the read returned, 600 s
    assert printed.split()[-1] == "interrupted"
    said = "torchlab: stopped by SIGINT a second time, during training; checkpoints/last.pt holds step 8 (epoch 1): "
    assert err.strip().splitlines()[-1].startswith(said)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 1
    done = subprocess.run(command, env={**env, "STUCK": "0"}, capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-1] == "completed", done.stderr
    assert summary(out)["epochs"] == 3


def test_a_datasets_own_augmentation_is_the_same_with_0_1_or_2_workers(tmp_path):
    """The workers drew a Dataset's augmentation from their own streams, and validation drew it from
    the training process's, between dropout's draws: 0, 1 and 2 workers trained three other models."""
    runs = [fit_jittered(tmp_path / str(n), n) for n in (0, 1, 2)]
    weights = [load_checkpoint(run.run_dir / "checkpoints" / "last.pt")["model"] for run in runs]
    for other, run in zip(weights[1:], runs[1:], strict=True):
        assert all(torch.equal(weights[0][k], other[k]) for k in other)
        assert (run.summary["val"], run.summary["test"]) == (runs[0].summary["val"], runs[0].summary["test"])


# -- case 7: a signal in any phase -------------------------------------------------------------
PHASE_RUN = [*FOLDER, "data.workers=0", "train.epochs=2"]  # in process: 2 epochs, no worker processes


@pytest.fixture(scope="module")
def phase_reference(pictures, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phases") / "run"
    assert main(["train", "folder-resnet18", "--out", str(out), *PHASE_RUN, f"data.folder={pictures}"]) == 0
    return out


@pytest.fixture
def no_default_sigterm():
    """SIGTERM's default would end the test process: a signal that reaches it fails the test instead."""

    def reached(signum, frame):
        raise AssertionError("SIGTERM reached the handler outside torchlab: a real process would die silently")

    previous = signal.signal(signal.SIGTERM, reached)
    yield
    signal.signal(signal.SIGTERM, previous)


def signal_when(monkeypatch, owner, name: str, signum: int, when=lambda *args, **kwargs: True) -> list[int]:
    """Send this process `signum` as `owner.name` is called (when `when(*args)` holds); returns the calls seen."""
    original, sent = getattr(owner, name), []

    def wrapper(*args, **kwargs):
        if not sent and when(*args, **kwargs):
            sent.append(signum)
            os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return sent


def train_stopped(pictures: Path, out: Path, capsys, signum: int) -> str:
    """Train the phase run into `out`; it must stop on `signum` with one line: returns that line."""
    capsys.readouterr()
    code = main(["train", "folder-resnet18", "--out", str(out), *PHASE_RUN, f"data.folder={pictures}"])
    err = one_line(capsys.readouterr().err)
    assert code == 128 + signum, err
    assert err.startswith(f"torchlab: stopped by {signal.Signals(signum).name}")
    return err


def resumed_equals(out: Path, reference: Path, monkeypatch) -> None:
    monkeypatch.undo()
    assert main(["resume", str(out)]) == 0
    assert_same_run(reference, out)
    assert (out / "report.html").is_file()


SIGNALS = pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


@SIGNALS
@pytest.mark.usefixtures("no_default_sigterm")
def test_a_signal_during_the_last_validation_stops_after_its_checkpoint(
    signum, pictures, phase_reference, tmp_path, capsys, monkeypatch
):
    """Before: ignored (the run tested, drew and exited 0, "completed")."""
    out = tmp_path / "run"
    sent = signal_when(monkeypatch, Trainer, "validate", signum, lambda trainer: trainer.epoch == 1)  # the last
    err = train_stopped(pictures, out, capsys, signum)
    assert sent and f"`torchlab resume {out}` continues exactly" in err
    assert summary(out)["status"] == "interrupted" and not (out / "report.html").exists()
    assert load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 2  # trained: resume only tests
    resumed_equals(out, phase_reference, monkeypatch)


@SIGNALS
@pytest.mark.usefixtures("no_default_sigterm")
def test_a_signal_during_the_final_test_stops_at_once_and_resume_tests(
    signum, pictures, phase_reference, tmp_path, capsys, monkeypatch
):
    """Before: SIGTERM ended the process with no line and no summary."""
    out = tmp_path / "run"
    sent = signal_when(monkeypatch, Trainer, "test_best", signum)
    err = train_stopped(pictures, out, capsys, signum)
    assert sent and f"during the final test; checkpoints/last.pt holds the trained run: `torchlab resume {out}`" in err
    assert summary(out)["status"] == "interrupted" and summary(out)["resume"] == f"torchlab resume {out}"
    resumed_equals(out, phase_reference, monkeypatch)


@pytest.mark.usefixtures("no_default_sigterm")
def test_sigterm_at_start_up_ends_with_one_line(pictures, phase_reference, tmp_path, capsys, monkeypatch):
    """Loading the data (nothing written yet), then after config.yaml before the first step (a summary)."""
    out = tmp_path / "run"
    signal_when(monkeypatch, api, "build_trainer", signal.SIGTERM)
    assert train_stopped(pictures, out, capsys, signal.SIGTERM) == "torchlab: stopped by SIGTERM"
    assert not (out / "config.yaml").exists()

    monkeypatch.undo()
    signal_when(monkeypatch, trainer_module, "build_loggers", signal.SIGTERM)
    err = train_stopped(pictures, out, capsys, signal.SIGTERM)
    assert err == f"torchlab: stopped by SIGTERM before training began; `torchlab resume {out}` starts it"
    assert summary(out)["status"] == "interrupted" and summary(out)["epochs"] == 0
    resumed_equals(out, phase_reference, monkeypatch)


@SIGNALS
@pytest.mark.usefixtures("no_default_sigterm")
def test_a_run_stopped_while_drawing_its_figures_draws_them_with_torchlab_report(
    signum, pictures, phase_reference, tmp_path, capsys, monkeypatch
):
    """Before: SIGTERM left report.html missing for good (resume: "already trained")."""
    out = tmp_path / "run"
    signal_when(monkeypatch, api, "draw_figures", signum)
    err = train_stopped(pictures, out, capsys, signum)
    assert err.endswith(f"while drawing the figures; the run is complete: `torchlab report {out}` draws them")
    assert summary(out)["status"] == "completed" and not (out / "report.html").exists()
    monkeypatch.undo()
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}, (out / "summary.json").read_bytes()

    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    assert (out / "report.html").is_file()
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(
        p.name for p in (phase_reference / "plots").iterdir()
    )
    after = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}, (out / "summary.json").read_bytes()
    assert after == before  # drawn from best.pt; nothing else changed
    page = (out / "report.html").stat().st_mtime_ns
    assert main(["report", str(out)]) == 0 and (out / "report.html").stat().st_mtime_ns == page  # there: kept


def test_report_of_one_unfinished_run_exits_2(pictures, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    signal_when(monkeypatch, Trainer, "test_best", signal.SIGINT)
    train_stopped(pictures, out, capsys, signal.SIGINT)
    assert main(["report", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"torchlab: error: {out} has not finished (interrupted): "
        f"`torchlab resume {out}` finishes it and draws its report"
    )
