"""Tasks say what one step means: classify, forecast, reconstruct, adversarial.

The Trainer calls `training_step(batch, optimize)` and `validation_step(batch)`. A task computes
its loss and hands it to `optimize(loss, group)`, which the engine supplies (zero_grad, backward
with the AMP scaler, clipping, optimizer and per-step schedule). A task with two optimisers
simply calls `optimize` twice. Steps return batch-mean metrics as detached scalar tensors (or a
`PerSample` metric, computed later for many batches at once); the Trainer averages them over the
epoch without synchronising with the device every step.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from torchlab.config import TaskConfig
from torchlab.core.metrics import PerSample
from torchlab.data import Batch, DataInfo
from torchlab.registry import TASKS

Optimize = Callable[..., None]  # optimize(loss, group="model")
Metrics = dict[str, torch.Tensor | PerSample]


@dataclass
class Preview:
    """What the live loggers (TensorBoard, Visdom) show of one batch each epoch."""

    images: torch.Tensor  # [N, C, H, W] in any range: loggers rescale each image to [0, 1]
    text: str  # what the model made of them, e.g. predicted and true labels


class Task:
    """Base class: one model, one optimiser group named "model"."""

    def __init__(self, model: nn.Module, cfg: TaskConfig, info: DataInfo) -> None:
        self.model = model
        self.cfg = cfg
        self.info = info

    def parameter_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        """One optimiser is built per entry, each from the `optim` config."""
        return {"model": self.model.parameters()}

    def training_step(self, batch: Batch, optimize: Optimize) -> Metrics:
        raise NotImplementedError

    def validation_step(self, batch: Batch) -> Metrics:
        raise NotImplementedError

    def epoch_snapshot(self) -> dict[str, torch.Tensor]:
        """Tensors to keep from the end of each epoch (a GAN's fixed-noise samples); none by default.

        The Trainer saves them as RUN_DIR/snapshots/epoch-NNN.pt for figures to draw.
        """
        return {}

    def test_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        """Figures that need the whole test set at once (modes covered, ELBO...); none by default."""
        return {}

    def preview(self, batch: Batch, n: int) -> Preview | None:
        """The first `n` samples of a validation batch as the live loggers should show them; none by default."""
        return None


def build_task(cfg: TaskConfig, model: nn.Module, info: DataInfo) -> Task:
    return TASKS.get(cfg.name)(model, cfg, info)
