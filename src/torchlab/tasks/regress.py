"""Regression: the model's output against a target of the same shape, mean squared error.

For a model of your own with `torchlab.fit(model, (x, y), task="regress")`; `mae` is the mean
absolute error, in the target's units.
"""

import torch

from torchlab.data import Batch
from torchlab.tasks import TASKS, Metrics, Preview, Task, per_target, value_rows


@TASKS.register("regress")
class Regress(Task):
    calls = "forward(x) -> one output per target, in the targets' shape"

    def metrics(self, batch: Batch) -> Metrics:
        x, y = batch
        prediction = per_target(self.nets["model"](x), y, "regress", self.model)
        error = prediction - y.to(prediction.dtype)
        return {"loss": error.pow(2).mean(), "mae": error.abs().mean()}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def preview(self, batch: Batch, n: int) -> Preview:
        x, y = batch[0][:n], batch[1][:n]
        predicted = per_target(self.predict(x), y, "regress", self.model)
        return Preview(images=x if self.info.images else None, text=value_rows(predicted, y))
