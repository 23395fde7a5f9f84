"""AutoEncoders, VAEs and GANs: the maths of their losses, short real runs, kill and resume."""

import json
import math
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import torchlab
from tests.conftest import ONE_THREAD, cli_env, one_thread
from torchlab import api
from torchlab.cli import main
from torchlab.core.checkpoint import load_checkpoint, load_tensors, save_checkpoint
from torchlab.core.errors import TorchlabError
from torchlab.data import DataInfo
from torchlab.data.gaussians import sample_modes
from torchlab.data.idx import read_idx
from torchlab.models import build_model
from torchlab.models.gan import GAN
from torchlab.models.vae import reparameterize
from torchlab.recipes import load_recipe
from torchlab.tasks import check_task_settings
from torchlab.tasks import judge as judge_module
from torchlab.tasks.adversarial import critic_shares, gradient_penalty
from torchlab.tasks.reconstruct import kl_to_standard_normal

SHORT_MNIST = ["--logger", "none", "data.subset=5000", "data.eval_subset=1000", "log.progress=false"]
NO_CROP = "data.center_crop=null"  # mnist-cnn crops to 24 x 24; a judge reads whole generated digits
# 8-Gaussians small enough for seconds: 5120 training points, 1000 for validation and for test.
SMALL_GAUSSIANS = ["--logger", "none", "data.samples=6120", "data.val_split=1000", "data.test_samples=1000"]


def train(tmp_path, name: str, recipe: str, *extra: str) -> tuple:
    out = tmp_path / name
    assert main(["train", recipe, "--out", str(out), *extra]) == 0
    return out, json.loads((out / "summary.json").read_text())["test"]


def test_reparameterized_samples_have_the_expected_mean_and_variance():
    torch.manual_seed(0)
    mu = torch.tensor([1.0, -2.0, 0.0]).repeat(200_000, 1).requires_grad_(True)
    logvar = torch.tensor([0.25, 4.0, 1.0]).log().repeat(200_000, 1).requires_grad_(True)
    z = reparameterize(mu, logvar)
    assert z.mean(0).detach() == pytest.approx([1.0, -2.0, 0.0], abs=0.01)
    assert z.var(0).detach() == pytest.approx([0.25, 4.0, 1.0], rel=0.02)
    z.sum().backward()  # the sample is differentiable in μ and σ
    assert torch.all(mu.grad == 1) and logvar.grad.abs().sum() > 0


def test_kl_term_matches_torch_distributions():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_to_standard_normal(mu, logvar), expected, atol=1e-5)


@pytest.mark.parametrize(("scale", "expected"), [(1.0, 0.0), (3.0, 4.0), (0.5, 0.25)])
def test_gradient_penalty_of_a_linear_critic_is_its_squared_norm_gap(scale, expected):
    critic = nn.Linear(5, 1)
    with torch.no_grad():
        critic.weight.copy_(scale * nn.functional.normalize(torch.randn(1, 5)))
    real, fake = torch.randn(64, 5), torch.randn(64, 5)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_short_vae_run_improves_its_figures_and_draws_its_pictures(tmp_path, mnist_root):
    _, untrained = train(tmp_path, "untrained", "mnist-vae-2d", *SHORT_MNIST, "train.epochs=0")
    out, trained = train(tmp_path, "trained", "mnist-vae-2d", *SHORT_MNIST, "train.epochs=1")
    assert untrained["elbo"] < -500  # an untrained decoder: about 784·ln 2 nats per image
    assert trained["elbo"] > -220 and trained["loss"] == pytest.approx(-trained["elbo"], rel=0.02)
    assert trained["reconstruction_mse"] < 0.8 * untrained["reconstruction_mse"]
    for name in ("reconstructions", "prior_samples", "latent_scatter", "interpolation"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000, name
    assert api.evaluate(out) == {f"test.{k}": v for k, v in trained.items()}  # the same latent samples


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["mnist-ae", "mnist-conv-ae"])
def test_short_autoencoder_runs_reconstruct(recipe, tmp_path, mnist_root):
    _, untrained = train(tmp_path, "untrained", recipe, *SHORT_MNIST, "train.epochs=0")
    out, trained = train(tmp_path, "trained", recipe, *SHORT_MNIST, "train.epochs=1")
    assert trained["reconstruction_mse"] < 0.5 * untrained["reconstruction_mse"]
    assert "elbo" not in trained and (out / "plots" / "reconstructions.png").is_file()
    assert not (out / "plots" / "prior_samples.png").exists()  # not a VAE: no prior to sample


def test_bce_on_standardized_pixels_is_refused(tmp_path, mnist_root, capsys):
    assert main(["train", "mnist-vae", "--out", str(tmp_path / "r"), "data.pixels=standardize"]) == 2
    assert "data.pixels=unit" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_short_wgan_gp_run_moves_towards_the_modes(tmp_path):
    # Wide modes (σ = 0.3) so that a hundred generator steps show the trend.
    extra = ["--logger", "none", "data.std=0.3", "data.samples=30000", "data.val_split=2000", "schedule.name=none"]
    _, untrained = train(tmp_path, "untrained", "gaussians-wgan-gp", *extra, "train.epochs=0")
    out, trained = train(tmp_path, "trained", "gaussians-wgan-gp", *extra, "train.epochs=4")
    assert trained["within_3sigma"] > untrained["within_3sigma"] + 0.2
    assert trained["modes_covered"] > untrained["modes_covered"]
    assert (out / "plots" / "gan_points.png").is_file()


# After one epoch the GAN's generator is near a mode; the WGAN-GP's not yet (its quality figures are 0 either way).
@pytest.mark.parametrize(("recipe", "near_a_mode"), [("gaussians-gan", True), ("gaussians-wgan-gp", False)])
def test_a_gans_figures_do_not_change_with_how_its_sets_are_batched(tmp_path, recipe, near_a_mode):
    """Before: each validation batch was measured against its own modes (a last batch of one point
    held one mode: 0.999 modes covered) and the generated points followed the batches' draws: 25.6%
    within 3σ in batches of 333 against 26.7% in one batch of 1000, and the test's figures moved too.
    Then the critic's loss and gap were still means of batch means, each batch against samples generated
    from its own draws: they moved with the batch size and the noise stream."""
    wide = [*SMALL_GAUSSIANS, "data.std=0.3", "train.epochs=1", "log.progress=false"]
    summaries = []
    for size in (333, 1000):  # 1000 validation and test points: 333 leaves a last batch of one
        out = tmp_path / str(size)
        assert main(["train", recipe, "--out", str(out), *wide, f"data.eval_batch_size={size}"]) == 0
        summaries.append(json.loads((out / "summary.json").read_text()))
    for split in ("val", "test"):
        batched, whole = (summary[split] for summary in summaries)
        assert list(batched) == ["loss", "critic_gap", "within_3sigma", "modes_covered"]
        assert all(math.isfinite(value) for value in (*batched.values(), *whole.values()))
        for name, value in whole.items():
            assert batched[name] == pytest.approx(value, abs=1e-5), (split, name)
        assert whole["critic_gap"] != 0 and (whole["within_3sigma"] > 0.1) == near_a_mode


def test_a_gans_validation_generates_its_samples_once(tmp_path):
    """Before: validation generated a sample per validation point for the critic's loss, then `task.samples`
    more for the quality figures: two generations a pass (mnist-dcgan's 5.0 s became 9.8 s)."""
    trainer = gaussians_trainer("gaussians-gan", tmp_path, "data.eval_batch_size=256", "task.samples=2500")
    generated = []
    trainer.task.sampler.register_forward_hook(lambda _module, _args, fake: generated.append(len(fake)))
    figures = trainer.validate()
    assert generated == [1000, 1000, 500]  # task.samples, 1000 at a time; none per validation batch
    assert list(figures) == ["val.loss", "val.critic_gap", "val.within_3sigma", "val.modes_covered"]
    assert trainer.validate() == figures  # the same noise every epoch


class Perfect(nn.Module):
    """A "generator" that returns real points: fresh draws of the data's own modes."""

    def __init__(self, data) -> None:
        super().__init__()
        self.data, self.draws = data, torch.Generator().manual_seed(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return sample_modes(len(z), self.data.modes, self.data.radius, self.data.std, self.draws)[0]


class Collapsed(nn.Module):
    """A "generator" that returns the centre of the mode at 0° alone."""

    def __init__(self, data) -> None:
        super().__init__()
        self.centre = torch.tensor([data.radius, 0.0])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.centre.expand(len(z), 2)


@pytest.mark.parametrize(
    ("generator", "within", "modes"),
    [(Perfect, (0.98, 1.0), 8), (Collapsed, (1.0, 1.0), 1)],
    ids=["perfect", "collapsed"],
)
def test_a_generator_of_real_points_covers_every_mode_and_a_collapsed_one_a_single_mode(
    tmp_path, generator, within, modes
):
    """Through the Trainer's validation and test, in batches of 999 (a last batch of one point): real points
    lie within 3σ of a mode with probability 1 - exp(-4.5) = 98.9% (σ per coordinate, the distance in 2-d)."""
    trainer = gaussians_trainer("gaussians-gan", tmp_path, "data.eval_batch_size=999")
    trainer.task.nets["generator"] = generator(trainer.cfg.data)
    figures = {**trainer.validate(), **trainer.test()}
    for split in ("val", "test"):
        assert within[0] <= figures[f"{split}.within_3sigma"] <= within[1]
        assert figures[f"{split}.modes_covered"] == modes
    assert all(math.isfinite(value) for value in figures.values())
    centres = trainer.task.epoch_snapshot()["centres"]
    assert centres.shape == (8, 2) and centres.isfinite().all()


def test_the_generator_average_warms_up_to_its_decay_and_samples_come_from_it():
    from torchlab.models.gan import GAN

    gan = GAN(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), nn.Linear(3, 1), latent=2).keep_average(0.9)
    before = gan.average[0].weight.clone()
    with torch.no_grad():
        gan.generator[0].weight.add_(1.0)
        gan.generator[1].running_mean.fill_(5.0)
    gan.update_average()
    assert torch.allclose(gan.average[0].weight, before + 0.9)  # first update: decay 1/10, not 0.9
    for _ in range(200):  # the warm-up's decay (1 + n) / (10 + n) passes 0.9 at n = 80
        gan.update_average()
    assert int(gan.average_updates) == 201 and "average_updates" in gan.state_dict()  # resumes where it was
    with torch.no_grad():
        gan.generator[0].weight.add_(1.0)
    mid = gan.average[0].weight.clone()
    gan.update_average()
    assert torch.allclose(gan.average[0].weight, mid + 0.1)  # then 0.9 · old + 0.1 · new
    assert torch.equal(gan.average[1].running_mean, gan.generator[1].running_mean)
    assert not any(p.requires_grad for p in gan.average.parameters())
    gan.eval()
    z = torch.randn(4, 2)
    assert torch.equal(gan(z), gan.average(z)) and not torch.equal(gan(z), gan.generator(z))
    assert GAN(nn.Linear(2, 3), nn.Linear(3, 1), latent=2).keep_average(0).average is None


def gaussians_trainer(recipe: str, tmp_path, *overrides: str):
    """A Trainer for one short epoch of a Gaussians recipe (2,560 points), to drive step by step."""
    config = load_recipe(recipe, [*SMALL_GAUSSIANS[2:], "data.samples=2560", "log.progress=false", *overrides])
    return api.build_trainer(config, tmp_path / "run")


@pytest.mark.parametrize(("recipe", "n_critic"), [("gaussians-gan", 1), ("gaussians-wgan-gp", 5)])
def test_a_step_runs_the_generator_once_per_critic_step(tmp_path, recipe, n_critic):
    """The generator's step reuses the last critic step's samples: n_critic generator forwards a step, not
    one more; and the generator's weights still move (its step had the graph it needs)."""
    trainer = gaussians_trainer(recipe, tmp_path)
    assert trainer.cfg.task.n_critic == n_critic
    generator = trainer.model.generator
    calls = []
    generator.register_forward_hook(lambda *_: calls.append(1))
    before = [p.detach().clone() for p in generator.parameters()]
    trainer.train_epoch([])
    assert trainer.step > 0 and len(calls) == n_critic * trainer.step
    assert all(not torch.equal(a, b) for a, b in zip(before, generator.parameters(), strict=True))


@pytest.mark.parametrize(
    ("samples", "shares"),
    [(1280, [256] * 5), (21, [5, 4, 4, 4, 4]), (11, [3, 2, 2, 2, 2]), (5, [3, 2]), (3, [3]), (1, [1])],
)
def test_a_batchs_critic_shares_are_even_and_of_two_samples_or_more(samples, shares):
    """Before: `chunk` cut 21 samples into 5, 5, 5, 5 and 1, 11 into four shares (3, 3, 3, 2), 3 into 1, 1, 1."""
    assert [len(share) for share in critic_shares(torch.zeros(samples, 2), 5)] == shares


TOO_SMALL = {  # (the command line, the refusal)
    "train": (
        ["train", "gaussians-wgan-gp", "data.batch_size=9", "--out", "a/b/run"],
        "data.batch_size=9 is too small for task.n_critic=5: each critic step takes two samples or more of a "
        "batch, so every batch would take fewer critic steps; set data.batch_size=10 or more (or task.n_critic=4)",
    ),
    "cv": (
        ["cv", "gaussians-gan", "task.n_critic=2", "data.batch_size=3", "--folds", "2", "--out", "cv"],
        "data.batch_size=3 is too small for task.n_critic=2",
    ),
    "show, as train": (["show", "gaussians-wgan-gp", "data.batch_size=9"], "set data.batch_size=10 or more"),
    "images, before their data and judge": (  # a missing data root is not what it says
        ["train", "mnist-dcgan", "task.n_critic=3", "data.batch_size=4", "--data-dir", "nodata"],
        "set data.batch_size=6 or more (or task.n_critic=2)",
    ),
}


@pytest.mark.parametrize("refused", TOO_SMALL)
def test_a_batch_too_small_for_the_critic_steps_is_refused_before_anything(refused, tmp_path, monkeypatch, capsys):
    """Before: 9 samples took four critic steps of 2, 2, 2 and 3 on every batch where task.n_critic said five."""
    monkeypatch.chdir(tmp_path)
    argv, said = TOO_SMALL[refused]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and said in err, err
    assert list(tmp_path.rglob("*")) == []


def test_a_batch_too_small_for_the_critic_steps_is_refused_in_python(tmp_path):
    with pytest.raises(TorchlabError, match=r"set data.batch_size=10 or more \(or task.n_critic=4\)"):
        torchlab.train("gaussians-wgan-gp", out=tmp_path / "run", data__batch_size=8)
    assert list(tmp_path.iterdir()) == []


def test_one_critic_step_or_a_batch_of_two_per_step_is_allowed(tmp_path):
    """n_critic=1 takes its one step on any batch; 2·n_critic samples give each step its two."""
    for overrides in (["data.batch_size=1"], ["task.n_critic=3", "data.batch_size=6"]):
        check_task_settings(load_recipe("gaussians-gan", overrides))


def normed_gan() -> GAN:
    """An 8-Gaussians GAN whose generator has a BatchNorm1d: it cannot train on one sample."""
    generator = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    critic = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
    return GAN(generator, critic, latent=2)


@pytest.mark.slow
@pytest.mark.parametrize(("train", "batch_size", "trained"), [(63, 20, 63), (40, 21, 40), (61, 20, 60)])
def test_a_gan_that_fails_on_one_sample_trains_on_batches_that_left_a_critic_step_one(
    train, batch_size, trained, tmp_path
):
    """Before, with n_critic=5: an epoch's last batch of 3 (63 in 20s) gave three critic steps of one
    sample, and the run crashed at the end of epoch 1 (BatchNorm's "Expected more than 1 value per
    channel"); batches of 21 gave a step of one (5, 5, 5, 5, 1), refused before training as if the batch
    were one sample. Now no step is one sample where the batch has two; a lone last sample (61 in 20s)
    sits the epoch out, said."""
    settings = [f"data.samples={train + 200}", "data.val_split=200", "data.test_samples=200"]
    settings += [f"data.batch_size={batch_size}", "train.epochs=1", "log.progress=false", "log.loggers=[]"]
    config = load_recipe("gaussians-wgan-gp", settings)
    assert config.task.n_critic == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = api.train(config, tmp_path / "run", model=normed_gan)
    said = [str(w.message) for w in caught if "alone" in str(w.message)]
    assert summary["status"] == "completed" and summary["train_samples"] == trained
    assert said == ([] if train == trained else [
        "61 training samples in batches of 20 leave one alone in each epoch's last batch, on which module 1 "
        "(BatchNorm1d, given [1, 16] float32) of GAN's generator (Sequential) fails (Expected more than 1 value per "
        "channel when training, got input size torch.Size([1, 16])): that sample (another each epoch) sits the "
        "epoch out; another data.batch_size keeps it"
    ])  # fmt: skip


def test_a_networks_step_fills_only_its_own_gradients(tmp_path):
    """The generator's backward passes through the critic but leaves the critic's gradients as the critic's
    own step left them (its weight gradients are not computed); the generator's are filled."""
    trainer = gaussians_trainer("gaussians-gan", tmp_path)
    critic, generator = trainer.model.critic, trainer.model.generator
    optimize, after_critic = trainer.optimize, []

    def recording(loss, group="model"):
        optimize(loss, group)
        if group == "critic":
            after_critic[:] = [p.grad.clone() for p in critic.parameters()]
        else:
            assert all(torch.equal(a, p.grad) for a, p in zip(after_critic, critic.parameters(), strict=True))
            assert all(p.grad is not None for p in generator.parameters())

    trainer.optimize = recording
    trainer.train_epoch([])
    assert trainer.step > 0 and after_critic


@pytest.mark.slow
def test_short_dcgan_run_keeps_fixed_noise_samples_and_is_judged(tmp_path, mnist_root):
    # Machinery only: on this CPU a DCGAN needs far more steps than a test can afford to draw digits.
    judge, _ = train(tmp_path, "judge", "mnist-mlp", *SHORT_MNIST, "train.epochs=1")
    small = ["data.subset=1280", "data.eval_subset=500", "task.samples=500", "model.width=8"]
    out, test = train(tmp_path, "gan", "mnist-dcgan", *SHORT_MNIST, *small, f"task.judge={judge}", "train.epochs=2")
    assert 0 <= test["confident"] <= 1 and 0 <= test["classes"] <= 10
    assert 0 <= test["class_entropy"] <= math.log(10) + 1e-6
    snapshots = sorted((out / "snapshots").glob("*.pt"))
    assert [p.name for p in snapshots] == ["epoch-001.pt", "epoch-002.pt"]
    first, second = (load_tensors(p)["samples"] for p in snapshots)
    assert first.shape == (64, 1, 28, 28) and first.min() >= 0 and first.max() <= 1
    assert not torch.equal(first, second)  # the same noise, a generator that moved
    assert (out / "plots" / "samples_epoch_002.png").is_file()
    # `torchlab eval` computes the figures as the run's end did, from the same noise.
    assert api.evaluate(out) == {f"test.{k}": v for k, v in test.items()}
    with pytest.raises(TorchlabError, match="a run of task adversarial has no predict; its network is `run.model`"):
        torchlab.load(out).predict(torch.zeros(2, 1, 28, 28))  # where it said "needs a judge"


def test_the_critic_takes_its_own_width(capsys):
    mnist = DataInfo((1, 28, 28), 10)
    gan = build_model(load_recipe("mnist-dcgan", ["model.width=16", "model.critic_width=8"]).model, mnist)
    assert gan.critic[0].out_channels == 2 * 8 and gan.generator[-2].in_channels == 2 * 16
    same = build_model(load_recipe("mnist-dcgan", ["model.width=8", "model.critic_width=null"]).model, mnist)
    assert same.critic[0].out_channels == 2 * 8  # no critic width: the generator's
    assert main(["train", "mnist-dcgan", "model.critic_width=0"]) == 2
    assert "model.critic_width" in capsys.readouterr().err


def test_the_judge_measures_in_full_precision_inside_a_bf16_run():
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 26 * 26, 10))
    info = DataInfo((1, 28, 28), 10, normalization=((0.13,), (0.31,)))
    judge = judge_module.Judge(classifier, info, source=Path("unsaved"))
    pixels = torch.rand(16, 1, 28, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = judge(pixels)
    assert inside.dtype == torch.float32 and torch.equal(inside, judge(pixels))  # bf16 convs would round


def test_a_missing_judge_is_a_clear_error(tmp_path, mnist_root, capsys):
    assert main(["train", "mnist-dcgan", "--out", str(tmp_path / "r"), "task.judge=/nowhere"]) == 2
    assert "task.judge: no classifier checkpoint at /nowhere" in capsys.readouterr().err


@pytest.mark.slow
def test_a_cached_judge_that_no_longer_loads_is_trained_again(tmp_path, monkeypatch, mnist_root):
    monkeypatch.setattr(judge_module, "JUDGE_CACHE", tmp_path / "judges")
    stale = tmp_path / "judges" / "mnist-cnn-unsmoothed"
    small = [*SHORT_MNIST, "train.epochs=1", "model.widths=[8,8,8,8]", NO_CROP]
    assert main(["train", "mnist-cnn", "--out", str(stale), *small]) == 0
    # As if an older torchlab wrote it: the config names today's model, the weights have other shapes.
    best = stale / "checkpoints" / "best.pt"
    state = load_checkpoint(best)
    state["config"]["model"]["widths"] = [16, 32, 64, 128]
    save_checkpoint(best, state)
    judge = api.load_judge(None)
    assert judge.input_shape == (1, 28, 28)  # a GAN's whole digits
    images = read_idx(mnist_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte", 3)[:1000]
    labels = read_idx(mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", 1)[:1000].long()
    accuracy = (judge(images[:, None].float() / 255).argmax(1) == labels).float().mean()
    assert accuracy > 0.98  # the judge's pinned training, run again into the cache
    retrained = load_checkpoint(best)["config"]
    assert retrained["train"]["epochs"] == 2 and retrained["data"]["batch_size"] == 256  # pinned, not today's recipe
    assert retrained["data"]["center_crop"] is None
    sure = judge(images[:, None].float() / 255).max(1).values >= 0.9
    assert sure.float().mean() > 0.95  # real digits pass the bar that generated ones are held to
    assert load_checkpoint(best)["model"]["features.0.0.weight"].shape[0] == 16


@pytest.mark.slow
def test_a_killed_gan_run_resumes_both_networks_and_optimisers_exactly(tmp_path):
    args = [*SMALL_GAUSSIANS, "train.epochs=6", "model.hidden=[64,64]", "model.ema=0.9"]
    with one_thread():  # as the killed process (conftest: ONE_THREAD)
        reference, _ = train(tmp_path, "reference", "gaussians-wgan-gp", *args)

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "torchlab", "train", "gaussians-wgan-gp", "--out", str(killed), *args]
    env = cli_env(**ONE_THREAD)
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert load_checkpoint(last)["epoch"] < 6

    with one_thread():
        assert main(["resume", str(killed)]) == 0
    expected, got = (load_checkpoint(d / "checkpoints" / "last.pt") for d in (reference, killed))
    assert set(got["optimizers"]) == {"generator", "critic"}
    assert {name.split(".")[0] for name in got["model"]} == {"generator", "critic", "average", "average_updates"}
    assert got["step"] == expected["step"]
    for name, tensor in expected["model"].items():
        assert torch.equal(got["model"][name], tensor), name
    for group in ("generator", "critic"):
        want, have = expected["optimizers"][group]["state"], got["optimizers"][group]["state"]
        assert want.keys() == have.keys()
        for index in want:
            for key, value in want[index].items():
                assert torch.equal(have[index][key], value), (group, index, key)
    assert math.isfinite(json.loads((killed / "summary.json").read_text())["test"]["within_3sigma"])
