"""Classification: cross-entropy on logits, accuracy as the share of correct argmax."""

from dataclasses import dataclass

import torch.nn.functional as F

from torchlab.config import TaskConfig
from torchlab.data import Batch
from torchlab.tasks import TASKS, Metrics, Optimize, Preview, Task


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

    def preview(self, batch: Batch, n: int) -> Preview:
        x, y = batch[0][:n], batch[1][:n]
        predicted = self.model(x).argmax(1).tolist()
        names = self.info.class_names or [str(i) for i in range(self.info.num_classes or 0)]
        width = max(map(len, names), default=1) + 2
        rows = [f"{'predicted':<{width}}true"]
        for p, t in zip(predicted, y.tolist(), strict=True):
            rows.append(f"{names[p]:<{width}}{names[t]}{'' if p == t else '   <- wrong'}")
        return Preview(images=x, text="\n".join(rows))
