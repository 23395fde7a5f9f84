"""Fuzzed input: random command lines, override strings and YAML documents end in exit 0 or 2
with one line of message, never a traceback and never a partly written run directory.

Nothing trains: every command sees an empty data root (train and cv get it as --data-dir too), so a
valid config stops at the data check (exit 2, "dataset not found") before anything is written; each
runs in a folder of its own, which a refused command leaves empty.
"""

import contextlib
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import cli_env
from torchlab.cli import main
from torchlab.config import apply_override, build_config, flatten
from torchlab.core.errors import TorchlabError
from torchlab.core.runtime import global_state_kept
from torchlab.recipes import load_recipe, recipe_names, recipe_raw, resolve

EMPTY = Path(tempfile.mkdtemp(prefix="torchlab-fuzz-empty-"))
KEYS = [
    "data.name", "data.root", "data.batch_size", "data.eval_batch_size", "data.val_split", "data.split_seed",
    "data.subset", "data.eval_subset", "data.download", "model.name", "model.hidden", "task.name", "optim.name",
    "optim.lr", "optim.momentum", "optim.betas", "schedule.name", "schedule.step_size", "train.epochs",
    "train.seed", "train.device", "train.monitor", "train.mode", "train.patience", "train.clip_grad_norm",
    "train.amp", "train.compile", "train.channels_last", "train.log_every", "log.loggers", "log.progress",
    "recipe", "description", "train", "data", "optim.lr.x", "nosuch.key", "train.epoch", ".", "a..b",
]  # fmt: skip
TRICKY = [
    "", "0", "-1", "1e999", "-1e999", "nan", "inf", "2**70", str(2**70), str(-(2**70)), "true", "null", "~",
    "[1, 2]", "[]", "{a: 1}", "{", "[", ": :", "'", '"', "!!python/object/apply:os.system ['echo hi']",
    "&a [*a]", "cpu", "cuda", "cuda:7", "mps", "auto", "sgd", "adam", "mlp", "mnist", "none", "max", "min",
    "bf16", "fp16", "val.loss", "\x00", "é", "\n", "=", "a=b=c",
]  # fmt: skip
values = st.one_of(
    st.sampled_from(TRICKY),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=12),
)
NUMERIC_KEYS = [
    k
    for k in KEYS
    if k.split(".")[-1]
    in (
        "batch_size",
        "eval_batch_size",
        "val_split",
        "subset",
        "epochs",
        "seed",
        "patience",
        "log_every",
        "lr",
        "clip_grad_norm",
    )
]
EXTREMES = ["0", "-1", str(2**63), str(2**64 + 1), str(-(2**63) - 1), "1e999", "nan", "0.5", "[]", "null"]
overrides = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), values),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(NUMERIC_KEYS), st.sampled_from(EXTREMES)),
    st.text(max_size=20),
)
FLAGS = ["--epochs", "--seed", "--device", "--logger", "--data-dir", "--out", "--deterministic", "--help", "-h", "--"]
tokens = st.one_of(overrides, st.sampled_from(FLAGS), values, st.sampled_from(["mnist-mlp", "mnist-mlp-scratch"]))
commands = st.one_of(
    st.builds(
        lambda recipe, rest: ["train", recipe, *rest],
        st.one_of(st.sampled_from(["mnist-mlp", "mnist-mlp-scratch", "x.yaml", "mnist-mpl"]), st.text(max_size=10)),
        st.lists(tokens, max_size=8),
    ),
    st.builds(
        lambda cmd, rest: [cmd, *rest],
        st.sampled_from(["eval", "resume", "export", "list", "cv", "report"]),
        st.lists(tokens, max_size=5),
    ),
    st.lists(tokens, max_size=6),
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
TRIED = {"argv": 0, "override": 0, "yaml": 0, "process": 0, "range": 0, "files": 0}


def run_main(argv: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """In process (with `cwd`: in that folder, the data root empty): exit status and stderr; `--help`
    counts as exit 0. Before: a fuzzed `cv mnist-mlp-scratch` trained five folds of real MNIST into ./runs."""
    err = io.StringIO()
    within = in_empty_world(cwd) if cwd else contextlib.nullcontext()
    # global_state_kept: --deterministic switches torch and sets CUBLAS_WORKSPACE_CONFIG for the whole process
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), within, global_state_kept():
        try:
            code = main(argv)
        except SystemExit as done:
            code = done.code
    return code, err.getvalue()


@contextlib.contextmanager
def in_empty_world(cwd: Path):
    """Within it, `cwd` is the working folder and TORCHLAB_DATA the empty root."""
    before = os.environ["TORCHLAB_DATA"]
    os.environ["TORCHLAB_DATA"] = str(EMPTY)
    try:
        with contextlib.chdir(cwd):
            yield
    finally:
        os.environ["TORCHLAB_DATA"] = before


def isolated(argv: list[str], out: Path) -> list[str]:
    """`argv` with a train or cv command pointed at the empty data root and at `out`."""
    return [*argv, "--data-dir", str(EMPTY), "--out", str(out)] if argv and argv[0] in ("train", "cv") else argv


def assert_clean_exit(code: int, err: str, out: Path, cwd: Path | None = None) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("torchlab: error: "), err
        assert not out.exists() or not any(out.iterdir()), f"partly written: {list(out.rglob('*'))}"
        assert cwd is None or not any(cwd.iterdir()), f"left in the working folder: {list(cwd.rglob('*'))}"


@pytest.fixture
def out_dir():
    folder = Path(tempfile.mkdtemp(prefix="torchlab-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@FUZZ
@given(argv=commands)
def test_random_command_lines(argv, out_dir):
    out, cwd = out_dir / f"run{TRIED['argv']}", out_dir / f"cwd{TRIED['argv']}"
    cwd.mkdir()
    code, err = run_main(isolated([a for a in argv if a != "--debug"], out), cwd)
    TRIED["argv"] += 1
    assert_clean_exit(code, err, out, cwd)


@FUZZ
@given(items=st.lists(overrides, min_size=1, max_size=4))
def test_random_override_strings(items):
    raw = recipe_raw("mnist-mlp")
    try:
        for item in items:
            apply_override(raw, item)
        build_config(raw)
    except TorchlabError as err:
        assert str(err)  # a TorchlabError with a message, nothing else escapes
    TRIED["override"] += 1


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
nested = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
)
sections = st.dictionaries(
    st.sampled_from(["data", "model", "optim", "train", "task", "schedule", "log", "recipe", "nosuch"]),
    st.dictionaries(st.sampled_from([k.split(".")[-1] for k in KEYS]), scalars | st.sampled_from(TRICKY)) | scalars,
    max_size=4,
)
documents = st.one_of(st.text(max_size=200), nested.map(yaml.safe_dump), sections.map(yaml.safe_dump))


@FUZZ
@given(document=documents)
def test_random_yaml_recipes(document, out_dir):
    recipe = out_dir / "recipe.yaml"
    recipe.write_text(document, encoding="utf-8")
    out = out_dir / "run"
    code, err = run_main(["train", str(recipe), "--data-dir", str(EMPTY), "--out", str(out)])
    TRIED["yaml"] += 1
    assert_clean_exit(code, err, out)
    assert code == 2  # no data here: a valid recipe stops at the data check


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(argv=commands)
def test_random_command_lines_in_real_processes(argv, out_dir):
    out, cwd = out_dir / "run", out_dir / "cwd"
    cwd.mkdir(exist_ok=True)
    argv = isolated([a for a in argv if a != "--debug" and "\x00" not in a], out)
    env = cli_env(TORCHLAB_DATA=str(EMPTY))
    result = subprocess.run(
        [sys.executable, "-m", "torchlab", *argv], capture_output=True, text=True, env=env, timeout=300, cwd=cwd
    )
    TRIED["process"] += 1
    assert_clean_exit(result.returncode, result.stderr, out, cwd)


@functools.cache
def numeric_keys(recipe: str) -> list[str]:
    """The keys of a recipe whose value is a number or a list of numbers."""

    def numeric(v: object) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    flat = flatten(load_recipe(recipe).to_dict())
    return sorted(k for k, v in flat.items() if numeric(v) or (isinstance(v, list) and v and all(map(numeric, v))))


numbers = st.one_of(
    st.sampled_from(EXTREMES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@FUZZ
@given(recipe=st.sampled_from(recipe_names()), data=st.data())
def test_random_values_of_every_recipes_numeric_keys(recipe, data):
    """Any number for any numeric key of any recipe: a config, or one TorchlabError line; nothing else."""
    key = data.draw(st.sampled_from(numeric_keys(recipe)), label="key")
    value = data.draw(numbers, label="value")
    listed = isinstance(flatten(load_recipe(recipe).to_dict())[key], list)
    try:
        resolve(recipe_raw(recipe), [f"{key}={f'[{value}]' if listed else value}"])
    except TorchlabError as err:
        assert str(err) and "\n" not in str(err)
    TRIED["range"] += 1


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, mnist_root) -> Path:
    run = tmp_path_factory.mktemp("fuzz-run") / "run"
    tiny = ["data.subset=500", "data.eval_subset=100", "data.batch_size=100", "train.epochs=1", "--logger", "none"]
    assert main(["train", "mnist-mlp", "--out", str(run), *tiny]) == 0
    return run


RUN_FILES = ["config.yaml", "summary.json", "metrics.jsonl", "split.json", "checkpoints/last.pt", "checkpoints/best.pt"]
contents = st.one_of(
    st.binary(max_size=300),
    nested.map(lambda v: json.dumps(v).encode()),
    nested.map(lambda v: yaml.safe_dump(v).encode()),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@pytest.mark.slow  # real runs read back
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    name=st.sampled_from(RUN_FILES), content=contents, command=st.sampled_from(["report", "eval", "export", "resume"])
)
def test_random_contents_of_a_runs_files(trained_run, name, content, command):
    """Any bytes in any file a run reads back: exit 0 or one line with exit 2 on report, eval, export, resume."""
    folder = Path(tempfile.mkdtemp(prefix="torchlab-fuzz-files-"))
    try:
        run = folder / "run"
        shutil.copytree(trained_run, run)
        (run / name).write_bytes(content)
        argv = {
            "report": ["report", str(run), "--out", str(folder / "page")],
            "eval": ["eval", str(run)],
            "export": ["export", str(run), "--format", "safetensors", "--out", str(folder / "m.safetensors")],
            "resume": ["resume", str(run), "--epochs", "1"],
        }[command]
        code, err = run_main(argv)
        TRIED["files"] += 1
        assert code in (0, 2), (name, content[:80], command, code, err[-2000:])
        assert "Traceback" not in err
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and err.startswith("torchlab: error: "), err
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_at_least_200_inputs_were_tried():
    """Runs last in this module: the fuzz tests above tried this many inputs in all."""
    print(f"\nfuzzed inputs tried: {TRIED}")
    if not all(TRIED.values()):
        pytest.skip("only part of this module ran")
    assert sum(TRIED.values()) >= 200
