"""Reconstruction: AutoEncoders and VAEs. Losses are sums over pixels, per image (nats for BCE).

VAE: loss = reconstruction + β·KL(q(z|x) || N(0, I)), with z drawn by the reparameterization
trick so that gradients flow through μ and σ. With β = 1 and the BCE (Bernoulli) likelihood the
loss is the negative ELBO. BCE needs targets in [0, 1]: use `data.pixels=unit`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from torchlab.config import TaskConfig, in_range
from torchlab.core.errors import TorchlabError
from torchlab.data import Batch
from torchlab.data.loaders import to_unit_range
from torchlab.tasks import TASKS, Metrics, Preview, Task, described, what_it_needs


@dataclass
class ReconstructConfig(TaskConfig):
    loss: Literal["bce", "mse"] = "bce"
    beta: float = 1.0  # weight of the KL term (VAE only)

    def __post_init__(self) -> None:
        in_range("task", 0, beta=self.beta)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) || N(0, I)) per sample, in closed form, summed over latent dimensions."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


@TASKS.register("reconstruct", config=ReconstructConfig)
class Reconstruct(Task):
    cfg: ReconstructConfig
    calls = "forward(x) -> images of x's shape (a VAE: (images, μ, log σ²)), encode(x), decode(z) and latent"
    needs = ("encode", "decode", "latent")

    def __init__(self, model, cfg: ReconstructConfig, info) -> None:
        super().__init__(model, cfg, info)
        if info.normalization is None:
            raise TorchlabError("task reconstruct needs image data")
        if cfg.loss == "bce" and info.normalization != ((0.0,), (1.0,)):
            raise TorchlabError("task.loss=bce needs pixels in [0, 1] as targets: set data.pixels=unit")
        self.variational = getattr(model, "variational", False)

    def terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction loss, KL) per image; KL is zero for a plain AutoEncoder.

        A VAE's forward decodes a sampled code and gives μ and log σ² too (models/vae.py)."""
        if self.variational:
            out, mu, logvar = self.nets["model"](x)
            kl = kl_to_standard_normal(mu, logvar)
        else:
            out = self.nets["model"](x)
            kl = torch.zeros(len(x), device=x.device)
        if (
            not isinstance(out, torch.Tensor) or out.shape != x.shape
        ):  # the loss would broadcast, or fail in torch's words
            raise TorchlabError(
                f"{type(self.model).__name__} returned {described(out)} for images of shape {tuple(x.shape)}, "
                f"not images of theirs: {what_it_needs(self.cfg.name, self.info)}"
            )
        if self.cfg.loss == "bce":
            rec = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            rec = F.mse_loss(out, x, reduction="none")
        return rec.flatten(1).sum(1), kl

    def metrics(self, batch: Batch) -> Metrics:
        rec, kl = self.terms(batch[0])
        loss = (rec + self.cfg.beta * kl).mean()
        return {"loss": loss, "reconstruction": rec.mean(), "kl": kl.mean()}

    # -- what figures and pictures use: the plain model, outside training --------------------
    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The latent code of x: μ for a VAE."""
        return self.model.encode(x)[0] if self.variational else self.model.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images from codes, as pixels in [0, 1]."""
        out = self.model.decode(z)
        return out.sigmoid() if self.cfg.loss == "bce" else to_unit_range(out, self.info.normalization).clamp(0, 1)

    def rebuilt(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The images x decoded from their codes, as pixels in [0, 1], and each one's mean squared error."""
        rebuilt = self.decode(self.code(x))
        return rebuilt, (rebuilt - to_unit_range(x, self.info.normalization)).pow(2).mean((1, 2, 3))

    def preview(self, batch: Batch, n: int) -> Preview:
        """The inputs, their reconstructions (a VAE's from μ) and each one's squared error per pixel."""
        x = batch[0][:n]
        rebuilt, error = self.rebuilt(x)
        text = "\n".join(["squared error per pixel (pixels in [0, 1])", *(f"{e:.4f}" for e in error.tolist())])
        return Preview(images=x, text=text, outputs=rebuilt)

    def test_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        """Per-pixel squared error in [0, 1] pixels; for a BCE VAE also the ELBO (nats per image)."""
        squared, elbo, n = 0.0, 0.0, 0
        for x, *_ in loader:
            squared += self.rebuilt(x)[1].sum().item()
            if self.variational and self.cfg.loss == "bce":
                rec, kl = self.terms(x)
                elbo -= (rec + kl).sum().item()
            n += len(x)
        metrics = {"reconstruction_mse": squared / n}
        if self.variational and self.cfg.loss == "bce":
            metrics["elbo"] = elbo / n
        return metrics
