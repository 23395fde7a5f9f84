"""Checkpoints: plain dicts of tensors and primitives, written atomically, read weights-only.

Keys: format, recipe, model_name, model, optimizers, schedules, scaler, epoch, step, best,
early_stop, clock, rng, config. Nothing in them needs a class to be unpickled, so
`torch.load(..., weights_only=True)` always works and a hostile file cannot run code.
"""

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchlab.engine.files import atomic_write
from torchlab.errors import TorchlabError

FORMAT = "torchlab-checkpoint/1"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a torchlab checkpoint on the CPU, or raise TorchlabError saying what is wrong."""
    state = load_weights_only(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TorchlabError(f"{path} is not a torchlab checkpoint (expected format {FORMAT})")
    return state


def load_weights_only(path: Path) -> Any:
    """Whatever `torch.save` wrote to `path` (a torchlab checkpoint, a state dict...), on the CPU.

    Only tensors and primitives load (`weights_only=True`); anything else is a TorchlabError.
    """
    if not path.is_file():
        raise TorchlabError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe content"
        raise TorchlabError(f"refused to load {path}: it holds more than weights ({first})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise TorchlabError(f"checkpoint {path} is corrupt or truncated ({type(err).__name__})") from None


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under torch.compile and DistributedDataParallel wrappers."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def load_weights(model: nn.Module, state: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's model weights strictly; another model's weights are a TorchlabError."""
    try:
        unwrap(model).load_state_dict(state["model"])
    except RuntimeError as err:
        detail = str(err).strip().splitlines()[0]
        raise TorchlabError(
            f"{path} holds weights of another model ({state.get('model_name', '?')} from recipe "
            f"'{state.get('recipe', '?')}'): {detail}"
        ) from None
