"""Classification: cross-entropy on logits, accuracy as the share of correct argmax."""

from dataclasses import dataclass

import torch.nn.functional as F

from torchlab.config import TaskConfig
from torchlab.data import Batch
from torchlab.tasks import TASKS, Metrics, Optimize, Task


@dataclass
class ClassifyConfig(TaskConfig):
    label_smoothing: float = 0.0


@TASKS.register("classify", config=ClassifyConfig)
class Classify(Task):
    cfg: ClassifyConfig

    def training_step(self, batch: Batch, optimize: Optimize) -> Metrics:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        optimize(loss)
        return {"loss": loss.detach(), "accuracy": (logits.detach().argmax(1) == y).float().mean()}

    def validation_step(self, batch: Batch) -> Metrics:
        x, y = batch
        logits = self.model(x)
        return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}
