"""The notes' MLP (全连接层): Linear(784, 200), LeakyReLU, Linear(200, 200), LeakyReLU, Linear(200, 10).

The notes end with a third LeakyReLU; it is dropped here, since logits fed to CrossEntropyLoss
must stay unbounded.
"""

import math
from dataclasses import dataclass, field

from torch import nn

from torchlab.config import ModelConfig, count_in_range, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.size import MAX_LAYERS


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: list[int], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [nn.Linear(in_features, width), nn.LeakyReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            in_features = width
        layers.append(nn.Linear(in_features, num_classes))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


@dataclass
class MLPConfig(ModelConfig):
    hidden: list[int] = field(default_factory=lambda: [200, 200])
    dropout: float = 0.0

    def __post_init__(self) -> None:
        in_range("model", 1, hidden=self.hidden)
        count_in_range("model", 0, MAX_LAYERS, hidden=self.hidden)
        in_range("model", 0, 1, dropout=self.dropout)


@MODELS.register("mlp", config=MLPConfig, tasks=("classify",))
def build_mlp(cfg: MLPConfig, info: DataInfo) -> MLP:
    return MLP(math.prod(info.input_shape), cfg.hidden, info.num_classes, cfg.dropout)
