"""Watching a run: JSONL, TensorBoard and a real Visdom server record the same metrics; a server
that is down costs one warning, never the run; the quiet console prints only the summary."""

import contextlib
import http.server
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from torchlab.cli import main
from torchlab.loggers.jsonl import read_metrics
from torchlab.loggers.tensorboard import split_and_tag

SMALL = ["data.subset=2000", "data.eval_subset=1000", "train.epochs=2", "train.log_every=5"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def visdom_server(tmp_path):
    """A real Visdom server on a free loopback port, started without fetching its page assets
    (`python -m visdom.server` would try a CDN first), and stopped at the end of the test."""
    pytest.importorskip("visdom", reason="pip install --build-constraint build-constraints.txt '.[visdom]'")
    port = free_port()
    log = (tmp_path / "visdom.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-c", "from visdom.server.run_server import main; main()",
         "-port", str(port), "-bind_local", "-env_path", str(tmp_path / "visdom-envs"), "-logging_level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "visdom.log").read_text()
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def visdom_windows(port: int, env: str) -> dict:
    """Every window of `env`, read back through the server's HTTP API."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/win_data", data=json.dumps({"eid": env, "win": None}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_jsonl_tensorboard_and_visdom_record_the_same_run(tmp_path, mnist_root, visdom_server, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, env = tmp_path / "run", "torchlab-test"
    visdom = ["log.visdom.server=http://127.0.0.1", f"log.visdom.port={visdom_server}", f"log.visdom.env={env}"]
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--logger", "tensorboard,visdom", *visdom]) == 0
    printed, warned = capsys.readouterr()
    assert warned == ""  # the server took every update in time
    assert f"tensorboard --logdir {out / 'tensorboard'}" in printed and str(out / "report.html") in printed
    assert f"visdom        http://127.0.0.1:{visdom_server}/env/{env}" in printed  # where the charts are

    records = read_metrics(out)
    steps = [r for r in records if r["event"] == "step"]
    last_epoch = [r for r in records if r["event"] == "epoch"][-1]
    (test,) = [r for r in records if r["event"] == "test"]
    final = {k: v for k, v in {**last_epoch, **test}.items() if k.startswith(("val.", "test.")) or k == "lr"}
    assert {"val.accuracy", "val.loss", "test.accuracy", "test.loss", "lr"} <= set(final)
    assert len(steps) == 6  # 2000 samples / 128 per batch = 16 steps, logged every 5, twice

    def tensorboard(split: str = "") -> EventAccumulator:  # one writer per split, as Keras lays them out
        return EventAccumulator(str(out / "tensorboard" / split), size_guidance={"images": 0}).Reload()

    for key, value in final.items():
        split, tag = split_and_tag(key)
        assert tensorboard(split).Scalars(tag)[-1].value == pytest.approx(value), key
    assert [e.step for e in tensorboard("train").Scalars("loss")] == [r["step"] for r in steps]
    assert "loss" in tensorboard("val").Tags()["scalars"]  # the same tag: one chart, train and val overlaid
    own = tensorboard()
    assert len(own.Images("preview/inputs")) == 2  # one preview per epoch
    assert any(tag.startswith("preview/predictions") for tag in own.Tags()["tensors"])
    figures = {tag for tag in own.Tags()["images"] if tag.startswith("figures/")}
    assert figures == {f"figures/{p.stem}" for p in (out / "plots").glob("*.png")} >= {"figures/confusion_matrix"}

    windows = visdom_windows(visdom_server, env)
    traces = {t["name"]: t for w in windows.values() if w["type"] == "plot" for t in w["content"]["data"]}
    for key, value in final.items():
        assert traces[key]["y"][-1] == pytest.approx(value), key
    # The notes' viz.line(..., update="append"): one point per logged interval, in step order.
    assert {name: trace["x"] for name, trace in traces.items()} == curve_steps(out)
    assert traces["train.loss"]["x"] == [r["step"] for r in steps]
    assert traces["train.loss"]["y"] == pytest.approx([r["train.loss"] for r in steps])
    assert {t["name"] for t in windows["accuracy"]["content"]["data"]} == {
        "train.accuracy",
        "val.accuracy",
        "test.accuracy",
    }
    assert windows["inputs"]["type"] == "image" and windows["inputs"]["content"]["src"].startswith("data:image/png")
    assert windows["predictions"]["type"] == "text" and "predicted" in windows["predictions"]["content"]
    summary = json.loads((out / "summary.json").read_text())
    assert f"{summary['test']['accuracy']:.4g}" in windows["summary"]["content"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "pictures", "heading", "lines"),
    [
        ("mnist-ae", {"inputs", "outputs"}, "squared error per pixel (pixels in [0, 1])", 16),
        ("sst2-lstm", set(), "predicted true", 2 * 16),  # a row, then its sentence
    ],
)
def test_visdom_previews_an_autoencoder_and_a_text_classifier(
    recipe, pictures, heading, lines, tmp_path, visdom_server, mnist_root, sst2_root
):
    """Before: Visdom's preview showed a classifier of images only: no reconstructions, nothing of a binary task."""
    visdom = ["log.visdom.server=http://127.0.0.1", f"log.visdom.port={visdom_server}", "log.visdom.env=preview"]
    tiny = ["data.subset=500", "data.eval_subset=200", "train.epochs=1", "--quiet", "--logger", "visdom"]
    assert main(["train", recipe, "--out", str(tmp_path / "run"), *tiny, *visdom]) == 0
    windows = visdom_windows(visdom_server, "preview")
    assert {name for name, w in windows.items() if w["type"] == "image"} == pictures
    text = windows["predictions"]["content"].removeprefix("<pre>").removesuffix("</pre>").splitlines()
    assert text[0].split() == heading.split() and len(text) == 1 + lines


POINTS = {"points": torch.randn(512, 2), "centres": torch.tensor([[2.0, 0], [-2.0, 0]]), "sigma": torch.tensor(0.1)}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "snapshot"),
    [("mnist-dcgan", {"samples": torch.full((8, 1, 28, 28), 0.5)}), ("gaussians-gan", POINTS)],
    ids=["images", "2-d points"],
)
def test_visdom_shows_a_gans_samples_after_each_epoch(recipe, snapshot, tmp_path, visdom_server):
    """Before: only TensorBoard showed the fixed-noise samples that a GAN saves after each epoch, and
    neither showed a 2-d GAN's points."""
    from torchlab.loggers.visdom import VisdomLogger
    from torchlab.recipes import load_recipe

    visdom = ["log.visdom.server=http://127.0.0.1", f"log.visdom.port={visdom_server}", f"log.visdom.env={recipe}"]
    logger = VisdomLogger(tmp_path, load_recipe(recipe, visdom))
    (tmp_path / "snapshots").mkdir()
    for epoch in (1, 2):  # the Trainer logs an epoch's metrics, then saves its snapshot
        logger.log_metrics({"train.loss": 1.0, "val.loss": 1.0}, 100 * epoch, epoch, "epoch")
        torch.save(snapshot, tmp_path / "snapshots" / f"epoch-{epoch:03d}.pt")
        if epoch == 1:
            assert logger.outbox.flush(10)  # the requests so far made (from a thread of their own)
            assert "samples" not in visdom_windows(visdom_server, recipe)  # not before it is saved
    logger.finish({"status": "completed"})
    samples = visdom_windows(visdom_server, recipe)["samples"]
    assert samples["type"] == "image" and samples["title"] == "samples of the fixed noise, epoch 2, step 200"


@pytest.mark.slow
def test_an_unreachable_visdom_warns_once_and_the_quiet_run_goes_on(tmp_path, mnist_root, capsys):
    pytest.importorskip("visdom")
    out, port = tmp_path / "run", free_port()  # nothing listens there
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Python warning at all: one torchlab line instead
        code = main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--quiet", "--logger", "visdom",
                     "log.visdom.server=http://127.0.0.1", f"log.visdom.port={port}"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()  # one line, no file path, no source line
    assert line.startswith("torchlab: warning: visdom logger off: the server at ") and "goes on" in line
    assert f"127.0.0.1:{port}" in line and ".py" not in line
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    assert "epoch " not in printed.out  # quiet: no line per epoch...
    assert "test " in printed.out and str(out / "report.html") in printed.out  # ...but the summary
    assert "tensorboard --logdir" not in printed.out  # the TensorBoard logger was off
    assert "visdom " not in printed.out  # nor did any Visdom chart get drawn


class FakeVisdom(http.server.BaseHTTPRequestHandler):
    """Reads each request and counts it (`server.requests`); `reply` answers it as its subclass says,
    True when it did: then the points of each curve the request carried join `server.points` (trace
    name -> x values, in the order they came). Answers 501 (not Visdom) unless a subclass replies. Quiet."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    disable_nagle_algorithm = True  # as Tornado (Visdom's server): else each answer waits ~40 ms for an ACK

    def do_POST(self) -> None:
        message = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or "{}")
        self.server.requests += 1
        if self.reply():
            for trace in message.get("data") or []:
                if isinstance(trace, dict) and "x" in trace:
                    self.server.points.setdefault(trace["name"], []).extend(trace["x"])

    def reply(self) -> bool:
        self.send_error(501)
        return False

    def answer(self, body: bytes) -> bool:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def fake_visdom(handler: type[FakeVisdom], **state: object) -> Iterator[http.server.ThreadingHTTPServer]:
    """`handler` serving on a free loopback port, `state` set on its server, until the block ends;
    then `server.release` frees the requests it holds, and it stops."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests, server.points, server.release = 0, {}, threading.Event()
    for name, value in state.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()


def train_beside(server: http.server.HTTPServer, out: Path, *options: str) -> int:
    """mnist-mlp (SMALL, quiet) with the visdom logger alone, sending to `server`: the exit status."""
    where = ["log.visdom.server=http://127.0.0.1", f"log.visdom.port={server.server_address[1]}"]
    return main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--quiet", "--logger", "visdom", *where, *options])


def curve_steps(out: Path) -> dict[str, list[int]]:
    """The steps of each curve a live chart plots, from metrics.jsonl: each metric of a training
    interval, and those of an epoch or the test not logged per interval (a train metric's epoch mean)."""
    curves: dict[str, list[int]] = {}
    stepped: set[str] = set()
    for record in read_metrics(out):
        metrics = record.keys() - {"time", "event", "epoch", "step"}
        if record["event"] == "step":
            stepped |= metrics
        elif record["event"] in ("epoch", "test"):
            metrics -= stepped
        else:
            continue
        for key in metrics:
            curves.setdefault(key, []).append(record["step"])
    return curves


@pytest.mark.slow
def test_a_web_server_that_is_not_visdom_warns_once_and_no_page_is_named(tmp_path, mnist_root, capsys):
    """Before: a server answering 404 (another service on the port, a proxy) took every chart without
    a word, and the summary named a Visdom page that was not there."""
    pytest.importorskip("visdom")
    out = tmp_path / "run"
    with fake_visdom(FakeVisdom) as server:
        assert train_beside(server, out) == 0
    printed = capsys.readouterr()
    port = server.server_address[1]
    assert f"visdom logger off: the server at http://127.0.0.1:{port} does not answer as Visdom" in printed.err
    assert printed.err.count("visdom logger off") == 1 and "visdom " not in printed.out
    assert "watch" not in json.loads((out / "summary.json").read_text())


class Hung(FakeVisdom):
    """Answers the server's first `answered` requests as Visdom (`Slow` says how) and holds every later
    one unanswered until the test ends: a hung server."""

    def reply(self) -> bool:
        if self.server.requests > self.server.answered:
            self.server.release.wait(60)  # then the connection closes: a client with no timeout fails, not forever
            self.close_connection = True
            return False
        return self.answer(b"false")


@pytest.mark.slow
@pytest.mark.parametrize("answered", [0, 1], ids=["silent from the start", "silent after one answer"])
def test_a_visdom_server_that_stops_replying_costs_one_timeout_and_one_warning(answered, tmp_path, mnist_root, capsys):
    """Before: visdom's requests waited with no timeout: a port that accepted and kept silent hung the run."""
    pytest.importorskip("visdom")
    out = tmp_path / "run"
    with fake_visdom(Hung, answered=answered) as server:
        assert train_beside(server, out, "log.visdom.timeout=0.5") == 0
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith(
        f"torchlab: warning: visdom logger off: the server at http://127.0.0.1:{server.server_address[1]} "
    )
    assert "did not answer within 0.5 s; the run goes on" in line
    assert "Error connecting" not in printed.out and "visdom " not in printed.out  # visdom's own print; no page
    assert server.requests == answered + 1  # one request waited its 0.5 s; nothing was sent after it


class Trickling(FakeVisdom):
    """Answers each request one byte every 0.1 s (a 200-byte body: 20 s) until the test ends: an
    overloaded server, or a link that crawls. requests' timeout, between two bytes, never fires."""

    def reply(self) -> bool:
        self.server.trickling += 1
        self.send_response(200)
        self.send_header("Content-Length", "200")
        self.end_headers()
        for _ in range(200):
            if self.server.release.wait(0.1):
                break
            self.wfile.write(b" ")
            self.wfile.flush()
        self.server.trickling -= 1
        self.close_connection = True
        return False


@pytest.mark.slow
def test_a_visdom_server_that_trickles_its_answer_never_holds_the_run(tmp_path, mnist_root, capsys):
    """Before: `log.visdom.timeout` bounded the wait between two bytes, not a request: a server that
    sent a byte every 0.1 s held the run 20 s at start-up, and as long again at each chart update."""
    pytest.importorskip("visdom")
    out = tmp_path / "run"
    with fake_visdom(Trickling, trickling=0) as server:
        assert train_beside(server, out, "log.visdom.timeout=1") == 0
        still_answering = server.trickling  # the run ended while the server was still in its first answer
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    assert still_answering == 1 and server.requests == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"torchlab: warning: visdom logger off: the server at http://127.0.0.1:{server.server_address[1]} "
    )
    assert "did not answer within 1 s; the run goes on" in line
    assert "watch" not in json.loads((out / "summary.json").read_text())


class Slow(FakeVisdom):
    """Answers each request after `server.delay` seconds, as Visdom answers a window it does not hold
    ("false"): a server that keeps up with a person, not with training."""

    def reply(self) -> bool:
        time.sleep(self.server.delay)
        return self.answer(b"false")


@pytest.mark.slow
def test_a_visdom_server_slower_than_training_gets_every_point_in_fewer_larger_updates(tmp_path, mnist_root, capsys):
    """Before: the updates made while 100 requests waited were dropped: each curve had gaps. Now the
    points that wait join into one append: no gap, no warning, and the page is named."""
    pytest.importorskip("visdom")
    out = tmp_path / "run"
    with fake_visdom(Slow, delay=0.02) as server:  # a step takes ~5 ms: 4 of them per answer; 384 points
        assert train_beside(server, out, "data.subset=4000", "train.log_every=1") == 0
    printed = capsys.readouterr()
    assert printed.err == "" and f"http://127.0.0.1:{server.server_address[1]}/env/" in printed.out
    logged = curve_steps(out)
    assert server.points == logged  # every point of every curve, in step order
    assert server.requests < sum(map(len, logged.values())) / 2  # in fewer requests than points


@pytest.mark.slow
def test_a_stuck_visdom_holds_the_runs_end_a_second_and_one_line_says_what_it_did_not_take(
    tmp_path, mnist_root, capsys, monkeypatch
):
    """Before: the run's end waited log.visdom.timeout (5 s) for a server that had stopped answering,
    and the updates left were lost without a word of which. Now it waits FLUSH (1 s)."""
    pytest.importorskip("visdom")
    from torchlab.loggers.visdom import FLUSH, VisdomLogger

    ends, finish = [], VisdomLogger.finish

    def timed(logger: VisdomLogger, summary: dict) -> None:
        started = time.monotonic()
        finish(logger, summary)
        ends.append(time.monotonic() - started)

    monkeypatch.setattr(VisdomLogger, "finish", timed)
    out = tmp_path / "run"
    with fake_visdom(Hung, answered=4) as server:  # the client's env, its two checks of the server, one update
        assert train_beside(server, out, "log.visdom.timeout=10") == 0
    assert FLUSH <= ends[0] < FLUSH + 0.5
    logged = curve_steps(out)
    missing = sum(map(len, logged.values())) - sum(map(len, server.points.values()))
    assert server.points and missing > 0  # a page with gaps
    (line,) = capsys.readouterr().err.splitlines()
    said = re.fullmatch(
        rf"torchlab: warning: visdom at http://127.0.0.1:{server.server_address[1]} had not taken (\d+) points "
        r"\((.+)\) and the latest (.+) 1 s after the run's end; metrics.jsonl holds every point",
        line,
    )
    assert said, line
    assert int(said[1]) == missing and set(said[2].split(", ")) == {"loss", "accuracy", "lr"}
    assert set(said[3].split(", ")) == {"inputs", "predictions", "summary"}
    assert "watch" not in json.loads((out / "summary.json").read_text())


def test_waiting_updates_merge_a_superseded_picture_is_never_sent_and_a_curve_keeps_bounded_memory(monkeypatch):
    """A curve's points that wait go out in one append, thinned to every other one past PENDING (the
    update counts them all); of a window's pictures only the latest is sent."""
    from torchlab.loggers import visdom

    monkeypatch.setattr(visdom, "PENDING", 4)
    sent, errors, answering = [], [], threading.Event()
    outbox = visdom.Outbox(10, sent.append, errors.append)
    outbox.start(answering.wait)  # the server has not answered yet
    for step in range(1, 6):
        outbox.put(visdom.Curve("loss", "train.loss", [step], [1 / step]))
        outbox.put(visdom.Picture("inputs", "images", (f"epoch {step}",), {}))
    outbox.put(visdom.Curve("loss", "val.loss", [5], [0.5]))
    answering.set()
    assert outbox.flush(10) and not errors and outbox.close() == []
    train, picture, val = sent
    assert (train.name, train.xs, train.ys, train.logged, train.dropped) == (
        "train.loss",
        [1, 3, 5],
        [1, 1 / 3, 1 / 5],
        5,
        2,
    )
    assert (picture.window, picture.args) == ("inputs", ("epoch 5",))
    assert (val.name, val.xs) == ("val.loss", [5])


def test_an_unknown_logger_is_refused_before_anything_is_written(tmp_path, mnist_root, capsys):
    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--logger", "tensorbord,visdom"]) == 2
    assert "did you mean 'tensorboard'" in capsys.readouterr().err
    assert not out.exists()
