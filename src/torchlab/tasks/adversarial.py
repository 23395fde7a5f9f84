"""Adversarial training: a generator against a critic, each with its own optimiser.

The critic (discriminator) ends without a sigmoid. `loss: gan` is the standard game with the
non-saturating generator loss (BCE with logits); `loss: wgan-gp` is the Wasserstein critic with
a gradient penalty λ·(‖∇D(x̂)‖ - 1)² on points between real and generated samples. Each step
takes `n_critic` critic steps, each on its even share of the batch (two samples or more), then one
generator step on the last critic step's generated samples.

Validation and the test generate `samples` samples once, from noise of their own (`QUALITY_NOISE`),
and take every figure from them: the critic's `loss` (without the penalty) and `critic_gap` (its
mean score on real samples less that on generated ones), means over the split's every real sample
and over the generated ones, and the quality figures. On 2-d points labelled by mode: the share of
samples within 3σ of a mode and the number of modes covered, against the modes of the whole
labelled set; on images: the share that a trained classifier (the judge) labels with confidence
≥ `confidence`, and the entropy of its class histogram (nats). Neither how the data are batched
nor any random stream moves them.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.config import Config, TaskConfig, in_range, not_blank
from torchlab.core.errors import TorchlabError
from torchlab.data import Batch
from torchlab.data.loaders import to_unit_range
from torchlab.tasks import TASKS, Metrics, Optimize, Task
from torchlab.tasks.judge import Judge

Modes = tuple[torch.Tensor, torch.Tensor]  # the modes' centres [modes, 2] and the points' spread σ around them
POINT_FIGURES = ("within_3sigma", "modes_covered")
IMAGE_FIGURES = ("confident", "class_entropy", "classes")
# The seeds of the noise that validation's and the test's samples come from (the fixed-noise pictures': 0): the
# same every epoch and run, and validation's apart from the test's, so that the best epoch is not picked on the
# test's own draws.
QUALITY_NOISE = {"val": 1, "test": 2}


@dataclass
class AdversarialConfig(TaskConfig):
    loss: Literal["gan", "wgan-gp"] = "gan"
    gp_lambda: float = 10.0
    n_critic: int = 1  # critic steps per generator step
    judge: str | None = None  # images: a classifier run directory; None: a cached mnist-cnn/mlp run (api.load_judge)
    confidence: float = 0.9
    samples: int = 10000  # generated samples behind the quality figures (validation's and the test's)

    def __post_init__(self) -> None:
        in_range("task", 0, gp_lambda=self.gp_lambda)
        in_range("task", 1, n_critic=self.n_critic, samples=self.samples)
        in_range("task", 0, 1, "[]", confidence=self.confidence)
        not_blank("task", judge=self.judge)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(‖∇D(x̂)‖₂ - 1)²] at random points x̂ on the lines between real and fake samples."""
    eps = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def critic_shares(real: torch.Tensor, n_critic: int) -> tuple[torch.Tensor, ...]:
    """`n_critic` shares of a batch, one per critic step, as even as they can be (none one sample more than
    another) and of two samples or more: a batch of fewer than 2·n_critic (an epoch's last) takes fewer
    critic steps. `chunk` gave a critic step of one sample (21 in 5: 5, 5, 5, 5, 1), on which BatchNorm
    fails, or fewer steps than it could (11 in 5: 3, 3, 3, 2)."""
    return real.tensor_split(max(1, min(n_critic, len(real) // 2)))


def modes_of(real: torch.Tensor, labels: torch.Tensor) -> Modes:
    """The modes' centres, the mean of each label's points (labels the points lack have none), and
    the points' spread σ around them."""
    _, mode = labels.unique(return_inverse=True)
    centres = torch.stack([real[mode == k].mean(0) for k in range(int(mode.max()) + 1)])
    return centres, (real - centres[mode]).pow(2).mean().sqrt()


def nearest_modes(fake: torch.Tensor, modes: Modes) -> tuple[torch.Tensor, torch.Tensor]:
    """Per generated point: whether it lies within 3σ of its nearest mode, and that mode's index."""
    centres, sigma = modes
    distance, nearest = torch.cdist(fake.float(), centres.float()).min(1)
    return distance <= 3 * sigma, nearest


def mode_figures(near: torch.Tensor, nearest: torch.Tensor, modes: int) -> tuple[float, float]:
    """The share of points within 3σ of a mode, and the modes covered: those that hold within 3σ at
    least a quarter of their fair share (1 / modes) of the points."""
    counts = torch.bincount(nearest[near], minlength=modes)
    return near.float().mean().item(), float((counts >= len(near) / (4 * modes)).sum())


def class_figures(confident: torch.Tensor, predicted: torch.Tensor) -> tuple[float, float, float]:
    """The share of images judged confidently, and the entropy (nats) and number of the classes they fall to."""
    share = torch.bincount(predicted[confident]).float()
    share = share / share.sum().clamp(min=1)
    entropy = -(share * share.clamp(min=1e-12).log()).sum()
    return confident.float().mean().item(), entropy.item(), float((share > 0).sum())


def labelled(loader: Iterable[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every batch's points and labels, concatenated."""
    real, labels = (torch.cat(parts) for parts in zip(*loader, strict=True))
    return real, labels


@TASKS.register("adversarial", config=AdversarialConfig)
class Adversarial(Task):
    cfg: AdversarialConfig
    calls = (
        "a generator (noise [batch, latent] -> samples) and a critic (samples -> scores [batch]), noise(n), "
        "sampler, average and update_average(), as models/gan.py's GAN"
    )
    needs = ("generator", "critic", "noise", "sampler", "average", "update_average")

    def __init__(self, model, cfg: AdversarialConfig, info, judge: Judge | None = None) -> None:
        super().__init__(model, cfg, info)
        self.images = info.normalization is not None
        # The same digits every epoch; on 2-d points, enough of them to see the modes they cover.
        self.fixed_noise = model.noise(64 if self.images else 512, torch.Generator().manual_seed(0))
        self.modes: Modes | None = None  # 2-d: those of the whole validation set, as last validated
        if self.images:
            if judge is None:
                raise TorchlabError("an adversarial run on images needs a judge (torchlab.api prepares it)")
            judge.check(info)
        self.judge = judge
        # torch.compile cannot differentiate twice, and the gradient penalty does.
        self.eager_networks = ("critic",) if cfg.loss == "wgan-gp" else ()

    @classmethod
    def check_config(cls, config: Config) -> None:
        """A batch of fewer than 2·n_critic samples takes fewer critic steps (`critic_shares`): refused, as
        every batch would be one (an epoch's short last batch aside)."""
        n_critic, batch_size = config.task.n_critic, config.data.batch_size
        if n_critic > 1 and batch_size < 2 * n_critic:
            raise TorchlabError(
                f"data.batch_size={batch_size} is too small for task.n_critic={n_critic}: each critic step takes "
                f"two samples or more of a batch, so every batch would take fewer critic steps; set "
                f"data.batch_size={2 * n_critic} or more (or task.n_critic={max(1, batch_size // 2)})"
            )

    @classmethod
    def networks_of(cls, model: nn.Module) -> dict[str, nn.Module]:
        return {"generator": model.generator, "critic": model.critic}

    def parameter_groups(self):
        return {"generator": self.model.generator.parameters(), "critic": self.model.critic.parameters()}

    @property
    def sampler(self) -> nn.Module:
        """What samples come from: the generator's moving average if the model keeps one, else the
        generator as training calls it (compiled, under DDP)."""
        return self.nets["generator"] if self.model.average is None else self.model.average

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the critic's loss without any penalty, its estimate of the distance real-fake)."""
        return self.loss_of_scores(self.nets["critic"](real), self.nets["critic"](fake))

    def loss_of_scores(self, on_real: torch.Tensor, on_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`critic_loss` of the critic's scores on real and on generated samples, each side's mean over its own."""
        if self.cfg.loss == "wgan-gp":
            return on_fake.mean() - on_real.mean(), on_real.mean() - on_fake.mean()
        loss = F.binary_cross_entropy_with_logits(on_real, torch.ones_like(on_real))
        loss = loss + F.binary_cross_entropy_with_logits(on_fake, torch.zeros_like(on_fake))
        return loss, on_real.mean() - on_fake.mean()

    def generator_loss(self, on_fake: torch.Tensor) -> torch.Tensor:
        if self.cfg.loss == "wgan-gp":
            return -on_fake.mean()
        return F.binary_cross_entropy_with_logits(on_fake, torch.ones_like(on_fake))  # non-saturating

    def training_step(self, batch: Batch, optimize: Optimize) -> Metrics:
        generator, critic = self.nets["generator"], self.nets["critic"]
        reals = critic_shares(batch[0], self.cfg.n_critic)
        for i, real in enumerate(reals):
            # The last critic step's samples serve the generator's step too (as in pytorch/examples'
            # DCGAN): one generator forward per step fewer. Only they need the generator's graph.
            with torch.set_grad_enabled(i == len(reals) - 1):
                fake = generator(self.model.noise(len(real)))
            sample = fake.detach()  # the critic's step needs no graph of the generator
            d_loss, gap = self.critic_loss(real, sample)
            if self.cfg.loss == "wgan-gp":
                d_loss = d_loss + self.cfg.gp_lambda * gradient_penalty(critic, real, sample)
            optimize(d_loss, "critic")
        g_loss = self.generator_loss(critic(fake))
        optimize(g_loss, "generator")
        self.model.update_average()
        return {"loss": d_loss.detach(), "g_loss": g_loss.detach(), "critic_gap": gap.detach()}

    def validation_step(self, batch: Batch) -> Metrics:
        """None of a batch: validation's figures all come of one generation for the whole set (`figures`)."""
        return {}

    def validation_metric_names(self) -> tuple[str, ...]:
        return ("loss", "critic_gap", *(IMAGE_FIGURES if self.images else POINT_FIGURES))

    def validation_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        return self.figures("val", loader)

    def test_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        return self.figures("test", loader)

    @torch.no_grad()
    def figures(self, split: str, loader: Iterable[Batch]) -> dict[str, float]:
        """The critic's loss and gap, and the quality figures, of `samples` samples generated from `split`'s
        noise (1000 at a time) against every real sample of `loader`."""
        on_real, modes = self.real_scores(loader)
        if split == "val":
            self.modes = modes  # the pictures' (`epoch_snapshot`)
        noise = torch.Generator().manual_seed(QUALITY_NOISE[split])
        on_fake, verdicts = [], []
        for n in chunks(self.cfg.samples, 1000):
            fake = self.sampler(self.model.noise(n, noise))
            on_fake.append(self.critic_scores(fake))
            verdicts.append(self.verdicts(fake, modes))
        loss, gap = self.loss_of_scores(on_real, torch.cat(on_fake))
        passed, kinds = (torch.cat(column) for column in zip(*verdicts, strict=True))
        quality = class_figures(passed, kinds) if self.images else mode_figures(passed, kinds, len(modes[0]))
        return dict(zip(self.validation_metric_names(), (loss.item(), gap.item(), *quality), strict=True))

    def real_scores(self, loader: Iterable[Batch]) -> tuple[torch.Tensor, Modes | None]:
        """The critic's score of every real sample in `loader`, and on 2-d points the modes of them all."""
        scores, batches = [], []
        for batch in loader:
            scores.append(self.critic_scores(batch[0]))
            if not self.images:
                batches.append(batch)
        return torch.cat(scores), None if self.images else modes_of(*labelled(batches))

    def critic_scores(self, samples: torch.Tensor) -> torch.Tensor:
        """The critic's score of each sample, `[N]`, in float32: means of bf16 scores (autocast) keep 3 digits."""
        return self.nets["critic"](samples).float().reshape(-1)

    def verdicts(self, fake: torch.Tensor, modes: Modes | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per generated sample: whether it passes (lies within 3σ of a mode; is judged with confidence
        ≥ `confidence`), and the mode or class it falls to."""
        if not self.images:
            return nearest_modes(fake, modes)
        probs = self.judge(to_unit_range(fake.float(), self.info.normalization).clamp(0, 1))
        confidence, predicted = probs.max(1)
        return confidence >= self.cfg.confidence, predicted

    @torch.no_grad()
    def epoch_snapshot(self) -> dict[str, torch.Tensor]:
        """Generated images of the fixed noise batch, as pixels in [0, 1]; on 2-d points, the generated
        `points` with the real modes' `centres` and `sigma` (those of the whole validation set)."""
        fake = self.model.sampler(self.fixed_noise).float()
        if not self.images:
            if self.modes is None:
                return {}
            centres, sigma = self.modes
            return {"points": fake.cpu(), "centres": centres.float().cpu(), "sigma": sigma.float().cpu()}
        return {"samples": to_unit_range(fake, self.info.normalization).clamp(0, 1).cpu()}


def chunks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]
