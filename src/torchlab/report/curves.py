"""Learning curves from metrics.jsonl: loss, the other metrics, and the learning rate."""

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from torchlab.loggers.jsonl import read_metrics
from torchlab.report import figure


def epoch_series(run_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """metric -> (epochs, values) from the epoch records; a resumed epoch keeps its latest record."""
    latest: dict[int, dict[str, Any]] = {}
    for record in read_metrics(run_dir):
        if record.get("event") == "epoch":
            latest[record["epoch"]] = record
    series: dict[str, tuple[list[int], list[float]]] = {}
    for epoch in sorted(latest):
        for key, value in latest[epoch].items():
            if ("." in key or key.startswith("lr")) and isinstance(value, int | float):
                xs, ys = series.setdefault(key, ([], []))
                xs.append(epoch)
                ys.append(value)
    return series


@figure("learning-curves")
def learning_curves(trainer: Any, plots_dir: Path) -> None:
    series = epoch_series(trainer.run_dir)
    metrics = sorted({key.split(".", 1)[1] for key in series if key.startswith(("train.", "val."))})
    lrs = [key for key in series if key.startswith("lr")]
    panels = metrics + (["lr"] if lrs else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], panels, strict=True):
        keys = (
            lrs
            if metric == "lr"
            else [f"{split}.{metric}" for split in ("train", "val") if f"{split}.{metric}" in series]
        )
        for key in keys:
            ax.plot(*series[key], marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title("learning rate" if metric == "lr" else metric)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(trainer.cfg.recipe)
    fig.tight_layout()
    fig.savefig(plots_dir / "learning_curves.png", dpi=110)
    plt.close(fig)
