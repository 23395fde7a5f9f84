"""The console: a tqdm bar per epoch (a terminal's, or a notebook's) and a line per epoch, unless `log.quiet`.

An epoch line fits 80 columns: the epoch, its seconds, `*` on a new best of `train.monitor`, then
each metric once with its training and validation values as `train/val`, in 4 significant figures,
under a short name (`acc`, `rec`, `gap`), and the learning rate where it changed. A metric that has
only ever been 0 (a plain autoencoder's KL) is left out. What does not fit continues on an
indented line (a GAN's seven metrics; a VAE's first line, with its learning rate).
"""

import importlib.util
import math
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from torchlab.config import Config
from torchlab.loggers import LOGGERS, Logger

T = TypeVar("T")
WIDTH = 80  # columns an epoch line may take, whatever the terminal: logs read the same everywhere
INDENT = 8  # where a continued epoch line's metrics start
SHORT = {
    "accuracy": "acc",
    "reconstruction": "rec",
    "critic_gap": "gap",
    "within_3sigma": "3sigma",
    "modes_covered": "modes",
    "confident": "conf",
    "class_entropy": "entropy",
}


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel, where a progress bar is a notebook widget."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress(items: Iterable[T], total: int, desc: str, enabled: bool) -> tqdm:
    """A progress bar on stderr (a widget in Jupyter, with ipywidgets); silent where stderr is no
    terminal (CI, pipes, tests)."""
    notebook = in_notebook()
    shown = enabled and (sys.stderr.isatty() or notebook)
    bar = tqdm
    # tqdm.auto would warn "IProgress not found" in a notebook without ipywidgets: a text bar then
    if notebook and importlib.util.find_spec("ipywidgets"):
        from tqdm.notebook import tqdm as bar  # here: its import costs a command 60 ms
    return bar(items, total=total, desc=desc, leave=False, dynamic_ncols=True, disable=not shown)


def number(value: float) -> str:
    """4 significant figures, trailing zeros kept so that a column of numbers lines up: 0.0003612,
    0.9800, 105.3, 8.000, 1235."""
    # + 0.0: a negative zero (the entropy of one certain class, -(1 * log 1)) prints as 0.000, not -0.000
    return f"{value + 0.0:#.4g}".removesuffix(".") if math.isfinite(value) else str(value)


def short_name(metric: str) -> str:
    return SHORT.get(metric, metric)


def metric_tokens(metrics: dict[str, float]) -> list[str]:
    """`name train/val` for each metric (or the one value a split has), then the learning rate(s)."""
    pairs: dict[str, dict[str, float]] = {}
    rates: dict[str, float] = {}
    for key, value in metrics.items():
        if key == "lr" or key.startswith("lr."):
            rates[key] = value
            continue
        split, _, metric = key.partition(".")
        pairs.setdefault(metric or split, {})[split if metric else ""] = value
    tokens = []
    for metric, values in pairs.items():
        shown = [values[s] for s in ("train", "val") if s in values] or list(values.values())
        tokens.append(f"{short_name(metric)} {'/'.join(map(number, shown))}")
    if len(set(rates.values())) == 1:
        tokens.append(f"lr {number(next(iter(rates.values())))}")
    else:
        tokens += [f"{key} {number(value)}" for key, value in rates.items()]
    return tokens


def epoch_lines(epoch: int, epochs: int, seconds: float | None, best: bool, metrics: dict[str, float]) -> list[str]:
    """The epoch's line(s), each at most WIDTH columns (a metric token too long alone keeps its own line)."""
    digits = len(str(max(epochs, epoch)))
    clock = "" if seconds is None else f"{seconds:.1f}s" if seconds < 100 else f"{seconds:.0f}s"
    head = f"epoch {epoch:>{digits}}/{epochs} {clock:>6} {'*' if best else ' '}"
    lines, line = [], head
    for token in metric_tokens(metrics):
        if len(line) + 2 + len(token) > WIDTH and line != head:
            lines.append(line)
            line = " " * (INDENT - 2)
        line += "  " + token
    return [*lines, line]


def legend(monitor: str | None) -> str:
    """The line above the first epoch line, saying how to read them."""
    best = f"* marks a new best {monitor}" if monitor else "the last epoch is best.pt"
    return f"{best}; metrics as train/val; lr when it changes"


@LOGGERS.register("console")
class ConsoleLogger(Logger):
    def __init__(self, run_dir: Path, config: Config) -> None:
        super().__init__(run_dir, config)
        self.last = time.perf_counter()  # the Trainer builds its loggers just before the first epoch
        self.best: float | None = None
        self.earlier = earlier_values(run_dir, config.train.monitor)  # a resumed run's epochs
        self.informative: set[str] = set()  # keys that have been anything but 0
        self.legend = True
        self.rates: dict[str, float] = {}  # the learning rates last shown

    def better(self, value: float) -> bool:
        """As the Trainer picks best.pt: beyond the best so far by more than `train.min_delta`."""
        train = self.config.train
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value > self.best + train.min_delta if train.mode == "max" else value < self.best - train.min_delta

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        if event != "epoch":
            return
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        monitor = self.config.train.monitor
        for value in (v for e, v in self.earlier.items() if e < epoch):
            self.best = value if self.better(value) else self.best
        self.earlier = {}
        best = monitor in metrics and self.better(metrics[monitor])
        if best:
            self.best = metrics[monitor]
        self.informative.update(k for k, v in metrics.items() if v != 0)
        shown = {k: v for k, v in metrics.items() if k in self.informative or k in (monitor, "train.loss", "val.loss")}
        rates = {k: v for k, v in metrics.items() if k == "lr" or k.startswith("lr.")}
        if rates == self.rates:  # shown on the first line and whenever it changes
            shown = {k: v for k, v in shown.items() if k not in rates}
        self.rates = rates
        if self.config.log.quiet:
            return
        if self.legend:
            print(legend(monitor))
            self.legend = False
        print("\n".join(epoch_lines(epoch, self.config.train.epochs, seconds, best, shown)), flush=True)


def earlier_values(run_dir: Path, monitor: str | None) -> dict[int, float]:
    """epoch -> the monitored value, of the epochs a resumed run's metrics.jsonl already holds."""
    from torchlab.loggers.jsonl import read_metrics

    if not (run_dir / "metrics.jsonl").is_file():
        return {}
    return {
        r["epoch"]: r[monitor]
        for r in read_metrics(run_dir)
        if r.get("event") == "epoch" and isinstance(r.get(monitor), int | float)
    }
