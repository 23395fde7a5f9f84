"""Atomic file writes: a reader (or a crash) sees the old complete file or the new one."""

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from torchlab.core.errors import TorchlabError

TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through `write(file)` into a temporary sibling, fsync, then rename over `path`.

    A failed write (disk full, read-only, file too large) is a TorchlabError; `path` keeps its
    previous content and no temporary file stays behind.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp:
            with suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            why = err.strerror or str(err)
            raise TorchlabError(f"could not write {path}: {why}; the previous version is intact") from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold RUN_DIR/.lock for the block: a second process on the same run directory is refused.

    An flock, not a marker file: the kernel drops it when the holder dies (even by SIGKILL),
    so a killed run stays resumable. The holder's pid is written in the file for the message.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise TorchlabError(
                f"another torchlab process (pid {holder}) is using {run_dir}; wait for it or pick another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        for stale in [*run_dir.glob(f".*{TEMP_SUFFIX}"), *run_dir.glob(f"*/.*{TEMP_SUFFIX}")]:
            stale.unlink(missing_ok=True)  # left by a writer killed mid-write; we hold the lock now
        yield
    finally:
        os.close(fd)  # releases the lock
