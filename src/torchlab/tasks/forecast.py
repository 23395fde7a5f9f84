"""Forecasting: predict each next value of a sequence with MSE, as the notes' 时间序列预测 does.

The model maps `(x [B, T, F], state)` to `(prediction [B, T, F], state)`. With `hidden: carry`
the state a batch ends with starts the next one, detached so that backpropagation stops at the
batch (the notes' `hidden_prev = hidden_prev.detach()`); `reset` starts every batch from zeros.
The test also runs the model free: warmed up on `context` observed values, it feeds each
prediction back as the next input (the notes' Predict loop) and is scored against the truth.
"""

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.config import TaskConfig, in_range
from torchlab.core.errors import TorchlabError
from torchlab.data import Batch
from torchlab.tasks import TASKS, Metrics, Optimize, Preview, Task, described, value_rows, what_it_needs


@dataclass
class ForecastConfig(TaskConfig):
    hidden: Literal["reset", "carry"] = "reset"  # the state each training batch starts from
    context: int = 10  # observed steps before a test sequence's free-running prediction

    def __post_init__(self) -> None:
        in_range("task", 1, context=self.context)


def each_tensor(state: Any, change: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """The recurrent state (a tensor, or nested tuples and lists of them) with `change` applied to each tensor."""
    if isinstance(state, torch.Tensor):
        return change(state)
    if isinstance(state, tuple | list):
        return type(state)(each_tensor(s, change) for s in state)
    return state


@torch.no_grad()
def free_run(model: nn.Module, context: torch.Tensor, steps: int) -> torch.Tensor:
    """Warm up on `context` [B, C, F], then predict `steps` values, each fed back: [B, steps, F].

    The first prediction is the one-step prediction after the last observed value.
    """
    prediction, state = model(context)
    value = prediction[:, -1:]
    outputs = [value]
    for _ in range(steps - 1):
        value, state = model(value, state)
        outputs.append(value)
    return torch.cat(outputs, 1)


@TASKS.register("forecast", config=ForecastConfig)
class Forecast(Task):
    cfg: ForecastConfig
    any_length = True
    calls = "forward(x [batch, time, features], state=None) -> (prediction [batch, time, features], state)"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.state: Any = None  # carried between training batches
        self.state_batch = 0  # the batch size that state belongs to

    def training_step(self, batch: Batch, optimize: Optimize) -> Metrics:
        x, y = batch
        carried = self.state if self.cfg.hidden == "carry" and self.state_batch == len(x) else None
        prediction, state = self.forward(x, y, carried)
        loss = F.mse_loss(prediction, y)
        optimize(loss)
        if self.cfg.hidden == "carry":
            self.state, self.state_batch = each_tensor(state, torch.Tensor.detach), len(x)
        return {"loss": loss.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {"state": each_tensor(self.state, torch.Tensor.cpu), "state_batch": self.state_batch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = next(self.model.parameters()).device
        self.state = each_tensor(state.get("state"), lambda tensor: tensor.to(device))
        self.state_batch = state.get("state_batch", 0)

    def forward(self, x: torch.Tensor, y: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """(prediction, state) of the network for `x` from `state`; another output is refused naming it (a
        lone tensor of batch 2 would unpack into two halves without a word)."""
        output = self.nets["model"](x) if state is None else self.nets["model"](x, state)
        prediction = output[0] if isinstance(output, tuple | list) and len(output) == 2 else None
        if not (isinstance(prediction, torch.Tensor) and prediction.shape == y.shape):
            raise TorchlabError(
                f"{type(self.model).__name__} returned {described(output)} for sequences of shape {tuple(x.shape)}, "
                f"not (prediction {tuple(y.shape)}, state): {what_it_needs(self.cfg.name, self.info)}"
            )
        return prediction, output[1]

    def validation_step(self, batch: Batch) -> Metrics:
        x, y = batch
        prediction, _ = self.forward(x, y)
        return {"loss": F.mse_loss(prediction, y)}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The one-step predictions of each next value of sequences `x`."""
        return self.model(x)[0]

    def preview(self, batch: Batch, n: int) -> Preview:
        """Each sequence's prediction of the value after its last one, against the true value."""
        x, y = batch[0][:n], batch[1][:n]
        return Preview(images=None, text=value_rows(self.predict(x)[:, -1], y[:, -1], "next"))

    def check_test_data(self, loader: Iterable[Batch]) -> None:
        for x, _ in itertools.islice(loader, 1):
            if (context := self.cfg.context) > x.shape[1]:
                raise TorchlabError(f"task.context={context} must be within 1..{x.shape[1]} (the test sequence)")

    def test_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        """free_mse: the MSE of free-running predictions over each test sequence after its context."""
        total, count = 0.0, 0
        for x, y in loader:
            context = self.cfg.context
            predicted = free_run(self.nets["model"], x[:, :context], x.shape[1] - context + 1)
            total += F.mse_loss(predicted, y[:, context - 1 :], reduction="sum").item()
            count += predicted.numel()
        return {"free_mse": total / max(count, 1)}
