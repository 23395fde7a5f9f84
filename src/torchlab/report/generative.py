"""Pictures of generative runs: reconstructions, prior samples, the 2-d latent space, an
interpolation, 2-d GAN samples over the critic's contours, and a GAN's fixed-noise samples
after each epoch. Each figure draws nothing when the run's model does not have what it shows.
"""

from pathlib import Path

import torch
from matplotlib.figure import Figure

from torchlab.data.loaders import to_unit_range
from torchlab.report import FinishedRun, figure, save_figure, save_grid

INTERPOLATED = ((1, 7), (3, 8), (4, 9), (0, 6))  # pairs of digits, each drawn from its first test image
SEARCHED = 1000  # test images searched for them


@figure("reconstructions", tasks=("reconstruct",))
@torch.no_grad()
def reconstructions(run: FinishedRun, plots_dir: Path) -> None:
    task, (x, _) = run.task, run.first_test_samples(16)
    rows = torch.cat([to_unit_range(x, task.info.normalization), task.decode(task.code(x))])
    title = "test images (top) and their reconstructions (bottom)"
    save_grid(rows, 16, title, plots_dir / "reconstructions.png")


@figure("prior-samples", tasks=("reconstruct",), test=False)
@torch.no_grad()
def prior_samples(run: FinishedRun, plots_dir: Path) -> None:
    task = run.task
    if not task.variational:
        return
    z = torch.randn(64, task.model.latent, generator=torch.Generator().manual_seed(0)).to(run.device)
    title = "decoded samples of the prior z ~ N(0, I)"
    save_grid(task.decode(z), 8, title, plots_dir / "prior_samples.png")


@figure("latent-scatter", tasks=("reconstruct",))
@torch.no_grad()
def latent_scatter(run: FinishedRun, plots_dir: Path) -> None:
    task = run.task
    if task.model.latent != 2:
        return
    codes, labels = zip(*((task.code(x).cpu(), y.cpu()) for x, y in run.test_loader()), strict=True)
    codes, labels = torch.cat(codes), torch.cat(labels)
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_title("test set in the 2-d latent space (codes μ)")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    save_figure(fig, plots_dir / "latent_scatter.png")


@figure("interpolation", tasks=("reconstruct",))
@torch.no_grad()
def interpolation(run: FinishedRun, plots_dir: Path) -> None:
    task, (x, y) = run.task, run.first_test_samples(SEARCHED)
    first = {digit: int(y.eq(digit).nonzero()[0]) for digit in y.unique().tolist()}
    pairs = [(first[a], first[b]) for a, b in INTERPOLATED if a in first and b in first]
    if not pairs:  # a small test set without both digits of any pair
        return
    t = torch.linspace(0, 1, 10, device=x.device).view(-1, 1)
    rows = []
    for i, j in pairs:
        z = task.code(x[[i, j]])
        rows.append(task.decode((1 - t) * z[0] + t * z[1]))
    title = "linear interpolation between the codes of two test digits"
    save_grid(torch.cat(rows), 10, title, plots_dir / "interpolation.png")


@figure("gan-points", tasks=("adversarial",))
@torch.no_grad()
def gan_points(run: FinishedRun, plots_dir: Path) -> None:
    task, model = run.task, run.model
    if task.images:
        return
    real = run.first_test_samples(2000)[0].cpu()
    fake = model.sampler(model.noise(2000, torch.Generator().manual_seed(0))).cpu()
    lo, hi = torch.cat([real, fake]).min().item() - 0.5, torch.cat([real, fake]).max().item() + 0.5
    axis = torch.linspace(lo, hi, 200)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    scores = model.critic(torch.stack([gx.flatten(), gy.flatten()], 1).to(run.device)).view(200, 200).cpu()
    fig = Figure(figsize=(6, 5.2))
    ax = fig.subplots()
    contour = ax.contourf(gx, gy, scores, levels=30, cmap="coolwarm", alpha=0.6)
    fig.colorbar(contour, ax=ax, label="critic output" + (" (logit)" if task.cfg.loss == "gan" else ""))
    ax.scatter(real[:, 0], real[:, 1], s=3, c="black", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c="gold", alpha=0.7, label="generated")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{run.config.recipe}\nreal and generated points over the critic's contours", fontsize=10)
    save_figure(fig, plots_dir / "gan_points.png")


@figure("gan-epoch-samples", tasks=("adversarial",), test=False)
def gan_epoch_samples(run: FinishedRun, plots_dir: Path) -> None:
    """One grid per epoch from RUN_DIR/snapshots (the same fixed noise each time)."""
    for path in sorted((run.run_dir / "snapshots").glob("epoch-*.pt")):
        samples = torch.load(path, map_location="cpu", weights_only=True).get("samples")
        if samples is None:  # a GAN on 2-d points: gan_points draws them
            continue
        epoch = int(path.stem.split("-")[1])
        title = f"{run.config.recipe}: fixed noise after epoch {epoch}"
        save_grid(samples, 8, title, plots_dir / f"samples_epoch_{epoch:03d}.png")
