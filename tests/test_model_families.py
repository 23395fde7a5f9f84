"""A model that does not fit its task is refused at start, naming the model, the task, what the task
needs of a model and the models made for it: registered models by their family (the tasks they are
registered for) before any data are read, a module of the user's by what the task reads of it."""

import json

import pytest
import torch

import torchlab
from tests.conftest import TINY
from torchlab import TorchlabError
from torchlab.cli import main
from torchlab.config import build_config
from torchlab.data import build_data, planned_info
from torchlab.recipes import load_recipe, recipe_names
from torchlab.registry import MODELS

# One model of each family, tried on every recipe of another task
FAMILY_SAMPLES = {"classify": "lenet5", "forecast": "lstm", "reconstruct": "vae", "adversarial": "dcgan"}


def foreign_pairs() -> list[tuple[str, str]]:
    """(recipe, model) for every recipe and every sampled model that is not made for the recipe's task."""
    pairs = []
    for recipe in recipe_names():
        task = load_recipe(recipe, []).task.name
        pairs += [(recipe, model) for model in FAMILY_SAMPLES.values() if task not in MODELS.tasks[model]]
    return pairs


@pytest.mark.parametrize(("recipe", "model"), foreign_pairs())
def test_a_model_of_another_family_is_refused_before_the_data_naming_model_task_and_the_models_that_fit(
    recipe, model, tmp_path, capsys
):
    """Before: `sine-rnn model.name=lenet5` raised ValueError (not enough values to unpack) and
    `course-gaussians-wgan-gp model.name=mlp` AttributeError ('MLP' object has no attribute 'generator'),
    tracebacks of exit 1; other pairs were refused only after the data were read, naming no task."""
    task = load_recipe(recipe, []).task.name
    out = tmp_path / "run"
    assert main(["train", recipe, f"model.name={model}", "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert f"model {model} is made for task {MODELS.tasks[model][0]}, not for {recipe}'s task {task}" in err
    assert "models made for it: " in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_models_suggested_are_those_that_build_for_the_recipes_data(capsys):
    """mnist-mlp's data are 1-channel images: resnet18 (RGB) and text-lstm (a vocabulary) are made for
    classification but cannot take them."""
    assert main(["train", "sine-rnn", "model.name=vae", "--logger", "none"]) == 2
    suggested = capsys.readouterr().err.split("models made for it: ")[1].split(" (model.name")[0].split(", ")
    assert suggested == ["course-rnn", "gru", "gru-cells", "lstm", "lstm-cells", "rnn", "rnn-cells"]
    assert main(["train", "mnist-mlp", "model.name=lstm", "--logger", "none"]) == 2
    suggested = capsys.readouterr().err.split("models made for it: ")[1].split(" (model.name")[0].split(", ")
    assert "mlp" in suggested and "lenet5" in suggested
    assert "resnet18" not in suggested and "text-lstm" not in suggested


@pytest.mark.parametrize(
    ("recipe", "family"), [("sine-rnn", "lstm"), ("mnist-vae", "vae"), ("sst2-lstm", "text-lstm"), ("mnist-mlp", "mlp")]
)
def test_show_names_the_models_made_for_the_recipes_task_that_take_its_data(
    recipe, family, capsys, tmp_path, mnist_root, sst2_root
):
    """Before: show listed every model made for the task (mnist-mlp's: resnet18 and text-lstm among them),
    where a refused `model.name=` suggested only those that build for the data."""
    task = load_recipe(recipe, []).task.name
    assert main(["show", recipe]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("task: "))
    assert main(["train", recipe, "model.name=dcgan", "--out", str(tmp_path / "run")]) == 2  # a GAN's model
    refused = capsys.readouterr().err.split("models made for it: ")[1].split(" (model.name")[0]
    assert line == f"task: {task}; models made for it: {refused}"  # show lists what train suggests
    assert main(["show", recipe, "--json"]) == 0
    said = json.loads(capsys.readouterr().out)["task"]
    assert said["name"] == task and family in said["models"]
    assert ("lenet5" in said["models"]) == (task == "classify")
    if recipe == "mnist-mlp":  # made for classify, but RGB only and a vocabulary's reader
        assert "resnet18" in MODELS.made_for(task) and "resnet18" not in said["models"]
        assert "text-lstm" in MODELS.made_for(task) and "text-lstm" not in said["models"]


def test_show_refuses_a_model_of_another_family_as_train_does(capsys):
    """Before: lenet5 unpacked the sine data's input shape into channels, height and width (a traceback)."""
    assert main(["show", "sine-rnn", "model.name=lenet5"]) == 2
    assert capsys.readouterr().err.startswith(
        "torchlab: error: model lenet5 is made for task classify, not for sine-rnn's task forecast: "
    )


def test_a_task_that_no_model_is_made_for_may_try_any_registered_model():
    """regress, or a task of the user's, has no family of its own: mlp there is not refused by family (a
    plugin's tabular data may well be regressed by it)."""
    from torchlab.tasks import check_model_family

    check_model_family(build_config({**load_recipe("mnist-mlp", []).to_dict(), "task": {"name": "regress"}}))
    with pytest.raises(TorchlabError, match="model mlp is made for task classify, not for"):
        check_model_family(build_config({**load_recipe("mnist-mlp", []).to_dict(), "task": {"name": "forecast"}}))


def test_a_model_of_the_family_built_for_other_data_is_one_line_naming_them(tmp_path, capsys):
    """Before: lenet5 unpacked the sine data's input shape [49, 1] into channels, height and width:
    ValueError and its traceback, exit 1."""
    out = tmp_path / "run"
    args = ["train", "sine-rnn", "model.name=lenet5", "task.name=classify", "--out", str(out), *TINY]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "model lenet5 cannot be built for these data (inputs of shape [" in err
    assert "ValueError: not enough values to unpack" in err and "Traceback" not in err
    assert not out.exists()


class CriticOnly(torch.nn.Module):
    """A 2-d critic without the generator an adversarial task trains against it."""

    def __init__(self) -> None:
        super().__init__()
        self.critic = torch.nn.Linear(2, 1)

    def forward(self, x):
        return self.critic(x)


def test_a_users_module_without_the_parts_its_task_reads_is_refused_naming_them(tmp_path):
    """Before: AttributeError ('CriticOnly' object has no attribute 'generator') from inside the Trainer."""
    points, modes = torch.randn(200, 2), torch.randint(0, 8, (200,))
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(CriticOnly(), (points, modes), task="adversarial", out=tmp_path / "run")
    message = str(refused.value)
    assert message.startswith("CriticOnly has no generator, noise, sampler, average, update_average: ")
    assert "task adversarial needs a model with a generator (noise [batch, latent] -> samples)" in message
    assert "models made for it: course-gan-mlp, gan-mlp" in message  # dcgan takes 28 x 28 images only
    assert not (tmp_path / "run").exists()


class Forecaster(torch.nn.Module):
    """An RNN forecaster that returns its predictions without its state."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.head = torch.nn.RNN(1, 4, batch_first=True), torch.nn.Linear(4, 1)

    def forward(self, x, state=None):
        return self.head(self.rnn(x, state)[0])


def test_a_forecaster_without_its_state_is_refused_naming_what_forecast_needs(tmp_path):
    """Before: its predictions [B, T, F] were unpacked as (prediction, state) along the batch: of a batch
    of 2, into two halves without a word; of another, into torch's "too many values to unpack"."""
    sequences = torch.randn(64, 10, 1)
    with pytest.raises(TorchlabError) as refused:
        torchlab.fit(Forecaster(), (sequences[:, :-1], sequences[:, 1:]), task="forecast", out=tmp_path / "run")
    assert str(refused.value).startswith(
        "Forecaster returned shape (6, 9, 1) for sequences of shape (6, 9, 1), not (prediction (6, 9, 1), state): "
        "task forecast needs a model with forward(x [batch, time, features], state=None) -> "
        "(prediction [batch, time, features], state); models made for it: course-rnn, gru, "
    )
    assert not (tmp_path / "run").exists()


FLAT_DECODER = """
from torch import nn


class FlatDecoder(nn.Module):  # an autoencoder whose decoder lacks its nn.Unflatten
    latent = 4

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 4)), nn.Linear(4, 784)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))
"""


@pytest.mark.slow
def test_an_autoencoder_of_another_output_shape_is_refused_naming_what_reconstruct_needs(tmp_path, capsys, mnist_root):
    """Before: its [B, 784] broadcast against the [B, 1, 28, 28] images under torch's UserWarning (printed
    before the refusal), then failed in torch's words."""
    (tmp_path / "flat.py").write_text(FLAT_DECODER)
    out = tmp_path / "run"
    target = f"model.target={tmp_path}/flat.py:FlatDecoder"
    assert main(["train", "mnist-ae", "--out", str(out), *TINY, "model.name=python", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "torchlab: error: FlatDecoder returned shape (200, 784) for images of shape (200, 1, 28, 28), not images of "
        "theirs: task reconstruct needs a model with forward(x) -> images of x's shape"
    )
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_refused_fit_says_only_its_refusal(tmp_path, capsys):
    """Before: "Linear(in_features, ...) needs model_kwargs for the command line to rebuild it" went to
    stderr first, of a run never saved; it is said once a run is (it cannot be resumed from the command line)."""
    x, y = torch.randn(200, 8), torch.randint(0, 3, (200,))
    with pytest.raises(TorchlabError, match="Linear cannot take a batch of these data"):
        torchlab.fit(torch.nn.Linear(5, 3), (x, y), out=tmp_path / "refused")
    assert capsys.readouterr().err == ""
    torchlab.fit(torch.nn.Linear(8, 3), (x, y), out=tmp_path / "run", train__epochs=1, log__loggers=[], log__quiet=True)
    assert "Linear(in_features, out_features, bias, device, dtype) needs model_kwargs" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["sine", "8-gaussians"])
def test_drawn_datasets_give_the_shapes_they_draw_without_drawing_them(dataset):
    """Their shapes, known from the config alone, let a refusal suggest the models that take them."""
    cfg = build_config({"data": {"name": dataset}}).data
    assert planned_info(cfg) == build_data(cfg, torch.device("cpu")).info
