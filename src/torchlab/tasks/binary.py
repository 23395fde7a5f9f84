"""Two-class classification with one logit: binary cross-entropy with logits, accuracy at logit > 0.

A batch is `(*inputs, labels)`: the model gets every input (a text batch's tokens and lengths).
"""

import torch
import torch.nn.functional as F

from torchlab.data import Batch
from torchlab.tasks import TASKS, Metrics, Task


@TASKS.register("binary")
class BinaryClassify(Task):
    def metrics(self, batch: Batch) -> Metrics:
        *inputs, labels = batch
        logits = self.nets["model"](*inputs).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits, labels.float())
        return {"loss": loss, "accuracy": ((logits > 0) == labels.bool()).float().mean()}

    def predict(self, *inputs: torch.Tensor) -> torch.Tensor:
        return (self.model(*inputs).squeeze(-1) > 0).long()
