"""A model of the user's own, given to `torchlab.fit`: rebuilt from its class and constructor arguments.

`model.target` is `MODULE:CLASS` or `FILE.py:CLASS` (the file is imported under a name of its own,
so a script that trains keeps that part under `if __name__ == "__main__":`); `model.kwargs` are
the constructor's arguments. A class defined where nothing can import it again (a notebook cell)
leaves `target` empty: its runs are continued and loaded from Python, with the model passed in.
"""

import ast
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from torchlab.config import ModelConfig
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.registry import import_user_module


@dataclass
class PythonModelConfig(ModelConfig):
    name: str = "python"
    target: str = ""  # MODULE:CLASS or FILE.py:CLASS; empty: only Python can rebuild it
    kwargs: dict[str, Any] = field(default_factory=dict)
    dtype: str = ""  # the weights' floating dtype (float64), where the class builds another (float32)


def model_class(target: str) -> type:
    """The class `target` (MODULE:CLASS or FILE.py:CLASS) names."""
    where, _, qualname = target.rpartition(":")
    if not where or not qualname:
        raise TorchlabError(f"model.target must look like module:Class or path/file.py:Class, got {target!r}")
    found: Any = import_user_module(where)[1]
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, type):
        raise TorchlabError(f"model.target: {where} has no class {qualname}")
    return found


@MODELS.register("python", config=PythonModelConfig)
def build_python_model(cfg: PythonModelConfig, info: DataInfo) -> nn.Module:
    if not cfg.target:
        raise TorchlabError(
            "this run's model cannot be rebuilt from its config: its class was defined where torchlab cannot "
            "import it again (a notebook, an interactive session), or fit got an instance without the "
            "model_kwargs= that build it; from Python, torchlab.load(RUN_DIR, model=YourModel(...)) loads it and "
            "torchlab.fit(YourModel(...), ..., out=RUN_DIR) continues it"
        )
    model = constructed(model_class(cfg.target), cfg.kwargs, f"model.target {cfg.target}", "model.kwargs")
    dtype = getattr(torch, cfg.dtype, None) if cfg.dtype else None
    if cfg.dtype and not isinstance(dtype, torch.dtype):
        raise TorchlabError(f"model.dtype: expected a torch dtype such as float64, got {cfg.dtype!r}")
    return model.to(dtype) if dtype else model


def constructed(cls: type, kwargs: dict[str, Any], what: str, given: str) -> nn.Module:
    """`cls(**kwargs)`; arguments it does not take are a TorchlabError naming `what` and `given` (the key)."""
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise TorchlabError(f"{what} could not be built with {given}={kwargs}: {err}") from None


def check_trainable(model: nn.Module) -> nn.Module:
    """`model`, refused where fit cannot train it: parameters a Lazy module has not made yet, weights on
    the meta device (no values), or nothing to train."""
    name, tensors = type(model).__name__, [*model.parameters(), *model.buffers()]
    if any(is_lazy(t) for t in tensors):
        raise TorchlabError(
            f"{name} has parameters not made yet (a Lazy module): run one batch through it first, "
            "model(x[:2]), then fit it"
        )
    if any(t.is_meta for t in tensors):
        raise TorchlabError(
            f"{name}'s weights are on the meta device, which holds no values: build it on a real device "
            "(or model.to_empty(device='cpu'), then initialise them)"
        )
    if not any(p.requires_grad for p in model.parameters()):
        none = next(model.parameters(), None) is None
        what = "no parameters" if none else "every parameter frozen (requires_grad=False)"
        raise TorchlabError(f"{name} has {what}: fit trains a model's weights, and it has none to train")
    return model


def rebuilt_dtype(model: nn.Module | type[nn.Module], target: str) -> str:
    """`model.dtype`: the floating dtype of the weights where the class, rebuilt from `target` under
    PyTorch's default, would build float32 ones: an instance's (a `model.double()`), or for a class,
    the default dtype it is built under here (`torch.set_default_dtype(torch.float64)`); else ""."""
    if not target:
        return ""
    if isinstance(model, nn.Module):
        weights = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    else:
        weights = torch.get_default_dtype()
    return "" if weights == torch.float32 else str(weights).removeprefix("torch.")


def under_main_guard(script: Path) -> bool:
    """Whether the running script's line that led to this call sits under `if __name__ == "__main__":`
    (True where that cannot be told)."""
    frame = sys._getframe()
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__"
    ):
        frame = frame.f_back
    try:
        tree = ast.parse(script.read_text(encoding="utf-8")) if frame is not None else None
    except (OSError, SyntaxError, UnicodeDecodeError):
        tree = None
    if tree is None:
        return True
    return any(
        isinstance(node, ast.If)
        and "__name__" in ast.unparse(node.test)
        and node.lineno <= frame.f_lineno <= (node.end_lineno or 0)
        for node in ast.walk(tree)
    )


def rebuild_recipe(model: nn.Module | type[nn.Module], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """(`model.target`, `model.kwargs`) that rebuild `model` where another process can import its class,
    else ("", {}): a notebook's class, or one whose constructor needs arguments not given; and what to tell
    of it once a run is saved (the command line cannot rebuild it, or would run a script again), or ""."""
    cls = model if isinstance(model, type) else type(model)
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if "<locals>" in cls.__qualname__ or module is None:
        return "", {}, ""
    note = ""
    if cls.__module__ == "__main__" or cls.__module__.startswith("torchlab_user_"):
        if not file:
            return "", {}, ""
        where = str(Path(file).resolve())
        if cls.__module__ == "__main__" and not under_main_guard(Path(file)):
            note = (
                f'torchlab: {Path(file).name} calls torchlab.fit outside `if __name__ == "__main__":`; the '
                f"command line imports it to rebuild {cls.__name__} (resume, eval, export), and would run all of "
                "it again: put the training under that guard"
            )
    else:
        where = cls.__module__
    if isinstance(model, type):  # fit builds it from these very kwargs: no probe needed
        return f"{where}:{cls.__qualname__}", kwargs, note
    try:
        probe = cls(**kwargs)
    except TypeError:
        arguments = ", ".join(inspect.signature(cls).parameters)
        return (
            "",
            {},
            (
                f"torchlab: {cls.__name__}({arguments}) needs model_kwargs for the command line to rebuild it; "
                "from Python, pass the model to torchlab.load"
            ),
        )
    same = {k: v.shape for k, v in probe.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    return (f"{where}:{cls.__qualname__}", kwargs, note) if same else ("", {}, note)
