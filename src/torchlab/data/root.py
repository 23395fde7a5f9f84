"""Where datasets live: --data-dir, else $TORCHLAB_DATA, else ~/.cache/torchlab/data."""

import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

from torchlab.core.errors import TorchlabError
from torchlab.core.files import user_path
from torchlab.core.flags import Flag

_LOOKING = Flag("looking")


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


def fetch(
    root: Path, folder: Path, names: Sequence[str], download: Callable[[], None], allowed: bool, archive: str = ""
) -> str:
    """Why some of the files `names` are absent from `folder` in `root` ("downloads are off", "download
    failed: ..." or "the download lacks them"), after `download()` where any is absent and downloads are
    `allowed`; "" when all are there. A failed download removes what it wrote: the dataset's folder's new
    entries and the new `archive` in `root` (see `undone_on_failure`)."""
    if not missing_files(folder, names):
        return ""
    if not downloads_allowed(allowed):
        return "downloads are off"
    top = root / folder.relative_to(root).parts[0]
    try:
        with undone_on_failure(root, [top, *([root / archive] if archive else [])]):
            download()
    except Exception as err:  # any network or disk failure: the caller names what is missing
        return download_failed(err)
    return "the download lacks them" if missing_files(folder, names) else ""


@contextmanager
def undone_on_failure(root: Path, written: Sequence[Path]) -> Iterator[None]:
    """Within it, a download into `root` that writes the paths `written` (a dataset's folder, its archive):
    should it fail (no network, a full disk, Ctrl-C), the entries it added there are removed, then the
    folders made for `root`, where they are left empty. Nothing else goes: what was there before, and
    what another process or the user put beside them in the root meanwhile, stays."""
    made = [path for path in (root, *root.parents) if not path.exists()]  # deepest first
    before = entries(written)
    try:
        yield
    except BaseException:
        new = entries(written) - before
        for path in new:
            if path.parent not in new:
                remove(path)
        for folder in made:
            with suppress(OSError):
                folder.rmdir()  # only while empty
        raise


def entries(paths: Sequence[Path]) -> set[Path]:
    """Those of `paths` that exist, and every entry under them (links not followed)."""
    found = {path for path in paths if path.exists() or path.is_symlink()}
    for path in paths:
        for parent, folders, files in os.walk(path):
            found.update(Path(parent, name) for name in folders + files)
    return found


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
