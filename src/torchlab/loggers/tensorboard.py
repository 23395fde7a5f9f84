"""TensorBoard: scalars (losses, metrics, learning rate), the inputs with predictions each epoch, and the
run's hyper-parameters with its final metrics (the HPARAMS tab). `tensorboard --logdir RUN_DIR/tensorboard`."""

from pathlib import Path
from typing import Any

from torchlab.config import Config, flatten
from torchlab.loggers import LOGGERS, Logger, unit_range
from torchlab.tasks import Preview


@LOGGERS.register("tensorboard")
class TensorBoardLogger(Logger):
    wants_preview = True

    def __init__(self, run_dir: Path, config: Config) -> None:
        super().__init__(run_dir, config)
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        for name, value in self.curve_points(metrics, event).items():
            self.writer.add_scalar(name, value, step)

    def log_preview(self, preview: Preview, step: int, epoch: int) -> None:
        self.writer.add_images("preview/inputs", unit_range(preview.images), step)
        # Markdown: indented lines keep the columns of the text.
        self.writer.add_text(
            "preview/predictions", "\n".join(f"    {line}" for line in preview.text.splitlines()), step
        )

    def finish(self, summary: dict[str, Any]) -> None:
        final = {f"hparam/{k}": v for k, v in flatten(summary).items() if isinstance(v, float)}
        hparams = {
            k: v if isinstance(v, int | float | str | bool) else str(v)
            for k, v in flatten(self.config.to_dict()).items()
        }
        self.writer.add_hparams(hparams, final, run_name=".")
        self.writer.close()
