"""Where datasets live: --data-dir, else $TORCHLAB_DATA, else ~/.cache/torchlab/data."""

import fcntl
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

from torchlab.core.distributed import is_node_main_process
from torchlab.core.errors import TorchlabError
from torchlab.core.files import is_at, user_path
from torchlab.core.flags import Flag

_LOOKING = Flag("looking")
STAGE_SUFFIX = ".download"  # a dataset's download in progress, in the root: see `staged`
STAGE = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}" + re.escape(STAGE_SUFFIX))  # mkdtemp's 8 random characters


def data_root(configured: str | None) -> Path:
    """The data root; a TorchlabError where it is a file, or lies under one (nothing could be read there,
    and a download would fail with "Not a directory")."""
    if configured:
        root = user_path(configured)
    elif os.environ.get("TORCHLAB_DATA"):
        root = user_path(os.environ["TORCHLAB_DATA"])
    else:
        root = Path.home() / ".cache" / "torchlab" / "data"
    if file := file_on_the_way(root):
        where = "is a file" if file == root else f"is under {file}, which is a file"
        raise TorchlabError(f"data root {root} {where}, not a folder: point --data-dir or TORCHLAB_DATA at a folder")
    return root


def dataset_folder(root: Path, *parts: str) -> Path:
    """`root/parts...`, where a dataset's files live; a TorchlabError where a file stands in its way."""
    folder = root.joinpath(*parts)
    if file := file_on_the_way(folder):
        raise TorchlabError(f"{file} is a file, not a folder: the dataset's files go in {folder}")
    return folder


def missing_files(folder: Path, names: Iterable[str]) -> list[str]:
    """The `names` absent from `folder`. A folder or other entry in a file's place is not absent: reading
    it says what it is, where a download would fail on it."""
    return [name for name in names if not (folder / name).exists()]


def file_on_the_way(folder: Path) -> Path | None:
    """The nearest of `folder` and its parents that exists, where it is not a folder; else None."""
    for path in (folder, *folder.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def fetch(root: Path, folder: Path, names: Sequence[str], download: Callable[[Path], None], allowed: bool) -> str:
    """Why some of the files `names` are absent from `folder` in `root` ("downloads are off", "download
    failed: ..." or "the download lacks them"), after a download where any is absent and downloads are
    `allowed`; "" when all are there.

    One process at a time fetches a dataset into a root (`fetching`): two commands started together on a
    fresh root (two terminals, torchrun's ranks, cv's folds) download it once, the second waiting for the
    first and finding its files. `download(stage)` writes the dataset in torchvision's layout under a new
    folder `stage` of the root; its files then land by rename, each whole, and only where none is (what
    was there stays). Should it fail, or its process die, nothing it wrote counts as present: the stage
    goes (a dead process's, with its lock file, at the next fetch of any dataset into the root)."""
    if writes_allowed():
        remove_dead_downloads(root)
    if not missing_files(folder, names):
        return ""
    if not downloads_allowed(allowed):
        return "downloads are off"
    top = folder.relative_to(root).parts[0]
    try:
        with fetching(root, top):
            if missing_files(folder, names):  # else another process fetched them while this one waited
                with staged(root, top) as stage:
                    download(stage)
                    move_in(stage / top, root / top)
    except Exception as err:  # any network or disk failure: the caller names what is missing
        return download_failed(err)
    return "the download lacks them" if missing_files(folder, names) else ""


@contextmanager
def fetching(folder: Path, name: str) -> Iterator[None]:
    """Within it, this process alone fetches `name` into `folder`, which is made if absent: it holds an
    flock on `folder/.NAME.lock`, which the kernel drops when the process dies, even by SIGKILL. Another
    process holding it is said once (on stderr), then waited for. On leaving, the lock file goes, then
    the folders made for it, where left empty: a failed download leaves the root as it was found."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # deepest first
    path = folder / f".{name}.lock"
    # Under torchrun a machine's ranks wait together: its LOCAL_RANK 0 alone says so, one line per machine.
    waiting = f"torchlab: waiting for another process's download of {name} into {folder}"
    try:
        fd = locked(path, waiting if is_node_main_process() else "")
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while locked: see `locked`
            fcntl.flock(fd, fcntl.LOCK_UN)  # unlocked, not only closed: a forked child would share the lock
            os.close(fd)
    finally:
        for empty in made:
            with suppress(OSError):
                empty.rmdir()  # only while empty


def locked(path: Path, waiting: str) -> int:
    """A descriptor of the lock file `path` (made, with its folders, if absent), exclusively flocked;
    `waiting` is printed once (if any) if another process holds it. Its holder deletes the file before
    unlocking, so the file locked here may be gone from `path` by then: the lock is taken again on the new one."""
    said = not waiting
    while (fd := lock_file(path, wait=True, waiting="" if said else waiting)) is None:
        said = True
    return fd


def lock_file(path: Path, wait: bool, waiting: str = "") -> int | None:
    """The lock file `path` (made, with its folders, if absent) opened and exclusively flocked: its descriptor.
    None where it was deleted meanwhile (its holder deletes it before unlocking), or, unless `wait`, where
    another process holds it; `waiting` is printed before waiting for that process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                os.close(fd)
                return None
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        if is_at(fd, path):
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


@contextmanager
def staged(root: Path, name: str) -> Iterator[Path]:
    """A new folder `root/.NAME.XXXXXXXX.download` to download `name` into, removed on leaving. Called
    under `fetching`: those left by a process that died downloading `name` are removed first."""
    for stale in root.glob(f".{name}.*{STAGE_SUFFIX}"):
        remove(stale)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=STAGE_SUFFIX, dir=root))
    try:
        yield stage
    finally:
        remove(stage)


def remove_dead_downloads(root: Path) -> None:
    """Remove what a process that died downloading into `root` left (`staged`): its staging folders and
    their dataset's lock file, where no live process holds that lock. A live fetch holds it: its stage stays."""
    for name in {stage["name"] for stage in stages_in(root)}:
        remove_dead(root, name, lambda name=name: [root / s.string for s in stages_in(root) if s["name"] == name])


def remove_dead(folder: Path, name: str, leftovers: Callable[[], list[Path]]) -> None:
    """Remove the `leftovers` of a process that died fetching `name` into `folder`, and its lock file
    (`fetching`), unless a live process holds that lock (it is fetching now: they are its own)."""
    with suppress(OSError):  # a folder that cannot be written: the fetch itself says so
        if (fd := lock_file(folder / f".{name}.lock", wait=False)) is None:
            return  # fetching now
        try:
            for path in leftovers():
                remove(path)
            (folder / f".{name}.lock").unlink(missing_ok=True)  # while locked, as `fetching` does
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def stages_in(root: Path) -> list[re.Match[str]]:
    """The staging folders in `root` (`staged`), as matches of `STAGE` (`name`: the dataset): a user's files stay."""
    return [stage for path in root.glob(f".*{STAGE_SUFFIX}") if (stage := STAGE.fullmatch(path.name))]


def move_in(source: Path, target: Path) -> None:
    """Rename every file under `source` to its place under `target`, where no entry is (a user's file
    stays); folders are made. Each file appears whole: a reader never sees one half-written."""
    for parent, _, files in os.walk(source):
        into = target / Path(parent).relative_to(source)
        into.mkdir(parents=True, exist_ok=True)
        for name in files:
            if not (into / name).exists() and not (into / name).is_symlink():
                os.replace(Path(parent, name), into / name)


def remove(path: Path) -> None:
    """Delete the file, link or folder tree `path`, as far as it can."""
    with suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def looking() -> AbstractContextManager[None]:
    """Within it, datasets read their files and write nothing (`torchlab show`): no download, no index
    written into the user's image folder."""
    return _LOOKING.on()


def writes_allowed() -> bool:
    """Whether a dataset may write beside its files (an image folder's index); not while `looking`."""
    return not _LOOKING.is_on()


def downloads_allowed(configured: bool) -> bool:
    """Tests and CI set TORCHLAB_OFFLINE=1 so that nothing ever tries the network; `looking` fetches nothing."""
    return configured and writes_allowed() and os.environ.get("TORCHLAB_OFFLINE", "") not in ("1", "true", "yes")


def download_failed(err: BaseException) -> str:
    """A failed download, for a one-line message: its error's first line (torchvision's spans several)."""
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "") or type(err).__name__
    return f"download failed: {first.rstrip(':')}"
