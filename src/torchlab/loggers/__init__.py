"""Loggers receive a handful of events: metrics, a preview of the inputs, finish. JSONL is always on.

Add a logger with `@LOGGERS.register("name")` on a class taking `(run_dir, config)`. A logger
that talks to a server warns once when it cannot reach it and the run goes on without it.
"""

import sys
from pathlib import Path
from typing import Any

import torch

from torchlab.config import Config
from torchlab.registry import Registry
from torchlab.tasks import Preview

LOGGERS: Registry = Registry("logger", package="torchlab.loggers")


class Logger:
    """Base logger: every event does nothing unless a subclass says otherwise."""

    wants_preview = False  # True: the Trainer computes a Preview each epoch for `log_preview`

    def __init__(self, run_dir: Path, config: Config) -> None:
        self.run_dir = run_dir
        self.config = config
        self.stepped: set[str] = set()  # see curve_points

    def curve_points(self, metrics: dict[str, float], event: str) -> dict[str, float]:
        """The metrics a live chart plots: a train metric already logged per interval ("step") is not
        plotted again as its epoch mean, which would zigzag the curve."""
        if event == "step":
            self.stepped.update(metrics)
            return metrics
        return {k: v for k, v in metrics.items() if k not in self.stepped}

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        """`event` is "step" (a training interval), "epoch" (train and val means) or "test"."""

    def log_preview(self, preview: Preview, step: int, epoch: int) -> None:
        """The first validation inputs of this epoch and what the model made of them."""

    def log_model(self, model: torch.nn.Module, step: int, epoch: int) -> None:
        """After an epoch: the plain model, its gradients those of the epoch's last step."""

    def finish(self, summary: dict[str, Any]) -> None:
        """The run ended (any status); flush and close. A logger that shows the run somewhere may add
        `summary["watch"][NAME] = WHERE` (a URL, a command), which the final summary prints."""

    @classmethod
    def log_figures(cls, run_dir: Path, config: Config, plots: list[Path]) -> None:
        """After the run's figures are drawn (and its loggers finished): show them, if this logger can."""


def logger_classes(config: Config) -> list[type[Logger]]:
    """JSONL, the console, then `log.loggers` in order; an unknown name raises TorchlabError."""
    names = ["jsonl", "console", *(n for n in config.log.loggers if n not in ("none", "jsonl", "console"))]
    return [LOGGERS.get(name) for name in dict.fromkeys(names)]


def build_loggers(run_dir: Path, config: Config) -> list[Logger]:
    return [cls(run_dir, config) for cls in logger_classes(config)]


def log_figures(run_dir: Path, config: Config, plots: list[Path]) -> None:
    """Hand the run's drawn figures (PNG files) to each of its loggers that shows pictures."""
    for cls in logger_classes(config):
        cls.log_figures(run_dir, config, plots)


def warn(message: str) -> None:
    """One line on stderr, `torchlab: warning: ...`, for what a user should know but need not stop for."""
    print(f"torchlab: warning: {message}", file=sys.stderr, flush=True)


def unit_range(images: torch.Tensor) -> torch.Tensor:
    """Float images on the CPU, each rescaled to [0, 1] (inputs arrive normalised, in any range)."""
    images = images.detach().float().cpu()
    flat = images.flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    scale = (high - low).clamp_min(1e-8)
    return ((flat - low[:, None]) / scale[:, None]).view_as(images)
