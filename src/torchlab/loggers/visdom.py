"""Visdom, as the notes use it: line charts appended as training goes, the inputs as images, the
predictions as text (an auto-encoder's reconstructions as images too), a GAN's fixed-noise samples.
Start a server with `python -m visdom.server` (see README), then
`torchlab train RECIPE --logger visdom [log.visdom.port=8097 log.visdom.env=NAME]`.

One window per metric (`loss`, `accuracy`, `lr`, ...), one trace per split (`train.loss`,
`val.loss`, `test.loss`), x = optimisation step. A server that cannot be reached, answers as no Visdom
(another web server on the port), stops answering or keeps silent past `log.visdom.timeout` seconds
(a blackholed host, a port that accepts and never replies) gets one warning line and the run goes on
without it; the final summary names the page of the run's environment only when Visdom took it all.
"""

import html
import logging
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

from torchlab.config import Config
from torchlab.core.words import counted
from torchlab.loggers import LOGGERS, Logger, Snapshots, unit_range, warn
from torchlab.tasks import Preview


def window_of(key: str) -> str:
    """`train.loss` -> `loss`, `lr` -> `lr`, `lr.generator` -> `lr`."""
    split, _, metric = key.partition(".")
    return split if split == "lr" or not metric else metric


def bounded_client(visdom_class: type, timeout: float) -> type:
    """visdom.Visdom with every request to the server bounded by `timeout` seconds (to connect, and
    between bytes of the answer): its own requests wait forever on a server that never replies.
    `_handle_post` is the method visdom names for subclasses to override; each request passes through it."""

    class BoundedVisdom(visdom_class):
        def _handle_post(self, url: str, data: Any = None) -> str:
            return self.session.post(url, data=data or {}, timeout=timeout).text

        def win_exists(self, win: str, env: str | None = None) -> bool | None:
            """As visdom's, but a request that fails raises (visdom's prints a line and answers None)."""
            return {"true": True, "false": False}.get(self._win_exists_wrap(win, env))

    return BoundedVisdom


@LOGGERS.register("visdom")
class VisdomLogger(Logger):
    wants_preview = True

    def __init__(self, run_dir: Path, config: Config) -> None:
        super().__init__(run_dir, config)
        opts = config.log.visdom
        self.env = opts.env or f"{config.recipe}_{run_dir.name}"
        self.address = f"{opts.server}:{opts.port}"
        self.windows: set[str] = set()
        self.snapshots = Snapshots(run_dir)
        self.viz: Any = None
        try:
            import visdom
        except ImportError:
            warn("visdom logger off: the visdom package is missing (pip install 'torchlab[visdom]')")
            return
        logging.getLogger("visdom").setLevel(logging.ERROR)  # it logs each new HTTP session as a warning
        try:
            with warnings.catch_warnings():  # visdom 0.2.4 calls the deprecated Logger.warn
                warnings.simplefilter("ignore", DeprecationWarning)
                self.viz = bounded_client(visdom.Visdom, opts.timeout)(
                    server=opts.server, port=opts.port, env=self.env, use_incoming_socket=False, raise_exceptions=True
                )
            is_visdom = self.viz.check_connection()
        except OSError as err:  # ConnectionError, or any requests error
            self.off(self.failure(err, "cannot be reached"))
            return
        if not is_visdom:  # a web server that is not Visdom took every chart without a word
            self.off("does not answer as Visdom")

    def failure(self, err: OSError, otherwise: str) -> str:
        """What went wrong, for the warning: visdom raises every requests error as a ConnectionError."""
        import requests

        timed_out = isinstance(err.__context__, requests.Timeout)
        return f"did not answer within {self.config.log.visdom.timeout:g} s" if timed_out else otherwise

    def off(self, why: str) -> None:
        """Warn once and stop sending: a watcher's server must never cost a training run."""
        self.viz = None
        warn(
            f"visdom logger off: the server at {self.address} {why}; the run goes on "
            "(start one with `python -m visdom.server`, or pick it with log.visdom.server / log.visdom.port)"
        )

    def send(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.viz is None:
            return
        try:
            getattr(self.viz, method)(*args, **kwargs)
        except OSError as err:
            self.off(self.failure(err, "stopped answering"))

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        for key, value in self.curve_points(metrics, event).items():
            win = window_of(key)
            self.send(
                "line",
                Y=[value],
                X=[step],
                win=win,
                name=key,
                update="append" if win in self.windows else None,
                opts={"title": win, "xlabel": "step", "showlegend": True, "markers": True, "markersize": 5},
            )
            self.windows.add(win)
        if event == "epoch":
            self.snapshots.ended(epoch, step)
            self.show_snapshots()

    def show_snapshots(self) -> None:
        for epoch, step, samples in self.snapshots.new():
            title = f"samples of the fixed noise, epoch {epoch}, step {step}"
            self.send("images", samples.numpy(), nrow=8, win="samples", opts={"title": title})

    def log_preview(self, preview: Preview, step: int, epoch: int) -> None:
        title = f"epoch {epoch}, step {step}"
        for name, images in (("inputs", preview.images), ("outputs", preview.outputs)):
            if images is not None:
                self.send("images", unit_range(images).numpy(), nrow=8, win=name, opts={"title": f"{name}, {title}"})
        self.send(
            "text",
            f"<pre>{html.escape(preview.text)}</pre>",
            win="predictions",
            opts={"title": f"predictions, {title}"},
        )

    def finish(self, summary: dict[str, Any]) -> None:
        self.show_snapshots()
        rows = "".join(
            f"<tr><td>{html.escape(split)}.{html.escape(k)}</td><td>{v:.4g}</td></tr>"
            for split in ("val", "test")
            for k, v in summary.get(split, {}).items()
        )
        status = html.escape(
            f"{summary.get('recipe')}: {summary.get('status')}, {counted(summary.get('epochs', 0), 'epoch')}"
        )
        self.send("text", f"<b>{status}</b><table>{rows}</table>", win="summary", opts={"title": "summary"})
        if self.viz is not None:  # it answered to the end
            summary.setdefault("watch", {})["visdom"] = f"{self.address}/env/{urllib.parse.quote(self.env)}"
