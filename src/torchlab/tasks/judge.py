"""The judge of generated digits: a trained classifier, loaded from a torchlab run's checkpoint.

`task.judge` names a classifier run directory (or its checkpoint file). Left unset, the judge is
the `mnist-cnn` recipe's run where that recipe exists, else `mnist-mlp`'s, trained once into
~/.cache/torchlab/judges/RECIPE-unsmoothed and reused by every later run (`api.load_judge` trains
it, before the GAN's own Trainer is built). It is trained without label smoothing: smoothing 0.1
trains the true class towards p = 0.91, so a smoothed judge is often unsure (p < 0.9) even of
real digits.

The judge is the instrument the generative figures are read with, so its training is pinned here
(`JUDGE_OVERRIDES`: mnist-cnn's settings when those figures were measured) rather than following
the recipe: a faster mnist-cnn must not move a GAN's "confidently classified" share.
"""

from pathlib import Path

import torch
from torch import nn

from torchlab.config import build_config
from torchlab.core.checkpoint import load_checkpoint, load_weights
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import build_model

JUDGE_CACHE = Path.home() / ".cache" / "torchlab" / "judges"
JUDGE_OVERRIDES = {
    "mnist-cnn": [
        "train.epochs=2",
        "data.batch_size=256",
        "optim.lr=0.01",
        "optim.betas=[0.9,0.999]",
        "optim.fused=false",
        "data.center_crop=null",  # a judge reads whole 28 x 28 generated digits
        "train.amp=none",  # the same judge on every host, with fast bf16 or not
    ],
    "mnist-mlp": [],
}


class Judge(nn.Module):
    """Class probabilities of images given as pixels in [0, 1]."""

    def __init__(self, classifier: nn.Module, info: DataInfo, source: Path) -> None:
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.input_shape, self.source = tuple(info.input_shape), source
        mean, std = (torch.tensor(v).view(-1, 1, 1) for v in info.normalization)
        self.register_buffer("mean", mean, persistent=False)  # buffers: `.to(device)` moves them
        self.register_buffer("std", std, persistent=False)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # in full precision under a bf16 or fp16 run too: the measure must not change with the run's amp
        with torch.autocast(pixels.device.type, enabled=False):
            return self.classifier((pixels.float() - self.mean) / self.std).softmax(1)

    def check(self, info: DataInfo) -> None:
        """A TorchlabError unless this judge reads images of `info`'s shape."""
        if self.input_shape != tuple(info.input_shape):
            raise TorchlabError(
                f"task.judge: {self.source} classifies {self.input_shape} inputs; need {tuple(info.input_shape)} images"
            )


def judge_from(path: Path) -> Judge:
    """The classifier saved at `path` (a run directory or a checkpoint), on the CPU.

    Its model and data info come from the checkpoint itself: no dataset is loaded."""
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    if not path.is_file():
        raise TorchlabError(f"task.judge: no classifier checkpoint at {path} (give a classifier run directory)")
    state = load_checkpoint(path)
    cfg = build_config(state["config"])
    if cfg.task.name != "classify" or not state.get("info") or not state["info"].get("normalization"):
        raise TorchlabError(f"task.judge: {path} is a {cfg.task.name} run, not an image classifier's")
    info = DataInfo.from_dict(state["info"])
    classifier = build_model(cfg.model, info)
    load_weights(classifier, state, path)
    return Judge(classifier, info, path)
