"""torchlab from Python and with your own code: `torchlab.train/load/fit/resume`, `--import`, `base:`,
`torchlab show`, a start-up without torch, and the example notebooks run in a real Jupyter kernel."""

import copy
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import torchlab
from tests.conftest import DATA, ROOT, TINY, cli_env, run_cli
from torchlab.cli import main
from torchlab.core.errors import TorchlabError
from torchlab.data.given import count_classes
from torchlab.recipes import load_recipe

pytestmark = pytest.mark.slow
TD, Subset = torch.utils.data.TensorDataset, torch.utils.data.Subset

SHORT = {"train__epochs": 1, "data__subset": 2000, "data__eval_subset": 500, "log__loggers": []}

OWN_MODEL = """
import sys
from pathlib import Path

import torch
from torch import nn

import torchlab
from torchlab.data.idx import read_idx


class SmallCNN(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(2 * width * 49, 10)

    def forward(self, x):
        return self.head(self.features(x.float() / 255 - 0.5).flatten(1))


if __name__ == "__main__":
    raw = Path(sys.argv[1]) / "MNIST" / "raw"
    x = read_idx(raw / "train-images-idx3-ubyte", 3)[:24000, None]
    y = read_idx(raw / "train-labels-idx1-ubyte", 1)[:24000].long()
    xt = read_idx(raw / "t10k-images-idx3-ubyte", 3)[:2000, None]
    yt = read_idx(raw / "t10k-labels-idx1-ubyte", 1)[:2000].long()
    run = torchlab.fit(SmallCNN, (x, y), test=(xt, yt), out=sys.argv[2], model_kwargs={"width": 8},
                       train__epochs=1, optim__lr=3e-3, log__loggers=[])  # the class: built under train.seed
    again = torchlab.load(run.run_dir)
    assert torch.equal(again.predict(xt), run.predict(xt))
    print(run.summary["test"]["accuracy"])
"""


def test_a_script_fits_its_own_model_and_the_command_line_resumes_it(tmp_path, mnist_root):
    script = tmp_path / "train_own.py"
    script.write_text(OWN_MODEL)
    out = tmp_path / "own"
    done = subprocess.run(
        [sys.executable, str(script), str(mnist_root), str(out)],
        capture_output=True, text=True, env=cli_env(OMP_NUM_THREADS="2"), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.split()[-1]) >= 0.94  # one epoch of 21,600 images: 95.55% (seed 0, 2 threads)
    assert "calls torchlab.fit outside" not in done.stderr  # its training is under the __main__ guard
    assert (out / "data.safetensors").is_file() and (out / "report.html").is_file()
    # The command line rebuilds the model from the script (its training part under __main__) and the data.
    resumed = run_cli("resume", str(out), "--epochs", "2", cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2
    assert run_cli("eval", str(out)).returncode == 0


UNGUARDED = """
import sys

import torch

import torchlab

print("script ran")


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.linear(x)


x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
run = torchlab.fit(Tiny, (x, (x[:, 0] > 0).long()), out=sys.argv[1], train__epochs=1, log__loggers=[], log__quiet=True)
print(torch.equal(torchlab.load(run.run_dir).predict(x), run.predict(x)))
"""


def test_a_script_without_a_main_guard_loads_its_run_without_running_again_and_is_told(tmp_path):
    """Before: torchlab.load in the script that trained imported the script again by its path: it
    printed and trained a second time inside the load; nothing said that `torchlab eval` would too."""
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "run")], capture_output=True, text=True,
                          env=cli_env(), cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == ["script ran", "True"]
    # The command line must import it to rebuild Tiny, which would run it all: the script is told so.
    assert 'unguarded.py calls torchlab.fit outside `if __name__ == "__main__":`' in done.stderr


def test_train_returns_a_run_with_its_files_model_and_predictions(tmp_path, mnist_root):
    run = torchlab.train("mnist-mlp", tmp_path / "run", overrides=["optim.lr=0.1"], model__hidden=[64], **SHORT)
    assert run.config.optim.lr == 0.1 and run.config.model.hidden == [64]
    assert run.summary["status"] == "completed" and run.summary["test"]["accuracy"] > 0.7  # 16 steps; chance is 0.1
    assert [r["epoch"] for r in run.metrics if r["event"] == "epoch"] == [1]
    assert run.report_path == tmp_path / "run" / "report.html"
    accuracy = run.summary["test"]["accuracy"]  # a notebook shows one line, where it showed the whole config
    assert repr(run).startswith(f"Run({str(run.run_dir)!r}, mnist-mlp, completed after 1 epoch, test.loss ")
    assert repr(run).endswith(f", test.accuracy {accuracy:.4f})")
    assert not run.model.training and next(run.model.parameters()).device.type == "cpu"
    from torchlab.data import build_data

    batches = list(build_data(run.config.data, torch.device("cpu")).test_loader())
    images, labels = (torch.cat(parts) for parts in zip(*batches, strict=True))
    accuracy = (run.predict(images) == labels).float().mean().item()
    assert accuracy == pytest.approx(run.summary["test"]["accuracy"], abs=1e-6)  # the best weights
    # The images as stored (uint8 [N, 28, 28]): normalised as the loader did it (before: a dtype error)
    from torchlab.data.idx import read_idx

    stored = read_idx(DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte", 3)[: len(labels)]
    assert torch.equal(run.predict(stored), run.predict(images))
    figures = run.evaluate(stored, read_idx(DATA / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", 1)[: len(labels)])
    assert figures == pytest.approx(run.summary["test"], abs=1e-6)  # the test set again, as stored
    with pytest.raises(TorchlabError, match=r"predict takes images of shape \[N, 1, 28, 28\], got \[2, 3\]"):
        run.predict(torch.zeros(2, 3))
    with pytest.raises(TorchlabError, match="unknown config key 'optim.momentun'"):
        torchlab.train("mnist-mlp", tmp_path / "bad", optim__momentun=0.5)


def test_fit_on_datasets_and_a_regression_task(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(1200, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
    dataset = torch.utils.data.TensorDataset(x, y)
    model = torch.nn.Linear(3, 1)
    run = torchlab.fit(
        model, dataset, task="regress", out=tmp_path / "lin", train__epochs=20, optim__lr=0.05, log__loggers=[]
    )
    assert run.config.data.name == "python" and run.config.train.monitor == "val.loss"
    assert run.summary["val"]["loss"] < 1e-3  # a linear target: Adam finds it
    assert torch.allclose(run.predict(x[:5]), y[:5], atol=0.05)
    assert torch.equal(run.predict(x[:5].double().numpy()), run.predict(x[:5]))  # numpy's float64 too
    with pytest.raises(TorchlabError, match=r"predict takes inputs of shape \[N, 3\], got \[5, 4\]$"):
        run.predict(torch.zeros(5, 4))
    with pytest.raises(TorchlabError, match=r"got \[3\] \(one sample: x\[None\]\)"):
        run.predict(x[0])
    with pytest.raises(TorchlabError, match="predict takes tensors or numpy arrays, got list"):
        run.predict(["a sentence"])
    with pytest.raises(TorchlabError, match="predict takes float32 inputs, as the run trained on, got uint8"):
        run.predict(torch.zeros(5, 3, dtype=torch.uint8))  # pixels, say, where the model learnt floats
    # Datasets live in Python only: the command line says how to continue such a run.
    done = run_cli("resume", str(tmp_path / "lin"), "--epochs", "16")
    assert done.returncode == 2 and "torchlab.fit" in done.stderr


@pytest.mark.parametrize("given", ["tensors", "dataset"])
def test_a_fit_without_a_test_set_draws_only_what_needs_none(given, tmp_path):
    """Before: the confusion matrix and misclassified figures of such a classifier failed with a warning."""
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    data = (x, y) if given == "tensors" else torch.utils.data.TensorDataset(x, y)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="figure")  # a figure that fails warns: here it fails the test
        kwargs = {"in_features": 4, "out_features": 2}
        run = torchlab.fit(torch.nn.Linear, data, out=tmp_path / "run", model_kwargs=kwargs,
                           train__epochs=2, optim__lr=0.1, log__loggers=[])  # fmt: skip
    assert run.summary["val"]["accuracy"] > 0.7 and not run.summary["test"]
    assert [p.name for p in (run.run_dir / "plots").iterdir()] == ["learning_curves.png"]
    assert "learning_curves.png" in (run.run_dir / "report.html").read_text()
    if given == "tensors":  # `torchlab eval` says there is nothing to test, where it printed an empty line
        assert main(["eval", str(run.run_dir)]) == 2


def test_a_tabular_classifier_draws_its_confusion_matrix_and_no_image_grid(tmp_path):
    """Before: misclassified (a grid of input images) failed on [N, 4] inputs, and a class that only
    the test set holds broke the confusion matrix: both warned and left their figure out."""
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    test_y = y[:60].clone()
    test_y[0] = 2  # a class the training set never shows
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="figure")
        kwargs = {"in_features": 4, "out_features": 3}
        run = torchlab.fit(torch.nn.Linear, (x, y), test=(x[:60], test_y), out=tmp_path / "run", model_kwargs=kwargs,
                           train__epochs=2, optim__lr=0.1, log__loggers=[])  # fmt: skip
    assert run.config.data.num_classes == 3
    assert sorted(p.name for p in (run.run_dir / "plots").iterdir()) == ["confusion_matrix.png", "learning_curves.png"]


class Samples(torch.utils.data.Dataset):
    """A map-style Dataset whose sample i is `sample(i)`."""

    def __init__(self, count: int, sample) -> None:
        self.count, self.sample = count, sample

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        return self.sample(i)


@pytest.mark.parametrize("shape", [(20,), (7, 3), (5, 8, 8)], ids=["table", "sequence", "5 channels"])
def test_a_classifier_of_inputs_that_are_no_pictures_trains_with_the_default_loggers(shape, tmp_path):
    """Before: TensorBoard's preview (add_images) failed after the first epoch on any input but [1 or 3, H, W]."""
    x = torch.randn(300, *shape, generator=torch.Generator().manual_seed(0))
    y = (x.flatten(1)[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].numel(), 2))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="figure")
        run = torchlab.fit(model, (x, y), test=(x[:60], y[:60]), out=tmp_path / "run", train__epochs=2)
    assert run.summary["status"] == "completed" and run.config.log.loggers == ["tensorboard"]
    assert sorted(p.name for p in (run.run_dir / "plots").iterdir()) == ["confusion_matrix.png", "learning_curves.png"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (lambda x, y: (x, y.float()), "targets must be integer class indices, got torch.float32"),
        (lambda x, y: (x, y[:10]), "train has 300 inputs but 10 targets"),
        (lambda x, y: (x[:0], y[:0]), "the training set is empty"),
        (lambda x, y: Samples(300, lambda i: {"x": x[i], "y": y[i]}), "train[0] is a dict with keys ['x', 'y']"),
        (lambda x, y: Samples(300, lambda i: (x[i], y[i], i)), "pairs; train[0] is a tuple of 3"),
        (lambda x, y: Samples(300, lambda i: (x[i], y[i].float())), "train[0]'s is torch.float32 of shape ()"),
        (lambda x, y: Samples(300, lambda i: (x[i], y[i : i + 2])), "train[0]'s is torch.int64 of shape (2,)"),
        (lambda x, y: (x, y.index_fill(0, torch.tensor([7]), -1)), "class indices from 0 up; train[7] holds -1"),
        (
            lambda x, y: (x, F.one_hot(y)),
            "one class index per sample, shape [N]; got [300, 3] (one-hot rows: y.argmax(1))",
        ),
        (
            lambda x, y: (x, F.one_hot(y).float()),
            "integer class indices, got torch.float32 (one-hot rows: y.argmax(1))",
        ),
        (lambda x, y: (x, y[0]), "train's inputs and targets need a row per sample; got a 0-d tensor"),
        (
            lambda x, y: Samples(300, lambda i: (Image.new("L", (2, 2)), y[i])),  # torchvision's, without ToTensor
            "train[0]'s is a PIL.Image.Image (images: give the Dataset transform=transforms.ToTensor())",
        ),
        (lambda x, y: Samples(300, lambda i: (x[i], -1 if i == 7 else y[i])), "from 0 up; train[7] holds -1"),
        (lambda x, y: 300, "train must be (inputs, targets) tensors or a map-style Dataset, got int"),
        (lambda x, y: {"x": x, "y": y}, "train must be (inputs, targets) tensors or a map-style Dataset, got dict"),
        (lambda x, y: (x, y, y), "train is a tuple of 3 arrays; give inputs and targets as one pair: train=(x, y)"),
        (lambda x, y: (x,), "train is a tuple of 1 array; give inputs and targets as one pair: train=(x, y)"),
        (
            lambda x, y: torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32),
            "train is a DataLoader; give its Dataset (train.dataset) and its batch size as data__batch_size=32",
        ),
        (lambda x, y: (x.double(), y), "the inputs are torch.float64 but the model's weights are torch.float32"),
        (
            lambda x, y: Samples(300, lambda i: (x[i], "cat")),
            "targets must be numbers, tensors or numpy arrays; train[0]'s is a str (class names: map each to its "
            "index, 0 to K-1)",
        ),
        (lambda x, y: Samples(300, lambda i: (x[i], None)), "train[0]'s is a NoneType"),
        (lambda x, y: Samples(300, lambda i: (x[i], "dog" if i == 150 else y[i])), "train[150]'s is a str"),
        (lambda x, y: "runs/x", "train is a path ('runs/x'); the run directory is a keyword argument, out='runs/x'"),
    ],
)
def test_fit_names_what_is_wrong_with_the_data(data, message, tmp_path):
    """Before: a raw RuntimeError, KeyError, ValueError or IndexError (a label of -1) from inside the
    first step (or from counting the classes; a PIL image: "Could not infer dtype of Image"; a dict:
    KeyError 0; one-hot int64 labels: "Expected floating point type for target with class probabilities";
    a class name: "new(): invalid data type 'str'"; None: "Could not infer dtype of NoneType")."""
    given = data(torch.randn(300, 4), torch.randint(0, 3, (300,)))
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(torch.nn.Linear(4, 3), given, out=tmp_path / "run")
    assert message in str(refused.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("part", ["input", "target"])
def test_a_dataset_sample_of_another_shape_is_named_where_a_batch_meets_it(part, tmp_path):
    """Before: torch.stack's RuntimeError mid-epoch, "stack expects each tensor to be equal size", from
    fit (the first samples it checks all agreed) and from evaluate."""
    x, y = torch.randn(300, 4), torch.randn(300, 1)

    def sample(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        odd = i == 200
        return (torch.randn(5) if odd and part == "input" else x[i]), (y[i, :0] if odd and part == "target" else y[i])

    said = f"a Dataset's {part}s differ in shape"
    with pytest.raises(TorchlabError, match=f"torchlab.fit: {said}"):
        torchlab.fit(torch.nn.Linear(4, 1), Samples(300, sample), task="regress", out=tmp_path / "run")
    run = torchlab.fit(torch.nn.Linear, (x, y), task="regress", model_kwargs={"in_features": 4, "out_features": 1},
                       out=tmp_path / "whole", train__epochs=1, log__loggers=[])  # fmt: skip
    with pytest.raises(TorchlabError, match=f"evaluate: {said}"):
        run.evaluate(Samples(300, sample))


@pytest.mark.parametrize(
    ("split", "inputs", "message"),
    [
        ("test", lambda x: x[:50, :3], "test's inputs are [3] float32 each, where train's are [4] float32"),
        ("test", lambda x: x[:50].to(torch.uint8), "test's inputs are [4] uint8 each, where train's are [4] float32"),
        ("val", lambda x: x[:50, :3], "val's inputs are [3] float32 each, where train's are [4] float32"),
    ],
)
def test_fit_refuses_val_or_test_inputs_unlike_trains_before_training(split, inputs, message, tmp_path):
    """Before: a test set of other inputs failed in the model after every epoch had trained (mat1 and mat2
    shapes cannot be multiplied), a validation set before the first."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    other = {split: torch.utils.data.TensorDataset(inputs(x), y[:50]) if split == "val" else (inputs(x), y[:50])}
    with pytest.raises(TorchlabError, match=re.escape(message)):
        torchlab.fit(torch.nn.Linear(4, 3), (x, y), **other, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_fit_names_data_given_as_scikit_learn_and_keras_take_it(tmp_path):
    """Before: fit(model, x, y) took x and y for Datasets: "a Dataset's samples must be (input, target)
    pairs; train[0] is a Tensor"; val=0.2 said only that val must be tensors or a Dataset."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    with pytest.raises(TorchlabError, match=r"train is one Tensor; give inputs and targets as one pair: train="):
        torchlab.fit(torch.nn.Linear(4, 3), x, y, out=tmp_path / "run")
    with pytest.raises(TorchlabError, match="train is one ndarray"):
        torchlab.fit(torch.nn.Linear(4, 3), x.numpy(), y.numpy(), out=tmp_path / "run")
    with pytest.raises(TorchlabError, match="a share of train held out for validation is data__val_split=0.2"):
        torchlab.fit(torch.nn.Linear(4, 3), (x, y), val=0.2, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


class TwoOutputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.linear(x), x.mean()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (TwoOutputs, "needs logits of shape [batch, 3] from the model; TwoOutputs returned tuple"),
        (lambda: torch.nn.Linear(4, 2), "Linear returned shape (30, 2)"),
    ],
)
def test_fit_names_a_model_whose_output_is_no_logits(model, message, tmp_path):
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(model(), (x, y), out=tmp_path / "run")
    assert message in str(refused.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("task", "outputs", "targets", "message"),
    [
        ("regress", 3, (300, 1), "task regress needs one output per target, shape [batch, 1], from the model; "
         "Linear returned shape (30, 3)"),
        ("regress", 3, (300,), "shape [batch], from the model; Linear returned shape (30, 3)"),
        ("binary", 2, (300,), "task binary needs one output per target, shape [batch], from the model"),
        ("binary", 1, (300, 2), "shape [batch, 2], from the model; Linear returned shape (30, 1)"),
    ],
)  # fmt: skip
def test_fit_names_a_model_with_another_number_of_outputs_than_targets(task, outputs, targets, message, tmp_path):
    """Before: regress's [B, 3] against [B, 1] broadcast to a wrong loss without a word, and against [B]
    (binary's [B, 2] too) raised torch's size error from inside the first validation batch."""
    x, y = torch.randn(300, 4), torch.randint(0, 2, targets)
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(torch.nn.Linear(4, outputs), (x, y), task=task, out=tmp_path / "run")
    assert message in str(refused.value)
    assert not (tmp_path / "run").exists()


class LastStep(torch.nn.Module):
    """An LSTM of one feature per step, read at the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm, self.head = torch.nn.LSTM(1, 8, batch_first=True), torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


@pytest.mark.parametrize(
    ("model", "inputs", "task", "message"),
    [
        (lambda: torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)),
         torch.randn(300), "regress",
         "Sequential cannot take a batch of these data: given [30] float32, its module 0 (Linear, given [30] float32) "
         "raised: mat1 and mat2 shapes cannot be multiplied (1x30 and 1x8); inputs of shape [N] are N single numbers: "
         "x.unsqueeze(-1) makes them [N, 1]"),
        (lambda: torch.nn.Linear(784, 3), torch.rand(300, 1, 28, 28), "classify",
         "Linear cannot take a batch of these data: given [30, 1, 28, 28] float32, Linear.forward raised: mat1 and "
         "mat2 shapes cannot be multiplied (840x28 and 784x3); flatten each sample first: nn.Flatten()"),
        (LastStep, torch.randn(300, 20), "regress",
         "LastStep cannot take a batch of these data: given [30, 20] float32, its module lstm (LSTM, given [30, 20] "
         "float32) raised: input.size(-1) must be equal to input_size. Expected 1, got 20 (at test_python_api.py:"),
        (LastStep, torch.randn(300, 20), "regress", "x.unsqueeze(-1) makes them [B, T, 1]"),
        (lambda: torch.nn.Linear(4, 3), torch.randint(0, 9, (300, 4)), "classify",
         "given [30, 4] int64, Linear.forward raised: mat1 and mat2 must have the same dtype, but got Long and Float; "
         "int64 inputs into float weights: convert them with x.float()"),
        (lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 3)),
         torch.rand(300, 2, 8, 8), "classify",
         "its module 0 (Conv2d, given [30, 2, 8, 8] float32) raised: Given groups=1, weight of size [4, 1, 3, 3], "
         "expected input[30, 2, 8, 8] to have 1 channels, but got 2 channels instead"),
        (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 3)),
         torch.rand(300, 8, 8, 3), "classify", "the channels come last: x.movedim(-1, 1) puts them first"),
    ],
    ids=["numbers into Linear(1, 8)", "images into a Linear", "[B, T] into an LSTM", "its hint", "integers",
         "channels", "channels last"],
)  # fmt: skip
def test_a_model_that_cannot_take_the_data_is_named_with_what_it_got_where_it_failed_and_the_fix(
    model, inputs, task, message, tmp_path
):
    """Before: torch's RuntimeError and its traceback from the first validation batch, or, with no
    train.monitor, from the first training step, after config.yaml was written."""
    targets = torch.randn(300, 1) if task == "regress" else torch.randint(0, 3, (300,))
    if inputs.dim() == 1:
        targets = targets[:, 0]
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(model(), (inputs, targets), task=task, out=tmp_path / "run", train__monitor=None)
    assert message in str(refused.value)
    assert not (tmp_path / "run").exists()


class FailsOnStep(torch.nn.Module):
    """A Linear whose forward fails on its `step`-th call, as a bug after the first batch would."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.linear, self.step, self.calls = torch.nn.Linear(4, 3), step, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.step:
            raise RuntimeError("a bug of the model's own")
        return self.linear(x)


def test_a_model_that_fails_after_its_first_batch_is_a_crash_not_a_refusal(tmp_path):
    """The first-batch check turns only a failure on the first batch into a TorchlabError."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    with pytest.raises(RuntimeError, match="a bug of the model's own"):
        torchlab.fit(FailsOnStep(step=5), (x, y), out=tmp_path / "run", train__epochs=1, log__loggers=[])
    with pytest.raises(TorchlabError, match="FailsOnStep.forward raised: a bug of the model's own"):
        torchlab.fit(FailsOnStep(step=1), (x, y), out=tmp_path / "other")


class Noisy(torch.nn.Module):
    """A Linear that adds noise from the global stream in eval mode too, and has dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.linear, self.dropout = torch.nn.Linear(4, 3), torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.dropout(self.linear(x)) + torch.randn(len(x), 3)


def test_the_first_batch_check_changes_nothing_the_seeded_run_draws(tmp_path, monkeypatch):
    """The check runs the first batch with the random streams put back and the modes restored: the
    run's weights are those of a run without it."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    settings = {"train__epochs": 2, "train__monitor": None, "log__loggers": []}  # no monitor: no names asked
    checked = torchlab.fit(Noisy, (x, y), out=tmp_path / "checked", **settings)
    monkeypatch.setattr("torchlab.engine.trainer.check_first_batch", lambda *args: [])
    unchecked = torchlab.fit(Noisy, (x, y), out=tmp_path / "unchecked", **settings)
    for name, weights in unchecked.model.state_dict().items():
        assert torch.equal(checked.model.state_dict()[name], weights), name


class Normed(torch.nn.Module):
    """Noisy's layers with a BatchNorm1d between them, which cannot train on a batch of one sample."""

    def __init__(self) -> None:
        super().__init__()
        self.linear, self.norm, self.dropout = torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.dropout(self.norm(self.linear(x)))) + torch.randn(len(x), 3)


def test_the_training_batch_check_changes_nothing_the_seeded_run_draws(tmp_path, monkeypatch):
    """The check runs the first training batch in train mode with the shuffling order, the random streams,
    BatchNorm's running statistics and the modes put back, and no optimiser step: the run's weights
    and statistics are those of a run without it (before there was no such check)."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    settings = {"train__epochs": 2, "log__loggers": [], "data__batch_size": 64}
    checked = torchlab.fit(Normed, (x, y), out=tmp_path / "checked", **settings)
    monkeypatch.setattr("torchlab.engine.trainer.check_training_batch", lambda *args: None)
    unchecked = torchlab.fit(Normed, (x, y), out=tmp_path / "unchecked", **settings)
    for name, weights in unchecked.model.state_dict().items():
        assert torch.equal(checked.model.state_dict()[name], weights), name


def test_a_batchnorm_model_whose_training_set_leaves_one_sample_alone_trains_and_resumes_without_it(tmp_path):
    """Before: 65 training samples in batches of 64 crashed at the end of epoch 1, its work done, with
    torch's "Expected more than 1 value per channel when training" and a traceback."""
    x, y = torch.randn(65, 4), torch.randint(0, 3, (65,))
    val = (torch.randn(30, 4), torch.randint(0, 3, (30,)))
    said = (
        "65 training samples in batches of 64 leave one alone in each epoch's last batch, on which module norm "
        r"\(BatchNorm1d, given \[1, 8\] float32\) of Normed fails \(Expected more than 1 value per channel "
        "when training"
    )
    out = r"\) \(at test_python_api.py:\d+\): that sample \(another each epoch\) sits the epoch out"
    with pytest.warns(UserWarning, match=f"{said}.*{out}"):
        run = torchlab.fit(Normed, (x, y), val, out=tmp_path / "run", data__batch_size=64, train__epochs=1)
    assert run.summary["status"] == "completed"
    assert run.summary["train_samples"] == 64
    with pytest.warns(UserWarning, match=said):
        assert torchlab.resume(run.run_dir, epochs=2).summary["train_samples"] == 128


@pytest.mark.filterwarnings("ignore:129 training samples")
def test_a_batchnorm_run_leaving_a_lone_sample_stopped_inside_an_epoch_resumes_bit_identically(tmp_path, monkeypatch):
    """The resumption skips the batches the stopped epoch had done in the loader without the lone sample,
    as the stopped run counted them: its weights are those of a run never stopped."""
    from torchlab.engine.trainer import Trainer

    g = torch.Generator().manual_seed(1)
    data = (torch.randn(129, 4, generator=g), torch.randint(0, 3, (129,), generator=g))  # 64 + 64 + 1
    val = (torch.randn(30, 4, generator=g), torch.randint(0, 3, (30,), generator=g))
    settings = {"data__batch_size": 64, "train__epochs": 3, "log__loggers": []}
    whole = torchlab.fit(Normed, data, val, out=tmp_path / "whole", **settings)
    check = Trainer.check

    def stop_inside_epoch_2(trainer, loss, batch):
        if trainer.step == 3:  # epoch 2's first step
            trainer.stop.handle(signal.SIGTERM, None)
        return check(trainer, loss, batch)

    monkeypatch.setattr(Trainer, "check", stop_inside_epoch_2)
    stopped = torchlab.fit(Normed, data, val, out=tmp_path / "stopped", **settings)
    last = torch.load(stopped.run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert stopped.summary["status"] == "interrupted" and last["position"]["batches"] == 1  # inside epoch 2
    monkeypatch.setattr(Trainer, "check", check)
    resumed = torchlab.resume(stopped.run_dir)
    assert resumed.summary["train_samples"] == whole.summary["train_samples"] == 3 * 128
    for name, weights in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], weights), name


class ConvNormed(torch.nn.Module):
    """A conv net with BatchNorm2d over 7x7 maps (49 values per channel: it trains on one sample); with
    `pooled_norm`, another BatchNorm2d after global pooling (one value per channel: it cannot)."""

    def __init__(self, pooled_norm: bool = False) -> None:
        super().__init__()
        conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.features = torch.nn.Sequential(
            conv, torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)
        )
        self.pooled = torch.nn.BatchNorm2d(4) if pooled_norm else torch.nn.Identity()
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.pooled(self.features(x)).flatten(1))


@pytest.mark.parametrize("pooled_norm", [False, True])
def test_a_lone_last_sample_sits_out_only_where_a_batchnorm_sees_one_value_per_channel(pooled_norm, tmp_path):
    """Before: any BatchNorm left out each epoch's lone last sample, with a warning that it could not
    train on it; BatchNorm2d over 7x7 maps trains on one sample. A resumed run decides as the first did,
    so that its weights are those of a run never stopped."""
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(65, 1, 7, 7, generator=g), torch.randint(0, 3, (65,), generator=g))
    val = (torch.randn(20, 1, 7, 7, generator=g), torch.randint(0, 3, (20,), generator=g))
    settings = {"data__batch_size": 64, "log__loggers": [], "model_kwargs": {"pooled_norm": pooled_norm}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        whole = torchlab.fit(ConvNormed, data, val, out=tmp_path / "whole", train__epochs=2, **settings)
        first = torchlab.fit(ConvNormed, data, val, out=tmp_path / "first", train__epochs=1, **settings)
        resumed = torchlab.resume(first.run_dir, epochs=2)
    said = [str(w.message) for w in caught if "alone in each epoch's last batch" in str(w.message)]
    assert whole.summary["train_samples"] == resumed.summary["train_samples"] == (128 if pooled_norm else 130)
    for name, weights in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], weights), name
    if not pooled_norm:
        assert said == []
        return
    assert len(said) == 3 and re.fullmatch(
        re.escape(
            "65 training samples in batches of 64 leave one alone in each epoch's last batch, on which module pooled "
            "(BatchNorm2d, given [1, 4, 1, 1] float32) of ConvNormed fails (Expected more than 1 value per channel "
            "when training, got input size torch.Size([1, 4, 1, 1])) (at test_python_api.py:"
        )
        + r"\d+\): that sample \(another each epoch\) sits the epoch out; another data\.batch_size keeps it",
        said[0],
    )


class Squeezes(torch.nn.Module):
    """A classifier whose `squeeze()` takes the batch axis away from a batch of one sample: [1, 3] logits
    become [3], which cross-entropy reads as one unbatched sample."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.linear(x).squeeze()


class Standardized(torch.nn.Module):
    """A regressor that standardises its outputs over the batch: NaN on one sample (no spread)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x):
        h = self.linear(x)
        return (h - h.mean(0)) / h.std(0).clamp(min=1e-6)


@pytest.mark.filterwarnings(r"ignore:std\(\)")
@pytest.mark.parametrize(
    ("model", "task", "fails"),
    [
        (Squeezes, "classify", r"task classify's training step fails on Squeezes's output \(shape \(3,\)\) \(size "
                               r"mismatch \(got input: \[3\], target: \[1\]\)\)"),
        (Standardized, "regress", "task regress's training loss is nan"),
    ],
)  # fmt: skip
def test_a_model_that_fails_on_one_sample_outside_batchnorm_trains_without_the_lone_last_one(
    model, task, fails, tmp_path
):
    """Before: only a BatchNorm's failure was seen; these crashed at the end of epoch 1 (the squeeze in
    the backward of cross-entropy, the NaN loss as a divergence), their first epoch's work lost."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(95, 4, generator=g), torch.randint(0, 3, (95,), generator=g)
    y = y if task == "classify" else y.float().unsqueeze(1)
    settings = {"data__batch_size": 64, "train__epochs": 2, "log__loggers": []}
    said = f"65 training samples in batches of 64 leave one alone in each epoch's last batch, on which {fails}: that"
    with pytest.warns(UserWarning, match=said):
        run = torchlab.fit(model, (x[:65], y[:65]), (x[65:], y[65:]), task=task, out=tmp_path / "run", **settings)
    assert run.summary["status"] == "completed" and run.summary["train_samples"] == 2 * 64


def test_an_evaluation_set_ending_in_a_sample_the_model_fails_on_alone_is_refused_before_training(tmp_path):
    """Before: 33 validation samples in batches of 32 crashed the first epoch's validation, after its
    training, on the lone last one (Squeezes's [3] logits); a test set so, after all the training;
    `run.evaluate` so, with the task's refusal alone. Evaluation leaves no sample out: the refusal
    names a data.eval_batch_size (evaluate's batch_size=) that leaves none alone."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(130, 4, generator=g), torch.randint(0, 3, (130,), generator=g)
    train, val, test = (x[:64], y[:64]), (x[64:97], y[64:97]), (x[64:129], y[64:129])
    settings = {"data__batch_size": 64, "data__eval_batch_size": 32, "train__epochs": 1, "log__loggers": []}
    fails = (
        "samples in batches of 32 (data.eval_batch_size) end in a batch of one sample, on which task classify's "
        "{step} step fails on Squeezes's output (shape (3,)) (task classify needs logits of shape [batch, 3] from "
        "the model; Squeezes returned shape (3,)); evaluation leaves no sample out: set data.eval_batch_size={size}, "
        "which leaves none alone, or make the model take one sample"
    )
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(Squeezes, train, val, out=tmp_path / "val", **settings)
    assert str(refused.value) == "the validation set's 33 " + fails.format(step="validation", size=31)
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(Squeezes, train, (val[0][:30], val[1][:30]), test, out=tmp_path / "test", **settings)
    assert str(refused.value) == "the test set's 65 " + fails.format(step="test", size=31)
    with pytest.raises(TorchlabError, match="the test set's 1 sample in batches of 32 .*: give the test set more"):
        torchlab.fit(Squeezes, train, (val[0][:30], val[1][:30]), (x[:1], y[:1]), out=tmp_path / "one", **settings)
    assert not any((tmp_path / name).exists() for name in ("val", "test", "one"))
    run = torchlab.fit(Squeezes, train, val, test, out=tmp_path / "run", **{**settings, "data__eval_batch_size": 31})
    assert run.summary["status"] == "completed" and run.summary["test"]["loss"] > 0
    with pytest.raises(TorchlabError) as refused:  # new data, in evaluate's own batches
        run.evaluate(*val, batch_size=32)
    assert str(refused.value) == (
        "evaluate: 33 samples in batches of 32 end in a batch of one sample, on which task classify's validation "
        "step fails on Squeezes's output (shape (3,)) (task classify needs logits of shape [batch, 3] from the "
        "model; Squeezes returned shape (3,)); evaluation leaves no sample out: batch_size=31 leaves none alone"
    )
    assert run.evaluate(*test, batch_size=31)["loss"] == pytest.approx(run.summary["test"]["loss"])


@pytest.mark.filterwarnings(r"ignore:std\(\)")
def test_an_evaluation_set_ending_in_a_sample_whose_loss_is_nan_alone_is_refused_before_training(tmp_path):
    """Before: Standardized's validation loss was NaN on the lone last sample of 33 in batches of 32, and
    so the epoch's: no epoch was ever the best, without a word."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(97, 4, generator=g), torch.randn(97, 1, generator=g)
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(Standardized, (x[:64], y[:64]), (x[64:], y[64:]), task="regress", out=tmp_path / "run",
                     data__batch_size=64, data__eval_batch_size=32)  # fmt: skip
    assert str(refused.value) == (
        "the validation set's 33 samples in batches of 32 (data.eval_batch_size) end in a batch of one sample, on "
        "which task regress's validation loss is nan; evaluation leaves no sample out: set data.eval_batch_size=31, "
        "which leaves none alone, or make the model take one sample"
    )


def test_a_batchnorm_model_given_batches_of_one_is_refused_before_training_with_the_fix(tmp_path):
    """Before: torch's ValueError and its traceback at the first training step (the check before
    training ran the model in eval mode only, where BatchNorm takes one sample)."""
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(Normed, (x, y), out=tmp_path / "run", data__batch_size=1)
    assert str(refused.value).startswith(
        "Normed cannot take a batch of these data in training: given [1, 4] float32, its module norm (BatchNorm1d, "
        "given [1, 8] float32) raised: Expected more than 1 value per channel when training"
    )
    assert str(refused.value).endswith("; BatchNorm trains on batches of 2 or more samples: raise data.batch_size, "
                                       "or give more training samples")  # fmt: skip
    assert not (tmp_path / "run").exists()


class AuxWhenTraining(torch.nn.Module):
    """A classifier that returns an auxiliary output beside its logits in train mode (as Inception does)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        logits = self.linear(x)
        return (logits, logits.detach()) if self.training else logits


def test_a_model_that_fails_only_in_training_is_refused_before_the_first_epoch(tmp_path):
    """Before: the eval-mode check passed it, and the first training step raised a traceback."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    with pytest.raises(TorchlabError, match=r"AuxWhenTraining cannot train on these data: task classify's training "
                       r"step failed on its output \(tuple \(shape \(128, 3\), shape \(128, 3\)\)\): "
                       r"cross_entropy"):  # fmt: skip
        torchlab.fit(AuxWhenTraining, (x, y), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


WRONG_MODELS = """
import torch
from torch import nn

from torchlab.models.gan import GAN
from torchlab.models.rnn import SequenceRegressor


class Unflattened(nn.Module):  # a classifier or autoencoder of flat inputs, given images
    def __init__(self, outputs=10):
        super().__init__()
        self.linear = nn.Linear(784, outputs)

    def forward(self, x):
        return self.linear(x)


class ThreeFeatures(SequenceRegressor):  # a forecaster of three features per step, given one
    def __init__(self):
        super().__init__(nn.LSTM(3, 8, batch_first=True), 8, 1)


class NoState(nn.Module):  # a forecaster that returns its predictions without its state
    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(1, 8, batch_first=True), nn.Linear(8, 1)

    def forward(self, x, state=None):
        return self.head(self.lstm(x, state)[0])


class Greedy(Unflattened):  # activations no memory holds: torch's out of memory, not a model that cannot take the data
    def forward(self, x):
        return self.linear(x.flatten(1)) + torch.empty(2**43).sum()


class CriticOf3d(GAN):  # a critic of 3-d points, given 2-d ones
    def __init__(self):
        super().__init__(nn.Linear(2, 2), nn.Linear(3, 1), latent=2)
"""


@pytest.mark.parametrize(
    ("recipe", "target", "message"),
    [
        ("mnist-mlp", "Unflattened", "Unflattened cannot take a batch of these data: given [200, 1, 28, 28] float32, "
         "its module linear (Linear, given [200, 1, 28, 28] float32) raised: mat1 and mat2 shapes cannot be "
         "multiplied (5600x28 and 784x10) (at wrong.py:15); flatten each sample first"),
        ("mnist-ae", "Unflattened", "Unflattened has no encode, decode, latent: task reconstruct needs a model with "
         "forward(x) -> images of x's shape"),
        ("sine-lstm", "ThreeFeatures", "ThreeFeatures cannot take a batch of these data: given [200, 49, 1] float32, "
         "its module rnn (LSTM, given [200, 49, 1] float32, NoneType) raised: input.size(-1) must be equal to "
         "input_size. Expected 3, got 1"),
        ("sine-lstm", "NoState", "NoState returned shape (200, 49, 1) for sequences of shape (200, 49, 1), not "
         "(prediction (200, 49, 1), state): task forecast needs a model with forward(x [batch, time, features]"),
        # A GAN's validation steps compute nothing (one generation serves the whole set): its training step tells
        ("gaussians-gan", "CriticOf3d", "CriticOf3d's critic (Linear) cannot take a batch of these data in training: "
         "given [100, 2] float32, Linear.forward raised: mat1 and mat2 shapes cannot be multiplied (100x2 and 3x1)"),
        ("mnist-mlp", "Greedy", "torchlab: error: out of memory on the first validation batch (32,768.0 GiB asked "
         "for at once) with data.eval_batch_size=256: lower data.eval_batch_size or the model's size"),
    ],
    ids=["classify", "reconstruct", "forecast", "forecast without its state", "adversarial", "out of memory"],
)  # fmt: skip
def test_a_model_target_that_cannot_take_its_recipes_data_exits_2_naming_it_for_every_task(
    recipe, target, message, tmp_path, capsys, mnist_root
):
    """Before: torch's RuntimeError and traceback from the first validation batch, exit 1."""
    (tmp_path / "wrong.py").write_text(WRONG_MODELS)
    out = tmp_path / "run"
    wrong = f"model.target={tmp_path}/wrong.py:{target}"
    args = ["train", recipe, "--out", str(out), *TINY, "model.name=python", wrong]
    if recipe == "mnist-ae":
        args.append("model.kwargs={outputs: 784}")
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


class Hungry(torch.nn.Module):
    """Linear(4, 2) whose forward asks for 2**60 bytes from its call number `after + 1` on (None: never):
    a real allocation failure of torch's CPU allocator, which fills no memory."""

    def __init__(self, after: int | None) -> None:
        super().__init__()
        self.linear, self.calls, self.after = torch.nn.Linear(4, 2), 0, after

    def forward(self, x):
        self.calls += 1
        if self.after is not None and self.calls > self.after:
            torch.empty(2**60, dtype=torch.uint8)
        return self.linear(x)


def test_out_of_memory_names_the_batch_size_that_asked_and_the_run_resumes(tmp_path):
    """Before: fit raised torch's RuntimeError "DefaultCPUAllocator: can't allocate memory" (a traceback),
    and the command line said "lower data.batch_size" whichever batch ran out, nothing of what was kept."""
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    settings = {"train__epochs": 2, "data__batch_size": 16, "log__loggers": [], "log__progress": False}
    asked = "(1,073,741,824.0 GiB asked for at once)"
    # Forward calls: 1 and 2 the first-batch checks (validation, training), 3-6 epoch 1's four steps, 7 its
    # validation, 8 epoch 2's first step.
    for after, said in (
        (0, f"on the first validation batch {asked} with data.eval_batch_size=256: lower data.eval_batch_size"),
        (1, f"on the first training batch {asked} with data.batch_size=16: lower data.batch_size"),
        (6, f"evaluating {asked} with data.eval_batch_size=256: lower data.eval_batch_size"),
        (7, f"at epoch 2, step 5 {asked} with data.batch_size=16: lower data.batch_size or the model's size; "
            "checkpoints/last.pt keeps epoch 1: `torchlab.fit(..., out=RUN_DIR)` of the same model and data "
            "continues from there"),
    ):  # fmt: skip
        model, run = Hungry(after), tmp_path / str(after)
        with pytest.raises(TorchlabError) as caught:
            torchlab.fit(model, (x, y), out=run, **settings)
        assert str(caught.value).startswith(f"out of memory {said}"), caught.value
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"
    model.after = None  # memory enough now
    resumed = torchlab.fit(model, (x, y), out=run, **settings)
    assert resumed.summary["status"] == "completed" and resumed.summary["epochs"] == 2
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]  # epoch 1 kept, not trained again


HUNGRY_LATER = """
import os

import torch
from torch import nn


class HungryLater(nn.Module):  # asks for 2**60 bytes once HUNGRY is set: torch's CPU allocator fails, fills nothing
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(784, 10)

    def forward(self, x):
        if os.environ.get("HUNGRY"):
            torch.empty(2**60, dtype=torch.uint8)
        return self.linear(x.flatten(1))
"""


def test_out_of_memory_after_training_names_the_batch_size_that_applies(tmp_path, capsys, monkeypatch, mnist_root):
    """Before: `torchlab eval` and `report` said "lower data.batch_size" (they run data.eval_batch_size's
    batches), and predict and evaluate raised torch's RuntimeError with its traceback."""
    (tmp_path / "hungry.py").write_text(HUNGRY_LATER)
    out, model = tmp_path / "run", f"model.target={tmp_path}/hungry.py:HungryLater"
    assert main(["train", "mnist-mlp", "--out", str(out), *TINY, "model.name=python", model]) == 0
    monkeypatch.setenv("HUNGRY", "1")
    capsys.readouterr()
    asked = "(1,073,741,824.0 GiB asked for at once)"
    evaluating = f"{asked} with data.eval_batch_size=256: lower data.eval_batch_size or the model's size"
    assert main(["eval", str(out)]) == 2
    assert capsys.readouterr().err == f"torchlab: error: out of memory evaluating {evaluating}\n"
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == f"torchlab: error: out of memory testing {evaluating}\n"
    run, x = torchlab.load(out), torch.zeros(5, 1, 28, 28)
    with pytest.raises(TorchlabError) as caught:
        run.predict(x)
    assert str(caught.value) == (
        f"out of memory predicting {asked} with 5 inputs given to predict at once: lower how many predict takes "
        "at once or the model's size"
    )
    with pytest.raises(TorchlabError) as caught:
        run.evaluate(x, torch.zeros(5, dtype=torch.long), batch_size=2)
    assert str(caught.value) == (
        f"out of memory evaluating {asked} with evaluate's batch_size=2: lower evaluate's batch_size or the "
        "model's size"
    )
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"  # the run itself untouched


def test_a_gpus_out_of_memory_says_what_was_asked_for_as_the_cpus_does():
    """Without a GPU here: torch.OutOfMemoryError as the CUDA caching allocator words it."""
    from torchlab.core.errors import out_of_memory

    cuda = torch.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
        "1.36 GiB is free. Of the allocated memory 70.02 GiB is allocated by PyTorch"
    )
    assert out_of_memory(cuda) == "20.00 GiB asked for at once"
    assert out_of_memory(MemoryError()) == "MemoryError"
    assert out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None


class Wide(torch.nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 3))

    def forward(self, x):
        return self.net(x)


def test_fit_of_a_class_too_large_for_memory_names_its_model_kwarg_before_building_it(tmp_path):
    """Before: Linear(4, 10**10) allocated and initialised 160 GB of weights (minutes, then killed)."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(Wide, (x, y), model_kwargs={"hidden": 10**10}, out=tmp_path / "run")
    assert "model_kwargs: Wide of 80,000,000,003 parameters needs 298.0 GiB for its weights alone" in str(refused.value)
    assert "(the largest size asked: model_kwargs.hidden=10000000000)" in str(refused.value)
    assert not (tmp_path / "run").exists()


class ReturnsItsLambda(torch.nn.Module):
    """A model holding what pickle cannot save (a lambda, a lock): fit trains it, saving only its weights."""

    def __init__(self) -> None:
        super().__init__()
        self.linear, self.lock, self.act = torch.nn.Linear(4, 3), threading.Lock(), lambda t: t

    def forward(self, x):
        return self.act(self.linear(x))


LINEAR = {"in_features": 4, "out_features": 3}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda xy, out, run: torchlab.fit(torch.nn.Linear(4, 3), xy, out=3),
         "torchlab.fit's out= takes a path (a str or pathlib.Path), got int"),
        (lambda xy, out, run: torchlab.fit(torch.nn.Linear, xy, model_kwargs=[4, 3], out=out),
         "torchlab.fit's model_kwargs= takes a dict of the model's arguments, got list"),
        (lambda xy, out, run: torchlab.fit(torch.nn.Linear, xy, model_kwargs={"in_features": 4, "outs": 3}, out=out),
         "torchlab.fit's Linear could not be built with model_kwargs={'in_features': 4, 'outs': 3}: "
         "Linear.__init__() got an unexpected keyword argument 'outs'"),
        (lambda xy, out, run: torchlab.fit(torch.nn.Linear(4, 3), xy, overrides=3, out=out),
         "overrides= takes KEY=VALUE strings (one, a list of them) or a dict {KEY: value}, got 3"),
        (lambda xy, out, run: torchlab.fit(torch.nn.Linear(4, 3, device="meta"), xy, out=out),
         "Linear's weights are on the meta device, which holds no values: build it on a real device"),
        (lambda xy, out, run: torchlab.fit(torch.nn.Identity(), xy, out=out),
         "Identity has no parameters: fit trains a model's weights, and it has none to train"),
        (lambda xy, out, run: torchlab.fit(torch.nn.Linear(4, 3).requires_grad_(False), xy, out=out),
         "Linear has every parameter frozen (requires_grad=False)"),
        (lambda xy, out, run: torchlab.fit(torch.nn.LazyLinear(3), xy, out=out),
         "LazyLinear has parameters not made yet (a Lazy module): run one batch through it first, model(x[:2])"),
        (lambda xy, out, run: torchlab.load(123), "torchlab.load's run_dir takes a path (a str or pathlib.Path), "
         "got int"),
        (lambda xy, out, run: torchlab.resume(None), "torchlab.resume's run_dir takes a path"),
        (lambda xy, out, run: torchlab.Run(str(run), None), "Run takes the run's Config, got NoneType: torchlab.load"),
        (lambda xy, out, run: torchlab.load(run, device="gpu").model, "unknown device 'gpu'"),
        # Python's TypeError or ValueError from inside, or (batch_size=-1, no samples) {} without a word
        (lambda xy, out, run: torchlab.load(run).predict(*xy), "predict of this run takes 1 input, as task classify's "
         "predict(x) names them: a batch of each, a tensor or numpy array with a row per sample; got 2"),
        (lambda xy, out, run: torchlab.load(run).evaluate(*xy, batch_size=-1), "evaluate's batch_size= takes 1 or "
         "more"),
        (lambda xy, out, run: torchlab.load(run).evaluate(*xy, batch_size=2.5), "evaluate's batch_size= takes an "
         "integer, got float 2.5"),
        (lambda xy, out, run: torchlab.load(run).evaluate(xy[0][:0], xy[1][:0]), "evaluate: no samples given"),
        (lambda xy, out, run: torchlab.resume(run, "3"), "torchlab.resume's epochs= takes an integer, got str '3'"),
        (lambda xy, out, run: torchlab.load(run, device=None).model, "unknown device 'None'; use auto, cpu, cuda"),
    ],
    ids=["out", "model_kwargs", "a model_kwarg", "overrides", "meta", "no parameters", "frozen", "lazy", "load",
         "resume", "Run", "device", "predict arity",
         "batch_size -1", "batch_size float", "evaluate nothing", "resume epochs str", "device None"],
)  # fmt: skip
def test_wrong_arguments_from_a_notebook_get_one_clear_line_and_nothing_is_written(
    call, message, tmp_path, monkeypatch
):
    """Before: pathlib's TypeError (out=3, load(123)), the class's own TypeError, "'int' object is not
    iterable", "Cannot copy out of meta tensor", "optimizer got an empty parameter list", a LazyLinear's
    "Attempted to use an uninitialized parameter", and Run(str, None) "unsupported operand type(s) for /";
    an empty out= or data_dir= was taken as none given; and those the comments above name."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    run = tmp_path / "trained"
    torchlab.fit(torch.nn.Linear, (x, y), model_kwargs=LINEAR, out=run, train__epochs=1, log__loggers=[])
    monkeypatch.chdir(tmp_path)  # where an empty out= trained: runs/
    with pytest.raises(torchlab.TorchlabError) as refused:
        call((x, y), tmp_path / "run", run)
    assert message in str(refused.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["trained"]


def test_a_runs_methods_under_other_libraries_names_say_what_does_it(tmp_path, monkeypatch):
    """Before: Python's bare "'Run' object has no attribute 'eval'" for run.eval(), run.report(), run.resume();
    and with their first fix, a model class whose rebuild raised an AttributeError made `run.model` say
    only "'Run' object has no attribute 'model'"."""
    x, y = torch.randn(100, 4), torch.randint(0, 3, (100,))
    run = torchlab.fit(torch.nn.Linear, (x, y), model_kwargs=LINEAR, out=tmp_path / "run", train__epochs=1)
    for name, says in (("eval", "run.evaluate(inputs, targets)"), ("report", "run.report_path"),
                       ("resume", "torchlab.resume(run.run_dir, epochs=N)")):  # fmt: skip
        with pytest.raises(AttributeError, match=re.escape(f"a Run has no {name}: {says}")):
            getattr(run, name)()
    with pytest.raises(AttributeError, match="'Run' object has no attribute 'nothing'"):
        run.nothing  # noqa: B018
    assert run.evaluate is not None and copy.copy(run).run_dir == run.run_dir  # the others as before

    def broken(self: torch.nn.Linear, *args: object, **kwargs: object) -> None:
        raise AttributeError("'Linear' object has no attribute 'weigth'")

    monkeypatch.setattr(torch.nn.Linear, "__init__", broken)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'weigth'"):
        torchlab.load(run.run_dir).model  # noqa: B018


def test_a_model_pickle_cannot_save_trains_loads_and_predicts(tmp_path):
    """A lambda or a lock in a model is no obstacle: checkpoints hold weights only."""
    x, y = torch.randn(300, 4), torch.randint(0, 3, (300,))
    run = torchlab.fit(ReturnsItsLambda(), (x, y), out=tmp_path / "run", train__epochs=1, log__loggers=[])
    assert run.summary["status"] == "completed"
    assert torchlab.load(run.run_dir, model=ReturnsItsLambda()).predict(x[:5]).shape == (5,)


def test_a_classifier_gives_the_probabilities_its_predictions_come_from(tmp_path):
    """run.probabilities: rows of [N, classes] summing to 1 whose argmax is predict's class, a binary
    classifier's [p(0), p(1)] too; a regression has none."""
    torch.manual_seed(0)
    x = torch.randn(300, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    for task, model, targets, classes in [("classify", torch.nn.Linear(4, 3), y, 3),
                                          ("binary", torch.nn.Linear(4, 1), (y > 0).float(), 2)]:  # fmt: skip
        run = torchlab.fit(model, (x, targets), task=task, out=tmp_path / task, train__epochs=2, log__loggers=[])
        probabilities = run.probabilities(x)
        assert probabilities.shape == (300, classes) and torch.allclose(probabilities.sum(1), torch.ones(300))
        assert torch.equal(probabilities.argmax(1), run.predict(x))
    run = torchlab.fit(torch.nn.Linear(4, 1), (x, x[:, :1]), task="regress", out=tmp_path / "r", log__loggers=[])
    with pytest.raises(TorchlabError, match="task regress has no class probabilities"):
        run.probabilities(x)


class Named(torch.utils.data.TensorDataset):
    """A Dataset naming its classes, as torchvision's do: the class count is theirs, not its labels'."""

    classes = ["zero", "one", "two"]


def bad_at(targets: torch.Tensor, index: int, value: float) -> torch.Tensor:
    """`targets` with `value` at `index`."""
    targets = targets.clone()
    targets[index] = value
    return targets


@pytest.mark.parametrize(
    ("task", "splits", "message"),
    [
        ("binary", lambda x, y: {"train": (x, bad_at(y, 150, 2))},
         "task='binary' takes targets 0 and 1; train[150] holds 2"),
        ("binary", lambda x, y: {"train": TD(x, y), "val": TD(x[:50], bad_at(y[:50], 20, 2))}, "val[20] holds 2"),
        ("binary", lambda x, y: {"train": Subset(TD(x, bad_at(y, 250, -1)), range(100, 300))}, "train[150] holds -1"),
        ("classify", lambda x, y: {"train": Named(x, bad_at(y, 150, 3).long())},
         "a classifier's targets are class indices 0 to 2 (train.classes names 3); train[150] holds 3"),
        ("classify", lambda x, y: {"train": Named(x, y.long()), "test": (x[:50], bad_at(y[:50], 40, 3).long())},
         "class indices 0 to 2 (train.classes names 3); test[40] holds 3"),
        ("classify", lambda x, y: {"train": (x, y.long()), "test": TD(x[:50], bad_at(y[:50], 40, 2).long())},
         "class indices 0 to 1 (data.num_classes=2); test[40] holds 2"),
        ("classify", lambda x, y: {"train": Labelled(x, bad_at(y, 150, -1).long())}, "from 0 up; train[150] holds -1"),
        ("regress", lambda x, y: {"train": (x, bad_at(y, 150, float("nan")))},
         "task='regress' fits finite numbers; train[150] holds nan (drop or fill in the samples without a number)"),
        ("regress", lambda x, y: {"train": (x, y), "val": TD(x[:50], bad_at(y[:50], 20, float("inf")))},
         "val[20] holds inf"),
        ("regress", lambda x, y: {"train": (x, y[:, None]), "test": (x[:50], bad_at(y[:50, None], 30, math.nan))},
         "test[30] holds nan"),
    ],
    ids=["binary pair", "binary val", "binary Subset", "classes", "classes, test pair", "data.num_classes",
         "labels", "regress NaN", "regress val inf", "regress test column"],
)  # fmt: skip
def test_every_target_kept_in_plain_sight_is_checked_before_training(task, splits, message, tmp_path):
    """Before: binary checked the first target alone, a Dataset's `classes` counted the classes unchecked
    (cross-entropy's IndexError, or a CUDA device assert, mid-epoch), a classifier's data.num_classes was
    not checked against the labels, and NaN regression targets trained to a NaN loss."""
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).float()
    settings = {"data__num_classes": 2} if "num_classes" in message else {}
    outputs = 3 if task == "classify" else 1
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(torch.nn.Linear(4, outputs), **splits(x, y), task=task, out=tmp_path / "run", **settings)
    assert message in str(refused.value)
    assert not (tmp_path / "run").exists()  # refused before anything is written
    good = {"train": (x, y.long() if task == "classify" else y)}
    run = torchlab.fit(torch.nn.Linear(4, outputs), **good, task=task, out=tmp_path / "ok", train__epochs=1,
                       log__loggers=[])  # fmt: skip
    assert run.summary["status"] == "completed"


@pytest.mark.parametrize(
    ("task", "split", "message"),
    [
        ("binary", "train", "task='binary' takes targets 0 and 1; train[150] holds 2"),
        ("classify", "val", "a classifier's targets are class indices 0 to 2 (train.classes names 3); val[30] holds 3"),
        ("regress", "test", "task='regress' fits finite numbers; test[30] holds nan"),
    ],
)
def test_a_dataset_that_keeps_no_targets_fails_at_the_first_batch_holding_a_bad_one(task, split, message, tmp_path):
    """A Dataset that keeps its targets nowhere but in its samples (one that decodes them) is not read
    whole before training: its first batch holding a bad target is refused, naming it, where it was
    cross-entropy's IndexError (or a binary or regression loss trained on it without a word)."""
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    bad = {"binary": 2, "classify": 3, "regress": float("nan")}[task]
    target = float if task != "classify" else int

    class Decoded(Samples):
        classes = ["zero", "one", "two"]  # the count, kept; the labels are not

    def dataset(n: int, at: int | None) -> Samples:
        return Decoded(n, lambda i: (x[i], target(bad if i == at else y[i])))

    splits = {"train": dataset(300, 150 if split == "train" else None)}
    for name in ("val", "test"):
        splits[name] = dataset(50, 30 if split == name else None)
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(torch.nn.Linear(4, 3 if task == "classify" else 1), **splits, task=task, out=tmp_path / "run",
                     train__epochs=1, log__loggers=[], log__progress=False)  # fmt: skip
    assert message in str(refused.value)


@pytest.mark.parametrize("given", ["tensors", "Dataset"])
def test_fit_trains_and_tests_on_the_subsets_asked_for(given, tmp_path):
    """Before: data.subset and data.eval_subset were ignored by fit (all 2,700 samples trained)."""
    x = torch.randn(3000, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    data = {"tensors": lambda pair: pair, "Dataset": lambda pair: torch.utils.data.TensorDataset(*pair)}[given]
    run = torchlab.fit(torch.nn.Linear, data((x, y)), test=data((x[:500], y[:500])), out=tmp_path / "run",
                       model_kwargs={"in_features": 4, "out_features": 2}, train__epochs=1, data__subset=100,
                       data__eval_subset=50, log__loggers=[])  # fmt: skip
    assert run.summary["epoch_train_samples"] == 100
    assert run.summary["test"] == pytest.approx(run.evaluate(x[:50], y[:50]), abs=1e-6)  # the first 50 alone
    assert run.summary["test"] != pytest.approx(run.evaluate(x[:500], y[:500]), abs=1e-6)


@pytest.mark.parametrize(
    "given",
    [
        "int32 tensors",
        "numpy",
        "int32 Dataset",
        "a column [N, 1]",
        "Dataset labels of shape [1]",
        "tensors beside a Dataset",
    ],
)
def test_fit_takes_class_labels_as_numpy_and_pandas_give_them(given, tmp_path):
    """int32 labels (cross-entropy wants int64), numpy arrays, a column of labels (it raised "0D or 1D
    target tensor expected, multi-target not supported"), and a pair of tensors given beside a Dataset."""
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).int()
    splits = {
        "int32 tensors": {"train": (x, y)},
        "numpy": {"train": (x.numpy(), y.numpy())},
        "int32 Dataset": {"train": Samples(300, lambda i: (x[i], y[i].numpy()))},
        "a column [N, 1]": {"train": (x, y[:, None])},  # pandas' df[["label"]]
        "Dataset labels of shape [1]": {"train": Samples(300, lambda i: (x[i], y[i : i + 1]))},
        "tensors beside a Dataset": {
            "train": (x[:240], y[:240]),
            "val": Samples(60, lambda i: (x[240 + i], y[240 + i])),
        },
    }[given]
    kwargs = {"in_features": 4, "out_features": 2}  # the class: built under the run's seed, whatever ran before
    run = torchlab.fit(torch.nn.Linear, **splits, out=tmp_path / "run", model_kwargs=kwargs, train__epochs=2,
                       optim__lr=0.1, log__loggers=[])  # fmt: skip
    assert run.summary["val"]["accuracy"] > 0.7


READ: list[int] = []  # the index of each sample the two Datasets below are asked for


class Labelled(torch.utils.data.Dataset):
    """Samples whose labels the Dataset also keeps beside them (torchvision's `targets`, or `labels`)."""

    def __init__(self, x, y, key: str = "targets", kept=None, target_transform=None) -> None:
        self.x, self.y, self.target_transform = x, y, target_transform
        setattr(self, key, (y if kept is None else kept).tolist())

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        READ.append(i)
        y = self.y[i]
        return self.x[i], y if self.target_transform is None else self.target_transform(y)


class CountedTensors(torch.utils.data.TensorDataset):
    def __getitem__(self, i: int):
        READ.append(i)
        return super().__getitem__(i)


def test_fit_counts_the_classes_a_dataset_keeps_without_reading_its_samples(tmp_path):
    """Before: counting the classes read every sample (a torchvision MNIST decoded its 60,000 images;
    a TensorDataset of 60,000 took 0.6 s); a Dataset's `targets` are read instead."""
    x = torch.randn(2000, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long() * 4  # classes 0 and 4: five classes for the model
    READ.clear()
    run = torchlab.fit(torch.nn.Linear(4, 5), Labelled(x, y), out=tmp_path / "run", train__epochs=1, data__subset=32,
                       data__eval_subset=32, log__loggers=[])  # fmt: skip
    assert run.config.data.num_classes == 5 and run.summary["status"] == "completed"
    # the checks, digests and one epoch of the 32 + 32 samples of the subsets: not one read per sample
    assert 0 < len(READ) < 300  # 2,147 before


@pytest.mark.parametrize(
    ("make", "classes"),
    [
        (lambda x, y: Labelled(x, y, "labels"), 5),
        (lambda x, y: CountedTensors(x, y), 5),
        (lambda x, y: torch.utils.data.Subset(CountedTensors(x, y), range(10)), 4),  # its samples' classes alone
        (lambda x, y: torch.utils.data.Subset(Labelled(x, y), torch.arange(20, 40)), 5),
        (lambda x, y: torch.utils.data.ConcatDataset([Labelled(x[:50], y[:50]), CountedTensors(x[50:], y[50:])]), 5),
    ],
    ids=["labels", "TensorDataset", "Subset", "Subset by a tensor", "ConcatDataset"],
)
def test_the_classes_a_dataset_keeps_are_counted_without_reading_its_samples(make, classes):
    x, y = torch.randn(100, 4), torch.arange(100) % 5
    y[:10] = y[:10].clamp(max=3)  # the first 10 samples hold classes 0 to 3 only
    dataset = make(x, y)
    READ.clear()
    assert count_classes({"train": dataset}) == classes
    assert len(READ) == 1  # the first sample, whose target must agree with the labels kept


@pytest.mark.parametrize(
    ("make", "refused"),
    [
        (lambda x, y: Labelled(x, y, target_transform=lambda t: t + 1), None),  # the samples' labels: 1 to 5
        (lambda x, y: Labelled(x, y, kept=(y + 1) % 5), None),  # `targets` that are not the samples' own
        (lambda x, y: Labelled(x, y, target_transform=lambda t: "cat" if t == 3 else t), "train[3]'s is a str"),
    ],
    ids=["target_transform", "other targets", "a class name"],
)
def test_a_dataset_whose_kept_labels_are_not_its_samples_targets_is_counted_from_its_samples(make, refused):
    x, y = torch.randn(100, 4), torch.arange(100) % 5
    dataset = make(x, y)
    READ.clear()
    if refused:
        with pytest.raises(TorchlabError, match=re.escape(refused)):
            count_classes({"train": dataset})
        return
    assert count_classes({"train": dataset}) == int(max(dataset[i][1] for i in range(100))) + 1
    assert len(READ) > 100  # every sample, once for counting


@pytest.mark.parametrize("given", ["instance", "class"])
def test_a_float64_model_is_rebuilt_in_float64(tmp_path, given):
    """A model.double(), or a class built under torch.set_default_dtype(torch.float64), trains on float64
    data, and `torchlab eval` and `torchlab.load` rebuild it in float64. Before: they built float32 (and
    the class's eval stopped on a dtype mismatch, a traceback and exit 1)."""
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = (x[:, 0] > 0).long()
    kwargs = {"in_features": 4, "out_features": 2}
    model = torch.nn.Linear(4, 2).double() if given == "instance" else torch.nn.Linear
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        run = torchlab.fit(model, (x, y), test=(x[:60], y[:60]), out=tmp_path / "run",
                           model_kwargs=kwargs, train__epochs=1, log__loggers=[])  # fmt: skip
    finally:
        torch.set_default_dtype(default)
    assert run.config.model.dtype == "float64"
    assert torchlab.load(run.run_dir).model.weight.dtype == torch.float64
    done = run_cli("eval", str(run.run_dir))
    assert done.returncode == 0 and f"test.accuracy {run.summary['test']['accuracy']:.4f}" in done.stdout, done.stderr


def test_fit_again_into_its_folder_continues_keeps_or_refuses(tmp_path):
    """Before: a second fit into one folder resumed the first one's config, dropping the new settings."""
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()

    def fit(**settings) -> torchlab.Run:
        return torchlab.fit(torch.nn.Linear, (x, y), out=tmp_path / "run", log__loggers=[],
                            model_kwargs={"in_features": 4, "out_features": 2}, **settings)  # fmt: skip

    assert fit(train__epochs=1).summary["epochs"] == 1
    longer = fit(train__epochs=2)  # the same config, more epochs: continued
    assert longer.summary["epochs"] == 2
    assert fit(train__epochs=2).summary == longer.summary  # run again (a notebook's Run All): kept
    with pytest.raises(TorchlabError, match=r"another config \(optim.lr: 0.001 -> 0.05\)"):
        fit(train__epochs=2, optim__lr=0.05)
    assert fit(train__epochs=3, log__quiet=True, log__progress=False).summary["epochs"] == 3  # display: not config
    kept = (tmp_path / "run" / "data.safetensors").read_bytes()
    x, y = x.flip(0), y.flip(0)  # other data, the same config
    with pytest.raises(TorchlabError, match=r"holds a fit of other data \(train.x differs\)"):
        fit(train__epochs=4)
    assert (tmp_path / "run" / "data.safetensors").read_bytes() == kept  # what trained epochs 1-3


def test_a_refused_fit_into_an_earlier_ones_folder_leaves_it_as_it_found_it(tmp_path):
    """Before: a fit again refused by the run (here its corrupt last.pt) wrote the data.safetensors that the
    folder lacked; one that trains writes it, for the command line."""
    x, y = torch.randn(64, 4, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    out = tmp_path / "run"

    def fit(epochs: int) -> torchlab.Run:
        return torchlab.fit(torch.nn.Linear, (x, y), out=out, train__epochs=epochs, log__loggers=[],
                            model_kwargs={"in_features": 4, "out_features": 2})  # fmt: skip

    fit(1)
    (out / "data.safetensors").unlink()
    (out / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    before = sorted(out.rglob("*"))
    with pytest.raises(TorchlabError, match="last.pt is corrupt or truncated"):
        fit(2)
    assert sorted(out.rglob("*")) == before
    (out / "checkpoints" / "last.pt").unlink()
    (out / "summary.json").unlink()  # killed in its first epoch, as it were: trained again from the start
    shutil.rmtree(out / "checkpoints")
    assert fit(1).summary["epochs"] == 1 and (out / "data.safetensors").is_file()


def test_fit_again_of_other_datasets_into_its_folder_is_refused(tmp_path):
    """Before: Datasets were not compared: a fit of other ones into the folder returned the kept run, or
    continued it on them."""
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))

    def jittered(inputs: torch.Tensor) -> Samples:  # random augmentation: read twice, a sample differs
        return Samples(len(inputs), lambda i: (inputs[i] + 0.1 * torch.randn(4), int(inputs[i, 0] > 0)))

    def fit(train: Samples, epochs: int = 1) -> torchlab.Run:
        return torchlab.fit(torch.nn.Linear, train, jittered(x[80:]), out=tmp_path / "run", train__epochs=epochs,
                            log__loggers=[], model_kwargs={"in_features": 4, "out_features": 2})  # fmt: skip

    class Others(Samples):
        pass

    kept = fit(jittered(x[:80]))
    assert fit(jittered(x[:80])).summary == kept.summary  # the same Datasets: kept
    last = x.clone()
    last[79] += 1  # the training set's last sample, one of those it is recognised by
    for train in (jittered(last[:80]), jittered(x[:79]), Others(80, jittered(x[:80]).sample)):
        with pytest.raises(TorchlabError, match=r"holds a fit of other data \(the train Dataset differs\)"):
            fit(train, epochs=2)
    assert torchlab.load(kept.run_dir).summary["epochs"] == 1  # nothing trained on them


def test_evaluate_scores_the_best_model_on_new_data_as_the_run_scored_its_test_set(tmp_path):
    """Before: Run had no evaluate (AttributeError); new data meant a loop of one's own around predict."""
    import numpy as np

    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    kwargs = {"in_features": 5, "out_features": 2}
    run = torchlab.fit(torch.nn.Linear, (x[:200], y[:200]), test=(x[200:], y[200:]), out=tmp_path / "run",
                       model_kwargs=kwargs, train__epochs=2, log__loggers=[])  # fmt: skip
    assert run.evaluate(x[200:], y[200:]) == pytest.approx(run.summary["test"], abs=1e-6)
    labels = y[:50].numpy().astype(np.int32)  # numpy's int32 labels, batches of 7
    accuracy = (run.predict(x[:50]) == y[:50]).float().mean().item()
    assert torchlab.load(run.run_dir).evaluate(x[:50].numpy(), labels, batch_size=7)["accuracy"] == pytest.approx(
        accuracy
    )
    dataset = Samples(50, lambda i: (x[i].numpy(), int(y[i])))  # a Dataset, as fit takes it
    assert run.evaluate(dataset) == pytest.approx(run.evaluate(x[:50], y[:50]), abs=1e-6)
    with pytest.raises(
        TorchlabError, match="evaluate takes inputs and targets, or a Dataset of both; got Tensor alone"
    ):
        run.evaluate(x[:50])
    with pytest.raises(TorchlabError, match=r"evaluate: a Dataset's samples must be .* the Dataset\[0\] is a dict"):
        run.evaluate(Samples(50, lambda i: {"x": x[i], "y": y[i]}))
    with pytest.raises(TorchlabError, match="evaluate: a classifier's test targets must be integer class indices"):
        run.evaluate(x[:50], y[:50].float())
    with pytest.raises(
        TorchlabError, match=r"evaluate: .* class indices 0 to 1 \(the run's 2 classes\); targets\[\d+\] holds 2"
    ):
        run.evaluate(x[:50], y[:50] * 2)  # cross-entropy's IndexError, or accuracy on classes the model lacks
    with pytest.raises(TorchlabError, match="evaluate: test has 50 inputs but 49 targets"):
        run.evaluate(x[:50], y[:49])
    with pytest.raises(TorchlabError, match=r"evaluate takes inputs of shape \[N, 5\], got \[50, 3\]"):
        run.evaluate(x[:50, :3], y[:50])


def test_a_misspelt_keyword_names_the_setting_it_meant_and_trains_nothing(tmp_path):
    """Before: fit(epochs=3) said "unknown config section 'epochs'", and resume(run, epoch=4) reached the
    Trainer: TypeError "Trainer.__init__() got an unexpected keyword argument 'epoch'"; overrides as a
    dict or one str were read key by key or letter by letter. `name=` was "did you mean schedule__name=?"."""
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    pair, kwargs = (x, (x[:, 0] > 0).long()), {"in_features": 3, "out_features": 2}
    with pytest.raises(TorchlabError, match=r"torchlab.fit: unknown keyword argument epochs=; .*train__epochs=\?"):
        torchlab.fit(torch.nn.Linear, pair, out=tmp_path / "typo", model_kwargs=kwargs, epochs=3)
    with pytest.raises(TorchlabError, match=r"torchlab.train: unknown keyword argument lr=; .*optim__lr=\?"):
        torchlab.train("mnist-mlp", tmp_path / "typo", lr=0.1)
    with pytest.raises(TorchlabError, match="for example train__epochs=3"):
        torchlab.train("mnist-mlp", tmp_path / "typo", xyzzy=1)
    with pytest.raises(TorchlabError, match=r"name=; .*\(for example train__epochs=3\)"):  # five sections have one
        torchlab.train("mnist-mlp", tmp_path / "typo", name="mlp")
    with pytest.raises(TorchlabError, match=r"unknown config key 'optim.lrr' \(did you mean 'optim.lr'\?\)"):
        torchlab.train("mnist-mlp", tmp_path / "typo", overrides={"optim.lrr": 0.1})
    assert not (tmp_path / "typo").exists()
    one = "train.epochs=1"
    run = torchlab.fit(torch.nn.Linear, pair, out=tmp_path / "run", model_kwargs=kwargs, overrides=one, log__loggers=[])
    assert run.summary["epochs"] == 1
    assert torchlab.fit(torch.nn.Linear, pair, out=tmp_path / "dict", model_kwargs=kwargs, log__loggers=[],
                        overrides={"train.epochs": 1, "optim.lr": 0.05}).config.optim.lr == 0.05  # fmt: skip
    with pytest.raises(TypeError, match=r"^resume\(\) got an unexpected keyword argument 'epoch'"):
        torchlab.resume(run.run_dir, epoch=2)
    assert torchlab.resume(run.run_dir, epochs=2).summary["epochs"] == 2


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_an_absent_accelerator_is_named_before_anything_is_written(device, tmp_path):
    """Before: device 'mps' where PyTorch has none raised torch's RuntimeError "PyTorch is not linked
    with support for mps devices" (from fit, train, load's predict and `torchlab train --device mps`)."""
    if torch.accelerator.current_accelerator(check_available=True) == torch.device(device):
        pytest.skip(f"this machine has {device}")
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    pair, kwargs = (x, (x[:, 0] > 0).long()), {"in_features": 3, "out_features": 2}
    absent = f"device '{device}' asked for, but no {device.upper()} device is available here"
    with pytest.raises(TorchlabError, match=absent):
        torchlab.fit(torch.nn.Linear, pair, out=tmp_path / "gpu", model_kwargs=kwargs, train__device=device)
    assert not (tmp_path / "gpu").exists()
    run = torchlab.fit(torch.nn.Linear, pair, out=tmp_path / "run", model_kwargs=kwargs, train__epochs=1,
                       log__loggers=[])  # fmt: skip
    with pytest.raises(TorchlabError, match=absent):
        torchlab.load(run.run_dir, device=device).predict(x)
    done = run_cli("train", "mnist-mlp", "--device", device, "--out", str(tmp_path / "cli"))
    assert done.returncode == 2 and absent in done.stderr and not (tmp_path / "cli").exists()


def test_refusals_from_python_name_out_and_torchlab_resume_not_the_flags(tmp_path, mnist_root):
    """Before: "pick another --out" and "`torchlab resume DIR` continues it", the command line's words."""
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    pair, kwargs = (x, (x[:, 0] > 0).long()), {"in_features": 3, "out_features": 2}
    (tmp_path / "file").write_text("mine")
    with pytest.raises(TorchlabError, match="file exists and is not a directory; pick another out=$"):
        torchlab.fit(torch.nn.Linear, pair, out=tmp_path / "file", model_kwargs=kwargs)
    run = torchlab.fit(torch.nn.Linear, pair, out=tmp_path / "run", model_kwargs=kwargs, train__epochs=1,
                       log__loggers=[])  # fmt: skip
    again = f"already holds a run: `torchlab.resume({str(run.run_dir)!r})` continues it; pick another out="
    with pytest.raises(TorchlabError, match=re.escape(again)):
        torchlab.train("mnist-mlp", run.run_dir, data__subset=100, data__eval_subset=100, log__loggers=[])
    assert (tmp_path / "file").read_text() == "mine" and run.summary["recipe"] == "fit-linear"


def test_fit_gives_the_callers_random_streams_and_switches_back(tmp_path):
    """Before: after a fit, random, numpy and torch drew the run's seed-0 streams, deterministic on."""
    import random

    import numpy as np

    def draws() -> tuple:
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    model, x = torch.nn.Linear(4, 2), torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    random.seed(42), np.random.seed(42), torch.manual_seed(42)
    expected = draws()
    random.seed(42), np.random.seed(42), torch.manual_seed(42)
    torchlab.fit(model, (x, (x[:, 0] > 0).long()), out=tmp_path / "run", train__epochs=1,
                 train__deterministic=True, log__loggers=[])  # fmt: skip
    assert draws() == expected
    assert not torch.are_deterministic_algorithms_enabled() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_fit_takes_one_set_of_tensors_as_both_val_and_test(tmp_path):
    """safetensors refuses two names for one memory; data.safetensors must still be written."""
    torch.manual_seed(0)
    x = torch.randn(200, 3)
    y = (x[:, 0] > 0).long()
    shared, kwargs = (x[:50], y[:50]), {"in_features": 3, "out_features": 2}
    run = torchlab.fit(torch.nn.Linear, (x, y), val=shared, test=shared, out=tmp_path / "run",
                       model_kwargs=kwargs, train__epochs=1, log__loggers=[])  # fmt: skip
    assert run.summary["val"]["accuracy"] == run.summary["test"]["accuracy"]
    assert main(["eval", str(run.run_dir)]) == 0  # the command line reads data.safetensors back


def test_a_pipe_or_a_folder_in_place_of_a_fits_tensors_is_one_line(tmp_path, capsys):
    """Before: `eval` of a fit run whose data.safetensors was a pipe waited for ever in safetensors."""
    x = torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    run = torchlab.fit(torch.nn.Linear, (x, (x[:, 0] > 0).long()), out=tmp_path / "run", log__loggers=[],
                       model_kwargs={"in_features": 3, "out_features": 2}, train__epochs=1)  # fmt: skip
    tensors = run.run_dir / "data.safetensors"
    for make, said in ((os.mkfifo, "not a regular file (a pipe, socket or device)"), (Path.mkdir, "Is a directory")):
        tensors.unlink() if tensors.is_fifo() or tensors.is_file() else tensors.rmdir()
        make(tensors)
        assert main(["eval", str(run.run_dir)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("torchlab: error: ") and str(tensors) in err and said in err, err


def test_fit_of_a_class_builds_it_under_the_runs_seed(tmp_path):
    """Given the class, the same seed gives the same run whatever the script drew before; an instance
    keeps the weights it came with."""
    torch.manual_seed(0)
    x = torch.randn(600, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1

    def fit(name: str, seed: int, drawn_before: int) -> torchlab.Run:
        torch.manual_seed(drawn_before)  # the script's own use of the global generator
        kwargs = {"in_features": 3, "out_features": 1}
        return torchlab.fit(torch.nn.Linear, (x, y), task="regress", out=tmp_path / name, model_kwargs=kwargs,
                            train__epochs=1, train__seed=seed, log__loggers=[])  # fmt: skip

    first, again, other_seed = fit("a", 0, drawn_before=1), fit("b", 0, drawn_before=2), fit("c", 1, drawn_before=1)
    assert first.summary["val"] == again.summary["val"] and first.summary["val"] != other_seed.summary["val"]
    assert all(torch.equal(a, b) for a, b in zip(first.model.parameters(), again.model.parameters(), strict=True))
    assert first.config.model.target == "torch.nn.modules.linear:Linear"  # the command line can rebuild it
    assert first.config.recipe == "fit-linear" and first.run_dir == tmp_path / "a"  # named after the class

    torch.manual_seed(3)
    given = torch.nn.Linear(3, 1)
    start = given.weight.detach().clone()
    torch.manual_seed(4)
    as_given = torchlab.fit(given, (x, y), task="regress", out=tmp_path / "d", train__epochs=1, log__loggers=[])
    assert as_given.model is given and not torch.equal(given.weight, start)  # trained from its own start
    with pytest.raises(TorchlabError, match="an nn.Module or an nn.Module class, got function"):
        torchlab.fit(lambda: given, (x, y), out=tmp_path / "e")


def interrupt_after_the_first_epoch(run_dir) -> threading.Thread:
    """SIGINT to this process once `run_dir` logs its first epoch, as Ctrl-C or a notebook's stop button would."""
    metrics = run_dir / "metrics.jsonl"

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if metrics.is_file() and '"event": "epoch"' in metrics.read_text():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


@pytest.mark.parametrize("only_python", ["Datasets", "a model class of a notebook cell"])
def test_a_stop_of_a_fit_only_python_holds_names_fit_which_finishes_it(only_python, tmp_path, capsys):
    """Before: the message named `torchlab resume`, which refuses a run on Datasets or of a class
    defined where nothing can import it again."""
    x = torch.randn(2000, 4, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())

    class CellModel(torch.nn.Linear):  # defined in a function: as unimportable as a notebook cell's
        pass

    def fit(epochs: int) -> torchlab.Run:
        given = (data, torch.nn.Linear(4, 2)) if only_python == "Datasets" else (data.tensors, CellModel(4, 2))
        return torchlab.fit(given[1], given[0], out=tmp_path / "run", train__epochs=epochs, log__loggers=[])

    watcher = interrupt_after_the_first_epoch(tmp_path / "run")
    run = fit(500)
    watcher.join()
    assert run.summary["status"] == "interrupted"
    err = capsys.readouterr().err
    assert "`torchlab.fit(..., out=RUN_DIR)` of the same model and data continues exactly" in err
    assert "resume" not in err and run.summary["resume"] == "torchlab.fit(..., out=RUN_DIR)"
    assert fit(run.summary["epochs"] + 1).summary["status"] == "completed"


@pytest.mark.parametrize("given", ["tensors", "Dataset"])
def test_a_stop_before_training_began_says_what_continues_it(given, tmp_path, monkeypatch, capsys):
    """Before: a Ctrl-C after config.yaml was written, while the data were checked, printed "torchlab: "
    and nothing more."""
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    data = (x, (x[:, 0] > 0).long())

    def fit() -> torchlab.Run:
        train = data if given == "tensors" else torch.utils.data.TensorDataset(*data)
        return torchlab.fit(torch.nn.Linear, train, model_kwargs={"in_features": 4, "out_features": 2},
                            out=tmp_path / "run", train__epochs=1, log__loggers=[])  # fmt: skip

    def ctrl_c(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(torchlab.api, "check_data", ctrl_c)
    assert fit().summary == {}
    call = "torchlab.fit(..., out=RUN_DIR)" if given == "Dataset" else f"torchlab.resume({str(tmp_path / 'run')!r})"
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"torchlab: interrupted; {call} continues it"
    monkeypatch.undo()
    assert fit().summary["status"] == "completed"


def test_a_notebook_class_run_loads_with_an_instance_and_names_a_class_given_instead(tmp_path):
    """Before: torchlab.load(RUN_DIR, model=CellModel) (the class, as fit takes it) said the checkpoint
    "holds weights of another model: Module.load_state_dict() missing 1 required positional argument"."""

    class CellModel(torch.nn.Linear):  # defined in a function: as unimportable as a notebook cell's
        pass

    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    run = torchlab.fit(CellModel(4, 2), (x, (x[:, 0] > 0).long()), out=tmp_path / "run", train__epochs=1,
                       log__loggers=[])  # fmt: skip
    with pytest.raises(TorchlabError, match=r"torchlab.load\(RUN_DIR, model=YourModel\(...\)\) loads it"):
        torchlab.load(run.run_dir).predict(x)
    with pytest.raises(TorchlabError, match=r"torchlab.fit\(YourModel\(...\), ..., out=RUN_DIR\) continues it"):
        torchlab.resume(run.run_dir, epochs=2)  # before: it named torchlab.load alone
    with pytest.raises(TorchlabError, match="model= takes an instance of the run's model class, built, got the class"):
        torchlab.load(run.run_dir, model=CellModel)
    # An importable class given as an instance without model_kwargs: the command line says which it lacks
    # (before: that the class was defined in a notebook).
    linear = torchlab.fit(torch.nn.Linear(4, 2), (x, (x[:, 0] > 0).long()), out=tmp_path / "linear",
                          train__epochs=1, log__loggers=[])  # fmt: skip
    done = run_cli("eval", str(linear.run_dir))
    assert done.returncode == 2 and "fit got an instance without the model_kwargs= that build it" in done.stderr
    assert torch.equal(torchlab.load(run.run_dir, model=CellModel(4, 2)).predict(x), run.predict(x))
    # The cell's class changed and run again into the same folder: before, the kept run was returned and
    # its `model` said that the checkpoint "holds weights of another model"; resuming it said the same.
    with pytest.raises(TorchlabError, match=r"holds a fit of another model \(bias: \(2,\) -> \(3,\)\); pass another"):
        torchlab.fit(CellModel(4, 3), (x, (x[:, 0] > 0).long()), out=tmp_path / "run", train__epochs=1)


def test_a_stop_returns_the_interrupted_run_and_resume_finishes_it(tmp_path, mnist_root):
    watcher = interrupt_after_the_first_epoch(tmp_path / "run")
    run = torchlab.train("mnist-mlp", tmp_path / "run", train__epochs=500, data__subset=2000, log__loggers=[])
    watcher.join()
    assert run.summary["status"] == "interrupted" and run.summary["epochs"] < 500
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    done = torchlab.resume(run.run_dir, epochs=run.summary["epochs"] + 1)
    assert done.summary["status"] == "completed"


MY_MODELS = """
import math
from dataclasses import dataclass

from torch import nn

from torchlab.config import ModelConfig
from torchlab.registry import MODELS


@dataclass
class TinyConfig(ModelConfig):
    hidden: int = 32


@MODELS.register("my-tiny", config=TinyConfig)
def build(cfg, info):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(info.input_shape), cfg.hidden), nn.ReLU(),
                         nn.Linear(cfg.hidden, info.num_classes))
"""


@pytest.mark.parametrize("how", ["flag", "env"])
def test_your_model_with_import_then_eval_resume_export_without_it(how, tmp_path, mnist_root):
    (tmp_path / "mymodels.py").write_text(MY_MODELS)
    out = tmp_path / "run"
    args = ["train", "mnist-mlp", "--out", str(out), "--logger", "none", "model.name=my-tiny", "model.hidden=16"]
    args += ["data.subset=2000", "data.eval_subset=500", "train.epochs=1"]
    if how == "flag":
        done = subprocess.run(
            [sys.executable, "-m", "torchlab", "--import", "mymodels.py", *args],
            capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=300,
        )  # fmt: skip
    else:
        env = cli_env(TORCHLAB_IMPORT="mymodels")  # a module name, found in the working directory
        done = subprocess.run([sys.executable, "-m", "torchlab", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    recorded = (out / "config.yaml").read_text()
    assert ("mymodels.py" if how == "flag" else "- mymodels") in recorded and "hidden: 16" in recorded
    elsewhere = {"cwd": ROOT} if how == "flag" else {"cwd": tmp_path}  # a module name needs its folder
    assert run_cli("eval", str(out), **elsewhere).returncode == 0
    assert run_cli("resume", str(out), "--epochs", "2", **elsewhere).returncode == 0
    assert run_cli("export", str(out), "--format", "safetensors", **elsewhere).returncode == 0


def test_a_recipes_imports_are_found_beside_it_and_import_their_siblings(tmp_path, monkeypatch):
    """`imports:` in a YAML names files and modules of the YAML's folder, whatever the working
    directory; an imported file imports its sibling modules; a recipe keeps its base's imports."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "tiny_layers_beside.py").write_text("from torch import nn\nFLATTEN = nn.Flatten\n")
    models = MY_MODELS.replace('"my-tiny"', '"my-tiny-beside"').replace("nn.Flatten()", "FLATTEN()")
    (project / "mymodels_beside.py").write_text("from tiny_layers_beside import FLATTEN\n" + models)
    (project / "mine.yaml").write_text("base: mnist-mlp\nimports: [mymodels_beside]\nmodel:\n  name: my-tiny-beside\n")
    (project / "other.py").write_text("X = 1\n")
    (tmp_path / "more.yaml").write_text("base: project/mine.yaml\nimports: [project/other.py]\n")
    monkeypatch.chdir(ROOT)
    config = load_recipe(str(tmp_path / "more.yaml"))
    assert config.model.name == "my-tiny-beside"
    assert config.imports == [str(project / "mymodels_beside.py"), str(project / "other.py")]


PAIRS = """# Your own data, model and task of two inputs per sample: is vector a longer than vector b?

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.config import DataConfig
from torchlab.data import DataInfo
from torchlab.registry import DATASETS, MODELS, TASKS
from torchlab.tasks import Task


class Batches:  # batches (a, b, y), in order

    def __init__(self, parts, size):
        self.parts, self.size = parts, size

    def __len__(self):
        return -(-len(self.parts[0]) // self.size)

    def __iter__(self):
        for start in range(0, len(self.parts[0]), self.size):
            yield tuple(t[start : start + self.size] for t in self.parts)


@DATASETS.register("pairs", config=DataConfig)
class Pairs:
    def __init__(self, cfg, device):
        a, b = torch.randn(2, 600, 4, generator=torch.Generator().manual_seed(cfg.split_seed))
        y = (a.norm(dim=1) > b.norm(dim=1)).long()
        self.cfg, self.info, self.train_size = cfg, DataInfo((4,), num_classes=2), 400
        cuts = {"train": slice(0, 400), "val": slice(400, 500), "test": slice(500, 600)}
        self.splits = {name: (a[cut].to(device), b[cut].to(device), y[cut].to(device)) for name, cut in cuts.items()}

    def train_loader(self, generator):
        return Batches(self.splits["train"], self.cfg.batch_size)

    def val_loader(self):
        return Batches(self.splits["val"], self.cfg.eval_batch_size)

    def test_loader(self):
        return Batches(self.splits["test"], self.cfg.eval_batch_size)


@MODELS.register("pair-net")
class PairNet(nn.Module):
    def __init__(self, cfg, info):
        super().__init__()
        self.each = nn.Sequential(nn.Linear(4, 32), nn.ReLU())
        self.head = nn.Linear(64, 2)

    def forward(self, a, b):
        return self.head(torch.cat([self.each(a), self.each(b)], 1))


@TASKS.register("pair-classify")
class PairClassify(Task):
    def metrics(self, batch):
        a, b, y = batch
        logits = self.nets["model"](a, b)
        return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}

    def predict(self, a, b):
        return self.model(a, b).argmax(1)
"""

PAIRS_RECIPE = """imports: [pairs.py]
data: {name: pairs, batch_size: 32}
model: {name: pair-net}
task: {name: pair-classify}
optim: {name: adam, lr: 0.01}
train: {epochs: 5, monitor: val.accuracy, mode: max}
log: {loggers: []}
"""

PREDICT_PAIRS = """
import sys

import torch

import torchlab

run = torchlab.load(sys.argv[1]) if sys.argv[1:] else torchlab.train("pairs.yaml", "api-run")
a, b = torch.randn(2, 200, 4, generator=torch.Generator().manual_seed(1))
print("accuracy", (run.predict(a, b) == (a.norm(dim=1) > b.norm(dim=1))).float().mean().item())
print("numpy", torch.equal(run.predict(a.numpy(), b.double().numpy()), run.predict(a, b)))
for inputs in [(a,), (a, b, b), (a, b[:10]), (a, torch.randn(200, 5))]:
    try:
        run.predict(*inputs)
    except torchlab.TorchlabError as refused:
        print("refused", refused)
"""


def test_your_task_of_two_inputs_trains_and_predicts_from_python_and_the_command_line(tmp_path):
    """A task of your own whose model takes two inputs (`predict(self, a, b)`), trained by
    torchlab.train or `torchlab train`: predict takes a batch of each. Before: "predict takes one batch
    of inputs, a tensor or numpy array; got 2"."""
    (tmp_path / "pairs.py").write_text(PAIRS)
    (tmp_path / "pairs.yaml").write_text(PAIRS_RECIPE)
    (tmp_path / "predict.py").write_text(PREDICT_PAIRS)
    assert run_cli("train", "pairs.yaml", "--out", "cli-run", cwd=tmp_path).returncode == 0
    for run in ([], ["cli-run"]):  # trained from Python in the script, or by the command line above
        done = subprocess.run([sys.executable, "predict.py", *run], capture_output=True, text=True, env=cli_env(),
                              cwd=tmp_path, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        said = dict(
            line.split(" ", 1) for line in done.stdout.splitlines() if line.split(" ")[0] in ("accuracy", "numpy")
        )
        assert float(said["accuracy"]) > 0.85 and said["numpy"] == "True"
        refusals = [line for line in done.stdout.splitlines() if line.startswith("refused")]
        takes = "predict of this run takes 2 inputs, as task pair-classify's predict(a, b) names them"
        assert refusals[0].startswith(f"refused {takes}") and refusals[0].endswith("got 1")
        assert refusals[1].startswith(f"refused {takes}") and refusals[1].endswith("got 3")
        assert "inputs each hold a row per sample, as many rows in each; got shapes [200, 4], [10, 4]" in refusals[2]
        assert (
            "PairNet cannot take a batch of these data: given [200, 4] float32, [200, 5] float32, its module each.0 "
            "(Linear, given [200, 5] float32) raised: mat1 and mat2 shapes cannot be multiplied" in refusals[3]
        )


def test_a_missing_import_is_a_clear_error(tmp_path):
    done = run_cli("--import", "nowhere_such_module", "list", cwd=tmp_path)
    assert done.returncode == 2 and "import nowhere_such_module: no such module" in done.stderr


def test_naming_another_component_starts_from_its_defaults():
    switched = load_recipe("mnist-mlp", ["model.name=fast-cnn"])
    assert switched.model == load_recipe("mnist-cnn").model.__class__(name="fast-cnn")
    assert load_recipe("mnist-mlp", ["model.dropout=0.5", "model.name=mlp"]).model.dropout == 0.5  # same name: kept


def test_a_recipe_file_starts_from_its_base(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: mnist-mlp\ndescription: 我的 MLP 实验\noptim:\n  lr: 0.2\n")
    (tmp_path / "more.yaml").write_text("base: mine.yaml\ntrain:\n  epochs: 3\nmodel:\n  name: fast-cnn\n")
    mine = load_recipe(str(tmp_path / "mine.yaml"))
    assert mine.recipe == "mine" and mine.description == "我的 MLP 实验"
    assert mine.optim == load_recipe("mnist-mlp", ["optim.lr=0.2"]).optim  # momentum and the rest kept
    more = load_recipe(str(tmp_path / "more.yaml"))
    assert more.optim.lr == 0.2 and more.train.epochs == 3 and more.model.name == "fast-cnn"
    assert more.data == mine.data
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(TorchlabError, match="leads back"):
        load_recipe(str(tmp_path / "loop.yaml"))


def test_train_takes_a_dict_read_as_a_recipe_file_and_names_its_misspelt_keys(tmp_path, mnist_root):
    """Before: torchlab.train(dict) said "unknown recipe '{'base': ...}'" however right the dict was."""
    recipe = {"base": "mnist-mlp", "optim": {"lr": 0.2}, "data": {"subset": 1000, "eval_subset": 200}}
    run = torchlab.train(recipe, tmp_path / "run", train__epochs=1, log__loggers=[])
    assert run.config.recipe == "mnist-mlp" and run.config.optim == load_recipe("mnist-mlp", ["optim.lr=0.2"]).optim
    assert run.summary["status"] == "completed" and run.config.data.subset == 1000
    with pytest.raises(TorchlabError, match=r"unknown config key 'optim.lrr' \(did you mean 'optim.lr'\?\)"):
        torchlab.train({"base": "mnist-mlp", "optim": {"lrr": 0.1}}, tmp_path / "typo")
    with pytest.raises(TorchlabError, match="a recipe name, a YAML path, a dict or a Config, got list"):
        torchlab.train(["mnist-mlp"], tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_show_prints_config_meanings_data_and_the_model_table(capsys, mnist_root):
    assert main(["show", "mnist-mlp"]) == 0
    out = capsys.readouterr().out
    assert "199,210 parameters" in out  # sum(p.numel()) of 784-200-200-10
    assert "lr: 0.05" in out and "# learning rate" in out
    assert "train 50,000, val 10,000, test 10,000" in out
    assert "Linear" in out and "(2, 200)" in out  # torchinfo's rows: output shapes of a batch of two
    assert main(["show", "mnist-mlp", "model.hidden=[10]", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["model"]["parameters"] == 784 * 10 + 10 + 10 * 10 + 10
    assert all(described["meanings"].values()), [k for k, v in described["meanings"].items() if not v]


def fetching(*args, **kwargs):
    raise AssertionError("show reached for the network")


def test_show_of_a_recipe_whose_data_are_absent_prints_its_config_and_layers(tmp_path, monkeypatch, capsys):
    """It exited 2 with the data error (after trying to download CIFAR-10), and printed nothing else."""
    import torchvision.datasets

    from torchlab.models import resnet18

    monkeypatch.setenv("TORCHLAB_OFFLINE", "0")  # downloads allowed: show must still fetch nothing
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fetching)
    monkeypatch.setattr(resnet18, "imagenet_weights", fetching)
    assert main(["show", "cifar10-lenet5", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lr: " in out and "# learning rate" in out  # the config
    assert "data: not read (CIFAR-10 not found in" in out and "inputs (3, 32, 32), 10 classes" in out
    assert "62,006 parameters" in out and "(2, 6, 28, 28)" in out  # LeNet-5's first convolution on 32 x 32
    assert main(["show", "folder-resnet18"]) == 0  # data.folder unset; ImageNet weights neither read nor fetched
    out = capsys.readouterr().out
    assert "inputs (3, 224, 224), classes unknown until the data are read" in out
    assert "the head is shown for 2" in out and "(2, 2)" in out


def test_show_says_what_the_layer_table_needs_where_only_the_files_can_say_it(tmp_path, capsys):
    """SST-2's vocabulary sizes the embedding: without its files, the config and one line, exit 2."""
    assert main(["show", "sst2-lstm", "--data-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "embed_dim: 64" in out and "data: not read (dataset not found in" in out
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("torchlab: error: no layer table: dataset sst2 gives the shape of its inputs only")


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_a_datasets_shapes_without_its_files_are_those_it_reads(dataset, mnist_root):
    from torchlab.config import build_config
    from torchlab.data import build_data, planned_info

    for crop in (None, 24):
        cfg = build_config({"data": {"name": dataset, "center_crop": crop, "pixels": "unit"}}).data
        assert planned_info(cfg) == build_data(cfg, torch.device("cpu")).info


@pytest.mark.parametrize("recipe", ["mnist-dcgan", "gaussians-wgan-gp", "mnist-mlp-scratch", "sine-lstmcell"])
def test_show_lists_every_network_a_recipe_trains_with_counts_that_sum_to_the_models(recipe, capsys, mnist_root):
    """A GAN's critic was missing (only GAN.forward, the generator, was traced), mnist-mlp-scratch's table
    was empty (its weights belong to the model itself) and a cell called at each of 49 steps was listed 98
    times (its parameters counted 98 times over)."""
    assert main(["show", recipe, "--json"]) == 0
    model = json.loads(capsys.readouterr().out)["model"]
    listed = sum(row["parameters"] or 0 for rows in model["networks"].values() for row in rows)
    assert listed + sum(model["untrained"].values()) == model["parameters"]
    gan = load_recipe(recipe).task.name == "adversarial"
    assert list(model["networks"]) == (["generator", "critic"] if gan else ["model"])
    for rows in model["networks"].values():
        assert rows[0]["output"] and rows[0]["layer"] == rows[0]["layer"].strip()  # the network, traced


def test_import_list_and_help_need_no_torch():
    probe = "import sys, torchlab; from torchlab.cli import main; main(['list']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("False"), done.stderr
    assert "mnist-mlp" in done.stdout


def test_commands_that_train_nothing_leave_torch_dynamo_unimported(mnist_root):
    """`torch.compiler.disable` on a VAE function at import made every command that loads the models
    import torch._dynamo (`torchlab predict` 1.75 s, 1.06 s without; README "Speed and scale"). Only an
    optimiser needs it."""
    probe = (
        "import sys; from torchlab.cli import main; "
        "code = main(['show', 'mnist-vae', '--json']); print(code, 'torch._dynamo' in sys.modules)"
    )
    env = cli_env(TORCHLAB_DATA=str(mnist_root))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("0 False"), done.stdout[-300:] + done.stderr


@pytest.mark.parametrize("notebook", ["own-cnn.ipynb", "run-from-python.ipynb"])
def test_the_example_notebooks_run_in_a_jupyter_kernel(notebook, tmp_path, mnist_root, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "examples" / notebook, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")  # committed clean
    for key, value in {
        "TORCHLAB_DATA": str(DATA),
        "TORCHLAB_EXAMPLE_SUBSET": "6000",
        "TORCHLAB_EXAMPLE_OUT": str(tmp_path / "run"),
        "PYTHONPATH": str(ROOT / "src"),
        "OMP_NUM_THREADS": "2",
        "MPLBACKEND": "Agg",
    }.items():
        monkeypatch.setenv(key, value)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "run" / "summary.json").is_file()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs)
    assert "Traceback" not in text and "Warning" not in text, text
    # the progress bars are notebook widgets (README), not text bars with tqdm's "IProgress not found"
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_an_installed_package_registers_through_the_entry_point_group(tmp_path):
    (tmp_path / "tinyplugin.py").write_text(MY_MODELS.replace('"my-tiny"', '"plugin-tiny"'))
    info = tmp_path / "tinyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[torchlab.plugins]\ntiny = tinyplugin\n")
    probe = (
        "from torchlab.recipes import load_recipe; print(load_recipe('mnist-mlp', ['model.name=plugin-tiny']).model)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=cli_env(tmp_path), timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "TinyConfig(name='plugin-tiny', hidden=32)" in done.stdout


@pytest.mark.parametrize(
    ("recipe", "settings"),
    [
        ("mnist-vae", {"data__subset": 256, "data__eval_subset": 64}),
        ("gaussians-wgan-gp", {"data__samples": 3000, "data__val_split": 500, "model__ema": 0.9}),
        ("sine-lstm", {"task__hidden": "carry"}),
        ("sst2-lstm", {"data__subset": 256, "data__eval_subset": 64}),
    ],
)
def test_the_training_batch_check_leaves_every_familys_seeded_run_as_it_was(recipe, settings, tmp_path, monkeypatch):
    """The training-mode check runs each family's own step (a VAE's sampled latents, a GAN's critic steps,
    gradient penalty and generator average, a forecaster's carried state, a text model's dropout) and puts
    everything back: the weights, the average's too, are those of a run without it. Before, only a
    classifier was compared."""
    short = {"train__epochs": 1, "log__loggers": [], **settings}
    checked = torchlab.train(recipe, tmp_path / "checked", **short)
    monkeypatch.setattr("torchlab.engine.trainer.check_training_batch", lambda *args: None)
    unchecked = torchlab.train(recipe, tmp_path / "unchecked", **short)
    weights = checked.model.state_dict()
    assert weights.keys() == unchecked.model.state_dict().keys()
    for name, value in unchecked.model.state_dict().items():
        assert torch.equal(weights[name], value), name
