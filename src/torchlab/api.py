"""What the commands do, as functions: train a recipe, resume a run, evaluate a run."""

import json
import time
from pathlib import Path
from typing import Any

from torchlab.config import Config, load_run_config, save_config
from torchlab.engine.checkpoint import load_checkpoint, load_tensors, load_weights
from torchlab.engine.files import run_lock
from torchlab.engine.trainer import Trainer
from torchlab.errors import TorchlabError
from torchlab.report import draw_figures


def default_run_dir(recipe: str) -> Path:
    """runs/RECIPE/YYYYmmdd-HHMMSS, with a suffix if two runs start in the same second."""
    base = Path("runs") / recipe / time.strftime("%Y%m%d-%H%M%S")
    run_dir, n = base, 1
    while run_dir.exists():
        run_dir, n = base.with_name(f"{base.name}-{n}"), n + 1
    return run_dir


def train(config: Config, out: Path | None = None) -> dict[str, Any]:
    """Train `config` into a new run directory and return its summary."""
    run_dir = out or default_run_dir(config.recipe)
    if (run_dir / "config.yaml").exists():
        raise TorchlabError(
            f"{run_dir} already holds a run: `torchlab resume {run_dir}` continues it; pick another --out"
        )
    trainer = Trainer(config, run_dir)  # data and model are checked before anything is written
    with run_lock(run_dir):  # checked again under the lock: two runs racing for one --out
        if (run_dir / "config.yaml").exists():
            raise TorchlabError(f"{run_dir} already holds a run: `torchlab resume {run_dir}` continues it")
        save_config(config, run_dir / "config.yaml")
        return finish(trainer)


def finish(trainer: Trainer) -> dict[str, Any]:
    """Fit, then draw the run's figures into plots/."""
    summary = trainer.fit()
    draw_figures(trainer, trainer.run_dir / "plots")
    return summary


def finished(run_dir: Path) -> bool:
    """Whether the run's summary.json says it trained to the end (not interrupted, killed or failed)."""
    try:
        return json.loads((run_dir / "summary.json").read_text())["status"] in ("completed", "early_stopped")
    except (OSError, ValueError, KeyError, TypeError):
        return False


def resume(run_dir: Path, epochs: int | None = None) -> dict[str, Any]:
    """Continue an interrupted run from checkpoints/last.pt (to `epochs` in all, if given)."""
    config = load_run_config(run_dir)
    if epochs is not None:
        config.train.epochs = epochs
    trainer = Trainer(config, run_dir)
    with run_lock(run_dir):
        last = run_dir / "checkpoints" / "last.pt"
        if last.exists():  # absent when the run was killed inside its first epoch: start it again
            trainer.load_state_dict(load_checkpoint(last), last)
        if trainer.epoch >= config.train.epochs and finished(run_dir):  # else: killed while testing, test now
            raise TorchlabError(f"{run_dir} already trained {trainer.epoch} epochs; pass --epochs N to train further")
        save_config(config, run_dir / "config.yaml")
        return finish(trainer)


def evaluate(
    run_dir: Path, data_dir: str | None = None, device: str | None = None, weights: Path | None = None
) -> dict[str, float]:
    """Test metrics of a run's best.pt (or of `weights`: a .safetensors or .pt state dict of the
    same model), computed as at the end of training."""
    config = load_run_config(run_dir)
    if data_dir:
        config.data.root = data_dir
    if device:
        config.train.device = device
    path = weights or run_dir / "checkpoints" / "best.pt"
    state = {"model": load_tensors(path)} if weights else load_checkpoint(path)
    trainer = Trainer(config, run_dir)
    load_weights(trainer.model, state, path)
    return trainer.evaluate(trainer.data.test_loader(), "test")
