"""Render a page in headless Chromium (Debian's package; .ci/run installs it): a screenshot and
every message the page logged to its console."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",  # console messages come out as lines holding ":CONSOLE"
    "--v=0",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "headless Chromium is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def render(page: Path, screenshot: Path, size: tuple[int, int] = (1280, 2400)) -> list[str]:
    """Screenshot `page` into `screenshot`; returns the console messages (our pages run no script,
    so any message at all, a failed resource or an error, is a fault)."""
    profile = screenshot.with_suffix(".profile")  # a fresh profile for every render
    result = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
         f"--screenshot={screenshot}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0 and screenshot.is_file(), result.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def ink(screenshot: Path) -> tuple[float, float]:
    """(share of pixels that are not background white, grey-level standard deviation)."""
    grey = Image.open(screenshot).convert("L")
    hist = grey.histogram()
    return 1 - sum(hist[245:]) / sum(hist), ImageStat.Stat(grey).stddev[0]
