"""Shared test helpers: real MNIST and SST-2 from ../shared/datasets, the CLI in and out of process."""

import html
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TORCHLAB_DATA", ROOT.parent / "shared" / "datasets")).resolve()

os.environ["TORCHLAB_DATA"] = str(DATA)
os.environ["TORCHLAB_OFFLINE"] = "1"  # nothing in the tests may try the network

# A few hundred steps of real MNIST: enough to be far above chance, quick on two cores.
QUICK = ["--logger", "none", "data.subset=10000", "data.eval_subset=2000", "train.epochs=2"]


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    if not (DATA / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.fail(f"real MNIST expected under {DATA}/MNIST/raw (set TORCHLAB_DATA)")
    return DATA


@pytest.fixture(scope="session")
def sst2_root() -> Path:
    if not (DATA / "SST-2" / "train.tsv").is_file():
        pytest.fail(f"SST-2 expected under {DATA}/SST-2 (set TORCHLAB_DATA)")
    return DATA


def cli_env(*first: Path, **variables: str) -> dict[str, str]:
    """The environment of a `python -m torchlab` child: this checkout's src/ importable (after the
    `first` folders), plus `variables`."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*first, ROOT / "src"])), **variables}


# Runs that a test compares bit for bit across processes compute with one thread, in the children
# (ONE_THREAD) and in this process (`one_thread`): on one Intel host about one process in 50 computed its
# second OpenMP thread's share of an elementwise update with ~1e-4 relative error (docs/reliability.md,
# Known gaps); two processes then differ whatever torchlab does.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@contextmanager
def one_thread() -> Iterator[None]:
    import torch  # here: conftest is imported by tests that must not import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, **variables: str) -> subprocess.CompletedProcess:
    """`python -m torchlab ARGS` in a fresh process, as a user would run it (`variables`: its environment's extra)."""
    env = cli_env(**variables)
    return subprocess.run(
        [sys.executable, "-m", "torchlab", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


# A tiny mnist-mlp run: seconds to train, a real run directory to damage, resume or copy.
TINY = ["--logger", "none", "data.subset=1000", "data.eval_subset=200", "data.batch_size=100", "train.epochs=1"]


def overrides_it_has(recipe: str, **wanted: object) -> list[str]:
    """`key=value` for each of `wanted` (`data__subset=128`: `data.subset=128`) that the recipe's config
    has, so one short run fits every family (a GAN's `task.samples`, an image set's `data.subset`)."""
    from torchlab.config import flatten
    from torchlab.recipes import load_recipe
    from torchlab.runs import dotted

    keys = flatten(load_recipe(recipe).to_dict())
    return [override for override in dotted(wanted, "train") if override.split("=")[0] in keys]


def tiny_run(tmp_path_factory: pytest.TempPathFactory, epochs: int = 1) -> Path:
    """A finished mnist-mlp run of `epochs` tiny epochs (a module-scoped fixture trains it once)."""
    from torchlab.cli import main

    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "mnist-mlp", "--out", str(run), *TINY, f"train.epochs={epochs}"]) == 0
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    """A test's own copy of a shared run (links kept as links)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    return copy


def report_mistakes(run_dir: Path) -> tuple[str, list[list[str]]]:
    """A text run's report.html table of misclassified sentences: its count line and its rows
    (sentence, true, predicted, confidence), as the page shows them (unescaped)."""
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    shown = page.split("<h2>Misclassified sentences</h2>")[1].split("<h2>")[0]
    count = html.unescape(re.search(r"<p>(.*?)</p>", shown)[1])
    cells = (re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", shown))
    head, *rows = ([html.unescape(cell) for cell in row] for row in cells)
    assert head == ["sentence", "true", "predicted", "confidence"]
    return count, rows


def sst2_copy(root: Path, train_lines: list[str], dev_lines: tuple[str, ...] = ("a fine film\t1",)) -> Path:
    """`root` holding SST-2/train.tsv and dev.tsv of these `sentence<TAB>label` lines."""
    folder = root / "SST-2"
    folder.mkdir()
    for name, lines in (("train.tsv", train_lines), ("dev.tsv", dev_lines)):
        (folder / name).write_text("sentence\tlabel\n" + "".join(f"{x}\n" for x in lines), encoding="utf-8")
    return root


def dev_sentence(shown: str) -> tuple[str, str]:
    """The SST-2 dev.tsv sentence that a report shows as `shown` (as written there) and its label's name."""
    from torchlab.data.sst2 import read_tsv

    dev = read_tsv(DATA / "SST-2" / "dev.tsv")
    (index,) = [i for i, s in enumerate(dev.sentences) if s == shown]
    return dev.sentences[index], ["negative", "positive"][dev.labels[index]]
