"""Two processes fetching one dataset (or resnet18's ImageNet weights) into one root at once: it is
downloaded once, and both read it whole. A process killed mid-download leaves no file that counts as
present and no lock held; the next run downloads it again. No network: tests/fake_downloads.py."""

import fcntl
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
import torch.hub

from tests.fake_downloads import SOURCES, WEIGHTS, child, install, load, served, sha256
from torchlab.core.errors import TorchlabError
from torchlab.data.root import fetching
from torchlab.models.resnet18 import imagenet_weights

pytestmark = pytest.mark.slow  # child processes

WAITING = "torchlab: waiting for another process's download of "
DATASETS = ("mnist", "cifar10", "sst2")  # into the data root; the weights go to torch's hub dir


@pytest.fixture
def roots(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(the data root, torch's hub dir), both new; downloads allowed, through the stand-ins only."""
    monkeypatch.setenv("TORCHLAB_OFFLINE", "0")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "data", tmp_path / "torch" / "hub"


def start(tmp_path: Path, name: str, sources: tuple[str, ...], hang: Path | None = None) -> multiprocessing.Process:
    """A forked child (this process's imports already done: it starts at once) fetching `sources`."""
    args = (tmp_path / "data", tmp_path / "log", sources, tmp_path / f"said-{name}", hang)
    process = multiprocessing.get_context("fork").Process(target=child, args=args)
    process.start()
    return process


def wait_for(*paths: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not all(path.exists() for path in paths):
        assert time.monotonic() < deadline, f"{paths} never appeared"
        time.sleep(0.02)


def tree(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*"))


def assert_whole(root: Path, sources: tuple[str, ...]) -> None:
    """Every file the `sources` serve is in `root`, byte for byte, and nothing else is (no lock, no stage)."""
    files = {name: data for source in sources for name, data in served(source).items()}
    for name, data in files.items():
        assert sha256((root / name).read_bytes()) == sha256(data), name
    folders = {parent.as_posix() for name in files for parent in Path(name).parents if parent != Path(".")}
    assert tree(root) == sorted([*files, *folders])


def downloads(log: Path) -> list[str]:
    """The files the stand-ins downloaded ("PID NAME" lines), once per download."""
    return sorted(line.split(" ", 1)[1] for line in log.read_text().splitlines())


def every_file(sources: tuple[str, ...]) -> list[str]:
    return sorted(name for source in sources for name in served(source))


def test_two_processes_fetching_at_once_download_once_and_read_whole_files(roots, tmp_path):
    """Before: both downloaded into the same files at once; one could read the other's half-written file
    as complete (a truncated IDX file, an unpicklable batch), and one's undo could delete the other's."""
    children = [start(tmp_path, name, SOURCES) for name in "ab"]
    for process in children:
        process.join(timeout=60)
    said = [(tmp_path / f"said-{name}").read_text().splitlines() for name in "ab"]
    assert [process.exitcode for process in children] == [0, 0], said
    for lines in said:  # besides torch.hub's "Downloading: URL to PATH"
        assert [line for line in lines if line.startswith("loaded ")] == [f"loaded {s}" for s in SOURCES]
    waited = sorted(line.removeprefix(WAITING).split(" ")[0] for lines in said for line in lines if WAITING in line)
    assert waited == sorted(["MNIST", "cifar-10-batches-py", "SST-2", "resnet18-f37072fd.pth"]), said  # once each
    assert downloads(tmp_path / "log") == every_file(SOURCES)  # each file once
    assert_whole(roots[0], DATASETS)
    assert_whole(roots[1], ("weights",))


def test_a_process_killed_mid_download_leaves_nothing_counted_present_and_the_next_run_repairs(roots, tmp_path):
    """Each source in its own child, side by side in one root, killed while writing its first file."""
    children = [start(tmp_path, source, (source,), tmp_path / f"hung-{source}") for source in SOURCES]
    wait_for(*(tmp_path / f"hung-{source}" for source in SOURCES))
    for process in children:
        process.kill()
        process.join(timeout=60)
    for source in SOURCES:
        root, files = roots[source == "weights"], served(source)
        halves = [path.read_bytes() for path in root.rglob("*") if path.is_file() and path.stat().st_size]
        assert any(data.startswith(half) for half in halves for data in files.values()), tree(root)
        assert not any((root / name).exists() for name in files), tree(root)
    for lock in tmp_path.rglob("*.lock"):
        with open(lock) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a BlockingIOError, were it held still
    (tmp_path / "log").unlink()
    for source in SOURCES:
        with pytest.MonkeyPatch.context() as patched:
            install(source, tmp_path / "log", patch=patched.setattr)
            load(source, roots[0])
    assert_whole(roots[0], DATASETS)
    assert_whole(roots[1], ("weights",))
    assert downloads(tmp_path / "log") == every_file(SOURCES)


def stages(root: Path) -> list[str]:
    return sorted(path.name for path in root.glob(".*.download"))


def test_a_killed_downloads_stage_and_lock_go_at_the_next_fetch_of_any_dataset(roots, tmp_path):
    """Before: they stayed until that same dataset was fetched again, and a dataset already whole is never
    fetched again. A stage a live process downloads into stays (its lock is held)."""
    root = roots[0]
    killed = start(tmp_path, "mnist", ("mnist",), tmp_path / "hung")
    wait_for(tmp_path / "hung")
    killed.kill()
    killed.join(timeout=60)
    assert len(stages(root)) == 1 and (root / ".MNIST.lock").exists(), tree(root)
    live, users = root / ".SST-2.0123abcd.download", root / ".MNIST.notes.download"
    live.mkdir()
    users.write_text("a file of the user's, named alike")
    with open(root / ".SST-2.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process fetching SST-2 now
        with pytest.MonkeyPatch.context() as patched:
            install("cifar10", tmp_path / "log", patch=patched.setattr)
            load("cifar10", root)  # a fetch of another dataset
        assert stages(root) == [users.name, live.name] and (root / ".SST-2.lock").exists(), tree(root)
        assert not (root / ".MNIST.lock").exists()
    live.rmdir()
    users.unlink()
    (root / ".SST-2.lock").unlink()
    load("cifar10", root)  # whole already: no download, and the root is left as it is
    assert_whole(root, ("cifar10",))


@pytest.mark.parametrize(("local_rank", "says"), [("0", True), ("1", False)])
def test_under_torchrun_only_a_machines_local_rank_0_says_it_waits(local_rank, says, roots, monkeypatch, capfd):
    """Before: each waiting rank printed the line, N times on a machine of N ranks."""
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    root, took = roots[0], []

    def fetch_mnist() -> None:
        with fetching(root, "MNIST"):
            took.append(time.monotonic())

    with fetching(root, "MNIST"):  # another process's download
        waiter = threading.Thread(target=fetch_mnist)
        waiter.start()
        time.sleep(0.5)
        released = time.monotonic()
    waiter.join(timeout=60)
    assert took and took[0] >= released  # it waited for the download
    said = [line for line in capfd.readouterr().err.splitlines() if line.startswith(WAITING)]
    assert said == ([f"{WAITING}MNIST into {root}"] if says else [])


def test_a_killed_weights_downloads_leftovers_go_even_once_the_weights_are_cached(roots, tmp_path, monkeypatch):
    """Before: its `.partial` and lock stayed until the weights were fetched again, which weights put in torch's
    hub dir by hand (as the offline refusal says to) never are. A live download's `.partial` stays (its lock held)."""
    hub = roots[1]
    killed = start(tmp_path, "weights", ("weights",), tmp_path / "hung")
    wait_for(tmp_path / "hung")
    killed.kill()
    killed.join(timeout=60)
    lock = hub / "checkpoints" / f".{WEIGHTS}.lock"
    assert len(list(hub.rglob("*.partial"))) == 1 and lock.exists(), tree(hub)
    (hub / "checkpoints" / WEIGHTS).write_bytes(served("weights")[f"checkpoints/{WEIGHTS}"])  # put there by hand
    monkeypatch.setenv("TORCHLAB_OFFLINE", "1")
    live = hub / "checkpoints" / f"{WEIGHTS}.0123abcd.partial"
    live.write_bytes(b"half")
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process downloading them now
        imagenet_weights()
        assert live.exists() and lock.exists(), tree(hub)
    imagenet_weights()
    assert_whole(hub, ("weights",))


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), ConnectionResetError("reset by peer")], ids=repr)
def test_a_weights_download_stopped_midway_leaves_torchs_hub_dir_as_it_was(stop, roots, tmp_path, monkeypatch):
    """A signal (the run stops at once in start-up) or a failed connection: torch.hub's `.partial`, torchlab's
    lock and the folders made for them all go."""
    install("weights", tmp_path / "log", patch=monkeypatch.setattr)
    opened = torch.hub.urlopen

    def failing_midway(*args, **kwargs):
        response = opened(*args, **kwargs)
        read = response.read

        def read_once_then_stop(size: int | None = -1) -> bytes:
            if response.tell():
                raise stop
            return read(size)

        response.read = read_once_then_stop
        return response

    monkeypatch.setattr(torch.hub, "urlopen", failing_midway)
    with pytest.raises(type(stop) if isinstance(stop, KeyboardInterrupt) else TorchlabError):
        imagenet_weights()
    assert downloads(tmp_path / "log") == [f"checkpoints/{WEIGHTS}"]  # it did start
    assert not (tmp_path / "torch").exists(), tree(tmp_path / "torch")
