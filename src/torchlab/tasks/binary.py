"""Two-class classification with one logit: binary cross-entropy with logits, accuracy at logit > 0.

A batch is `(*inputs, labels)`: the model gets every input (a text batch's tokens and lengths).
"""

import torch
import torch.nn.functional as F

from torchlab.data import Batch
from torchlab.tasks import TASKS, Metrics, Preview, Task, per_target
from torchlab.tasks.classify import labelled_preview


@TASKS.register("binary")
class BinaryClassify(Task):
    calls = "forward(*inputs) -> one logit per sample, [batch] or [batch, 1]"

    def metrics(self, batch: Batch) -> Metrics:
        return self.test_step(batch)[0]

    def test_step(self, batch: Batch) -> tuple[Metrics, dict[str, torch.Tensor]]:
        """The metrics, and what a classifier's figures read: the labels, the predictions (the confusion
        matrix) and the probability each prediction was given (the most confident mistakes)."""
        *inputs, labels = batch
        logits = per_target(self.nets["model"](*inputs), labels, "binary", self.model)
        loss = F.binary_cross_entropy_with_logits(logits, labels.float())
        predicted = (logits > 0).long()
        metrics = {"loss": loss, "accuracy": (predicted == labels).float().mean()}
        confidence = torch.sigmoid(logits.abs().float())  # p(1) for a positive logit, p(0) = 1 - p(1) otherwise
        return metrics, {"labels": labels.long(), "predicted": predicted, "confidence": confidence}

    def predict(self, *inputs: torch.Tensor) -> torch.Tensor:
        return (self.model(*inputs).squeeze(-1) > 0).long()

    def probabilities(self, *inputs: torch.Tensor) -> torch.Tensor:
        """`[p(0), p(1)]` of each sample, p(1) the sigmoid of its logit."""
        positive = torch.sigmoid(self.model(*inputs).squeeze(-1).float())
        return torch.stack([1 - positive, positive], 1)

    def preview(self, batch: Batch, n: int) -> Preview:
        return labelled_preview(self.info, batch, self.predict(*(t[:n] for t in batch[:-1])))
