"""Learning curves from metrics.jsonl: loss, the other metrics, and the learning rate, over epochs.

Training metrics and learning rates are drawn every `train.log_every` steps (at fractional epochs),
validation metrics at each epoch's end: a one-epoch run still shows its loss falling and the shape
of its schedule. `curves_figure` draws one run (a colour per split) or several overlaid (a colour
per run, dashed train and solid validation); the run's figure and the comparison page both use it.
"""

import math
from pathlib import Path

from matplotlib import rcParams
from matplotlib.figure import Figure

from torchlab.loggers.jsonl import read_metrics
from torchlab.report import FinishedRun, figure, save_figure

Series = dict[str, tuple[list[float], list[float]]]  # metric -> (epochs, values)
MARKED = 25  # a line of at most this many points marks each one (a single point is a marker alone)
COLUMNS = 3  # panels in a row of the figure


def run_series(run_dir: Path) -> Series:
    """metric -> (epochs, values). A metric the step records hold is read from them, the others from
    the epoch records; a step or an epoch that a resumed run repeated keeps its latest record."""
    records = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    epochs = {r["epoch"]: r for r in records if r.get("event") == "epoch"}
    steps = {r["step"]: r for r in records if r.get("event") == "step"}
    # Steps per epoch from an epoch's record; until one epoch has ended, step records cannot be placed.
    steps_per_epoch = next((r["step"] / r["epoch"] for r in epochs.values() if r["epoch"]), None)
    at_steps = {step / steps_per_epoch: steps[step] for step in sorted(steps)} if steps_per_epoch else {}
    at_epochs = {float(epoch): epochs[epoch] for epoch in sorted(epochs)}
    series: Series = {}
    for points in (at_steps, at_epochs):
        known = set(series)  # metrics the step records gave are not drawn again from the epoch records
        for x, record in points.items():
            for key, value in record.items():
                if ("." in key or key.startswith("lr")) and isinstance(value, int | float) and key not in known:
                    xs, ys = series.setdefault(key, ([], []))
                    xs.append(x)
                    ys.append(value)
    return series


def panel_of(key: str) -> str:
    """`train.loss` -> `loss`; every learning rate (`lr`, `lr.generator`) shares the `lr` panel."""
    return "lr" if key.startswith("lr") else key.split(".", 1)[1]


def informative(runs: dict[str, Series]) -> dict[str, Series]:
    """The curves that carry information: a metric that was 0 at every point of every run (a plain
    autoencoder's KL) is left out."""
    shown = {key for series in runs.values() for key, (_, ys) in series.items() if any(y != 0 for y in ys)}
    return {run: {key: points for key, points in series.items() if key in shown} for run, series in runs.items()}


def curves_panels(runs: dict[str, Series]) -> list[str]:
    """The panels drawn: one per metric with a curve that is not constantly 0, then the learning rate."""
    keys = {key for series in informative(runs).values() for key in series if key.startswith(("train.", "val.", "lr"))}
    metrics = sorted({panel_of(key) for key in keys} - {"lr"})
    return (metrics + (["lr"] if any(key.startswith("lr") for key in keys) else [])) or ["loss"]


def curves_figure(runs: dict[str, Series], title: str) -> Figure:
    """One panel per metric (and one for the learning rate) over epochs, every run overlaid, in rows of
    at most COLUMNS panels so that the figure stays readable at a page's width."""
    runs = informative(runs)
    keys = {key for series in runs.values() for key in series if key.startswith(("train.", "val.", "lr"))}
    panels = curves_panels(runs)
    columns = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.4 * rows))
    grid = fig.subplots(rows, columns, squeeze=False)
    for ax in grid.flat[len(panels) :]:
        ax.set_visible(False)
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, panel in zip(grid.flat, panels, strict=False):
        for i, (run, series) in enumerate(runs.items()):
            for j, key in enumerate(k for k in series if k in keys and panel_of(k) == panel):
                xs, ys = series[key]
                style = "--" if key.startswith("train.") else "-"
                colour = colours[(i if len(runs) > 1 else j) % len(colours)]
                label = key if len(runs) == 1 else f"{run} {key.split('.', 1)[0]}"
                marker = "o" if len(xs) <= MARKED else None
                ax.plot(xs, ys, style, color=colour, marker=marker, markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_title("learning rate" if panel == "lr" else panel)
        if ax.lines:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


@figure("learning-curves", test=False)
def learning_curves(run: FinishedRun, plots_dir: Path) -> None:
    fig = curves_figure({run.config.recipe: run_series(run.run_dir)}, run.config.recipe)
    save_figure(fig, plots_dir / "learning_curves.png")
