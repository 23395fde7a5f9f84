"""Visdom, as the notes use it: line charts appended as training goes, the inputs as images, the
predictions as text (an auto-encoder's reconstructions as images too), a GAN's fixed-noise samples.
Start a server with `python -m visdom.server` (see README), then
`torchlab train RECIPE --logger visdom [log.visdom.port=8097 log.visdom.env=NAME]`.

One window per metric (`loss`, `accuracy`, `lr`, ...), one trace per split (`train.loss`,
`val.loss`, `test.loss`), x = optimisation step. The updates go out from a thread of their own
(`Outbox`): training never waits for the server. Those that wait for it merge: a curve's points into
one append, a window's pictures (images, text) into the latest, so a server slower than training gets
fewer, larger updates but every point. A server that cannot be reached, answers as no Visdom (another
web server on the port), stops answering or takes longer than `log.visdom.timeout` seconds over one
request (a blackholed host, a port that accepts and never replies, one that trickles its answer) gets
one warning line and the run goes on without it. The run's end waits FLUSH seconds at most for what
waits, then one line says what the server did not take (a page with gaps); the final summary names
the page of the run's environment only when Visdom took it all.
"""

import html
import logging
import threading
import time
import urllib.parse
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

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


PENDING = 10_000  # points of one curve that may wait for the server; past them, every other one is dropped
FLUSH = 1.0  # seconds the run's end waits for the server to take what waits (a local Visdom: 0.01-0.15 s)


@dataclass
class Curve:
    """Points of one trace (`name`: `val.loss`) of a line window not yet sent. Points logged while it
    waits join it, to go out in one append; past PENDING points every other one is dropped (`logged`
    counts them all), so that a server that never answers costs bounded memory."""

    window: str
    name: str
    xs: list[int]
    ys: list[float]
    logged: int = 1

    @property
    def key(self) -> tuple[str, str]:
        return "curve", self.name

    @property
    def dropped(self) -> int:
        return self.logged - len(self.xs)

    def join(self, later: "Curve") -> None:
        self.xs += later.xs
        self.ys += later.ys
        self.logged += later.logged
        if len(self.xs) > PENDING:
            del self.xs[1::2], self.ys[1::2]


@dataclass
class Picture:
    """A window's images or text (`method` of the client, its arguments) not yet sent. A later one
    replaces it: the window shows one at a time, so the one it supersedes need not be sent at all."""

    window: str
    method: str
    args: tuple
    kwargs: dict[str, Any]
    logged: ClassVar[int] = 0  # points
    dropped: ClassVar[int] = 0

    @property
    def key(self) -> tuple[str, str]:
        return "picture", self.window

    def join(self, later: "Picture") -> None:
        self.args, self.kwargs = later.args, later.kwargs


Update = Curve | Picture


class Outbox:
    """The updates not yet sent, one per key: a later one joins the one waiting (`Curve.join`,
    `Picture.join`). A thread of its own (`start`) sends them, the longest waiting first,
    one request each: the caller never waits, and a server slower than training gets fewer, larger
    updates but every point. `stuck` says when the request in flight has run past `deadline` seconds
    (requests' own timeout bounds the wait between two bytes only: a server that trickles its answer
    holds a request for ever)."""

    def __init__(self, deadline: float, send: Callable[[Update], None], failed: Callable[[Exception], None]) -> None:
        self.deadline, self.send, self.failed = deadline, send, failed
        self.waiting: dict[tuple[str, str], Update] = {}
        self.in_flight: Update | None = None
        self.started: float | None = None  # when the request in flight began
        self.closed = False
        self.changed = threading.Condition()

    def start(self, first: Callable[[], None]) -> None:
        """The thread: `first()` (its request counts as in flight from now), then the updates."""
        self.started = time.monotonic()
        threading.Thread(target=self.work, args=(first,), name="torchlab-visdom", daemon=True).start()

    def work(self, first: Callable[[], None]) -> None:
        self.attempt(first)
        while (update := self.next()) is not None:
            self.attempt(self.send, update)

    def attempt(self, request: Callable[..., None], *args: Any) -> None:
        try:
            request(*args)
        except Exception as err:  # noqa: BLE001  (told to the logger: the thread serves on)
            self.failed(err)
        finally:
            with self.changed:
                self.in_flight = self.started = None
                self.changed.notify_all()

    def next(self) -> Update | None:
        """The update waiting longest, once there is one; None once closed."""
        with self.changed:
            self.changed.wait_for(lambda: self.waiting or self.closed)
            if self.closed:
                return None
            self.in_flight = self.waiting.pop(next(iter(self.waiting)))
            self.started = time.monotonic()
            return self.in_flight

    def put(self, update: Update) -> bool:
        """Queue `update`, joined to the one of its key waiting; False once closed (it is not sent)."""
        with self.changed:
            if self.closed:
                return False
            if (waiting := self.waiting.get(update.key)) is None:
                self.waiting[update.key] = update
            else:
                waiting.join(update)
            self.changed.notify_all()
        return True

    @property
    def stuck(self) -> bool:
        started = self.started
        return started is not None and time.monotonic() - started > self.deadline

    def flush(self, seconds: float) -> bool:
        """Wait until every update is sent: True; False when `seconds` went by first."""
        with self.changed:
            return self.changed.wait_for(lambda: not self.waiting and self.started is None, timeout=seconds)

    def close(self) -> list[Update]:
        """Send nothing more: the thread ends after the request in flight (a notebook's runs leave none
        behind). Returns the updates not sent, the one in flight first (the server may never take it)."""
        with self.changed:
            self.closed = True
            left = [*filter(None, [self.in_flight]), *self.waiting.values()]
            self.waiting.clear()
            self.changed.notify_all()
        return left


@LOGGERS.register("visdom")
class VisdomLogger(Logger):
    wants_preview = True

    def __init__(self, run_dir: Path, config: Config) -> None:
        super().__init__(run_dir, config)
        opts = config.log.visdom
        self.env = opts.env or f"{config.recipe}_{run_dir.name}"
        self.address = f"{opts.server}:{opts.port}"
        self.windows: set[str] = set()  # the line windows made on the server (by the outbox's thread)
        self.snapshots = Snapshots(run_dir)
        self.viz: Any = None  # the client, made by the outbox's thread
        self.live, self.lock = False, threading.Lock()
        self.reached = False  # the server took an update
        self.unsent: Counter[str] = Counter()  # window -> its points the server did not take (0: a picture)
        self.outbox: Outbox | None = None  # with the visdom package
        try:
            import visdom
        except ImportError:
            warn("visdom logger off: the visdom package is missing (pip install 'torchlab[visdom]')")
            return
        self.live = True
        self.outbox = Outbox(opts.timeout, self.send, self.failed)
        self.outbox.start(lambda: self.connect(visdom.Visdom))

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

    def failed(self, err: Exception) -> None:
        """In the outbox's thread: a request raised."""
        self.off(
            self.failure(err, "stopped answering")
            if isinstance(err, OSError)
            else f"failed ({type(err).__name__}: {err})"
        )

    def off(self, why: str) -> None:
        """Warn once and stop sending: a watcher's server must never cost a training run."""
        with self.lock:  # from either thread
            if not self.live:
                return
            self.live = False
        self.lose(self.outbox.close())
        warn(
            f"visdom logger off: the server at {self.address} {why}; the run goes on "
            "(start one with `python -m visdom.server`, or pick it with log.visdom.server / log.visdom.port)"
        )

    def lose(self, updates: list[Update]) -> None:
        """Count `updates` as not sent (a picture: its window, with no point)."""
        with self.lock:
            for update in updates:
                self.unsent[update.window] += update.logged

    def put(self, update: Update) -> None:
        """Hand `update` to the outbox; once the logger is off, count it as not sent."""
        if self.live and self.outbox.stuck:
            self.off(self.too_slow())
        if not (self.live and self.outbox.put(update)):
            self.lose([update])

    def send(self, update: Update) -> None:
        """In the outbox's thread: one request."""
        if isinstance(update, Curve):
            self.viz.line(
                Y=update.ys,
                X=update.xs,
                win=update.window,
                name=update.name,
                update="append" if update.window in self.windows else None,
                opts={"title": update.window, "xlabel": "step", "showlegend": True, "markers": True, "markersize": 5},
            )
            self.windows.add(update.window)
        else:
            getattr(self.viz, update.method)(*update.args, **update.kwargs)
        with self.lock:
            self.reached = True
            if update.dropped:
                self.unsent[update.window] += update.dropped

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int, event: str) -> None:
        for key, value in self.curve_points(metrics, event).items():
            self.put(Curve(window_of(key), key, [step], [value]))
        if event == "epoch":
            self.snapshots.ended(epoch, step)
            self.show_snapshots()

    def show(self, window: str, method: str, *args: Any, **kwargs: Any) -> None:
        self.put(Picture(window, method, args, {"win": window, **kwargs}))

    def show_snapshots(self) -> None:
        for epoch, step, samples in self.snapshots.new():
            title = f"samples of the fixed noise, epoch {epoch}, step {step}"
            self.show("samples", "images", samples.numpy(), nrow=8, opts={"title": title})

    def log_preview(self, preview: Preview, step: int, epoch: int) -> None:
        title = f"epoch {epoch}, step {step}"
        for name, images in (("inputs", preview.images), ("outputs", preview.outputs)):
            if images is not None:
                self.show(name, "images", unit_range(images).numpy(), nrow=8, opts={"title": f"{name}, {title}"})
        text = f"<pre>{html.escape(preview.text)}</pre>"
        self.show("predictions", "text", text, opts={"title": f"predictions, {title}"})

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
        self.show("summary", "text", f"<b>{status}</b><table>{rows}</table>", opts={"title": "summary"})
        if self.outbox is None:
            return
        flushed = self.live and self.outbox.flush(FLUSH)
        if self.live and self.outbox.stuck:  # its request in flight is past log.visdom.timeout
            self.off(self.too_slow())
        with self.lock:
            warned, self.live = not self.live, False
        self.lose(self.outbox.close())
        if flushed and not self.unsent:  # it took it all
            summary.setdefault("watch", {})["visdom"] = f"{self.address}/env/{urllib.parse.quote(self.env)}"
        elif self.unsent and (self.reached or not warned):  # a page with gaps, or gaps no warning spoke of
            self.tell_unsent(late=not (flushed or warned))

    def tell_unsent(self, late: bool) -> None:
        """One line: what the server did not take (`late`: by FLUSH s after the run's end), and where it all is."""
        points = {window: n for window, n in self.unsent.items() if n}
        pictures = [window for window, n in self.unsent.items() if not n]
        what = [f"{counted(sum(points.values()), 'point')} ({', '.join(points)})"] if points else []
        what += [f"the latest {', '.join(pictures)}"] if pictures else []
        said = (
            f"had not taken {' and '.join(what)} {FLUSH:g} s after the run's end"
            if late
            else f"did not get {' and '.join(what)}"
        )
        elsewhere = ", TensorBoard every picture" if "tensorboard" in self.config.log.loggers else ""
        warn(f"visdom at {self.address} {said}; metrics.jsonl holds every point{elsewhere}")
