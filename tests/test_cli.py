"""The command line: listing, help, and exit status 2 with one clear line for bad input."""

import functools
import io
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import torchlab
from tests.conftest import cli_env, copy_of, run_cli, tiny_run
from torchlab.cli import main
from torchlab.core.errors import TorchlabError


def test_list_names_every_recipe_with_its_task(capsys):
    from torchlab.recipes import load_recipe, recipe_names

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mnist-mlp " in out and "mnist-mlp-scratch" in out and "LeakyReLU" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line and not line.startswith("the ")}
    assert rows == {name: load_recipe(name).task.name for name in recipe_names()}  # the task each trains
    assert {rows["mnist-vae"], rows["sine-rnn"], rows["mnist-dcgan"]} == {"reconstruct", "forecast", "adversarial"}


@pytest.mark.parametrize("command", [[], ["train"], ["eval"], ["resume"], ["list"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert "usage: torchlab" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ([], "A command's options go after it"),
        *((name, "a run directory, as train printed it") for name in (["resume"], ["eval"], ["export"], ["predict"])),
    ],
)
def test_the_help_says_where_options_go_and_what_a_run_directory_is(command, says, capsys):
    """Before: the help named `run_dir` with no word of what it is, nor where a command's options go."""
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert says in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no-such-recipe"], "unknown recipe 'no-such-recipe'"),
        (["train", "mnist-mlp", "optim.lr=abc"], "optim.lr: expected a number, got 'abc'"),
        (["train", "mnist-mlp", "optim.lrr=0.1"], "did you mean 'optim.lr'?"),
        (["train", "mnist-mlp", "--epochs", "x"], "invalid int value"),
        (["frobnicate"], "invalid choice: 'frobnicate' (choose from list, show, train"),
        (["trian", "mnist-mlp"], "invalid choice: 'trian' (did you mean 'train'?)"),
        (["train", "mnist-mlp", "--epohcs", "1"], "unrecognized arguments: --epohcs 1 (did you mean '--epochs'?)"),
        (["report", "--ouput=x", "runs/x"], "error: report: unrecognized arguments: --ouput=x (did you mean '--out'?)"),
        (["eval", "/nonexistent/run"], "not a torchlab run directory"),
        # caught before the first epoch, not after it, for every family
        (["train", "mnist-mlp", "train.monitor=val.acc"], "not a validation metric (did you mean 'val.accuracy'?)"),
        (["train", "sine-lstm", "train.monitor=val.accuracy"], "'val.accuracy' is not a validation metric"),
        (["train", "mnist-mlp", "data.val_split=0"], "train.monitor 'val.accuracy' needs a validation set"),
        (["train", "mnist-mlp", "-q", "log.quiet=abc"], "log.quiet is set twice, by --quiet and by log.quiet=abc"),
        # cv trained 3 folds, and said "data.fold: expected 0 while K-fold is off (set data.folds=K too)"
        (["cv", "mnist-mlp", "--folds", "3", "data.folds=4"], "data.folds=4: cv sets data.folds (--folds K) and"),
        (
            ["cv", "mnist-mlp", "data.fold=1"],
            "data.fold=1: cv sets data.folds (--folds K) and data.fold (each in turn)",
        ),
        # these two said "unrecognized arguments: optim.lr 0.1", or nothing of the value '=0.1'
        (["train", "mnist-mlp", "-q", "optim.lr", "=", "0.1"], "an override is one word, without spaces: optim.lr=0.1"),
        (["show", "mnist-mlp", "optim.lr", "=0.1"], "an override is one word, without spaces: optim.lr=0.1"),
        (
            ["show", "mnist-mlp", "log.loggers=[tensorbord]"],
            "unknown logger 'tensorbord' (did you mean 'tensorboard'?)",
        ),
        (
            ["train", "mnist-mlp", "model.hidden=200"],
            "model.hidden: expected a list of integers, got 200",
        ),  # "of an integer"
        (["train", "sine-lstm", "task.context=60"], "task.context=60 must be within 1..59 (the test sequence)"),
        (
            ["train", "sine-lstm", "model.hidden_size=99999999"],
            "needs 149,011,613.8 GiB for its weights alone, more than the",
        ),  # before: torch's "out of memory (149,011,609.0 GiB asked for at once)", once built
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "run")] if args[0] in ("train", "cv") else args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing written for a bad command


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--epochs", "3", "train", "mnist-mlp"],
            "--epochs 3: options go after the command: torchlab train mnist-mlp --epochs 3",
        ),
        (
            ["-q", "train", "mnist-mlp", "optim.lr=0.1"],
            "-q: options go after the command: torchlab train mnist-mlp optim.lr=0.1 -q",
        ),
        (
            ["--out", "train", "cv", "mnist-mlp"],
            "--out train: options go after the command: torchlab cv mnist-mlp --out train",
        ),
        (
            ["train", "optim.lr=0.1", "mnist-mlp", "-q"],
            "the recipe comes before its overrides: torchlab train mnist-mlp optim.lr=0.1",
        ),
        (["show", "a=1", "mnist-mlp", "b=2"], "the recipe comes before its overrides: torchlab show mnist-mlp a=1 b=2"),
        (
            ["mnist-mlp", "--epochs", "3"],
            "argument command: invalid choice: 'mnist-mlp' (to train that recipe: torchlab train mnist-mlp)",
        ),
    ],
)
def test_a_commands_options_before_it_name_the_line_that_works(args, line, capsys):
    """Before: `torchlab --epochs 3 train mnist-mlp` said "invalid choice: '3'", `torchlab -q train
    mnist-mlp` "unrecognized arguments: -q (did you mean '-q'?)", `torchlab train optim.lr=0.1 mnist-mlp`
    "unknown recipe 'optim.lr=0.1'", and `torchlab mnist-mlp` listed the commands."""
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == f"torchlab: error: {line}"


@pytest.mark.slow
def test_missing_dataset_names_the_folder_and_files(tmp_path):
    """A real process, as a user runs it: exit 2, one line, no traceback, nothing written."""
    result = run_cli("train", "mnist-mlp", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert str(tmp_path / "empty" / "MNIST" / "raw") in line
    assert "train-images-idx3-ubyte" in line and "t10k-labels-idx1-ubyte" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_debug_shows_the_traceback_and_keeps_the_exit_status():
    result = run_cli("--debug", "train", "no-such-recipe")
    assert result.returncode == 2 and "Traceback" in result.stderr and "TorchlabError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("torchlab: error: unknown recipe 'no-such-recipe'")


@pytest.mark.parametrize("argv", [["report", "\x00"], ["eval", "runs/\x00x"], ["train", "mnist-mlp", "--out", "a\x00"]])
def test_a_nul_byte_in_an_argument_exits_2(argv, capsys):
    # found by tests/test_fuzz.py: `report "\0"` reached Path.resolve() and raised ValueError
    assert main(argv) == 2
    assert "NUL byte" in capsys.readouterr().err


@pytest.mark.slow
def test_a_reader_that_leaves_early_gets_no_traceback():
    # `torchlab list | head -1`: head exits before torchlab writes, so the write meets a closed pipe
    env = cli_env()
    with subprocess.Popen(
        [sys.executable, "-m", "torchlab", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as child:
        child.stdout.close()
        err = child.stderr.read().decode()
    assert child.returncode == 128 + signal.SIGPIPE and err == ""


@pytest.mark.slow
def test_the_command_runs_exit_handlers_before_its_fast_exit(tmp_path):
    # `run` ends with os._exit (no interpreter teardown); exit handlers must still run
    hook = tmp_path / "sitecustomize.py"
    hook.write_text(f"import atexit, pathlib\natexit.register(pathlib.Path({str(tmp_path / 'ran')!r}).touch)\n")
    env = cli_env(tmp_path)
    done = subprocess.run([sys.executable, "-m", "torchlab", "train", "nope"], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "unknown recipe" in done.stderr
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize("command", ["train", "cv", "show"])
def test_a_missing_recipe_is_the_only_required_argument(command, capsys):
    assert main([command]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("the following arguments are required: recipe") and "KEY=VALUE" not in err


def test_a_failed_download_is_one_clean_line(tmp_path, monkeypatch, capsys):
    """torchvision's download error spans lines; the message keeps its first, and names folder and files."""
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://x/, got:\n<urlopen error>\n")

    monkeypatch.setenv("TORCHLAB_OFFLINE", "0")
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    assert main(["train", "mnist-mlp", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "\\n" not in err and "urlopen" not in err
    assert f"dataset not found in {tmp_path / 'empty' / 'MNIST' / 'raw'}" in err
    assert "train-images-idx3-ubyte, train-labels-idx1-ubyte" in err
    assert "(download failed: Error downloading train-images-idx3-ubyte.gz)" in err
    assert not (tmp_path / "run").exists()


def test_a_data_root_that_is_a_file_or_under_one_is_named_by_every_command_and_dataset(
    tiny, tmp_path, monkeypatch, capsys
):
    """Before: "dataset not found in FILE/MNIST/raw ... (download failed: Not a directory)" (or "File
    exists"), or "(downloads are off)"; show printed the layers and exited 0."""
    monkeypatch.setenv("TORCHLAB_OFFLINE", "0")  # downloads allowed: the root is refused before any is tried
    file = tmp_path / "a file"
    file.write_text("kept")
    out = ["--out", str(tmp_path / "run")]
    for root, where in ((file, "is a file"), (file / "data", f"is under {file}, which is a file")):
        said = f"torchlab: error: data root {root} {where}, not a folder: point --data-dir or TORCHLAB_DATA at a folder"
        for args in (
            ["train", "mnist-mlp", *out],
            ["train", "fashion-lenet5", *out],
            ["train", "sst2-lstm", *out],
            ["train", "cifar10-lenet5", *out],
            ["cv", "mnist-mlp", "--folds", "2", *out],
            ["eval", str(tiny)],
            ["resume", str(tiny), "--epochs", "2"],
        ):
            assert main([*args, "--data-dir", str(root)]) == 2
            assert capsys.readouterr().err.strip() == said, args
        monkeypatch.setenv("TORCHLAB_DATA", str(root))
        assert main(["show", "mnist-mlp"]) == 2
        assert capsys.readouterr().err.strip().endswith(said.removeprefix("torchlab: error: "))
        with pytest.raises(TorchlabError, match="not a folder"):
            torchlab.train("mnist-mlp", out=tmp_path / "run")
    assert file.read_text() == "kept" and not (tmp_path / "run").exists()


def test_a_file_in_place_of_a_datasets_folder_is_named(tmp_path, capsys):
    """Before: "dataset not found in ROOT/MNIST/raw: missing ... (downloads are off)" for a file ROOT/MNIST."""
    for recipe, folder in (("mnist-mlp", "MNIST"), ("sst2-lstm", "SST-2"), ("cifar10-lenet5", "cifar-10-batches-py")):
        (tmp_path / folder).write_text("")
        assert main(["train", recipe, "--data-dir", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
        said = f"torchlab: error: {tmp_path / folder} is a file, not a folder: the dataset's files go in"
        assert capsys.readouterr().err.startswith(said)


class Served:
    """A response of the fake network: `data` at the URL asked for."""

    def __init__(self, url: str, data: bytes) -> None:
        self.url, self.length, self.body = url, len(data), io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.body.read(size)

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def fake_network(behaviour: str):
    """urlopen's stand-in: no network, one that serves a wrong file (torchvision's checksum refuses it), or
    Ctrl-C pressed while the first file is asked for."""
    import urllib.error

    calls = []

    def urlopen(request, *args, **kwargs):
        calls.append(request)
        if behaviour == "no network":
            raise urllib.error.URLError("no network (a test)")
        if behaviour == "Ctrl-C" and len(calls) > 1:  # after torchvision's look for a redirect, its folders made
            raise KeyboardInterrupt
        return Served(request.full_url, b"not the file")

    return urlopen


@pytest.mark.parametrize(("behaviour", "status"), [("no network", 2), ("a wrong file", 2), ("Ctrl-C", 130)])
@pytest.mark.parametrize("recipe", ["mnist-mlp", "fashion-lenet5", "sst2-lstm", "cifar10-lenet5"])
def test_a_failed_download_leaves_the_data_root_as_it_was(recipe, behaviour, status, tmp_path, monkeypatch, capsys):
    """Before: a download that failed (torchvision's own, here against a fake network) left an empty
    MNIST/raw, the files it had written, and a new data root behind, which looked like data gone bad."""
    import urllib.request

    monkeypatch.setenv("TORCHLAB_OFFLINE", "0")
    monkeypatch.setattr(urllib.request, "urlopen", fake_network(behaviour))
    kept = tmp_path / "root"
    (kept / "mine").mkdir(parents=True)
    (kept / "MNIST").mkdir()  # a half-made folder of the user's: it stays, empty
    for root in (kept, tmp_path / "new" / "data"):
        assert main(["train", recipe, "--data-dir", str(root), "--out", str(tmp_path / "run")]) == status
        assert status == 130 or "download failed" in capsys.readouterr().err
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["root", "root/MNIST", "root/mine"]


@pytest.mark.parametrize("recipe", ["mnist-mlp", "sst2-lstm", "cifar10-lenet5"])
def test_a_failed_download_leaves_what_another_process_put_in_the_data_root_meanwhile(recipe, tmp_path, monkeypatch):
    """Before: every new entry of the root was removed, another download's archive or a user's notes
    written while this one ran too, and a root the download had made went with all it then held."""
    import urllib.error
    import urllib.request

    def no_network_while_another_writes(request, *args, **kwargs):
        for root in (tmp_path / "root", tmp_path / "new"):
            (root / "theirs").mkdir(parents=True, exist_ok=True)
            (root / "theirs" / "notes.txt").write_text("mine")
            (root / "other.zip").write_bytes(b"another download")
        raise urllib.error.URLError("no network (a test)")

    monkeypatch.setenv("TORCHLAB_OFFLINE", "0")
    monkeypatch.setattr(urllib.request, "urlopen", no_network_while_another_writes)
    (tmp_path / "root").mkdir()
    for root in (tmp_path / "root", tmp_path / "new"):
        assert main(["train", recipe, "--data-dir", str(root), "--out", str(tmp_path / "run")]) == 2
        left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
        assert left == ["other.zip", "theirs", "theirs/notes.txt"]


CHILD_WARNINGS = """
import sys, warnings
from torchlab.cli import main
from torchlab.core.errors import TorchlabError
from torchlab.data.folder import scan
main(["list"])  # the command line installs the hook
try:
    scan(__import__("pathlib").Path(sys.argv[1]))  # warns about the file it skips, then finds no image
except TorchlabError:
    pass
warnings.warn("a library's own warning\\nsecond line")
"""


@pytest.mark.slow
def test_torchlabs_own_warnings_are_one_line_and_others_untouched(tmp_path):
    """A real process, for Python's own display of warnings (pytest records them instead)."""
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "broken.png").write_bytes(b"not a picture\nat all")
    env = cli_env()
    done = subprocess.run(
        [sys.executable, "-c", CHILD_WARNINGS, str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    first, *others = done.stderr.splitlines()
    assert first.startswith(f"torchlab: warning: skipped {tmp_path / 'cats' / 'broken.png'}: not a readable image (")
    assert "folder.py" not in done.stderr
    assert others == ["<string>:11: UserWarning: a library's own warning", "second line"]  # Python's format


def test_torchlabs_warnings_are_still_recorded_for_whoever_records_them(tmp_path):
    import warnings

    from torchlab.data.folder import scan

    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "broken.png").write_bytes(b"")
    assert main(["list"]) == 0
    with warnings.catch_warnings(record=True) as caught, pytest.raises(TorchlabError):
        warnings.simplefilter("always")
        scan(tmp_path)
    assert [str(w.message).split(":")[0] for w in caught] == [f"skipped {tmp_path / 'cats' / 'broken.png'}"]


def test_the_collector_skips_start_up_objects_while_training_and_is_as_found_after(tmp_path, mnist_root, monkeypatch):
    """A command's start-up makes torch's half a million objects with the collector paused; training
    collects again with them frozen out of its passes; afterwards the collector is as it was, also
    after a command that failed during start-up."""
    import gc

    from torchlab.engine.trainer import Trainer

    seen, fit = {}, Trainer.fit

    def watched(self):
        seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())
        return fit(self)

    monkeypatch.setattr(Trainer, "fit", watched)
    quick = ["data.subset=500", "data.eval_subset=200", "--epochs", "1", "--logger", "none", "-q"]
    assert main(["train", "mnist-mlp", "--out", str(tmp_path / "run"), *quick]) == 0
    assert seen["enabled"] and seen["frozen"] > 100_000, seen
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert main(["train", "mnist-mlp", "--out", str(tmp_path / "bad"), "optim.lr=fast"]) == 2
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_run_whose_config_yaml_is_empty_says_so(tmp_path, capsys):
    """Before: 'the config of RUN now gives another train/val split than split.json records'."""
    (tmp_path / "config.yaml").write_text("")
    assert main(["eval", str(tmp_path)]) == 2
    assert f"{tmp_path / 'config.yaml'} is empty" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, mnist_root) -> Path:
    return tiny_run(tmp_path_factory)


@pytest.mark.parametrize(
    "command", [["eval"], ["resume"], ["report"], ["export", "--format", "safetensors"], ["predict", "digit.png"]]
)
def test_a_path_that_is_not_a_run_names_the_run_meant(command, tiny, capsys):
    """Before: each said only "PATH is not a torchlab run directory (no config.yaml)": a file or folder
    in a run (RUN/config.yaml, RUN/checkpoints), the folder of a recipe's runs, a path that is not there."""
    cases = {
        tiny / "config.yaml": f" but lies in one: name the run, {tiny}",
        tiny / "checkpoints": f" but lies in one: name the run, {tiny}",
        tiny.parent: f" but holds one run, {tiny}: name one",
        tiny.parent / "nothing": ": it does not exist",
    }
    before = sorted(tiny.parent.rglob("*"))
    for path, message in cases.items():
        assert main([command[0], str(path), *command[1:]]) == 2
        assert capsys.readouterr().err.strip() == f"torchlab: error: {path} is not a torchlab run directory{message}"
    assert sorted(tiny.parent.rglob("*")) == before  # nothing written


def test_every_folder_a_command_writes_into_refuses_a_file_in_its_way(tiny, tmp_path, capsys):
    """Before: `notes SECTION --pictures FILE` crashed with a FileExistsError traceback (exit 1), and
    `report RUN RUN --out FILE` and `export RUN --out FILE/model.safetensors` said "could not write
    FILE/...: File exists"."""
    file = tmp_path / "a file"
    file.write_text("kept")
    for folder, where in ((file, "exists and is not a directory"), (file / "sub", f"is under {file}, which is not")):
        for command, flag in (
            (["train", "mnist-mlp"], "--out"),
            (["cv", "mnist-mlp"], "--out"),
            (["report", str(tiny), str(tiny)], "--out"),
            (["notes", "overfitting"], "--pictures"),
        ):
            assert main([*command, flag, str(folder)]) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith(f"torchlab: error: {folder} {where}"), err
            assert err.endswith(f"; pick another {flag}") and len(err.splitlines()) == 1
    assert main(["export", str(tiny), "--format", "safetensors", "--out", str(file / "model.safetensors")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"torchlab: error: {file} exists and is not a directory; pick another --out"
    )
    assert file.read_text() == "kept"


def test_a_tilde_that_names_no_user_is_one_line_wherever_a_path_is_read(tiny, tmp_path, monkeypatch, capsys):
    """Before: `--data-dir ~data` (a missing slash) and the like raised "RuntimeError: Could not
    determine home directory." with a traceback, exit 1."""
    lost = "~no-such-user-torchlab"
    for args in (
        ["train", "mnist-mlp", "--data-dir", f"{lost}/data", "--out", str(tmp_path / "run")],
        ["eval", str(tiny), "--data-dir", lost],
        ["train", f"{lost}/my.yaml"],
        ["--import", f"{lost}/mine.py", "list"],
        ["train", "folder-resnet18", f"data.folder={lost}/pets", "--out", str(tmp_path / "run")],
    ):
        assert main(args) == 2
        assert f"there is no user 'no-such-user-torchlab' for {lost} (your home is ~/)" in capsys.readouterr().err
    monkeypatch.setenv("TORCHLAB_DATA", lost)
    assert main(["eval", str(tiny)]) == 2
    assert f"{lost}: there is no user" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


EMPTY = "is empty: name a file or folder"
DEFAULT = f"{EMPTY}, or leave it out for its default"


def refusal(call: Callable[[], object], capsys: pytest.CaptureFixture) -> str:
    """The refusal of `call`: a command line's error line (exit 2), or the TorchlabError the Python API raised."""
    try:
        status = call()
    except TorchlabError as err:
        return str(err)
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("torchlab: error: ") and err.count("\n") == 1, err
    return err.removeprefix("torchlab: error: ").removesuffix("\n")


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["train", "mnist-mlp", "--data-dir", ""], f"--data-dir {DEFAULT}"),
        (["cv", "mnist-mlp", "--out", " "], f"--out {DEFAULT}"),
        (["show", "mnist-mlp", "--data-dir", ""], f"--data-dir {DEFAULT}"),
        (["eval", ""], f"RUN_DIR {EMPTY}"),
        (["eval", "RUN", "--weights", ""], f"--weights {DEFAULT}"),
        (["resume", "RUN", "--data-dir", ""], f"--data-dir {DEFAULT}"),
        (["report", "RUN", ""], f"RUN_DIR {EMPTY}"),
        (["report", "RUN", "RUN", "--out", ""], f"--out {DEFAULT}"),
        (["export", "RUN", "--format", "onnx", "--out", ""], f"--out {DEFAULT}"),
        (["notes", "overfitting", "--pictures", ""], f"--pictures {DEFAULT}"),
        (["train", "mnist-mlp", "data.root=' '"], f"data.root {DEFAULT}"),
        (["train", "folder-resnet18", "data.index=''"], f"data.index {DEFAULT}"),
        (["train", "folder-resnet18", "model.weights=''"], f"model.weights {DEFAULT}"),
        (["train", "gaussians-gan", "task.judge=''"], f"task.judge {DEFAULT}"),
        (["train", "sst2-lstm", "model.embeddings=''"], f"model.embeddings {DEFAULT}"),
        (lambda run: torchlab.train("mnist-mlp", out=" "), f"torchlab.train's out= {DEFAULT}"),
        (lambda run: torchlab.train("mnist-mlp", overrides={"data.root": ""}), f"data.root {DEFAULT}"),
        (lambda run: torchlab.fit(torch.nn.Linear(4, 3), (torch.zeros(8, 4), torch.arange(8) % 3), out=""),
         f"torchlab.fit's out= {DEFAULT}"),
        (lambda run: torchlab.load(""), f"torchlab.load's run_dir {EMPTY}"),
        (lambda run: torchlab.Run("", torchlab.load(run).config), f"Run's run_dir {EMPTY}"),
        (lambda run: torchlab.resume(""), f"torchlab.resume's run_dir {EMPTY}"),
        (lambda run: torchlab.resume(run, 2, data_dir=""), f"torchlab.resume's data_dir= {DEFAULT}"),
    ],
)  # fmt: skip
def test_an_empty_path_is_refused_in_one_wording_wherever_one_is_taken(
    given, said, tiny, tmp_path, monkeypatch, capsys
):
    """Before: `--data-dir ""` (a script's unset variable) and `data.root=''` trained from the default data
    root, `model.embeddings=''` without pretrained vectors, `eval ""` read the current folder; then each was
    refused, in three wordings: flags', config keys' and Python's."""
    monkeypatch.chdir(tmp_path)  # where a default run directory would go
    before = sorted(tiny.rglob("*"))
    call = (
        functools.partial(given, tiny)
        if callable(given)
        else lambda: main([str(tiny) if w == "RUN" else w for w in given])
    )
    assert refusal(call, capsys) == said
    assert list(tmp_path.iterdir()) == [] and sorted(tiny.rglob("*")) == before  # nothing written


def test_an_empty_flag_or_import_or_none_beside_a_logger_is_refused(tmp_path, monkeypatch, capsys):
    """Before: an empty import was skipped, `eval --device ""` took the run's device, `train --device ""`
    was refused as an override the user had not written (`train.device=`), and `--logger none,tensorboard`
    ran tensorboard."""
    monkeypatch.chdir(tmp_path)
    for args, says in (
        (["train", "mnist-mlp", "--device", ""], "--device is empty: give it a value, or leave it out for its default"),
        (["cv", "mnist-mlp", "--logger", " "], "--logger is empty: give it a value, or leave it out for its default"),
        (["eval", "runs/any", "--device", ""], "--device is empty: give it a value, or leave it out for its default"),
        (["--import", " ", "list"], "an import (--import, $TORCHLAB_IMPORT, imports:) is empty: name a module"),
        (["train", "mnist-mlp", "imports=['']"], "an import (--import, $TORCHLAB_IMPORT, imports:) is empty"),
        (["train", "mnist-mlp", "--logger", "none,tensorboard"], "'none' turns every logger off, and tensorboard"),
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


NO_VALUE = [  # an override without a value, and what its key takes
    ("train.epochs=", "train.epochs takes an integer"),
    ("model.name=", "model.name takes a string"),
    ("log.loggers=", "log.loggers takes a list of strings: log.loggers=[] sets an empty list"),
    ("data.root=", "data.root takes a string or null: data.root=null sets null"),
    ("train.compile= ", "train.compile takes true or false"),
    ("log.visdom=", "log.visdom is a section: set its keys, log.visdom.KEY=VALUE"),
]
NO_VALUE_ENTRIES = {
    "train": lambda override: main(["train", "mnist-mlp", override]),
    "cv": lambda override: main(["cv", "mnist-mlp", override]),
    "torchlab.train": lambda override: torchlab.train("mnist-mlp", overrides=[override]),
    "torchlab.fit": lambda override: torchlab.fit(
        torch.nn.Linear(4, 3), (torch.zeros(8, 4), torch.arange(8) % 3), overrides=override
    ),
}


@pytest.mark.parametrize(("override", "takes"), NO_VALUE)
@pytest.mark.parametrize("entry", NO_VALUE_ENTRIES)
def test_an_override_without_a_value_says_what_its_key_takes(entry, override, takes, tmp_path, monkeypatch, capsys):
    """Before: each was told `KEY=null sets null`, also a key that refuses null (train.epochs, model.name,
    log.loggers), where following the advice failed again."""
    monkeypatch.chdir(tmp_path)  # where a default run directory would go
    assert (
        refusal(functools.partial(NO_VALUE_ENTRIES[entry], override), capsys)
        == f"override '{override}' has no value; {takes}"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_config_took_an_empty_root_or_none_beside_a_logger_still_evaluates(tiny, tmp_path, capsys):
    """Those settings are refused now; a run trained with them read the default data root, or ran the
    other logger, and its eval is refused no more than before."""
    run = copy_of(tiny, tmp_path)
    config = run / "config.yaml"
    text = config.read_text()
    assert "  root: null\n" in text and "  loggers:\n  - none\n" in text
    config.write_text(text.replace("  root: null", "  root: ''").replace("  - none\n", "  - none\n  - jsonl\n"))
    assert main(["eval", str(run)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_a_run_named_twice_in_a_comparison_is_refused_naming_both_spellings(tiny, tmp_path, capsys):
    """Before: `report r1 r1` wrote a comparison of r1 alone, and r1 with a link to it a page ranking
    the run against itself."""
    link = tmp_path / "link"
    link.symlink_to(tiny)
    for runs, says in (
        ([tiny, tiny], f"{tiny} is named twice: a comparison takes each run once"),
        ([tiny, link], f"{tiny} is named twice (as {tiny} and as {link}): a comparison takes each run once"),
    ):
        assert main(["report", *map(str, runs), "--out", str(tmp_path / "compare")]) == 2
        assert capsys.readouterr().err.strip() == f"torchlab: error: {says}"
    assert not (tmp_path / "compare").exists()


def test_eval_and_export_of_a_finished_run_without_best_pt_name_last_pt(tiny, tmp_path, capsys):
    """Before: "checkpoint not found: RUN/checkpoints/best.pt", not a word of last.pt beside it."""
    run = tmp_path / "run"
    shutil.copytree(tiny, run)
    (run / "checkpoints" / "best.pt").unlink()
    missing = f"torchlab: error: {run}/checkpoints/best.pt is missing, though {run} finished; last.pt is there: "
    assert main(["eval", str(run)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"{missing}`torchlab eval {run} --weights {run}/checkpoints/last.pt` tests it"
    )
    assert main(["export", str(run), "--format", "safetensors"]) == 2
    assert capsys.readouterr().err.strip() == f"{missing}`--checkpoint last` exports it"
    assert main(["predict", str(run), "digit.png"]) == 2
    assert capsys.readouterr().err.strip() == f"{missing}`--checkpoint last` predicts with it"
    assert main(["eval", str(run), "--weights", str(run / "checkpoints" / "last.pt")]) == 0  # as it says
    assert main(["export", str(run), "--format", "safetensors", "--checkpoint", "last"]) == 0


def test_a_run_whose_config_yaml_another_version_wrote_names_the_file(tmp_path, tiny, capsys):
    """Before: "unknown config key 'train.future_knob'", as if the command line had set it."""
    run = tmp_path / "run"
    shutil.copytree(tiny, run)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("train:\n", "train:\n  future_knob: 3\n"))
    for command in (["eval"], ["resume", "--epochs", "2"], ["export", "--format", "safetensors"], ["predict", "x.png"]):
        assert main([command[0], str(run), *command[1:]]) == 2
        assert capsys.readouterr().err.startswith(f"torchlab: error: {config}: unknown config key 'train.future_knob'")


def test_eval_and_report_of_a_run_that_cannot_be_read_say_why(tmp_path, mnist_root, capsys):
    """Before: a diverged run's eval said only 'checkpoint not found: best.pt', and a damaged
    summary.json gave 'has not finished' (resume was the fix, the reason unsaid)."""
    run = tmp_path / "run"
    assert main(["train", "mnist-mlp", "optim.lr=1e9", "--logger", "none", "data.subset=500", "--out", str(run)]) == 2
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2
    assert f"{run} diverged: its model is NaN" in capsys.readouterr().err
    (run / "summary.json").write_text("{")
    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 2
    assert f"{run / 'summary.json'} is damaged (JSONDecodeError)" in capsys.readouterr().err
    with pytest.raises(TorchlabError, match="summary.json is damaged"):  # from Python too
        _ = torchlab.load(run).summary
