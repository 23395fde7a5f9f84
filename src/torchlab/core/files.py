"""Atomic file writes: a reader (or a crash) sees the old complete file or the new one. Data files read
through `open_data`: one that cannot be read is one line naming it."""

import errno
import fcntl
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, TypeVar

from torchlab.core.errors import TorchlabError

TEMP_SUFFIX = ".tmp"
PathText = TypeVar("PathText", bound=str | os.PathLike[str])


def user_path(text: str | os.PathLike[str]) -> Path:
    """`text` as a Path with `~` and `~USER` expanded; a `~USER` that names no user (`--data-dir ~data`,
    a missing slash) is a TorchlabError, where Path.expanduser raised a RuntimeError (exit 1)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = str(text)[1:].split("/", 1)[0]
        raise TorchlabError(f"{text}: there is no user '{user}' for ~{user} (your home is ~/)") from None


def named_path(value: PathText, what: str, has_default: bool = False) -> PathText:
    """`value`, a path the user gave (a flag, an argument, a config key, a Python argument), refused when empty
    or blank: `--data-dir "$UNSET"`, `data.root=''` or `out=""` named no file or folder, and the default
    (or the current folder) was taken without a word. `what` names it as the user wrote it (`--out`,
    `data.root`, `torchlab.train's out=`); `has_default`: leaving it out takes a default."""
    if not os.fspath(value).strip():
        instead = ", or leave it out for its default" if has_default else ""
        raise TorchlabError(f"{what} is empty: name a file or folder{instead}")
    return value


@contextmanager
def open_data(path: Path, what: str = "", encoding: str | None = None, newline: str | None = None) -> Iterator[IO]:
    """`path` open for reading, as text in `encoding` (else bytes): an OSError opening or reading it (a
    folder in its place, no permission, an I/O error) is a TorchlabError naming it (`what`: "the word vectors ")."""
    check_data_file(path, what)
    try:
        with open(path, "r" if encoding else "rb", encoding=encoding, newline=newline) as f:
            yield f
    except OSError as err:
        raise TorchlabError(f"cannot read {what}{path}: {err.strerror or err}") from None


def check_data_file(path: Path, what: str = "") -> None:
    """A TorchlabError where `path` is there but is no regular file: a folder, or a pipe, socket or device
    (opening one would wait for a writer)."""
    if path.is_dir():
        raise TorchlabError(f"cannot read {what}{path}: Is a directory")
    if path.exists() and not path.is_file():
        raise TorchlabError(f"cannot read {what}{path}: not a regular file (a pipe, socket or device)")


def read_data_bytes(path: Path) -> bytes:
    """The bytes of the data file `path`, as `open_data` reads it."""
    with open_data(path) as f:
        return f.read()


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through `write(file)` into a temporary sibling, fsync, then rename over `path`.

    A failed write (disk full, read-only, file too large) is a TorchlabError; `path` keeps its
    previous content and no temporary file stays behind, nor a folder made for it.
    """
    tmp, made = None, missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temporary(path)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp:
            with suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
        remove_made(made)
        if isinstance(err, OSError):
            why = err.strerror or str(err)
            kept = "; the previous version is intact" if path.is_file() else ""
            raise TorchlabError(f"could not write {path}: {why}{kept}") from None
        raise


def create_temporary(path: Path) -> tuple[int, Path]:
    """A new file `.NAME.XXXXXXXX.tmp` beside `path`, open for writing: (descriptor, path).

    Created with mode 0o666 less the umask, as `open()` would (tempfile's are 0o600 whatever the
    umask), exclusively (`O_EXCL` never follows or reuses a planted link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


# What torchlab writes in a run directory. A stale temporary file is removed only when it is one
# of its own atomic writes' (`.NAME.XXXXXXXX.tmp`, NAME below for its folder), and no entry it
# writes may be a symbolic link: nothing outside the run is ever written, truncated or deleted.
LOCK = ".lock"
ATOMIC_NAMES = {
    "": re.compile(r"config\.yaml|summary\.json|split\.json|report\.html"),
    "checkpoints": re.compile(r"(last|best)\.pt"),
    "snapshots": re.compile(r"epoch-\d+\.pt"),
    "export": re.compile(r"model\.(safetensors|onnx)"),
}
TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX))
WRITTEN = ("config.yaml", "summary.json", "split.json", "report.html", "metrics.jsonl", "tensorboard")
WRITTEN_FOLDERS = ("checkpoints", "snapshots", "plots", "export")


def is_own_temporary(folder: str, name: str) -> bool:
    """Whether `name` in the run directory's `folder` ("" itself) is a temporary file torchlab writes."""
    match = TEMPORARY.fullmatch(name)
    return bool(match and folder in ATOMIC_NAMES and ATOMIC_NAMES[folder].fullmatch(match["name"]))


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporary files a writer killed mid-write left: torchlab's own names only, regular
    files only, in the run directory and its own folders (never one reached through a link)."""
    for folder in ATOMIC_NAMES:
        where = run_dir / folder
        if folder and (where.is_symlink() or not where.is_dir()):
            continue
        with os.scandir(where) as entries:
            stale = [e for e in entries if is_own_temporary(folder, e.name) and e.is_file(follow_symlinks=False)]
        for entry in stale:
            Path(entry.path).unlink(missing_ok=True)


def refuse_planted_links(run_dir: Path) -> None:
    """A TorchlabError if anything torchlab writes in `run_dir` is a symbolic link (a file it would
    write through, or a folder of its own): it would write outside the run."""
    names = [*WRITTEN, *WRITTEN_FOLDERS]
    for folder in WRITTEN_FOLDERS:
        where = run_dir / folder
        if where.is_dir() and not where.is_symlink():
            with os.scandir(where) as entries:
                names += [f"{folder}/{e.name}" for e in entries if e.is_symlink()]
    for name in names:
        if (run_dir / name).is_symlink():
            raise TorchlabError(
                f"{run_dir / name} is a symbolic link: torchlab writes nothing through a link in a run directory; "
                "remove it (or pick another --out)"
            )


RUN_MARKS = ("metrics.jsonl", "summary.json", "split.json", "checkpoints")  # beside a run's config.yaml


def torchlab_folder(path: Path) -> Path | None:
    """The run directory or cross-validation folder that `path` is or lies in (resolved); None if neither.
    A run is a config.yaml beside what training writes: a bare config.yaml may be anyone's."""
    where = path.resolve()
    for folder in [where, *where.parents]:
        if (folder / "cv_summary.json").is_file():
            return folder
        if (folder / "config.yaml").is_file() and any((folder / name).exists() for name in RUN_MARKS):
            return folder
    return None


def refuse_inside_another(folder: Path) -> None:
    """A TorchlabError when `folder` lies inside a run directory or a finished cross-validation's folder:
    their files are their own (`torchlab report`, `resume` and `cv` read every folder in them)."""
    owner = torchlab_folder(folder.parent) if folder.parent != folder else None
    if owner is not None:
        what = "cross-validation" if (owner / "cv_summary.json").is_file() else "run"
        raise TorchlabError(f"{folder} lies inside the {what} {owner}, whose files are its own; pick another --out")


NAME_MAX, PATH_MAX = 255, 4096  # Linux's limits, in bytes
LONGEST_INSIDE = len("/checkpoints/.best.pt.01234567.tmp")  # the longest path torchlab writes in a run


def check_output_folder(folder: Path, flag: str) -> None:
    """A TorchlabError, before anything is written, when `folder` (given by `flag`) cannot be made or
    written in: a file, a path under a file, or under a folder that is not writable."""
    absolute = Path(os.path.abspath(folder))
    existing = absolute
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        if existing == absolute:
            raise TorchlabError(f"{folder} exists and is not a directory; pick another {flag}")
        raise TorchlabError(f"{folder} is under {existing}, which is not a directory; pick another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TorchlabError(f"cannot write in {folder}: {existing} is not writable; pick another {flag}")


def check_new_run_dir(run_dir: Path) -> None:
    """A TorchlabError, before any data loads or anything is written, when a new run cannot go to
    `run_dir`: a path that is not UTF-8 or too long, a file or under one, an unwritable parent, a
    run already there, or a folder that is not empty and not torchlab's (it is never written into)."""
    text = str(run_dir)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TorchlabError(f"--out {text!r} is not valid UTF-8: pick a run directory with a UTF-8 name") from None
    if not text or text == ".":
        raise TorchlabError("--out is empty or the current folder: name a new folder for the run")
    absolute = Path(os.path.abspath(run_dir))
    for part in absolute.parts[1:]:
        if len(os.fsencode(part)) > NAME_MAX:
            raise TorchlabError(f"--out: the name {part[:40]}... is longer than {NAME_MAX} bytes; pick a shorter one")
    if len(os.fsencode(str(absolute))) + LONGEST_INSIDE > PATH_MAX:
        raise TorchlabError(f"--out: the path is too long (at most {PATH_MAX - LONGEST_INSIDE} bytes here)")
    refuse_inside_another(absolute)
    check_output_folder(run_dir, "--out")
    if not absolute.exists():
        return
    try:
        names = os.listdir(absolute)
    except OSError as err:
        raise TorchlabError(f"cannot use {run_dir} as a run directory: {err.strerror or err}") from None
    if "config.yaml" in names:
        raise TorchlabError(
            f"{run_dir} already holds a run: `torchlab resume {run_dir}` continues it; pick another --out"
        )
    foreign = sorted(name for name in names if name != LOCK and not is_own_temporary("", name))
    if foreign:
        raise TorchlabError(
            f"{run_dir} is a folder that is not a torchlab run (no config.yaml; it holds {foreign[0]!r}"
            f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}): torchlab trains only into a new "
            "or empty folder; pick another --out"
        )


def missing_folders(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first: what making `path` creates."""
    return [folder for folder in (path, *path.parents) if not os.path.lexists(folder)]


def remove_made(folders: list[Path]) -> None:
    """Remove the `folders` (`missing_folders`) that a refused command made, deepest first, each only while
    empty: what another process put in them meanwhile stays, and with it the folders above; any folder
    that was there before is not among them. (A run lock made in one went with the refusal: `run_lock`.)"""
    for folder in folders:
        with suppress(OSError):
            folder.rmdir()


def is_at(fd: int, path: Path) -> bool:
    """Whether the open file `fd` is the one at `path` still (a lock file's holder deletes it before unlocking)."""
    try:
        return os.path.samestat(os.fstat(fd), path.stat(follow_symlinks=False))
    except FileNotFoundError:
        return False


def open_lock_file(run_dir: Path, new_run: bool = False) -> int:
    """RUN_DIR/.lock opened read-write (created if absent): a regular file, never through a link. The run
    directory is made (with its missing parents) for a `new_run` only: a command that reads a run never
    creates it."""
    path = run_dir / LOCK
    try:
        if new_run:
            run_dir.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a planted link is refused (ELOOP); O_NONBLOCK: a planted FIFO does not hang the open
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        raise TorchlabError(f"{run_dir} exists and is not a directory; pick another --out") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise TorchlabError(f"{path} is a symbolic link: torchlab follows no link there; remove it") from None
        where = path if err.errno == errno.EISDIR else run_dir
        raise TorchlabError(f"cannot use {where} as a run directory: {err.strerror or err}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise TorchlabError(f"{path} is not a regular file: remove it (torchlab keeps its lock there)")
    return fd


def in_use(fd: int, run_dir: Path) -> TorchlabError:
    """The refusal of a run directory whose lock file, open as `fd`, another process holds (its pid is in it)."""
    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    return TorchlabError(
        f"another torchlab process (pid {holder}) is using {run_dir}: wait for it to end "
        "(or, for a new run, pick another --out)"
    )


def held_lock_file(run_dir: Path, new_run: bool) -> int:
    """RUN_DIR/.lock open (`open_lock_file`) and locked by this process; a TorchlabError if another holds it."""
    while True:
        fd = open_lock_file(run_dir, new_run)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            refusal = in_use(fd, run_dir)
            os.close(fd)
            raise refusal from None
        if is_at(fd, run_dir / LOCK):
            return fd
        # Removed between our open and our lock by the refused command that made it (`run_lock`): a lock
        # on the removed file would not keep out a process that opens the new one, so open that instead.
        os.close(fd)


def refuse_in_use(run_dir: Path) -> None:
    """A TorchlabError naming the process that holds RUN_DIR/.lock, if one does. Nothing is created,
    written or removed: a command that only reads a run probes its lock so."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # no lock file (or none torchlab could lock: the command that locks it says so)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise in_use(fd, run_dir) from None
    except OSError:
        pass
    finally:
        os.close(fd)  # closing drops a lock taken


@contextmanager
def run_lock(run_dir: Path, new_run: bool = False) -> Iterator[None]:
    """Hold RUN_DIR/.lock for the block: a second process on the same run directory is refused.

    An flock, not a marker file: the kernel drops it when the holder dies (even by SIGKILL),
    so a killed run stays resumable. The holder's pid is written in the file for the message.
    Under the lock, torchlab's own stale temporary files are removed and a run directory where
    something torchlab writes is a symbolic link is refused. A block that raises (a refused
    command) leaves the lock file as it found it: removed if this call made it, else its content
    and times restored. `new_run`: the run directory is made if missing (`open_lock_file`).
    """
    path = run_dir / LOCK
    made = not os.path.lexists(path)
    fd = held_lock_file(run_dir, new_run)
    before, found = os.pread(fd, 64, 0), os.fstat(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        refuse_planted_links(run_dir)
        remove_stale_temporaries(run_dir)  # left by a writer killed mid-write; we hold the lock now
        yield
    except BaseException:
        with suppress(OSError):  # under the lock still: no other process is using the file
            if made:
                path.unlink()
            else:
                os.ftruncate(fd, 0)
                os.pwrite(fd, before, 0)
                os.utime(fd, ns=(found.st_atime_ns, found.st_mtime_ns))
        raise
    finally:
        # Unlocked, not only closed: a child forked meanwhile (a DataLoader worker) shares the lock.
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
