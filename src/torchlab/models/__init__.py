"""Plain nn.Module definitions, one architecture per file, registered by name.

A registered builder takes the model's config dataclass and the DataInfo and returns the
module; the module itself knows nothing of configs, data or training. A builder that starts
from pretrained weights (ImageNet, GloVe vectors) skips them where `weights_follow()`: the model
is rebuilt for a checkpoint's weights (eval, resume, export, load), which need no download or file.
"""

import contextlib
import contextvars
from collections.abc import Iterator

from torch import nn

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.registry import MODELS

_REBUILDING = contextvars.ContextVar("rebuilding_for_a_checkpoint", default=False)


def build_model(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    return MODELS.get(cfg.name)(cfg, info)


@contextlib.contextmanager
def for_checkpoint() -> Iterator[None]:
    """Models built inside get a checkpoint's weights next: pretrained starting weights are not read."""
    token = _REBUILDING.set(True)
    try:
        yield
    finally:
        _REBUILDING.reset(token)


def weights_follow() -> bool:
    """Whether the model being built will get a checkpoint's weights (inside `for_checkpoint`)."""
    return _REBUILDING.get()
