"""Where datasets live: --data-dir, else $TORCHLAB_DATA, else ~/.cache/torchlab/data."""

import os
from contextlib import AbstractContextManager
from pathlib import Path

from torchlab.core.files import user_path
from torchlab.core.flags import Flag

_LOOKING = Flag("looking")


def data_root(configured: str | None) -> Path:
    if configured:
        return user_path(configured)
    if os.environ.get("TORCHLAB_DATA"):
        return user_path(os.environ["TORCHLAB_DATA"])
    return Path.home() / ".cache" / "torchlab" / "data"


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
