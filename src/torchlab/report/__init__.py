"""Pictures and pages made from a finished run.

A figure is a function `draw(run, plots_dir) -> None` registered with `@figure(name,
tasks=...)` in any module of this package; after training, every figure whose `tasks` include
the run's task (or that names no tasks) draws into `RUN_DIR/plots/`, but for a run without a
test set (`torchlab.fit` given none) only those registered with `test=False`, for inputs that
are not images ([1 or 3, H, W]) none registered with `images=True`, for inputs that are not token ids
(no vocabulary) none registered with `text=True`, and only where the task's test
outputs hold what the figure `reads` (a classifier's `labels` and `predicted`, whichever task gives them). `run` is a
`FinishedRun`: a small view of the finished run (never the Trainer), whose test outputs were
gathered by the run's one pass over the test set. A figure that fails warns and the run still
succeeds: pictures must never cost a trained model.

`pages.py` then writes RUN_DIR/report.html from the plots (and `torchlab report` a comparison
page of several runs); `classify.py` and `curves.py` are examples of figure modules, `text.py` of
one that writes a Markdown table (plots/NAME.md), which the page shows as it is.
"""

import functools
import importlib
import pkgutil
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from torchlab.core.errors import memory_refusal

if TYPE_CHECKING:  # types only: importing torch and the tasks here would slow `torchlab list`
    import torch

    from torchlab.config import Config
    from torchlab.data import Batch, DataInfo, Loader
    from torchlab.tasks import Task


@dataclass(eq=False)  # compared (and cached) by identity
class FinishedRun:
    """What a figure sees of a run: its config and files, the best model and the test outputs."""

    config: "Config"
    run_dir: Path
    info: "DataInfo"
    model: "torch.nn.Module"  # plain (unwrapped), with the best weights, in eval mode, on `device`
    task: "Task"  # for its helpers that use the plain model (a VAE's code and decode)
    device: "torch.device"
    test_loader: Callable[[], "Loader"]  # the whole test set, in order
    test: dict[str, "torch.Tensor"] = field(default_factory=dict)  # task.test_step's outputs, whole set, in order

    @property
    def has_test(self) -> bool:
        return len(self.test_loader()) > 0

    def first_test_samples(self, n: int) -> "Batch | None":
        """The first `n` test samples (all, where the set holds fewer) as one batch: the same whatever
        `data.eval_batch_size` cuts the set into (the first batch alone held 7 images in batches of 7)."""
        from torchlab.data.text import first_samples  # here, not at the top: `torchlab list` should not import torch

        return first_samples(self.test_loader(), n)


@dataclass
class Figure:
    name: str
    draw: Callable[[FinishedRun, Path], None]
    tasks: tuple[str, ...] | None  # None: every task
    test: bool = True  # reads the test set or its outputs
    images: bool = False  # draws the inputs as pictures: only for [1 or 3, H, W] inputs
    reads: tuple[str, ...] = ()  # the task's test outputs it draws (FinishedRun.test): only where they are
    text: bool = False  # shows the inputs as words: only for token ids (the data's vocabulary)


FIGURES: dict[str, Figure] = {}


def figure(
    name: str,
    tasks: tuple[str, ...] | None = None,
    test: bool = True,
    images: bool = False,
    reads: tuple[str, ...] = (),
    text: bool = False,
) -> Callable:
    def add(draw: Callable[[FinishedRun, Path], None]) -> Callable[[FinishedRun, Path], None]:
        if name in FIGURES:
            warnings.warn(f"figure '{name}' registered twice; the later one wins", stacklevel=2)
        FIGURES[name] = Figure(name, draw, tasks, test, images, reads, text)
        return draw

    return add


def save_figure(fig: Any, target: Path | BinaryIO) -> None:
    """Lay out and write as PNG (to a file or a buffer): every figure ends here.

    Text the font cannot draw (a recipe or run named in Chinese, without a CJK font) gave two
    matplotlib warnings of two lines per character and figure: it is one torchlab line, once a process."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.tight_layout()
        fig.savefig(target, format="png", dpi=110)
    for warning in caught:
        if "missing from font" not in str(warning.message):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if any("missing from font" in str(warning.message) for warning in caught):
        glyphs_missing()


@functools.cache  # once a process: every figure of a run would say it again
def glyphs_missing() -> None:
    warnings.warn("the figures' font has no glyphs for some characters of their text: they show as boxes", stacklevel=3)


def save_grid(images: Any, columns: int, title: str, path: Path) -> None:
    """Pixels in [0, 1], `[N, C, H, W]`, as one titled grid image written to `path`; small images
    (MNIST's 28 pixels) enlarged to at least 56 pixels a side."""
    from torchlab.report.canvas import image_grid  # here, not at the top: `torchlab list` should not import torch

    width = images.shape[-1]
    image_grid(images, columns, title, width * max(1, 64 // width)).save(path)


def draw_figures(run: FinishedRun, plots_dir: Path, names: Collection[str] | None = None) -> list[str]:
    """Draw every figure that applies to the run's task (of `names`, if given); returns the names drawn."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    plots_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    for fig in FIGURES.values():
        applies = (fig.tasks is None or run.config.task.name in fig.tasks) and (run.has_test or not fig.test)
        applies = applies and (run.info.images or not fig.images) and (run.info.vocab is not None or not fig.text)
        applies = applies and all(key in run.test for key in fig.reads)
        if applies and (names is None or fig.name in names):
            try:
                fig.draw(run, plots_dir)
                drawn.append(fig.name)
            except Exception as err:  # noqa: BLE001  (a picture must not fail a finished run)
                warnings.warn(f"figure '{fig.name}' failed: {figure_failure(run, err)}", stacklevel=1)
    return drawn


def figure_failure(run: FinishedRun, err: Exception) -> str:
    """Why a figure failed: running out of memory in one line naming the test batches' size, else `err`."""
    size = run.config.data.eval_batch_size
    return memory_refusal(err, "drawing it", f"data.eval_batch_size={size}", "data.eval_batch_size") or str(err)
