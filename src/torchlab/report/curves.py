"""Learning curves from metrics.jsonl: loss, the other metrics, and the learning rate, per epoch.

`curves_figure` draws one run (a colour per split) or several overlaid (a colour per run, dashed
train and solid validation); the run's figure and the comparison page both use it.
"""

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from torchlab.loggers.jsonl import read_metrics
from torchlab.report import figure, save_figure

Series = dict[str, tuple[list[int], list[float]]]  # metric -> (epochs, values)


def epoch_series(run_dir: Path) -> Series:
    """metric -> (epochs, values) from the epoch records; a resumed epoch keeps its latest record."""
    latest: dict[int, dict[str, Any]] = {}
    for record in read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []:
        if record.get("event") == "epoch":
            latest[record["epoch"]] = record
    series: Series = {}
    for epoch in sorted(latest):
        for key, value in latest[epoch].items():
            if ("." in key or key.startswith("lr")) and isinstance(value, int | float):
                xs, ys = series.setdefault(key, ([], []))
                xs.append(epoch)
                ys.append(value)
    return series


def panel_of(key: str) -> str:
    """`train.loss` -> `loss`; every learning rate (`lr`, `lr.generator`) shares the `lr` panel."""
    return "lr" if key.startswith("lr") else key.split(".", 1)[1]


def curves_figure(runs: dict[str, Series], title: str) -> Figure:
    """One panel per metric (and one for the learning rate) over epochs, every run overlaid."""
    keys = {key for series in runs.values() for key in series if key.startswith(("train.", "val.", "lr"))}
    metrics = sorted({panel_of(key) for key in keys} - {"lr"})
    panels = (metrics + (["lr"] if any(key.startswith("lr") for key in keys) else [])) or ["loss"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, panel in zip(axes[0], panels, strict=True):
        for i, (run, series) in enumerate(runs.items()):
            for j, key in enumerate(k for k in series if k in keys and panel_of(k) == panel):
                style = "--" if key.startswith("train.") else "-"
                colour = colours[(i if len(runs) > 1 else j) % len(colours)]
                label = key if len(runs) == 1 else f"{run} {key.split('.', 1)[0]}"
                ax.plot(*series[key], style, color=colour, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("learning rate" if panel == "lr" else panel)
        if ax.lines:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@figure("learning-curves")
def learning_curves(trainer: Any, plots_dir: Path) -> None:
    fig = curves_figure({trainer.cfg.recipe: epoch_series(trainer.run_dir)}, trainer.cfg.recipe)
    save_figure(fig, plots_dir / "learning_curves.png")
