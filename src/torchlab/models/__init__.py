"""Plain nn.Module definitions, one architecture per file, registered by name.

A registered builder takes the model's config dataclass and the DataInfo and returns the
module; the module itself knows nothing of configs, data or training.
"""

from torch import nn

from torchlab.config import ModelConfig
from torchlab.data import DataInfo
from torchlab.registry import MODELS


def build_model(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    return MODELS.get(cfg.name)(cfg, info)
