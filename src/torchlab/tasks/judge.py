"""The judge of generated digits: a trained classifier, loaded from a torchlab run.

`task.judge` names a classifier run directory (or its checkpoint file). Left unset, the judge is
the `mnist-cnn` recipe's run where that recipe exists, else `mnist-mlp`'s, trained once into
~/.cache/torchlab/judges/RECIPE-unsmoothed and reused by every later run. It is trained without
label smoothing: smoothing 0.1 trains the true class towards p = 0.91, so a smoothed judge is
often unsure (p < 0.9) even of real digits.

The judge is the instrument the generative figures are read with, so its training is pinned here
(`JUDGE_OVERRIDES`: mnist-cnn's settings when those figures were measured) rather than following
the recipe: a faster mnist-cnn must not move a GAN's "confidently classified" share.
"""

import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from torchlab.config import build_config
from torchlab.core.checkpoint import load_checkpoint, load_weights
from torchlab.core.errors import TorchlabError
from torchlab.core.runtime import restore_rng_states, rng_states
from torchlab.data import DataInfo, build_data
from torchlab.data.loaders import Normalize
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
    ],
    "mnist-mlp": [],
}


class Judge(nn.Module):
    """Class probabilities of images given as pixels in [0, 1]."""

    def __init__(self, classifier: nn.Module, info: DataInfo, device: torch.device) -> None:
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.normalize = Normalize(*info.normalization, device)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.normalize(pixels * 255)).float().softmax(1)


def default_judge(retrain: bool = False) -> Path:
    """The cached judge run, trained now (without touching this run's RNG streams) if absent or `retrain`."""
    from torchlab import api
    from torchlab.recipes import load_recipe, recipe_names

    recipe = "mnist-cnn" if "mnist-cnn" in recipe_names() else "mnist-mlp"
    run_dir = JUDGE_CACHE / f"{recipe}-unsmoothed"
    if retrain or not (run_dir / "checkpoints" / "best.pt").is_file():
        print(f"training the judge of generated digits once: {recipe} into {run_dir}")
        states = rng_states(torch.Generator())
        JUDGE_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{recipe}.", dir=JUDGE_CACHE))
        try:
            overrides = ["task.label_smoothing=0", "log.loggers=[]", "log.progress=false", *JUDGE_OVERRIDES[recipe]]
            api.train(load_recipe(recipe, overrides), tmp / "run")
            shutil.rmtree(run_dir, ignore_errors=True)
            (tmp / "run").replace(run_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            restore_rng_states(states, torch.Generator())
    return run_dir


def load_judge(where: str | None, info: DataInfo, device: torch.device) -> Judge:
    """The classifier saved at `where` (a run directory or a checkpoint), else the default judge."""
    if where:
        return judge_from(Path(where).expanduser(), info, device)
    cached = default_judge()  # its own errors (no MNIST, say) are not a reason to train it again
    try:
        return judge_from(cached, info, device)
    except TorchlabError as err:  # cached by an older torchlab whose model has since changed
        print(f"the cached judge no longer loads ({err}); training it again")
        return judge_from(default_judge(retrain=True), info, device)


def judge_from(path: Path, info: DataInfo, device: torch.device) -> Judge:
    """The classifier saved at `path` (a run directory or a checkpoint), checked against `info`."""
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    if not path.is_file():
        raise TorchlabError(f"task.judge: no classifier checkpoint at {path} (give a classifier run directory)")
    state = load_checkpoint(path)
    cfg = build_config(state["config"])
    judge_info = build_data(cfg.data, torch.device("cpu")).info
    if cfg.task.name != "classify" or judge_info.input_shape != info.input_shape:
        raise TorchlabError(
            f"task.judge: {path} is a {cfg.task.name} run on {judge_info.input_shape} inputs; "
            f"need a classifier of {info.input_shape} images"
        )
    classifier = build_model(cfg.model, judge_info)
    load_weights(classifier, state, path)
    return Judge(classifier.to(device), judge_info, device)
