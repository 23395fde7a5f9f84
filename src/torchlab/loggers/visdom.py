"""Visdom, as the notes use it: line charts appended as training goes, the inputs as images, the
predictions as text (an auto-encoder's reconstructions as images too), a GAN's fixed-noise samples.
Start a server with `python -m visdom.server` (see README), then
`torchlab train RECIPE --logger visdom [log.visdom.port=8097 log.visdom.env=NAME]`.

One window per metric (`loss`, `accuracy`, `lr`, ...), one trace per split (`train.loss`,
`val.loss`, `test.loss`), x = optimisation step. The requests go out in order from a thread of their
own (`Outbox`): training never waits for the server. A server that cannot be reached, answers as no
Visdom (another web server on the port), stops answering or takes longer than `log.visdom.timeout`
seconds over one request (a blackholed host, a port that accepts and never replies, one that trickles
its answer) gets one warning line and the run goes on without it; the final summary names the page of
the run's environment only when Visdom took it all. A server slower than training loses the updates
that arrive while OUTBOX requests wait, with one warning, and holds the run's end `log.visdom.timeout`
seconds at most.
"""

import contextlib
import html
import logging
import queue
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable
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


OUTBOX = 100  # requests that may wait for the server; later ones are dropped until it catches up


class Outbox:
    """Calls made in order by a thread of their own, so that the caller never waits for them.
    `stuck` says when the call in flight has run past `deadline` seconds (requests' own timeout
    bounds the wait between two bytes only: a server that trickles its answer holds a call for ever)."""

    def __init__(self, deadline: float, failed: Callable[[Exception], None]) -> None:
        self.deadline, self.failed = deadline, failed
        self.calls: queue.Queue[Callable[[], None] | None] = queue.Queue(OUTBOX)
        self.started: float | None = None  # when the call in flight began
        threading.Thread(target=self.work, name="torchlab-visdom", daemon=True).start()

    def work(self) -> None:
        while (call := self.calls.get()) is not None:
            self.started = time.monotonic()
            try:
                call()
            except Exception as err:  # noqa: BLE001  (told to the logger: the thread serves on)
                self.failed(err)
            finally:
                self.started = None
                self.calls.task_done()

    def put(self, call: Callable[[], None]) -> bool:
        """Queue `call`; False when OUTBOX calls wait already (it is dropped)."""
        try:
            self.calls.put_nowait(call)
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """The thread ends after the calls queued (a notebook's runs leave none behind)."""
        with contextlib.suppress(queue.Full):  # full: stuck, the process's end takes the thread
            self.calls.put_nowait(None)

    @property
    def stuck(self) -> bool:
        started = self.started
        return started is not None and time.monotonic() - started > self.deadline

    def drain(self) -> bool:
        """Wait until every queued call is made: True; False as soon as one is stuck or `deadline` seconds
        went by (OUTBOX calls to a server slower than training would hold the run's end for minutes)."""
        end = time.monotonic() + self.deadline
        while self.calls.unfinished_tasks:
            if self.stuck or time.monotonic() > end:
                return False
            time.sleep(0.01)
        return True


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
        self.viz: Any = None  # the client, made by the outbox's thread
        self.live, self.dropping, self.lock = False, False, threading.Lock()
        self.outbox: Outbox | None = None  # with the visdom package
        try:
            import visdom
        except ImportError:
            warn("visdom logger off: the visdom package is missing (pip install 'torchlab[visdom]')")
            return
        self.live = True
        self.outbox = Outbox(opts.timeout, lambda err: self.off(f"failed ({type(err).__name__}: {err})"))
        self.outbox.put(lambda: self.connect(visdom.Visdom))

    def connect(self, visdom_class: type) -> None:
        """In the outbox's thread: the client, and whether Visdom answers."""
        logging.getLogger("visdom").setLevel(logging.ERROR)  # it logs each new HTTP session as a warning
        opts = self.config.log.visdom
        try:
            with warnings.catch_warnings():  # visdom 0.2.4 calls the deprecated Logger.warn
                warnings.simplefilter("ignore", DeprecationWarning)
                self.viz = bounded_client(visdom_class, opts.timeout)(
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
        return self.too_slow() if timed_out else otherwise

    def too_slow(self) -> str:
        return f"did not answer within {self.config.log.visdom.timeout:g} s"

    def off(self, why: str) -> None:
        """Warn once and stop sending: a watcher's server must never cost a training run."""
        with self.lock:  # from either thread
            if not self.live:
                return
            self.live = False
        warn(
            f"visdom logger off: the server at {self.address} {why}; the run goes on "
            "(start one with `python -m visdom.server`, or pick it with log.visdom.server / log.visdom.port)"
        )

    def send(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Queue one call of the client; none once the logger is off, or while the queue is full."""
        if self.live and self.outbox.stuck:
            self.off(self.too_slow())
        if self.live and not self.outbox.put(lambda: self.call(method, args, kwargs)) and not self.dropping:
            self.dropping = True
            warn(f"visdom at {self.address} is slower than training: chart updates are dropped while it catches up")

    def call(self, method: str, args: tuple, kwargs: dict[str, Any]) -> None:
        """In the outbox's thread."""
        if not self.live:
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
        if self.live and not self.outbox.drain():
            late = f"had not taken the run's last updates {self.config.log.visdom.timeout:g} s after its end"
            self.off(self.too_slow() if self.outbox.stuck else late)
        if self.outbox is not None:
            self.outbox.close()
        if self.live:  # it answered to the end
            summary.setdefault("watch", {})["visdom"] = f"{self.address}/env/{urllib.parse.quote(self.env)}"
