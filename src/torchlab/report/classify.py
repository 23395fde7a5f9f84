"""A classifier's test set, seen from its best checkpoint: the confusion matrix (each true class
labelled with its accuracy) and a grid of the test images it gets wrong with their true and
predicted labels. Drawn for every task whose test outputs hold `labels` and `predicted` (classify,
and binary's one logit: SST-2's two classes), the grid where the inputs are images."""

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torchlab.core.words import counted
from torchlab.loggers import unit_range
from torchlab.report import FinishedRun, figure
from torchlab.report.canvas import heat_map, image_grid

GRID = 32  # misclassified images shown
CLASSIFIED = ("labels", "predicted")  # the test outputs these figures read


@dataclass
class TestPredictions:
    labels: torch.Tensor  # [N] true classes
    predicted: torch.Tensor  # [N]
    wrong_images: torch.Tensor  # the first GRID misclassified images, [M, C, H, W] in [0, 1]
    class_names: list[str]

    def confusion(self) -> torch.Tensor:
        """[true, predicted] counts."""
        k = len(self.class_names)
        return torch.bincount(self.labels * k + self.predicted, minlength=k * k).view(k, k)


_cache: "weakref.WeakKeyDictionary[Any, TestPredictions]" = weakref.WeakKeyDictionary()


def test_predictions(run: FinishedRun) -> TestPredictions:
    """The run's test labels and predictions (gathered by its test pass), with the first misclassified
    images read from the test set: shared by the figures, with no second pass of the model."""
    if run in _cache:
        return _cache[run]
    labels, predicted = run.test["labels"], run.test["predicted"]
    wrong = (labels != predicted).nonzero().flatten()[:GRID].tolist() if run.info.images else []
    images, start = [], 0
    for x, *_ in run.test_loader():  # a text batch: (tokens, lengths, labels)
        picked = [i - start for i in wrong if start <= i < start + len(x)]
        if picked:
            images.append(unit_range(x[picked]))
        start += len(x)
        if start > (wrong[-1] if wrong else -1):
            break
    classes = run.info.num_classes or int(torch.cat([labels, predicted]).max()) + 1  # fit's binary: not counted
    names = run.info.class_names or [str(i) for i in range(classes)]
    empty = torch.zeros(0, *run.info.input_shape)
    result = TestPredictions(labels, predicted, torch.cat(images) if images else empty, names)
    _cache[run] = result
    return result


def short(name: str) -> str:
    """MNIST names its classes "7 - seven": the digit is enough on a crowded axis."""
    return name.split(" - ")[0]


@figure("confusion-matrix", reads=CLASSIFIED)
def confusion_matrix(run: FinishedRun, plots_dir: Path) -> None:
    """Each true class's test images by predicted class: counts in the cells, coloured by the share
    of the true class, each true class labelled with its accuracy."""
    preds = test_predictions(run)
    counts = preds.confusion()
    rates = (counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
    names = [short(n) for n in preds.class_names]
    accuracy = (preds.labels == preds.predicted).float().mean().item()
    picture = heat_map(
        rates,
        counts.numpy() if len(names) <= 20 else None,  # empty cells stay blank: their colour says 0
        [f"{name} ({rates[t, t]:.1%})" for t, name in enumerate(names)],
        names,
        f"{run.config.recipe}: confusion on {counted(len(preds.labels), 'test image')} (accuracy {accuracy:.2%})",
        axes=("predicted", "true (the class's test accuracy)"),
    )
    picture.save(plots_dir / "confusion_matrix.png")


@figure("misclassified", images=True, reads=CLASSIFIED)
def misclassified(run: FinishedRun, plots_dir: Path) -> None:
    """The first misclassified test images, each under its true class and the predicted one."""
    preds = test_predictions(run)
    wrong = (preds.labels != preds.predicted).nonzero().flatten()
    names = [short(n) for n in preds.class_names]
    labels = [f"{names[preds.labels[i]]}\n→ {names[preds.predicted[i]]}" for i in wrong[: len(preds.wrong_images)]]
    title = (
        f"{run.config.recipe}: {len(wrong)} of {counted(len(preds.labels), 'test image')} misclassified "
        f"(first {len(labels)}; true class over → predicted)"
    )
    picture = image_grid(preds.wrong_images, 8, title, 112, labels, empty="no misclassified test images")
    picture.save(plots_dir / "misclassified.png")
