"""Checkpoints and weight files: plain tensors and primitives, written atomically, read safely.

Keys: format, recipe, model_name, model, optimizers, schedules, scaler, epoch, step, best,
early_stop, clock, rng, position, info, config. Nothing in them needs a class to be unpickled,
so `torch.load(..., weights_only=True)` always works and a hostile file cannot run code.

Every file torchlab reads weights from goes through this module: `load_checkpoint` for a
torchlab checkpoint, `load_tensors` for a plain state dict (`.pt`/`.pth` read weights-only, or
`.safetensors`), e.g. transfer-learning weights or pretrained embeddings.
"""

import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file as safetensors_load_file
from safetensors.torch import save as safetensors_save
from torch import nn

from torchlab.core.errors import TorchlabError
from torchlab.core.files import atomic_write
from torchlab.core.words import counted

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
        # torch's message advises weights_only=False; the reason is the line naming the code it met.
        found = [line.strip() for line in str(err).splitlines() if "global" in line.lower()]
        if not found:  # no code named: bytes that no pickle of weights holds
            raise TorchlabError(f"{path} is corrupt or truncated (not a file torch.save wrote)") from None
        raise TorchlabError(f"refused to load {path}: it holds code, not only weights ({found[0]})") from None
    except Exception as err:  # noqa: BLE001  (weights-only: anything else is a damaged file)
        raise TorchlabError(f"{path} is corrupt or truncated ({type(err).__name__})") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a torchlab checkpoint on the CPU, or raise TorchlabError saying what is wrong."""
    state = load_weights_only(path)
    found = state.get("format") if isinstance(state, dict) else None
    if isinstance(found, str) and found.startswith(FORMAT.split("/")[0] + "/") and found != FORMAT:
        raise TorchlabError(f"{path} is a checkpoint of another torchlab version ({found}; this one reads {FORMAT})")
    if found != FORMAT:
        raise TorchlabError(f"{path} is not a torchlab checkpoint (expected format {FORMAT})")
    problem = structure_problem(state)
    if problem:
        raise TorchlabError(f"{path} is a damaged torchlab checkpoint: {problem}")
    return state


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def structure_problem(state: dict[str, Any]) -> str | None:
    """What is wrong with the structure of a torchlab checkpoint's entries, or None.

    The weights-only loader guarantees tensors and primitives, not their arrangement: a file
    edited (or written by something else) may hold `model` as a list or `epoch` as a string."""
    model = state.get("model")
    if not isinstance(model, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in model.items()):
        return "'model' is not a state dict of named tensors"
    for key in ("epoch", "step"):
        if key in state and not is_count(state[key]):
            return f"'{key}' is {state[key]!r}, not a count"
    if "epoch" not in state:
        return "'epoch' is missing"
    if not isinstance(state.get("config"), dict):
        return "'config' is missing or not a mapping"
    best = state.get("best", {})
    if not isinstance(best, dict):
        return "'best' is not a mapping"
    value, epoch = best.get("value"), best.get("epoch")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"'best.value' is {value!r}, not a number"
    if epoch is not None and not is_count(epoch):
        return f"'best.epoch' is {epoch!r}, not a count"
    if not isinstance(best.get("metrics", {}), dict):
        return "'best.metrics' is not a mapping"
    for key in ("optimizers", "schedules", "scaler", "early_stop", "clock", "rng", "info"):
        if key in state and not isinstance(state[key], dict):
            return f"'{key}' is not a mapping"
    return None


def load_weights_only(path: str | Path) -> Any:
    """Whatever `torch.save` wrote to `path` (a torchlab checkpoint, a state dict...), on the CPU.

    Only tensors and primitives load (`weights_only=True`); anything else is a TorchlabError.
    """
    path = Path(path)
    if not path.is_file():
        raise TorchlabError(f"checkpoint not found: {path}")
    return torch_load(path)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict {name: tensor} from `.safetensors`, a `.pt`/`.pth` state dict, or the
    model weights of a torchlab checkpoint; read safely, on the CPU."""
    path = Path(path)
    if path.is_dir():
        raise TorchlabError(f"{path} is a folder: name a weights file (.safetensors, .pt or .pth)")
    if path.suffix == ".onnx":  # a graph for other runtimes: torch reads no weights back from it
        raise TorchlabError(f"{path} is an ONNX graph, which torchlab does not read; give the .safetensors or .pt")
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
    weights = state.get("model") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in weights.items()):
        raise TorchlabError(f"{path} holds no state dict of named tensors as its model")
    try:
        unwrap(model).load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        detail = lines[1][:200] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines[0]
        origin = (
            f" ({state['model_name']} from recipe '{state['recipe']}')"
            if {"model_name", "recipe"} <= state.keys()
            else ""
        )
        raise TorchlabError(f"{path} holds weights of another model{origin}: {detail}") from None


def weights_state(path: Path) -> dict[str, Any]:
    """`{"model": weights}` of a weights file, with the recipe and model name an export recorded."""
    state: dict[str, Any] = {"model": load_tensors(path)}
    if Path(path).suffix in SAFETENSORS_SUFFIXES:
        with safe_open(str(path), "pt") as f:
            state |= {k: v for k, v in (f.metadata() or {}).items() if k in ("recipe", "model_name")}
    return state


def refuse_restart(run_dir: Path) -> None:
    """A TorchlabError when `run_dir` has no checkpoints/last.pt but shows that it trained (best.pt,
    epochs in summary.json or metrics.jsonl) or last.pt is a dangling link: resuming would start it
    over and overwrite best.pt. A run killed inside its first epoch shows none of these."""
    last = run_dir / "checkpoints" / "last.pt"
    found = ["last.pt is a link to a missing file"] if last.is_symlink() else []
    if os.path.lexists(run_dir / "checkpoints" / "best.pt"):
        found.append("checkpoints/best.pt exists")
    summary = read_json_object(run_dir / "summary.json")
    if isinstance(summary.get("epochs"), int) and summary["epochs"] > 0:
        found.append(f"summary.json says {counted(summary['epochs'], 'epoch')} done")
    logged = epochs_logged(run_dir / "metrics.jsonl")
    if logged > 1:  # one could be logged just before a kill, before the first last.pt was written
        found.append(f"metrics.jsonl logs {logged} epochs")
    if found:
        raise TorchlabError(
            f"{last} is missing, but {run_dir} trained before ({'; '.join(found)}): resuming would start it over "
            "and overwrite best.pt; restore last.pt, or train a new run"
        )


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when it is absent, unreadable or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def epochs_logged(path: Path) -> int:
    """The last epoch that a metrics.jsonl records as finished (0 when none, or it is unreadable)."""
    try:
        lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    last = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "epoch" and isinstance(record.get("epoch"), int):
            last = max(last, record["epoch"])
    return last
