"""Where datasets live: --data-dir, else $TORCHLAB_DATA, else ~/.cache/torchlab/data."""

import os
from pathlib import Path


def data_root(configured: str | None) -> Path:
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("TORCHLAB_DATA"):
        return Path(os.environ["TORCHLAB_DATA"]).expanduser()
    return Path.home() / ".cache" / "torchlab" / "data"


def downloads_allowed(configured: bool) -> bool:
    """Tests and CI set TORCHLAB_OFFLINE=1 so that nothing ever tries the network."""
    return configured and os.environ.get("TORCHLAB_OFFLINE", "") not in ("1", "true", "yes")


def download_failed(err: BaseException) -> str:
    """A failed download, for a one-line message: its error's first line (torchvision's spans several)."""
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "") or type(err).__name__
    return f"download failed: {first.rstrip(':')}"
