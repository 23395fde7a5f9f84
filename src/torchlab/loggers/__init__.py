"""Loggers receive a handful of events: metrics, a preview of the inputs, finish. JSONL is always on.

Add a logger with `@LOGGERS.register("name")` on a class taking `(run_dir, config)`. A logger
that talks to a server warns once when it cannot reach it and the run goes on without it.
"""

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torchlab.config import Config
from torchlab.loggers.points import scatter
from torchlab.registry import Registry
from torchlab.tasks import Preview

LOGGERS: Registry = Registry("logger", package="torchlab.loggers")


@dataclass
class Embedding:
    """Points for an embedding projector: a latent code (or a word vector) per point, its label, and
    for images a thumbnail of each. Computed at the end of a run only when a logger `shows_embeddings`."""

    name: str  # "latent codes", "word embeddings"
    vectors: torch.Tensor  # [N, D] on the CPU
    labels: list[str]  # one per point: a class name, a word
    images: torch.Tensor | None = None  # [N, C, H, W] thumbnails in [0, 1]


class Logger:
    """Base logger: every event does nothing unless a subclass says otherwise."""

    wants_preview = False  # True: the Trainer computes a Preview each epoch for `log_preview`
    shows_graph = False  # True: `log_graph` gets the best model and one test batch at the end of the run
    shows_embeddings = False  # True: `log_embeddings` gets the test samples' codes (or word vectors) at the end

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

    @classmethod
    def log_graph(cls, run_dir: Path, config: Config, model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        """At the end of the run (`shows_graph`): the plain best model, in eval mode, and one batch of its inputs."""

    @classmethod
    def log_embeddings(cls, run_dir: Path, config: Config, embeddings: list[Embedding]) -> None:
        """At the end of the run (`shows_embeddings`): points for an embedding projector."""


class Snapshots:
    """A GAN's samples of its fixed noise, which the Trainer saves after each epoch (after that epoch's
    metrics) as RUN_DIR/snapshots/epoch-NNN.pt: each handed out once, placed at its epoch's step, as
    images (a GAN on 2-d points: one picture of its points over the real modes). A resumed run's
    earlier snapshots were shown already."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / "snapshots"
        self.epoch_steps: dict[int, int] = {}  # epoch -> its last step
        self.shown = set(self.paths())

    def ended(self, epoch: int, step: int) -> None:
        """Epoch `epoch` ended at `step`: its snapshot, once saved, may be shown."""
        self.epoch_steps[epoch] = step

    def paths(self) -> list[Path]:
        return sorted(self.folder.glob("epoch-*.pt"))

    def new(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        """(epoch, step, samples in [0, 1]) of each snapshot not yet shown whose epoch has ended."""
        for path in self.paths():
            epoch = int(path.stem.split("-")[1])
            if path in self.shown or epoch not in self.epoch_steps:
                continue
            self.shown.add(path)
            snapshot = torch.load(path, map_location="cpu", weights_only=True)
            if "points" in snapshot:  # a GAN on 2-d points
                picture = scatter(snapshot["points"], snapshot["centres"], float(snapshot["sigma"]))
                yield epoch, self.epoch_steps[epoch], picture
            elif "samples" in snapshot:
                yield epoch, self.epoch_steps[epoch], snapshot["samples"].float().clamp(0, 1)


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


def showing(config: Config, what: str) -> list[type[Logger]]:
    """The run's loggers that show `what` ("graph", "embeddings"): figures compute it only for them."""
    return [cls for cls in logger_classes(config) if getattr(cls, f"shows_{what}")]


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
