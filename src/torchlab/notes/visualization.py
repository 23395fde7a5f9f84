"""Visualisation: curves, images and text for a run, with TensorBoard (torch.utils.tensorboard).

The notes install tensorboardX and say it "only accepts numpy": torch.utils.tensorboard ships with
PyTorch and takes tensors. Visdom needs its server (`python -m visdom.server`) and is not installed
here; its viz.line / viz.images / viz.text map to add_scalar / add_images / add_text below.
"""

import tempfile
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from torchlab.notes import show

ORDER = 170
BLOCKS = ("可视化工具安装，比较麻烦，只能接受numpy的数据：", "Visdom from Facebook：")


def log_run(log_dir: Path, losses: torch.Tensor, images: torch.Tensor, pred: torch.Tensor) -> dict[str, list[str]]:
    """Log tensors as Visdom's line/images/text would; return the tags written, read back from disk."""
    with SummaryWriter(log_dir) as writer:
        for step, loss in enumerate(losses):
            writer.add_scalar("train loss", loss, global_step=step)  # viz.line(..., update='append')
        writer.add_images("x", images.view(-1, 1, 28, 28), global_step=0)  # viz.images(...)
        writer.add_text("pred", str(pred.tolist()), global_step=0)  # viz.text(...)
    events = EventAccumulator(str(log_dir)).Reload()
    return {kind: events.Tags()[kind] for kind in ("scalars", "images", "tensors")}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tags = log_run(Path(tmp), torch.linspace(2.3, 0.1, 20), torch.rand(8, 784), torch.randint(0, 10, (8,)))
    show("tags read back from the event file", tags)
    show("view them with", "tensorboard --logdir runs  (torchlab train writes runs/RECIPE/TIME/tensorboard)")
