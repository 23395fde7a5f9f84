"""Nothing outside a run directory is ever written, truncated or deleted (issue 24, cases 1, 2 and 4):
the lock file is opened without following links, stale temporary files are removed only when they
are torchlab's own, `train --out` writes only into a new or empty folder, the default run directory
is made atomically, and nothing is written through a link planted in a run."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import torchlab
from tests.conftest import TINY, cli_env, copy_of, tiny_run
from torchlab import api
from torchlab.cli import main
from torchlab.core.errors import DivergedError, TorchlabError
from torchlab.core.files import atomic_write, run_lock


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def tree_digest(folder: Path) -> str:
    """Every path, link target and file content under `folder` (links not followed)."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_symlink():
            h.update(b"->" + os.readlink(path).encode())
        elif path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root) -> Path:
    return tiny_run(tmp_path_factory, epochs=1)


@pytest.fixture
def run(trained, tmp_path) -> Path:
    return copy_of(trained, tmp_path)


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside every run, which no command may change."""
    path = tmp_path / "outside" / "precious.txt"
    path.parent.mkdir()
    path.write_text("precious data\n")
    return path


@pytest.mark.slow  # trains the run it damages (once per module)
# -- the lock file ------------------------------------------------------------------------------
def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(run, victim, capsys):
    (run / ".lock").unlink()
    (run / ".lock").symlink_to(victim)
    assert main(["resume", str(run), "--epochs", "2"]) == 2
    assert "is a symbolic link" in one_line_error(capsys)
    assert victim.read_text() == "precious data\n"


@pytest.mark.slow  # trains the run it damages (once per module)
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_lock_that_is_a_directory_or_a_fifo_exits_2(kind, run, capsys):
    (run / ".lock").unlink()
    if kind == "directory":
        (run / ".lock").mkdir()
    else:
        os.mkfifo(run / ".lock")
    assert main(["resume", str(run), "--epochs", "2"]) == 2
    assert ".lock" in one_line_error(capsys)


def test_the_lock_file_follows_no_link_even_to_a_missing_file(tmp_path, victim):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(tmp_path / "outside" / "created-through-link")
    with pytest.raises(TorchlabError, match="symbolic link"), run_lock(run):
        pass
    assert not (tmp_path / "outside" / "created-through-link").exists()


# -- stale temporary files ----------------------------------------------------------------------
def test_only_torchlabs_own_stale_temporaries_are_removed(tmp_path, victim):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "notes").mkdir()
    own = [
        run / ".config.yaml.ab12cd34.tmp",
        run / ".summary.json.k9_x2m1q.tmp",
        run / "checkpoints/.last.pt.0a1b2c3d.tmp",
    ]
    foreign = [
        run / ".draft.tmp",  # a user's, not of a name torchlab writes
        run / ".notes.txt.ab12cd34.tmp",
        run / "notes" / ".config.yaml.ab12cd34.tmp",  # not in a folder torchlab writes
        run / "checkpoints" / ".mine.pt.ab12cd34.tmp",
    ]
    for path in own + foreign:
        path.write_text("x")
    link = run / ".split.json.ffffffff.tmp"  # torchlab's name, but a link: neither it nor its target goes
    link.symlink_to(victim)
    with run_lock(run):
        pass
    assert not any(p.exists() for p in own)
    assert all(p.exists() for p in foreign)
    assert link.is_symlink() and victim.read_text() == "precious data\n"


def test_a_symlinked_folder_in_a_run_is_refused_and_nothing_behind_it_deleted(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".last.pt.ab12cd34.tmp").write_text("someone else's")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").symlink_to(outside, target_is_directory=True)
    with pytest.raises(TorchlabError, match="symbolic link"), run_lock(run):
        pass
    assert (outside / ".last.pt.ab12cd34.tmp").read_text() == "someone else's"


# -- links planted in a run ---------------------------------------------------------------------
@pytest.mark.slow  # trains the run it damages (once per module)
@pytest.mark.parametrize(
    "planted", ["metrics.jsonl", "summary.json", "checkpoints/best.pt", "plots/learning_curves.png"]
)
def test_a_file_planted_as_a_link_in_a_run_is_never_written_through(planted, run, victim, capsys):
    (run / planted).unlink()
    (run / planted).symlink_to(victim)
    assert main(["resume", str(run), "--epochs", "2"]) == 2
    assert "symbolic link" in one_line_error(capsys)
    assert victim.read_text() == "precious data\n"


@pytest.mark.slow  # trains the run it damages (once per module)
@pytest.mark.parametrize("folder", ["checkpoints", "plots"])
def test_a_folder_planted_as_a_link_in_a_run_is_never_written_through(folder, run, tmp_path, capsys):
    outside = tmp_path / "outside-folder"
    shutil.move(run / folder, outside)
    (run / folder).symlink_to(outside, target_is_directory=True)
    before = tree_digest(outside)
    assert main(["resume", str(run), "--epochs", "2"]) == 2
    assert "symbolic link" in one_line_error(capsys)
    assert tree_digest(outside) == before


# -- train --out --------------------------------------------------------------------------------
def test_train_refuses_a_folder_that_is_not_a_torchlab_run(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("summary.json", "report.html", "metrics.jsonl"):
        (folder / name).write_text("mine\n")
    (folder / "plots").mkdir()
    before = tree_digest(folder)
    assert main(["train", "mnist-mlp", "--out", str(folder), *TINY]) == 2
    assert "not a torchlab run" in one_line_error(capsys)
    assert tree_digest(folder) == before and not (folder / ".lock").exists()


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("", "--out is empty: name a file or folder, or leave it out for its default"),
        (".", "--out is empty or the current"),
    ],
)
def test_train_refuses_an_empty_out_or_the_current_folder(out, said, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "mnist-mlp", "--out", out, *TINY]) == 2
    assert said in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_train_into_an_empty_folder_or_one_torchlab_left_before_its_config_is_allowed(tmp_path, capsys):
    empty, left = tmp_path / "empty", tmp_path / "left"
    empty.mkdir()
    left.mkdir()
    (left / ".lock").write_text("123\n")
    (left / ".config.yaml.ab12cd34.tmp").write_text("half")
    for out in (empty, left):
        # an empty data root: the run gets past the --out check and stops at the data
        assert main(["train", "mnist-mlp", "--out", str(out), "--data-dir", str(tmp_path / "nodata")]) == 2
        assert "dataset not found" in one_line_error(capsys)


def bad_outs(tmp_path: Path) -> dict[str, tuple[str, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me\n")
    return {
        "an existing file": (str(a_file), "is not a directory"),
        "under a file": (str(a_file / "run"), "which is not a directory"),
        "a name over NAME_MAX": (str(tmp_path / ("x" * 300)), "longer than 255 bytes"),
        "a path over PATH_MAX": (str(tmp_path / "/".join(["y" * 200] * 25)), "the path is too long"),
        "not UTF-8": (os.fsdecode(bytes(tmp_path) + b"/run-\xff"), "not valid UTF-8"),
    }


@pytest.mark.parametrize(
    "case", ["an existing file", "under a file", "a name over NAME_MAX", "a path over PATH_MAX", "not UTF-8"]
)
def test_train_refuses_an_out_that_cannot_be_a_run_directory_before_loading_data(case, tmp_path, capsys):
    out, message = bad_outs(tmp_path)[case]
    before = tree_digest(tmp_path)
    assert main(["train", "mnist-mlp", "--out", out, "--data-dir", str(tmp_path / "nodata")]) == 2
    assert message in one_line_error(capsys)
    assert tree_digest(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_train_refuses_an_out_in_a_folder_it_may_not_write(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert main(["train", "mnist-mlp", "--out", str(locked / "run"), "--data-dir", str(tmp_path)]) == 2
    assert "not writable" in one_line_error(capsys)


# -- the default run directory ------------------------------------------------------------------
def test_default_run_dirs_made_at_once_are_all_distinct(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20260101-000000")  # all in the same second
    start, made = threading.Barrier(8), []

    def make() -> None:
        start.wait()
        made.append(api.default_run_dir("mnist-mlp", create=True))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and all(d.is_dir() for d in made)
    assert sorted(p.name for p in (tmp_path / "runs" / "mnist-mlp").iterdir()) == sorted(d.name for d in made)


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


REFUSED = {  # (the command line, the error it says)
    "missing data": (["train", "mnist-mlp", "--data-dir", "nodata"], "dataset not found"),
    "unknown key": (["train", "mnist-mlp", "optim.lrr=0.1"], "unknown config key"),
    "bad value": (["train", "mnist-mlp", "optim.lr=abc"], "expected a number"),
    "unknown recipe": (["train", "no-such-recipe"], "unknown recipe"),
    "--out and its parents": (["train", "mnist-mlp", "--data-dir", "nodata", "--out", "a/b/run"], "dataset not found"),
    "cv": (["cv", "mnist-mlp", "--folds", "2", "--data-dir", "nodata"], "dataset not found"),
    "cv --out": (["cv", "mnist-mlp", "--folds", "2", "--data-dir", "nodata", "--out", "a/cv"], "dataset not found"),
}


@pytest.mark.parametrize("runs_there", [False, True], ids=["no runs/", "runs/ there"])
@pytest.mark.parametrize("refused", REFUSED)
def test_a_refused_command_leaves_the_working_directory_as_it_was(refused, runs_there, tmp_path, monkeypatch, capsys):
    """Nothing made for the run stays: neither its run directory nor the folders above it that it made;
    those that were there (runs/, runs/RECIPE) stay, empty."""
    monkeypatch.chdir(tmp_path)
    if runs_there:
        (tmp_path / "runs" / "mnist-mlp").mkdir(parents=True)
        (tmp_path / "a").mkdir()
    before = listing(tmp_path)
    argv, said = REFUSED[refused]
    assert main(argv) == 2
    assert said in one_line_error(capsys)
    assert listing(tmp_path) == before


def test_a_failed_atomic_write_removes_the_folders_it_made_only(tmp_path):
    """An export whose writing fails (here: the ONNX converter) leaves neither its file nor its new folders."""
    (tmp_path / "kept").mkdir()

    def fails(f) -> None:
        f.write(b"half")
        raise ValueError("the converter failed")

    with pytest.raises(ValueError):
        atomic_write(tmp_path / "kept" / "new" / "deeper" / "model.onnx", fails)
    assert listing(tmp_path) == ["kept"]


@pytest.mark.parametrize("out", [None, "a/b/fit", "mine"], ids=["default", "out=", "out= an empty folder"])
def test_a_fit_refused_at_its_first_batch_leaves_no_folder(out, tmp_path, monkeypatch):
    """Before: into an empty folder of the user's, the refused fit saved its data.safetensors there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    x, y = torch.zeros(8, 4), torch.arange(8) % 3
    with pytest.raises(TorchlabError, match="cannot take a batch"):
        torchlab.fit(torch.nn.Linear(5, 3), (x, y), out=out, train__epochs=1, log__loggers=[], log__quiet=True)
    assert listing(tmp_path) == ["mine"]


def test_a_run_stopped_by_a_diverged_loss_keeps_its_run_directory(tmp_path, monkeypatch):
    """A failure once training started is no refusal: the run directory and what it wrote stay."""
    monkeypatch.chdir(tmp_path)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    with pytest.raises(DivergedError, match=r"no epoch had finished \(try a lower optim.lr\)$"):
        torchlab.fit(
            torch.nn.Linear(4, 1), (x, y * 1e30), task="regress", train__epochs=1, optim__lr=1e30, log__quiet=True
        )
    (run,) = (tmp_path / "runs").glob("*/*")
    assert (run / "config.yaml").is_file() and (run / "summary.json").is_file()


def test_a_loss_made_nan_by_the_data_names_the_data_not_the_learning_rate(tmp_path, monkeypatch):
    """Before: inputs holding a NaN said 'try a lower optim.lr', which no learning rate mends."""
    monkeypatch.chdir(tmp_path)
    x, y = torch.randn(64, 4), torch.arange(64) % 3
    x[5, 2] = float("nan")
    said = r"loss became nan at epoch 1, step 1; .*\(this batch's inputs hold NaN or inf: mend the data, as no optim"
    with pytest.raises(DivergedError, match=said):
        torchlab.fit(torch.nn.Linear(4, 3), (x, y), train__epochs=1, data__batch_size=64, log__quiet=True)


@pytest.mark.slow
def test_three_runs_started_together_with_the_default_directory_all_train(tmp_path, mnist_root):
    argv = [sys.executable, "-m", "torchlab", "train", "mnist-mlp", *TINY]
    procs = [
        subprocess.Popen(argv, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0, 0, 0], results
    runs = list((tmp_path / "runs" / "mnist-mlp").iterdir())
    assert len(runs) == 3 and all((r / "summary.json").is_file() for r in runs)


# -- file modes follow the umask ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_files_and_folders_of_a_run_follow_the_umask(umask, file_mode, dir_mode, tmp_path, mnist_root):
    old = os.umask(umask)
    try:
        run = tmp_path / "run"
        assert main(["train", "mnist-mlp", "--out", str(run), *TINY]) == 0
        assert main(["export", str(run), "--format", "safetensors"]) == 0
    finally:
        os.umask(old)
    modes = {str(p.relative_to(run)): p.stat().st_mode & 0o777 for p in [run, *run.rglob("*")]}
    expected = {name: dir_mode if (run / name).is_dir() else file_mode for name in modes}
    for name in ("config.yaml", "summary.json", "report.html", "checkpoints/best.pt", "export/model.safetensors"):
        assert name in modes
    assert {k: oct(v) for k, v in modes.items()} == {k: oct(v) for k, v in expected.items()}


@pytest.mark.parametrize("inside", ["sub", "plots/more", "checkpoints/new"])
def test_a_new_run_or_cv_inside_a_run_is_refused_and_the_run_left_as_it_was(run, inside, capsys):
    """Before: `train --out RUN/sub` (and torchlab.train, cv) trained into the run's own folder."""
    before = tree_digest(run)
    for command in (["train", "mnist-mlp"], ["cv", "mnist-mlp", "--folds", "2"]):
        assert main([*command, "--out", str(run / inside), *TINY]) == 2
        assert f"{run / inside} lies inside the run {run}, whose files are its own" in one_line_error(capsys)
    with pytest.raises(TorchlabError, match="lies inside the run"):
        torchlab.train("mnist-mlp", out=run / inside, data__subset=100)
    assert tree_digest(run) == before


# -- a refused command that reads a run leaves it as it found it --------------------------------------------
def unfinished(run: Path) -> None:
    """The run as a kill in its second epoch left it, had its first epoch found no best model."""
    (run / "checkpoints" / "best.pt").unlink()
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))


def corrupt(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(b"not what torchlab wrote")


def without_report(damage: Callable[[Path], None]) -> Callable[[Path], None]:
    def damaged(run: Path) -> None:
        (run / "report.html").unlink()
        damage(run)

    return damaged


READ_REFUSALS = {  # (how the run is damaged, the command line, the error it says)
    "resume, nothing left": (lambda run: None, ["resume", "RUN"], "nothing is left to resume"),
    "resume, nothing left, no split.json": (  # before: it wrote split.json, then refused
        lambda run: (run / "split.json").unlink(),
        ["resume", "RUN"],
        "nothing is left to resume",
    ),
    "resume, corrupt last.pt": (corrupt("checkpoints/last.pt"), ["resume", "RUN"], "corrupt or truncated"),
    "resume, damaged split.json": (corrupt("split.json"), ["resume", "RUN", "--epochs", "2"], "split.json is damaged"),
    "resume, unknown key": (corrupt("config.yaml"), ["resume", "RUN"], "must hold a mapping"),
    "eval, unfinished": (unfinished, ["eval", "RUN"], "has not finished"),
    "report, unfinished": (without_report(unfinished), ["report", "RUN"], "has not finished"),
    "report, corrupt best.pt": (without_report(corrupt("checkpoints/best.pt")), ["report", "RUN"], "corrupt"),
    "export, unfinished": (unfinished, ["export", "RUN", "--format", "safetensors"], "has not finished"),
    "export --out, corrupt best.pt": (
        corrupt("checkpoints/best.pt"),
        ["export", "RUN", "--format", "safetensors", "--out", "new/folder/model.safetensors"],
        "corrupt or truncated",
    ),
    "predict, unfinished": (unfinished, ["predict", "RUN", "digit.png"], "has not finished"),
}


@pytest.mark.slow  # trains the run it damages (once per module)
@pytest.mark.parametrize("lock", ["its .lock there", "no .lock"])
@pytest.mark.parametrize("refused", READ_REFUSALS)
def test_a_refused_command_on_a_run_leaves_it_as_it_found_it(refused, lock, run, tmp_path, monkeypatch, capsys):
    """Before: a refusal under the run's lock (resume, report drawing again) or after probing it (a run
    not finished) left a .lock in a run that had none (copied without its dotfiles, say)."""
    damage, argv, said = READ_REFUSALS[refused]
    damage(run)
    if lock == "no .lock":
        (run / ".lock").unlink()
    monkeypatch.chdir(tmp_path)
    before = tree_digest(tmp_path)
    assert main([str(run) if word == "RUN" else word for word in argv]) == 2
    assert said in one_line_error(capsys)
    assert tree_digest(tmp_path) == before


@pytest.mark.slow  # trains the run it damages (once per module)
def test_a_refused_resume_from_python_leaves_the_run_as_it_found_it(run):
    (run / ".lock").unlink()
    before = tree_digest(run)
    with pytest.raises(TorchlabError, match="nothing is left to resume"):
        torchlab.resume(run)
    assert tree_digest(run) == before


@pytest.mark.slow  # trains the run it reads (once per module)
def test_a_command_probing_a_busy_unfinished_run_names_its_holder_and_changes_nothing(run, capsys):
    unfinished(run)
    with run_lock(run):  # as a `torchlab resume` training it holds it
        before = tree_digest(run)
        assert main(["eval", str(run)]) == 2
        assert f"another torchlab process (pid {os.getpid()}) is using {run}" in one_line_error(capsys)
        assert tree_digest(run) == before


@pytest.mark.parametrize("there", [True, False], ids=["a .lock there", "no .lock"])
def test_a_block_refused_under_the_lock_leaves_it_as_found(there, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    if there:
        (run / ".lock").write_text("4242\n")
        os.utime(run / ".lock", ns=(10**18, 10**18))
    before, times = tree_digest(tmp_path), [path.stat().st_mtime_ns for path in run.iterdir()]
    with pytest.raises(TorchlabError, match="refused"), run_lock(run):
        raise TorchlabError("refused")
    assert tree_digest(tmp_path) == before
    assert [path.stat().st_mtime_ns for path in run.iterdir()] == times


def test_the_lock_of_a_run_that_is_not_there_creates_no_folder(tmp_path):
    """Only a new run's lock makes its directory (`run_lock(new_run=True)`): a run that was read and is gone
    meanwhile is refused, not made again."""
    with pytest.raises(TorchlabError, match="No such file or directory"), run_lock(tmp_path / "gone" / "run"):
        pass
    assert listing(tmp_path) == []
