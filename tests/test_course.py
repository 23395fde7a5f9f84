"""The course's own recipes (course-*): each loads, builds the course's network and trains a few steps.

docs/course-vs-torchlab.md (benchmarks/course.py) measures them against torchlab's recipes; here each
recipe runs briefly, and the course's architectures are checked layer by layer against its code.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tests.conftest import ROOT, cli_env
from tests.test_cifar import cifar_root  # noqa: F401 (the fixture: CIFAR-10 files the test writes)
from torchlab import api
from torchlab.data import DataInfo
from torchlab.models import build_model
from torchlab.recipes import recipe_names

COURSE = [
    "course-mnist-mlp",
    "course-mnist-mlp-scratch",
    "course-mnist-ae",
    "course-mnist-vae",
    "course-cifar10-lenet5",
    "course-cifar10-resnet18",
    "course-sine-rnn",
    "course-gaussians-wgan-gp",
    "course-folder-resnet18",
    "course-folder-resnet18-scratch",
]
MNIST_FEW = ["data.subset=400", "data.eval_subset=200", "data.val_split=200", "train.epochs=1"]


def run(recipe: str, tmp_path, *overrides: str) -> dict:
    config = api.load_recipe(recipe, ["log.loggers=[]", "log.progress=false", "log.quiet=true", *overrides])
    return api.train(config, tmp_path / recipe)


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_of(recipe: str, info: DataInfo, *overrides: str) -> nn.Module:
    return build_model(api.load_recipe(recipe, list(overrides)).model, info)


MNIST_INFO = DataInfo((1, 28, 28), 10)
CIFAR_INFO = DataInfo((3, 32, 32), 10)


def test_every_course_recipe_is_listed_and_says_where_it_is_compared():
    assert [n for n in recipe_names() if n.startswith("course-")] == sorted(COURSE)
    for name in COURSE:
        description = api.load_recipe(name).description
        assert description.startswith("the course's") and "docs/course-vs-torchlab.md" in description


@pytest.mark.slow  # real MNIST
@pytest.mark.parametrize(
    "recipe", ["course-mnist-mlp", "course-mnist-mlp-scratch", "course-mnist-ae", "course-mnist-vae"]
)
def test_mnist_course_recipes_train_a_few_steps(recipe, mnist_root, tmp_path):
    summary = run(recipe, tmp_path, *MNIST_FEW)
    assert summary["status"] == "completed" and summary["epochs"] == 1


def test_course_mlps_keep_the_activation_on_the_logits():
    mlp = model_of("course-mnist-mlp", MNIST_INFO)
    assert isinstance(mlp.model[-1], nn.LeakyReLU) and parameters(mlp) == 784 * 200 + 200 + 200 * 200 + 200 + 2010
    scratch = model_of("course-mnist-mlp-scratch", MNIST_INFO)
    assert scratch(torch.randn(64, 1, 28, 28)).min() == 0  # ReLU on the logits: none goes negative
    torch.manual_seed(0)
    std = model_of("course-mnist-mlp-scratch", MNIST_INFO).w1.std().item()
    assert std == pytest.approx((2 / 784) ** 0.5, rel=0.05)  # kaiming_normal_, fan_in


def test_course_autoencoders_are_784_256_64_20():
    ae = model_of("course-mnist-ae", MNIST_INFO)
    assert [m.out_features for m in ae.encoder if isinstance(m, nn.Linear)] == [256, 64, 20]
    assert isinstance(ae.encoder[-1], nn.ReLU) and isinstance(ae.decoder[-2], nn.Sigmoid)
    assert ae.encode(torch.randn(8, 1, 28, 28)).min() >= 0  # the ReLU on the code, kept
    vae = model_of("course-mnist-vae", MNIST_INFO)
    out, mu, logvar = vae(torch.rand(8, 1, 28, 28))
    assert out.shape == (8, 1, 28, 28) and mu.shape == (8, 10) and mu.min() >= 0  # μ from a ReLU
    sigma2 = logvar.exp() - 1e-8
    course_kl = 0.5 * (mu.pow(2) + sigma2 - torch.log(1e-8 + sigma2) - 1).sum(1)
    ours = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)  # tasks/reconstruct.py's KL
    assert torch.allclose(course_kl, ours, atol=1e-5)


def test_course_lenet5_and_resnet18_match_the_course_code():
    lenet = model_of("course-cifar10-lenet5", CIFAR_INFO)
    assert parameters(lenet) == (3 * 25 * 16 + 16) + (16 * 25 * 32 + 32) + (800 * 32 + 32) + (32 * 10 + 10)
    assert not any(isinstance(m, nn.ReLU) for m in lenet.conv_unit)  # no activation between the convolutions
    resnet = model_of("course-cifar10-resnet18", CIFAR_INFO)
    assert len(resnet.blocks) == 4 and resnet(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    last = resnet.blocks[3]
    assert len(last.extra) == 0  # 512 -> 512 at stride 2: an identity shortcut, so the sum broadcasts
    assert last(torch.randn(2, 512, 2, 2)).shape == (2, 512, 2, 2)
    pokemon = model_of("course-folder-resnet18-scratch", DataInfo((3, 224, 224), 5))
    assert pokemon.outlayer[-1].in_features == 256 * 3 * 3 and pokemon(torch.randn(1, 3, 224, 224)).shape == (1, 5)


def test_course_gan_has_a_sigmoid_critic_and_kaiming_weights():
    torch.manual_seed(0)
    gan = model_of("course-gaussians-wgan-gp", DataInfo((2,), 8))
    assert isinstance(gan.critic[-2], nn.Sigmoid) and gan.critic(torch.randn(100, 2)).min() > 0
    first = gan.generator[0][0]
    assert first.out_features == 400 and first.bias.abs().sum() == 0
    assert first.weight.std().item() == pytest.approx(1.0, rel=0.1)  # kaiming_normal_: sqrt(2 / fan_in 2) = 1
    cfg = api.load_recipe("course-gaussians-wgan-gp")
    assert (cfg.task.gp_lambda, cfg.data.batch_size // cfg.task.n_critic, cfg.train.seed) == (0.3, 512, 23)


def test_course_rnn_starts_from_tiny_weights():
    rnn = model_of("course-sine-rnn", DataInfo((49, 1)))
    assert rnn.rnn.hidden_size == 16 and max(p.abs().max().item() for p in rnn.rnn.parameters()) < 0.01


def test_course_sine_rnn_trains_a_few_steps(tmp_path):
    overrides = ["data.sequences=120", "data.val_split=20", "data.test_sequences=20"]
    summary = run("course-sine-rnn", tmp_path, *overrides)
    assert summary["status"] == "completed" and summary["test"]["free_mse"] >= 0


def test_course_wgan_gp_trains_a_few_steps(tmp_path):
    overrides = ["data.samples=6120", "data.val_split=1000", "data.test_samples=1000", "train.epochs=1"]
    summary = run("course-gaussians-wgan-gp", tmp_path, *overrides, "task.samples=1000")
    assert summary["status"] == "completed" and 0 <= summary["test"]["within_3sigma"] <= 1


@pytest.mark.parametrize(
    "recipe", ["course-cifar10-lenet5", pytest.param("course-cifar10-resnet18", marks=pytest.mark.slow)]
)
def test_cifar10_course_recipes_train_on_cifar_files(recipe, cifar_root, tmp_path):  # noqa: F811
    summary = run(recipe, tmp_path, f"data.root={cifar_root}", "data.val_split=40", "train.epochs=1")
    assert summary["status"] == "completed" and summary["test"]["accuracy"] >= 0


@pytest.fixture
def pokemon(tmp_path):
    """2 classes x 10 small pictures: dark ones and bright ones."""
    root = tmp_path / "pokemon"
    rng = np.random.default_rng(0)
    for c, name in enumerate(["bulbasaur", "pikachu"]):
        (root / name).mkdir(parents=True)
        for i in range(10):
            image = rng.integers(0, 80, (40, 40, 3), dtype=np.uint8) + 150 * c
            Image.fromarray(image.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["course-folder-resnet18", "course-folder-resnet18-scratch"])
def test_folder_course_recipes_train_on_a_folder(recipe, pokemon, tmp_path):
    overrides = [f"data.folder={pokemon}", "data.image_size=64", "data.workers=0", "train.epochs=1"]
    if recipe == "course-folder-resnet18":
        overrides.append("model.weights=none")  # no ImageNet weights offline
    summary = run(recipe, tmp_path, *overrides, "data.batch_size=4")
    assert summary["status"] == "completed" and summary["test"]["accuracy"] >= 0


def test_densenet_model_and_fashion_densenet_recipe():
    """fashion-densenet is not a course recipe; its DenseNet (models/densenet.py) is the notes' one line on it."""
    net = model_of("fashion-densenet", MNIST_INFO)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    channels = [m.num_features for m in net.features if isinstance(m, nn.BatchNorm2d)]
    assert channels[-1] == 108  # 16 +32 -> 48 -> 24 +64 -> 88 -> 44 +64 -> 108


@pytest.mark.slow  # real Fashion-MNIST
def test_fashion_densenet_trains_a_few_steps(tmp_path):
    summary = run("fashion-densenet", tmp_path, "data.subset=256", "data.eval_subset=128", "train.epochs=1")
    assert summary["status"] == "completed"


@pytest.mark.slow  # real data, a child process, about 30 s
def test_side_by_side_script_writes_its_table(tmp_path, mnist_root):
    out = tmp_path / "course-vs-torchlab.md"
    script = ROOT / "benchmarks" / "course.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(out)], capture_output=True, text=True, env=cli_env()
    )
    assert result.returncode == 0, result.stderr
    table = out.read_text(encoding="utf-8")
    assert len(re.findall(r"^\| \d+ \| .*, load \d", table, re.M)) >= 8  # measured rows
    assert (tmp_path / "course-vs-torchlab" / "wgan-gp-critics.png").is_file()


def test_the_committed_table_has_at_least_8_measured_rows():
    table = (ROOT / "docs" / "course-vs-torchlab.md").read_text(encoding="utf-8")
    assert "--quick" not in table
    measured = re.findall(r"^\| \d+ \| .*\| (\S+%|\d\.\d+), [\d.]+ s, load [\d.]+ \|", table, re.M)
    assert len(measured) >= 8
