"""Checkpoints and weight files: plain tensors and primitives, written atomically, read safely.

Keys: format, recipe, model_name, model, optimizers, schedules, scaler, epoch, step, best,
early_stop, clock, rng, position, info, config. Nothing in them needs a class to be unpickled,
so `torch.load(..., weights_only=True)` always works and a hostile file cannot run code.

Every file torchlab reads weights from goes through this module: `load_checkpoint` for a
torchlab checkpoint, `load_tensors` for a plain state dict (`.pt`/`.pth` read weights-only, or
`.safetensors`), e.g. transfer-learning weights or pretrained embeddings.
"""

import io
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as safetensors_load_file
from safetensors.torch import save as safetensors_save
from torch import nn

from torchlab.core.errors import TorchlabError
from torchlab.core.files import atomic_write

FORMAT = "torchlab-checkpoint/1"
SAFETENSORS_SUFFIXES = (".safetensors", ".st")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()  # serialise first: a failing disk then raises a plain OSError in atomic_write
    torch.save({"format": FORMAT, **state}, buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))


def torch_load(path: Path) -> Any:
    """`torch.load` weights-only on the CPU; a file with code in it or a broken one is a TorchlabError."""
    if not path.is_file():
        raise TorchlabError(f"file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe content"
        raise TorchlabError(f"refused to load {path}: it holds more than weights ({first})") from None
    except Exception as err:  # noqa: BLE001  (weights-only: anything else is a damaged file)
        raise TorchlabError(f"{path} is corrupt or truncated ({type(err).__name__})") from None


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
    return torch_load(path)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict {name: tensor} from `.safetensors`, a `.pt`/`.pth` state dict, or the
    model weights of a torchlab checkpoint; read safely, on the CPU."""
    path = Path(path)
    if path.suffix in SAFETENSORS_SUFFIXES:
        if not path.is_file():
            raise TorchlabError(f"file not found: {path}")
        try:
            return safetensors_load_file(path, device="cpu")
        except (SafetensorError, ValueError, OSError) as err:
            raise TorchlabError(f"{path} is not a readable safetensors file ({err})".splitlines()[0]) from None
    state = torch_load(path)
    if isinstance(state, dict) and state.get("format") == FORMAT:
        state = state["model"]
    elif isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise TorchlabError(f"{path} holds no state dict of named tensors")
    return state


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write named tensors as safetensors, atomically (tied weights are stored once each name)."""
    plain = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    data = safetensors_save(plain, metadata=metadata)
    atomic_write(path, lambda f: f.write(data))


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
