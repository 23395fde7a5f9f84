"""What the commands do, as functions: train a recipe, resume a run, evaluate a run."""

import time
from pathlib import Path
from typing import Any

from torchlab.config import Config, load_run_config, save_config
from torchlab.engine.checkpoint import load_checkpoint, load_weights
from torchlab.engine.distributed import cleanup_distributed
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
    if trainer.dist.is_main:
        save_config(config, trainer.run_dir / "config.yaml")
    return finish(trainer)


def finish(trainer: Trainer) -> dict[str, Any]:
    """Fit, then draw the run's figures into plots/ (rank 0 only under torchrun)."""
    try:
        summary = trainer.fit()
    finally:
        cleanup_distributed()
    if trainer.dist.is_main:
        draw_figures(trainer, trainer.run_dir / "plots")
    return summary


def resume(run_dir: Path, epochs: int | None = None) -> dict[str, Any]:
    """Continue an interrupted run from checkpoints/last.pt (to `epochs` in all, if given)."""
    config = load_run_config(run_dir)
    if epochs is not None:
        config.train.epochs = epochs
    trainer = Trainer(config, run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    if last.exists():  # absent when the run stopped inside its first epoch: start it again
        trainer.load_state_dict(load_checkpoint(last), last)
    if trainer.epoch >= config.train.epochs:
        raise TorchlabError(f"{run_dir} already trained {trainer.epoch} epochs; pass --epochs N to train further")
    if trainer.dist.is_main:
        save_config(config, run_dir / "config.yaml")
    return finish(trainer)


def evaluate(run_dir: Path, data_dir: str | None = None, device: str | None = None) -> dict[str, float]:
    """Test metrics of a run's best.pt, computed as at the end of training."""
    config = load_run_config(run_dir)
    if data_dir:
        config.data.root = data_dir
    if device:
        config.train.device = device
    best = run_dir / "checkpoints" / "best.pt"
    state = load_checkpoint(best)
    trainer = Trainer(config, run_dir)
    load_weights(trainer.model, state, best)
    return trainer.evaluate(trainer.data.test_loader(), "test")
