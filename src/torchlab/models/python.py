"""A model of the user's own, given to `torchlab.fit`: rebuilt from its class and constructor arguments.

`model.target` is `MODULE:CLASS` or `FILE.py:CLASS` (the file is imported under a name of its own,
so a script that trains keeps that part under `if __name__ == "__main__":`); `model.kwargs` are
the constructor's arguments. A class defined where nothing can import it again (a notebook cell)
leaves `target` empty: its runs are continued and loaded from Python, with the model passed in.
"""

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

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
    try:
        model = model_class(cfg.target)(**cfg.kwargs)
    except TypeError as err:
        raise TorchlabError(
            f"model.target {cfg.target} could not be built with model.kwargs={cfg.kwargs}: {err}"
        ) from None
    dtype = getattr(torch, cfg.dtype, None) if cfg.dtype else None
    if cfg.dtype and not isinstance(dtype, torch.dtype):
        raise TorchlabError(f"model.dtype: expected a torch dtype such as float64, got {cfg.dtype!r}")
    return model.to(dtype) if dtype else model
