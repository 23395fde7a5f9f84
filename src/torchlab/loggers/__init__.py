"""Loggers receive a handful of events: start, metrics, finish. JSONL is always on.

Add a logger with `@LOGGERS.register("name")` on a class taking `(run_dir, config)`.
"""

from pathlib import Path
from typing import Any

from torchlab.config import Config
from torchlab.registry import Registry

LOGGERS: Registry = Registry("logger", package="torchlab.loggers")


class Logger:
    """Base logger: every event does nothing unless a subclass says otherwise."""

    def __init__(self, run_dir: Path, config: Config) -> None:
        self.run_dir = run_dir
        self.config = config

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        """`event` is "step" (a training interval), "epoch" (train and val means) or "test"."""

    def finish(self, summary: dict[str, Any]) -> None:
        """The run ended (any status); flush and close."""


def build_loggers(run_dir: Path, config: Config) -> list[Logger]:
    names = ["jsonl", "console", *(n for n in config.log.loggers if n not in ("none", "jsonl", "console"))]
    return [LOGGERS.get(name)(run_dir, config) for name in names]
