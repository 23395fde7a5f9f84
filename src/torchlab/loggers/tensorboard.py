"""TensorBoard scalars (losses, metrics, learning rate) and the run's hyper-parameters."""

from pathlib import Path
from typing import Any

from torchlab.config import Config
from torchlab.loggers import LOGGERS, Logger


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, int | float | str | bool) else str(value)
    return flat


@LOGGERS.register("tensorboard")
class TensorBoardLogger(Logger):
    def __init__(self, run_dir: Path, config: Config) -> None:
        super().__init__(run_dir, config)
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)

    def finish(self, summary: dict[str, Any]) -> None:
        final = {f"hparam/{k}": v for k, v in _flatten(summary).items() if isinstance(v, float)}
        self.writer.add_hparams(_flatten(self.config.to_dict()), final, run_name=".")
        self.writer.close()
