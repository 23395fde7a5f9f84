"""Plain nn.Module definitions, one architecture per file, registered by name.

A registered builder takes the model's config dataclass and the DataInfo and returns the
module; the module itself knows nothing of configs, data or training. A builder that starts
from pretrained weights (ImageNet, GloVe vectors) skips them where `weights_follow()`: the model
is rebuilt for a checkpoint's weights (eval, resume, export, load), which need no download or file.
"""

import dataclasses
from contextlib import AbstractContextManager

from torch import nn

from torchlab.config import ModelConfig, flatten
from torchlab.core.errors import TorchlabError, out_of_memory
from torchlab.core.flags import Flag
from torchlab.data import DataInfo
from torchlab.models.size import check_size
from torchlab.registry import MODELS

_REBUILDING = Flag("rebuilding_for_a_checkpoint")


def build_model(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """The model `cfg` names, refused first if its weights alone would not fit in the memory free; a model of a
    family (registered for tasks) that fails to build for data `info` is refused naming them."""
    builder = MODELS.get(cfg.name)

    def estimate() -> nn.Module:  # on the meta device: pretrained weights are not read
        with for_checkpoint():
            return builder(cfg, info)

    check_size(estimate, flatten(dataclasses.asdict(cfg)), "model")
    try:
        return builder(cfg, info)
    except (ValueError, TypeError, IndexError, AttributeError, RuntimeError) as err:  # data it was not made for
        if out_of_memory(err) is not None or cfg.name not in MODELS.tasks:  # a model of no family: its own bug
            raise
        classes = f", {info.num_classes} classes" if info.num_classes else ""
        raise TorchlabError(
            f"model {cfg.name} cannot be built for these data (inputs of shape {list(info.input_shape)}{classes}): "
            f"{type(err).__name__}: {err}"
        ) from err


def for_checkpoint() -> AbstractContextManager[None]:
    """Models built inside get a checkpoint's weights next: pretrained starting weights are not read."""
    return _REBUILDING.on()


def weights_follow() -> bool:
    """Whether the model being built will get a checkpoint's weights (inside `for_checkpoint`)."""
    return _REBUILDING.is_on()
