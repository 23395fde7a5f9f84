"""torchrun with two CPU processes (gloo) trains to the same weights as one process with the same
global batch, writes one set of files, and its checkpoints resume in either mode."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ONE_THREAD, ROOT, cli_env, dev_sentence, one_thread, report_mistakes, run_cli
from torchlab import api, cli
from torchlab.core.checkpoint import load_checkpoint
from torchlab.loggers.jsonl import read_metrics
from torchlab.recipes import load_recipe

pytestmark = pytest.mark.slow  # torchrun: child processes

RUN = ["--logger", "none", "data.subset=1024", "data.eval_subset=500", "log.progress=false", "train.epochs=1"]


def torchrun(*args: str, **variables: str) -> subprocess.CompletedProcess:
    env = cli_env(**variables)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "torchlab"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300)


def files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path, mnist_root):
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    # mnist-mlp without dropout: nothing random but the shuffling order, which every rank shares.
    done = torchrun("train", "mnist-mlp", "--out", str(ddp), *RUN, "model.dropout=0", "data.batch_size=64")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test ") == 1  # rank 0 alone reports
    assert "Warning" not in done.stderr  # e.g. DDP's broadcast_buffers rename, once from every rank
    done = run_cli("train", "mnist-mlp", "--out", str(single), *RUN, "model.dropout=0", "data.batch_size=128")
    assert done.returncode == 0, done.stderr[-3000:]

    assert files(ddp) == files(single)  # one config, summary, metrics log, pair of checkpoints, plots
    # Not bit-identical: DDP averages the two ranks' half-batch gradients, a float sum in another
    # order than one full-batch backward. Measured after 16 steps: at most 1.5e-8 absolute on
    # weights up to 0.095 (float32 rounding); atol 1e-6 is 60x that and far below any real change.
    ours, theirs = weights(ddp), weights(single)
    for name, tensor in theirs.items():
        torch.testing.assert_close(ours[name], tensor, rtol=0, atol=1e-6, msg=name)

    # A DDP checkpoint resumes in one process, and a single-process one under torchrun.
    done = run_cli("resume", str(ddp), "--epochs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    done = torchrun("resume", str(single), "--epochs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    for run_dir in (ddp, single):
        assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"] == 2


EVALUATE = """
import json
import os
import sys
from pathlib import Path

from torchlab import api, cli

figures = {run: api.evaluate(Path(run)) for run in sys.argv[1:]}
if os.environ["RANK"] == "0":
    print(json.dumps(figures))
"""

QUIET = ["log.loggers=[]", "log.progress=false", "log.quiet=true"]
# A task of each kind whose test draws at random or computes its own figures (`test_metrics`).
RANDOM_OR_OWN_FIGURES = {
    "mnist-vae": ["data.subset=512", "data.eval_subset=300", "train.epochs=1"],  # latent samples; elbo
    "sine-lstm": ["data.subset=256", "data.eval_subset=100", "train.epochs=1"],  # free_mse
    # One test sample for two processes: rank 1's shard was empty, and it refused "no test set".
    "mnist-mlp": ["data.subset=256", "data.eval_subset=1", "train.epochs=1"],
    # 3 epochs: the generated points start to fall near the modes, so that quality is not 0 both ways
    "gaussians-gan": [
        "data.subset=8192",
        "data.eval_subset=300",
        "data.batch_size=64",
        "task.samples=500",
        "train.epochs=3",
    ],
}


def test_two_processes_test_a_vae_a_forecaster_and_a_gan_to_the_figures_of_one_bit_for_bit(tmp_path, mnist_root):
    """Before: each rank tested its half of the test set, each half drawing its own latent samples or
    noise, and a task's own figures (elbo, reconstruction_mse, free_mse, a GAN's quality) were rank 0's
    half's alone: mnist-vae's elbo -332.24 under torchrun against -329.24 in one process."""
    summaries = {}
    with one_thread():
        for recipe, overrides in RANDOM_OR_OWN_FIGURES.items():
            config = load_recipe(recipe, [*overrides, *QUIET])
            summaries[str(tmp_path / recipe)] = api.train(config, tmp_path / recipe)["test"]
    (tmp_path / "evaluate.py").write_text(EVALUATE)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "evaluate.py"]
    env = cli_env(**ONE_THREAD)  # the figures are compared bit for bit (conftest, ONE_THREAD)
    done = subprocess.run([*cmd, *summaries], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.splitlines()[-1])
    for run, test in summaries.items():
        assert figures[run] == {f"test.{name}": value for name, value in test.items()}, run
    assert summaries[str(tmp_path / "gaussians-gan")]["within_3sigma"] > 0


SHOWN = """
import sys

import torchlab
from torchlab.loggers import LOGGERS, Logger


@LOGGERS.register("print-shown")
class PrintShown(Logger):
    wants_preview = shows_embeddings = True

    def log_preview(self, preview, step, epoch):
        print("preview:", preview.text.replace("\\n", " | "), flush=True)

    @classmethod
    def log_embeddings(cls, run_dir, config, embeddings):
        print("projector:", len(embeddings[0].labels), "points,", " ".join(embeddings[0].labels[:20]), flush=True)


# A classifier's preview of its predictions; a VAE's latent codes for the projector.
for recipe, own in (("mnist-mlp", {"model__dropout": 0}), ("mnist-vae", {})):
    torchlab.train(recipe, out=f"{sys.argv[1]}/{recipe}", log__loggers=["print-shown"], log__preview=8,
                   log__progress=False, log__quiet=True, train__epochs=1, data__subset=512, data__eval_subset=200,
                   data__batch_size=int(sys.argv[2]), **own)
"""


def test_the_live_preview_and_the_projector_under_torchrun_show_the_samples_of_one_process(tmp_path, mnist_root):
    """Before: rank 0's loggers showed the first samples of its validation shard (samples 0, 2, 4...),
    and the projector the latent codes of its test shard (100 of 200 points)."""
    (tmp_path / "shown.py").write_text(SHOWN)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    shown = []
    for launch, run, batch in ((torchrun, "ddp", "32"), ([sys.executable], "single", "64")):
        done = subprocess.run([*launch, "shown.py", run, batch], capture_output=True, text=True, env=cli_env(),
                              cwd=tmp_path, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        # the VAE's preview (its reconstructions' errors) is left out: its weights differ by each rank's samples
        lines = [line for line in done.stdout.splitlines() if line.startswith(("preview:", "projector:"))]
        shown.append([line for line in lines if not line.startswith("preview: squared error")])
    assert len(shown[0]) == 2 and shown[0] == shown[1]
    assert "projector: 200 points" in shown[0][1]


TWO_RUNS = """
import os
import torchlab

for _ in range(2):  # a second run in the same processes: it hung at times, its group joined anew
    run = torchlab.train("mnist-mlp", train__epochs=1, data__subset=512, data__eval_subset=200, log__loggers=[],
                         log__progress=False, log__quiet=True)
    print(f"rank {os.environ['RANK']} trained into {run.run_dir} {run.summary['status']}", flush=True)
"""


LONE_SAMPLES = """
import os
import warnings

import torch
import torchlab
from tests.test_python_api import ConvNormed

if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(130, 1, 7, 7, generator=g), torch.randint(0, 3, (130,), generator=g))
    val = (torch.randn(20, 1, 7, 7, generator=g), torch.randint(0, 3, (20,), generator=g))
    for pooled_norm in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = torchlab.fit(ConvNormed, data, val, out=f"run-{pooled_norm}", data__batch_size=64, train__epochs=1,
                               log__loggers=[], log__quiet=True, model_kwargs={"pooled_norm": pooled_norm})
        said = [str(w.message) for w in caught if "alone" in str(w.message)]
        print(f"rank {os.environ['RANK']} {pooled_norm} {run.summary['train_samples']} {said}", flush=True)
"""


def test_each_rank_leaves_out_its_lone_last_sample_only_where_a_batchnorm_cannot_train_on_it(tmp_path):
    """130 samples are 65 per process in batches of 64: one alone in each rank's last batch. BatchNorm2d
    over 7x7 maps trains on it; one over 1x1 maps cannot, and every rank then leaves it out, said once
    with the count per process (before: any BatchNorm left it out, said with the 130 of all processes)."""
    (tmp_path / "lone.py").write_text(LONE_SAMPLES)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "lone.py"]
    env = cli_env(ROOT, **ONE_THREAD)  # ROOT: tests.test_python_api
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    said = "130 training samples, 65 per process, in batches of 64 leave one alone in each epoch's last batch, on "
    lines = [re.sub(r"py:\d+", "py:N", line) for line in done.stdout.splitlines() if line.startswith("rank ")]
    assert sorted(lines) == [
        "rank 0 False 130 []",
        f'rank 0 True 128 ["{said}which module pooled (BatchNorm2d, given [1, 4, 1, 1] float32) of ConvNormed fails '
        "(Expected more than 1 value per channel when training, got input size torch.Size([1, 4, 1, 1])) (at "
        "test_python_api.py:N): that sample (another each epoch) sits the epoch out; another data.batch_size "
        'keeps it"]',
        "rank 1 False 130 []",
        "rank 1 True 128 []",
    ]


def test_a_torchrun_text_runs_report_shows_the_test_sentences_it_got_wrong(tmp_path, sst2_root):
    """Before: rank 0 read its own half of the test set for the figures, where the outputs are the
    whole set's: the table of misclassified sentences failed (a missing position), the image grid
    showed the images at the wrong positions."""
    done = torchrun("train", "sst2-lstm", "--out", str(tmp_path / "run"), *RUN)
    assert done.returncode == 0 and "failed" not in done.stderr, done.stderr[-3000:]
    count, rows = report_mistakes(tmp_path / "run")
    assert "of 500 test sentences misclassified" in count and len(rows) == 8
    for shown, true, predicted, _ in rows:
        assert true == dev_sentence(shown)[1] != predicted


def test_two_runs_in_one_torchrun_script_share_rank_0s_default_run_directories(tmp_path, mnist_root):
    """Before: each rank named the default run directory by its own clock (rank 1 could find no
    config.yaml in its own), and leaving and joining the group between runs could hang."""
    (tmp_path / "two_runs.py").write_text(TWO_RUNS)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "two_runs.py"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = sorted(line for line in done.stdout.splitlines() if "trained into" in line)
    made = sorted(p.relative_to(tmp_path) for p in (tmp_path / "runs" / "mnist-mlp").iterdir())
    assert len(made) == 2 and all(line.endswith("completed") for line in lines)
    assert sorted(str(path) for path in made) == sorted({line.split()[4] for line in lines})  # both ranks, both runs


def test_a_refusal_under_torchrun_is_said_once(tmp_path):
    """Before: every rank printed the same one-line error; then rank 0 alone, but when rank 1 refused
    first torchrun ended rank 0 before it could (1 run in 6: no error, only "torchlab: stopped by SIGTERM")."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "torchlab", "train", "mnist-mlp", "optim.lr=-1", "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert done.returncode == 1  # torchrun's status for a failed worker; the workers exit 2
    assert done.stderr.count("torchlab: error: optim.lr: expected 0 or more, got -1.0") == 1, done.stderr[-3000:]
    assert "exitcode  : 2" in done.stderr and not (tmp_path / "run").exists()
    assert "stopped by" not in done.stderr


# A run of each family. Validation draws at random in a VAE (latent samples); a GAN's generates from
# noise of its own and scores every validation point; mnist-mlp validates one sample. optim.lr=0 keeps
# the initial weights, which DDP takes from rank 0, seeded as one process: what differs is validation's
# own doing. Two epochs: the best is chosen between them.
VALIDATED = {
    "mnist-vae": ["data.subset=256", "data.eval_subset=300"],
    "gaussians-gan": ["data.subset=1024", "data.eval_subset=300"],
    "mnist-mlp": ["data.subset=256", "data.eval_subset=1"],
    "sine-lstm": ["data.subset=256", "data.eval_subset=100"],
    "sst2-lstm": ["data.subset=256", "data.eval_subset=300"],
}


def validation(run_dir: Path) -> tuple[list[dict], dict, int]:
    """Each epoch's validation figures (metrics.jsonl), and summary.json's with its best epoch."""
    epochs = [
        {k: v for k, v in r.items() if k.startswith("val.")} for r in read_metrics(run_dir) if r["event"] == "epoch"
    ]
    summary = json.loads((run_dir / "summary.json").read_text())
    return epochs, summary["val"], summary["best_epoch"]


@pytest.mark.parametrize("recipe", VALIDATED)
def test_two_processes_validate_to_the_figures_and_the_best_epoch_of_one(recipe, tmp_path, mnist_root, sst2_root):
    """Before: each rank validated its half with its own random streams, so a VAE's and a GAN's validation
    figures (and the best epoch they pick) differed from one process's by sampling noise; a validation set
    of fewer samples than processes was refused (one rank would have validated none)."""
    args = ["train", recipe, *RUN, *VALIDATED[recipe], "optim.lr=0", "train.epochs=2"]
    done = torchrun(*args, "--out", str(tmp_path / "ddp"), **ONE_THREAD)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli(*args, "--out", str(tmp_path / "single"), **ONE_THREAD)
    assert done.returncode == 0, done.stderr[-3000:]
    ours, theirs = validation(tmp_path / "ddp"), validation(tmp_path / "single")
    assert len(ours[0]) == 2 and ours == theirs  # bit for bit: one process's batches and draws
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["world_size"] == 2


PLUGIN = """
import os

if os.environ["RANK"] == os.environ["REFUSING_RANK"]:  # as if this rank's host lacked a package, or the data
    if os.environ["REFUSING"] == "data":
        os.environ["TORCHLAB_DATA"], os.environ["TORCHLAB_OFFLINE"] = "/nonexistent", "1"
    else:
        import a_package_this_host_lacks
"""
REFUSED = {
    "import": "import plugin.py failed: No module named 'a_package_this_host_lacks'",  # before the Trainer
    "data": "dataset not found in /nonexistent/MNIST/raw: missing train-images-idx3-ubyte",  # building it
}


@pytest.mark.parametrize(("rank", "refusing"), [("1", "import"), ("0", "import"), ("1", "data")])
def test_a_refusal_met_by_one_rank_alone_ends_every_rank_at_once_and_is_said_once(rank, refusing, tmp_path, mnist_root):
    """Before: the other rank waited in the process group's rendezvous for the rank that had refused, where
    torchrun's SIGTERM could not end it: torchrun killed it 30 s later (exit code -9, SIGKILL); or, when rank 1
    refused once the group was joined (its data), rank 0 waited 10 s in a collective for it, then said
    'stopped by SIGTERM' below rank 1's refusal."""
    (tmp_path / "plugin.py").write_text(PLUGIN)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "torchlab"]
    cmd += ["train", "mnist-mlp", "--import", "plugin.py", "--out", str(out), *RUN]
    env = cli_env(REFUSING_RANK=rank, REFUSING=refusing)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]  # torchrun's status for a failed worker
    said = f"torchlab: error: {'' if rank == '0' else 'rank 1: '}{REFUSED[refusing]}"
    assert done.stderr.count(said) == 1 and done.stderr.count("torchlab: ") == 1, done.stderr[-3000:]
    assert "exitcode  : 2" in done.stderr and "exitcode  : -9" not in done.stderr  # rank 0 said it and exited
    assert not out.exists()


def test_a_refusal_agreed_under_torchrun_leaves_no_default_run_directory(tmp_path, mnist_root):
    """Before: rank 0 removed its empty runs/mnist-mlp/TIMESTAMP, but left the runs/mnist-mlp/ it had made."""
    (tmp_path / "plugin.py").write_text(PLUGIN)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "torchlab"]
    cmd += ["train", "mnist-mlp", "--import", "plugin.py", *RUN]
    env = cli_env(REFUSING_RANK="1", REFUSING="data")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1 and f"torchlab: error: rank 1: {REFUSED['data']}" in done.stderr, done.stderr[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "__pycache__") == ["plugin.py"]


REFUSED_IN_A_SCRIPT = """
import os

import torchlab

root = "/nonexistent" if os.environ["RANK"] == "1" else None  # as if rank 1's host lacked the data
try:
    torchlab.train("mnist-mlp", out="run", data__root=root, data__subset=256, log__loggers=[], log__quiet=True)
except torchlab.TorchlabError as err:
    print(f"rank {os.environ['RANK']}: {type(err).__name__}: {err}", flush=True)
"""


def test_a_refusal_one_rank_meets_in_torchlab_train_ends_the_others_in_a_torchrun_script(tmp_path, mnist_root):
    """Before: rank 0 waited in the process group's rendezvous for rank 1, which had caught its error and
    ended, until the group's timeout (30 min; the test's 300 s ran out): the command line's ranks agreed
    on a refusal, a script's did not."""
    (tmp_path / "refused.py").write_text(REFUSED_IN_A_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "refused.py"]
    env = cli_env(TORCHLAB_OFFLINE="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    said = sorted(line for line in done.stdout.splitlines() if line.startswith("rank "))
    assert said[0].startswith("rank 0: RefusedTogether: rank 1: dataset not found in /nonexistent/MNIST/raw")
    assert said[1].startswith("rank 1: DataNotFound: dataset not found in /nonexistent/MNIST/raw")
    assert len(said) == 2 and not (tmp_path / "run").exists()


def test_a_refusal_rank_0_alone_meets_under_torchrun_ends_the_others_without_a_traceback(tmp_path, mnist_root):
    """Before: rank 0 alone reads split.json; it refused, and rank 1, already training, crashed with a
    traceback when rank 0 left its collective ('[rank1]: ... Connection closed by peer')."""
    out = tmp_path / "run"
    assert run_cli("train", "mnist-mlp", "--out", str(out), *RUN, "data.subset=256").returncode == 0
    (out / "split.json").write_text("{")
    done = torchrun("resume", str(out), "--epochs", "2")
    assert done.returncode == 1, done.stderr[-3000:]
    said = f"torchlab: error: {out / 'split.json'} is damaged (JSONDecodeError); delete it to record the split again"
    assert done.stderr.count(said) == 1 and done.stderr.count("torchlab: error") == 1, done.stderr[-3000:]
    assert "[rank1]" not in done.stderr and load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 1


def test_a_refusal_that_rank_0_does_not_meet_is_said_by_the_rank_that_does(monkeypatch, capsys):
    """Before: rank 0 alone printed refusals, so one met by another rank alone (its own input) was never
    said: torchrun showed only that rank's exit code 2. In process, as rank 1 of no process group: the
    ranks agree on no refusal (as on one met once the group is joined), and rank 1 says its own."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(cli, "RANK0_FIRST_SECONDS", 0.01)  # rank 0 has not said it by then
    assert cli.main(["train", "mnist-mlp", "optim.lr=-1", "--logger", "none"]) == 2
    err = capsys.readouterr().err
    assert err == "torchlab: error: rank 1: optim.lr: expected 0 or more, got -1.0\n"


STOP_AT_STEP_3 = """
import os
import signal
import sys

import torchlab
from torchlab.cli import main
from torchlab.loggers import LOGGERS, Logger


@LOGGERS.register("stop-at-3")
class StopAt3(Logger):
    def log_metrics(self, metrics, step, epoch, event):
        if event == "step" and step == 3:  # rank 0's loggers alone: the other rank learns of it from rank 0
            os.kill(os.getpid(), signal.SIGINT)


if sys.argv[2:] == ["resume"]:
    print("resumed:", torchlab.resume(sys.argv[1]).summary["status"])
elif sys.argv[2:] == ["cv"]:
    sys.exit(main(["cv", "mnist-mlp", "--folds", "2", "--out", sys.argv[1], "--logger", "stop-at-3",
                   "train.log_every=1", "data.subset=1000", "data.eval_subset=200", "data.batch_size=100",
                   "log.progress=false"]))
else:
    torchlab.train("mnist-mlp", out=sys.argv[1], log__loggers=["stop-at-3"], train__log_every=1, data__subset=1000,
                   data__eval_subset=200, data__batch_size=100, log__progress=False)
"""


def test_a_torchrun_run_stopped_inside_an_epoch_names_the_torchrun_command_that_resumes_it(tmp_path, mnist_root):
    """Before: it named `torchlab resume RUN`, one process, which refuses a checkpoint cut inside an
    epoch by two (summary.json and the refusal named no command that works either), every rank printed
    it, and a signal that reached rank 0 alone crashed rank 1 (Interrupted(None)); its throughput was
    rank 0's alone and its epoch_train_samples the stopped epoch's part."""
    (tmp_path / "stop.py").write_text(STOP_AT_STEP_3)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "stop.py", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    command = f"torchrun --nproc_per_node 2 -m torchlab resume {out}"
    said = f"stopped by SIGINT at step 4; checkpoints/last.pt holds it: `{command}` continues exactly"
    assert done.stderr.count(said) == 1, done.stderr[-3000:]  # rank 0 alone, after the step under way
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["resume"] == command
    # Both ranks' samples behind the rate (it was rank 0's half), and no whole epoch (it was the 800).
    assert summary["train_samples"] == 800 and summary["epoch_train_samples"] is None  # 4 steps of 2 x 100

    refused = run_cli("resume", str(out))
    assert refused.returncode == 2 and f"resumes only in as many: `{command}`" in refused.stderr
    refused = run_cli("eval", str(out))
    assert refused.returncode == 2 and f"`{command}` finishes it" in refused.stderr
    # The Python way it names, under the same torchrun (the command line knows no "stop-at-3" logger).
    done = subprocess.run([*cmd, "resume"], capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and "resumed: completed" in done.stdout, done.stderr[-3000:]


def test_a_torchrun_cross_validation_stopped_inside_an_epoch_names_torchrun_too(tmp_path, mnist_root):
    """Before: it named `torchlab cv ...`, one process, whose first fold then refused its last.pt."""
    (tmp_path / "stop.py").write_text(STOP_AT_STEP_3)
    out = tmp_path / "cv"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "stop.py",
        str(out),
        "cv",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 1  # torchrun's, for workers that exit 130
    said = [line for line in done.stderr.splitlines() if line.startswith("torchlab: stopped by SIGINT")]
    assert len(said) == 1 and "in fold 0 of 2: `torchrun --nproc_per_node 2 -m torchlab cv mnist-mlp" in said[0], said
