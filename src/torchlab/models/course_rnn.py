"""The course's sine forecaster (lesson 49, seris.py): nn.RNN(1, 16) and Linear(16, 1).

Every parameter of the RNN starts from N(0, 0.001²), as the course sets it: the recurrence starts
almost silent and Adam at lr 0.01 grows it. The Linear head keeps nn.Linear's default start.
"""

from dataclasses import dataclass

from torch import nn

from torchlab.config import ModelConfig, in_range
from torchlab.data import DataInfo
from torchlab.models import MODELS
from torchlab.models.rnn import SequenceRegressor


@dataclass
class CourseRNNConfig(ModelConfig):
    hidden_size: int = 16
    init_std: float = 0.001  # the RNN's weights and biases ~ N(0, init_std²)

    def __post_init__(self) -> None:
        in_range("model", 1, hidden_size=self.hidden_size)
        in_range("model", 0, init_std=self.init_std)


@MODELS.register("course-rnn", config=CourseRNNConfig, tasks=("forecast",))
def build_course_rnn(cfg: CourseRNNConfig, info: DataInfo) -> SequenceRegressor:
    features = info.input_shape[-1]
    rnn = nn.RNN(features, cfg.hidden_size, num_layers=1, batch_first=True)
    for p in rnn.parameters():
        nn.init.normal_(p, mean=0.0, std=cfg.init_std)
    return SequenceRegressor(rnn, cfg.hidden_size, features)
