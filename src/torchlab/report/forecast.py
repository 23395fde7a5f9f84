"""Forecast figure: truth, one-step prediction and free-running prediction of test sequences."""

from pathlib import Path

import torch
from matplotlib.figure import Figure

from torchlab.core.words import counted
from torchlab.report import FinishedRun, figure, save_figure
from torchlab.tasks.forecast import free_run


@figure("sine-forecast", tasks=("forecast",))
def sine_forecast(run: FinishedRun, plots_dir: Path, count: int = 3) -> None:
    """The first `count` test sequences of the best model, one panel each."""
    x, y = run.first_test_samples(count)
    context = run.config.task.context
    with torch.no_grad():
        one_step, _ = run.model(x)
        free = free_run(run.model, x[:, :context], x.shape[1] - context + 1)
    truth = torch.cat([x[:, :1], y], 1)[..., 0].cpu()  # samples 0..T-1
    steps = torch.arange(truth.shape[1])
    fig = Figure(figsize=(9, 2.4 * len(x)))
    axes = fig.subplots(len(x), 1, sharex=True, squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(steps, truth[i], color="black", linewidth=1, label="truth")
        ax.plot(steps[1:], one_step[i, :, 0].cpu(), ".", markersize=4, label="one-step prediction")
        ax.plot(
            steps[context:],
            free[i, :, 0].cpu(),
            color="tab:red",
            label=f"free-running ({counted(free.shape[1], 'step')})",
        )
        ax.axvline(context - 0.5, color="gray", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel(f"time step (the first {context} observed, then predictions fed back)")
    fig.suptitle(f"{run.config.recipe}: test sequences")
    save_figure(fig, plots_dir / "sine_forecast.png")
