"""A classifier's test set, seen from its best checkpoint: the confusion matrix (each true class
labelled with its accuracy) and a grid of the test images it gets wrong with their true and
predicted labels. Drawn for every task whose test outputs hold `labels` and `predicted` (classify,
and binary's one logit: SST-2's two classes), the grid where the inputs are images."""

import math
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from torchlab.loggers import unit_range
from torchlab.report import FinishedRun, figure, save_figure, tile

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
    preds = test_predictions(run)
    counts = preds.confusion()
    k = len(preds.class_names)
    rates = (counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
    size = max(4.5, 0.45 * k + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    if k <= 20:  # each count in its cell; empty cells stay blank: their colour says 0
        for t, p in counts.nonzero().tolist():
            ax.text(
                p,
                t,
                int(counts[t, p]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rates[t, p] > 0.5 else "black",
                in_layout=False,  # inside the axes: tight_layout need not measure it
            )
    names = [short(n) for n in preds.class_names]
    ax.set_xticks(
        range(k),
        names,
        rotation=45 if max(map(len, names)) > 3 else 0,
        ha="right" if max(map(len, names)) > 3 else "center",
    )
    ax.set_yticks(range(k), [f"{name} ({rates[t, t]:.1%})" for t, name in enumerate(names)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (the class's test accuracy)")
    accuracy = (preds.labels == preds.predicted).float().mean().item()
    ax.set_title(
        f"{run.config.recipe}: confusion on {len(preds.labels)} test images (accuracy {accuracy:.2%})", fontsize=9
    )
    save_figure(fig, plots_dir / "confusion_matrix.png")


def clip(name: str, width: int = 14) -> str:
    """A class name that fits over one tile of the grid."""
    return name if len(name) <= width else name[: width - 1] + "…"


@figure("misclassified", images=True, reads=CLASSIFIED)
def misclassified(run: FinishedRun, plots_dir: Path) -> None:
    """The first misclassified test images in one tiled picture, each titled with the true class over
    the predicted one on two lines, so that long class names ("bulbasaur", "charmander") stay over
    their own tile. One image and its labels, not a panel per image: 32 panels took half a second."""
    preds = test_predictions(run)
    wrong = (preds.labels != preds.predicted).nonzero().flatten()[: len(preds.wrong_images)]
    names = [clip(short(n)) for n in preds.class_names]
    columns, gap = 8, 2
    _, height, width = run.info.input_shape
    above = height // 3 + 3  # two lines of 7.5-point labels at this figure's scale
    rows = max(1, math.ceil(len(wrong) / columns))
    grid = tile(preds.wrong_images, columns, gap, above) if len(wrong) else None
    inches = 1.35 * columns  # wide enough for 14-character labels
    aspect = (gap + rows * (above + height + gap)) / (gap + columns * (width + gap))
    fig = Figure(figsize=(inches, inches * aspect + 0.5))
    ax = fig.subplots()
    ax.axis("off")
    if grid is None:
        ax.text(0, 0.5, "no misclassified test images", fontsize=10)
    else:
        ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
    for i, index in enumerate(wrong.tolist()):
        row, column = divmod(i, columns)
        x, y = gap + column * (width + gap) + width / 2, gap + row * (above + height + gap) + above - 1
        true, guess = names[preds.labels[index]], names[preds.predicted[index]]
        ax.text(
            x,
            y,
            f"{true}\n→ {guess}",
            fontsize=7.5,
            color="tab:red",
            linespacing=1.1,
            ha="center",
            va="bottom",
            in_layout=False,
        )
    total = int((preds.labels != preds.predicted).sum())
    ax.set_title(
        f"{run.config.recipe}: {total} of {len(preds.labels)} test images misclassified (first {len(wrong)}; "
        "true class over → predicted)",
        fontsize=10,
    )
    save_figure(fig, plots_dir / "misclassified.png")
