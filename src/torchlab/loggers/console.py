"""The console: a tqdm bar per epoch on a terminal and one line per epoch, unless `log.quiet`."""

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

from torchlab.loggers import LOGGERS, Logger

T = TypeVar("T")


def progress(items: Iterable[T], total: int, desc: str, enabled: bool) -> tqdm:
    """A progress bar on stderr; silent where stderr is no terminal (CI, pipes, tests)."""
    return tqdm(
        items, total=total, desc=desc, leave=False, dynamic_ncols=True, disable=not enabled or not sys.stderr.isatty()
    )


def format_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())


@LOGGERS.register("console")
class ConsoleLogger(Logger):
    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        if event == "epoch" and not self.config.log.quiet:
            print(f"epoch {epoch:>3}/{self.config.train.epochs}  {format_metrics(metrics)}", flush=True)
