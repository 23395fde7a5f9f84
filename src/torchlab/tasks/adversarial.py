"""Adversarial training: a generator against a critic, each with its own optimiser.

The critic (discriminator) ends without a sigmoid. `loss: gan` is the standard game with the
non-saturating generator loss (BCE with logits); `loss: wgan-gp` is the Wasserstein critic with
a gradient penalty λ·(‖∇D(x̂)‖ - 1)² on points between real and generated samples. Each step
takes `n_critic` critic steps, each on its even share of the batch (two samples or more), then one
generator step on the last critic step's generated samples.

Quality figures: on 2-d points labelled by mode, the share of samples within 3σ of a mode and
the number of modes covered; on images, the share that a trained classifier (the judge)
labels with confidence ≥ `confidence`, and the entropy of its class histogram (nats).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from torchlab.config import TaskConfig, in_range, not_blank
from torchlab.core.errors import TorchlabError
from torchlab.data import Batch
from torchlab.data.loaders import to_unit_range
from torchlab.tasks import TASKS, Metrics, Optimize, Task
from torchlab.tasks.judge import Judge


@dataclass
class AdversarialConfig(TaskConfig):
    loss: Literal["gan", "wgan-gp"] = "gan"
    gp_lambda: float = 10.0
    n_critic: int = 1  # critic steps per generator step
    judge: str | None = None  # images: a classifier run directory; None: a cached mnist-cnn/mlp run (api.load_judge)
    confidence: float = 0.9
    samples: int = 10000  # generated samples behind the test figures

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


def modes_of(real: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The modes' centres (the labelled real points' means) and the points' spread σ around them."""
    centres = torch.stack([real[labels == k].mean(0) for k in range(int(labels.max()) + 1)])
    return centres, (real - centres[labels]).pow(2).mean().sqrt()


def mode_quality(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Within-3σ share and modes covered, the modes being the labelled real points' means.

    σ is the real points' spread around their mode; a mode counts as covered when it holds at
    least a quarter of its fair share (1 / modes) of the samples within 3σ.
    """
    centres, sigma = modes_of(real, labels)
    modes = len(centres)
    distance, nearest = torch.cdist(fake, centres).min(1)
    near = distance <= 3 * sigma
    counts = torch.bincount(nearest[near], minlength=modes)
    covered = (counts >= len(fake) / (4 * modes)).sum()
    return {"within_3sigma": near.float().mean(), "modes_covered": covered.float()}


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
        self.modes: tuple[torch.Tensor, torch.Tensor] | None = None  # 2-d: (centres, σ) of the first validation batch
        if self.images:
            if judge is None:
                raise TorchlabError("an adversarial run on images needs a judge (torchlab.api prepares it)")
            judge.check(info)
        self.judge = judge
        # torch.compile cannot differentiate twice, and the gradient penalty does.
        self.eager_networks = ("critic",) if cfg.loss == "wgan-gp" else ()

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
        on_real, on_fake = self.nets["critic"](real), self.nets["critic"](fake)
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
        real, labels = batch
        fake = self.sampler(self.model.noise(len(real)))
        d_loss, gap = self.critic_loss(real, fake)
        if not self.images and self.modes is None:  # the real modes stay where they are
            self.modes = modes_of(real, labels)
        return {"loss": d_loss, "critic_gap": gap, **self.quality(fake, real, labels)}

    def quality(self, fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.images:
            return mode_quality(fake, real, labels)
        probs = self.judge(to_unit_range(fake.float(), self.info.normalization).clamp(0, 1))
        confidence, predicted = probs.max(1)
        confident = confidence >= self.cfg.confidence
        share = torch.bincount(predicted[confident], minlength=probs.shape[1]).float()
        share = share / share.sum().clamp(min=1)
        entropy = -(share * share.clamp(min=1e-12).log()).sum()
        return {"confident": confident.float().mean(), "class_entropy": entropy, "classes": (share > 0).sum().float()}

    @torch.no_grad()
    def epoch_snapshot(self) -> dict[str, torch.Tensor]:
        """Generated images of the fixed noise batch, as pixels in [0, 1]; on 2-d points, the generated
        `points` with the real modes' `centres` and `sigma` (as validation saw them; a mode that
        its first batch missed has no centre)."""
        fake = self.model.sampler(self.fixed_noise).float()
        if not self.images:
            if self.modes is None:
                return {}
            centres, sigma = self.modes
            centres = centres[centres.isfinite().all(1)]
            return {"points": fake.cpu(), "centres": centres.float().cpu(), "sigma": sigma.float().cpu()}
        return {"samples": to_unit_range(fake, self.info.normalization).clamp(0, 1).cpu()}

    def test_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        real, labels = (torch.cat(parts) for parts in zip(*loader, strict=True))
        fake = torch.cat([self.sampler(self.model.noise(n)) for n in chunks(self.cfg.samples, 1000)])
        return {k: v.item() for k, v in self.quality(fake, real, labels).items()}


def chunks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]
