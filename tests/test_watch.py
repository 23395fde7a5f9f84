"""Watching a run: JSONL, TensorBoard and a real Visdom server record the same metrics; a server
that is down costs one warning, never the run; the quiet console prints only the summary."""

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
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
    printed = capsys.readouterr().out
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
            assert logger.outbox.drain()  # the requests so far made (from a thread of their own)
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


class NotVisdom(http.server.BaseHTTPRequestHandler):
    """Answers 501 to every request, quietly."""

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_a_web_server_that_is_not_visdom_warns_once_and_no_page_is_named(tmp_path, mnist_root, capsys):
    """Before: a server answering 404 (another service on the port, a proxy) took every chart without
    a word, and the summary named a Visdom page that was not there."""
    pytest.importorskip("visdom")
    server = http.server.HTTPServer(("127.0.0.1", 0), NotVisdom)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out, port = tmp_path / "run", server.server_address[1]
    try:
        code = main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--quiet", "--logger", "visdom",
                     "log.visdom.server=http://127.0.0.1", f"log.visdom.port={port}"])  # fmt: skip
    finally:
        server.shutdown()
    assert code == 0
    printed = capsys.readouterr()
    assert f"visdom logger off: the server at http://127.0.0.1:{port} does not answer as Visdom" in printed.err
    assert printed.err.count("visdom logger off") == 1 and "visdom " not in printed.out
    assert "watch" not in json.loads((out / "summary.json").read_text())


class Hung(http.server.BaseHTTPRequestHandler):
    """Answers the server's first `answered` requests (200, empty) and holds every later one unanswered
    until the test ends: a hung server. Quiet."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        if self.server.requests > self.server.answered:
            self.server.release.wait(60)  # then the connection closes: a client with no timeout fails, not forever
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
@pytest.mark.parametrize("answered", [0, 1], ids=["silent from the start", "silent after one answer"])
def test_a_visdom_server_that_stops_replying_costs_one_timeout_and_one_warning(answered, tmp_path, mnist_root, capsys):
    """Before: visdom's requests waited with no timeout: a port that accepted and kept silent hung the run."""
    pytest.importorskip("visdom")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hung)
    server.requests, server.answered, server.release = 0, answered, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out, port = tmp_path / "run", server.server_address[1]
    hung = ["log.visdom.server=http://127.0.0.1", f"log.visdom.port={port}", "log.visdom.timeout=0.5"]
    try:
        code = main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--quiet", "--logger", "visdom", *hung])
    finally:
        server.release.set()
        server.shutdown()
    assert code == 0 and json.loads((out / "summary.json").read_text())["status"] == "completed"
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith(f"torchlab: warning: visdom logger off: the server at http://127.0.0.1:{port} ")
    assert "did not answer within 0.5 s; the run goes on" in line
    assert "Error connecting" not in printed.out and "visdom " not in printed.out  # visdom's own print; no page
    assert server.requests == answered + 1  # one request waited its 0.5 s; nothing was sent after it


class Trickling(http.server.BaseHTTPRequestHandler):
    """Answers each request one byte every 0.1 s (a 200-byte body: 20 s) until the test ends: an
    overloaded server, or a link that crawls. requests' timeout, between two bytes, never fires."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
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

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_a_visdom_server_that_trickles_its_answer_never_holds_the_run(tmp_path, mnist_root, capsys):
    """Before: `log.visdom.timeout` bounded the wait between two bytes, not a request: a server that
    sent a byte every 0.1 s held the run 20 s at start-up, and as long again at each chart update."""
    pytest.importorskip("visdom")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickling)
    server.requests, server.trickling, server.release = 0, 0, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out, port = tmp_path / "run", server.server_address[1]
    slow = ["log.visdom.server=http://127.0.0.1", f"log.visdom.port={port}", "log.visdom.timeout=1"]
    try:
        code = main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--quiet", "--logger", "visdom", *slow])
        still_answering = server.trickling  # the run ended while the server was still in its first answer
    finally:
        server.release.set()
        server.shutdown()
    assert code == 0 and json.loads((out / "summary.json").read_text())["status"] == "completed"
    assert still_answering == 1 and server.requests == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"torchlab: warning: visdom logger off: the server at http://127.0.0.1:{port} ")
    assert "did not answer within 1 s; the run goes on" in line
    assert "watch" not in json.loads((out / "summary.json").read_text())


class Slow(http.server.BaseHTTPRequestHandler):
    """Answers each request after 0.2 s, as Visdom answers a window it does not hold ("false"): a
    server that keeps up with a person, not with training."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"false")

    def log_message(self, *args: object) -> None:
        pass


def train_beside_a_slow_visdom(tmp_path, monkeypatch, outbox: int, timeout: float) -> tuple[int, Path, int, int]:
    """mnist-mlp logging to a server that answers each request in 0.2 s (`Slow`), with `outbox` requests
    allowed to wait: the exit status, the run directory, the server's port and the requests it answered
    by the run's end."""
    from torchlab.loggers import visdom

    monkeypatch.setattr(visdom, "OUTBOX", outbox)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.requests = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out, port = tmp_path / "run", server.server_address[1]
    slow = ["log.visdom.server=http://127.0.0.1", f"log.visdom.port={port}", f"log.visdom.timeout={timeout}"]
    try:
        code = main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--quiet", "--logger", "visdom", *slow])
        return code, out, port, server.requests
    finally:
        server.shutdown()


@pytest.mark.slow
def test_a_visdom_server_slower_than_training_loses_updates_with_one_warning(tmp_path, mnist_root, capsys, monkeypatch):
    """The requests that wait are bounded (here 3): the others are dropped, said once; the server
    answered each in time, so the run still names its page."""
    pytest.importorskip("visdom")
    code, out, port, answered = train_beside_a_slow_visdom(tmp_path, monkeypatch, outbox=3, timeout=2)
    assert code == 0
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line == (
        f"torchlab: warning: visdom at http://127.0.0.1:{port} is slower than training: "
        "chart updates are dropped while it catches up"
    )
    assert f"http://127.0.0.1:{port}/env/" in printed.out  # the summary names its page
    assert 3 <= answered < len(read_metrics(out))  # fewer than the points logged


@pytest.mark.slow
def test_a_visdom_server_slower_than_training_holds_the_runs_end_no_longer_than_its_timeout(
    tmp_path, mnist_root, capsys, monkeypatch
):
    """Before: the run's end waited for every update queued (up to 100 requests of up to 5 s each: minutes,
    after Ctrl-C too); now for log.visdom.timeout seconds, then the logger is off and names no page."""
    pytest.importorskip("visdom")
    code, out, port, answered = train_beside_a_slow_visdom(tmp_path, monkeypatch, outbox=20, timeout=1)  # 4 s queued
    assert code == 0 and answered < 20
    said = capsys.readouterr().err
    assert f"the server at http://127.0.0.1:{port} had not taken the run's last updates 1 s after its end" in said
    assert "watch" not in json.loads((out / "summary.json").read_text())


def test_an_unknown_logger_is_refused_before_anything_is_written(tmp_path, mnist_root, capsys):
    out = tmp_path / "run"
    assert main(["train", "mnist-mlp", "--out", str(out), *SMALL, "--logger", "tensorbord,visdom"]) == 2
    assert "did you mean 'tensorboard'" in capsys.readouterr().err
    assert not out.exists()
