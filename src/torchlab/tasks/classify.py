"""Classification: cross-entropy on logits, accuracy as the share of correct argmax."""

import textwrap
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.config import TaskConfig, in_range
from torchlab.core.errors import TorchlabError
from torchlab.core.metrics import PerSample
from torchlab.data import Batch, DataInfo
from torchlab.data.text import sentences_of
from torchlab.tasks import TASKS, Metrics, Optimize, Preview, Task, described


def correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1.0 for each sample whose highest logit is its label's, else 0.0."""
    return (logits.argmax(1) == labels).float()


def mirror_averaged(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The mean of `net`'s logits on the images `x` and on their mirror images (test-time augmentation:
    a model trained with flips sees two views of each image)."""
    return (net(x) + net(x.flip(-1))) / 2


class MirrorAveraged(nn.Module):
    """A classifier whose logits are `mirror_averaged`: what a run with `task.tta_flip` predicts, as one
    module (the ONNX export)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mirror_averaged(self.model, x)


@dataclass
class ClassifyConfig(TaskConfig):
    label_smoothing: float = 0.0
    head_lr: float | None = None  # a learning rate of its own for the model's `head` (transfer learning)
    tta_flip: bool = False  # validate, test and predict on the mean logits of each image and its mirror image

    def __post_init__(self) -> None:
        in_range("task", 0, 1, "[]", label_smoothing=self.label_smoothing)
        in_range("task", 0, head_lr=self.head_lr)


@TASKS.register("classify", config=ClassifyConfig)
class Classify(Task):
    cfg: ClassifyConfig
    calls = "forward(x) -> logits [batch, classes]"

    def __init__(self, model: nn.Module, cfg: ClassifyConfig, info: DataInfo) -> None:
        if cfg.tta_flip and len(info.input_shape) != 3:
            raise TorchlabError(f"task.tta_flip mirrors images, but this data's inputs have shape {info.input_shape}")
        super().__init__(model, cfg, info)

    def logits(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The network's logits; with `tta_flip`, averaged with those of the mirror images."""
        logits = mirror_averaged(net, x) if self.cfg.tta_flip else net(x)
        classes = self.info.num_classes or 0
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] < classes:
            one_logit = isinstance(logits, torch.Tensor) and logits.shape[-1:] == (1,) and classes == 2
            raise TorchlabError(
                f"task classify needs logits of shape [batch, {classes}] from the model; {type(net).__name__} "
                f"returned {described(logits)}" + (" (task='binary' takes one logit)" if one_logit else "")
            )
        return logits

    def parameter_groups(self) -> dict[str, list]:
        """The trainable parameters; with `head_lr`, the head as a second param group."""
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if self.cfg.head_lr is None:
            return {"model": trainable}
        head = getattr(self.model, "head", None)
        if not isinstance(head, nn.Module):
            raise TorchlabError(f"task.head_lr needs a model with a `head`; {type(self.model).__name__} has none")
        in_head = {id(p) for p in head.parameters()}
        body = [p for p in trainable if id(p) not in in_head]
        groups = [{"params": body}] if body else []
        return {"model": [*groups, {"params": [p for p in trainable if id(p) in in_head], "lr": self.cfg.head_lr}]}

    def training_step(self, batch: Batch, optimize: Optimize) -> Metrics:
        x, y = batch
        logits = self.nets["model"](x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        optimize(loss)
        # Computed when the Trainer reads its means, for many batches at once (see PerSample).
        return {"loss": loss.detach(), "accuracy": PerSample(correct, (logits.detach(), y))}

    def validation_step(self, batch: Batch) -> Metrics:
        return self.test_step(batch)[0]

    def test_step(self, batch: Batch) -> tuple[Metrics, dict[str, torch.Tensor]]:
        x, y = batch
        logits = self.logits(self.nets["model"], x)
        metrics = {"loss": F.cross_entropy(logits, y), "accuracy": correct(logits, y).mean()}
        confidence = logits.float().softmax(1).amax(1)  # the probability the prediction was given
        return metrics, {"labels": y, "predicted": logits.argmax(1), "confidence": confidence}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.model, x).argmax(1)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.model, x).float().softmax(1)

    def preview(self, batch: Batch, n: int) -> Preview:
        return labelled_preview(self.info, batch, self.predict(batch[0][:n]))  # as predict sees it (tta_flip too)


def labelled_preview(info: DataInfo, batch: Batch, predicted: torch.Tensor) -> Preview:
    """A classifier's preview of the first samples of `batch`, one per prediction: predicted and true
    class a row per sample (a wrong one marked), each sentence under its row, image inputs as images."""
    n = len(predicted)
    names = info.class_names or [str(i) for i in range(max(info.num_classes or 0, 2))]
    width = max(map(len, names), default=1) + 2
    rows = [f"{'predicted':<{width}}true"]
    sentences = words(info, batch, n)
    for i, (p, t) in enumerate(zip(predicted.tolist(), batch[-1][:n].long().tolist(), strict=True)):
        rows.append(f"{names[p]:<{width}}{names[t]}{'' if p == t else '   <- wrong'}")
        if sentences:
            rows.append(f"    {sentences[i]}")
    return Preview(images=batch[0][:n] if info.images else None, text="\n".join(rows))


def words(info: DataInfo, batch: Batch, n: int, width: int = 72) -> list[str]:
    """The first `n` text inputs of `batch` as their sentences (as written, where the batch holds them),
    shortened to `width` characters; none for inputs that are not text."""
    if not info.vocab:
        return []
    return [textwrap.shorten(sentence, width, placeholder=" ...") for sentence in sentences_of(batch, info.vocab)[:n]]
