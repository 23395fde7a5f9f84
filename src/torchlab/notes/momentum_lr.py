"""Momentum and learning-rate decay: SGD's momentum rule, ReduceLROnPlateau, StepLR.

torch.optim.SGD(momentum=beta) is the notes' z <- beta z + grad; w <- w - lr z. Since PyTorch 1.1
scheduler.step() goes AFTER the epoch's optimizer.step(); the notes call it first, which shifts
the schedule one epoch early (epoch 29 already gets 0.005). `xrange` is Python 2: use range.
The notes' args.lr and args.momentum are lr 0.01 and momentum 0.9 here, on a 2-D bowl whose
gradient is known; ReduceLROnPlateau gets patience=2 (its default is 10) so that its drops show
within 9 made-up validation losses; `train(...)` is one optimizer step per epoch.
"""

import warnings

import torch
from torch import optim
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR

from torchlab.notes import show

ORDER = 200
BLOCKS = ("动量与学习率衰减",)


def f_grad(w: torch.Tensor) -> torch.Tensor:
    """Gradient of f(w) = sum(w^2 * [1, 10]), an elongated bowl."""
    return 2 * w * torch.tensor([1.0, 10.0])


def momentum_paths(steps: int = 5, lr: float = 0.01, beta: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """w after `steps` steps of optim.SGD(momentum=beta), and of the notes' formula by hand."""
    w = torch.tensor([1.0, 1.0], requires_grad=True)
    opt = optim.SGD([w], lr=lr, momentum=beta)
    by_hand, z = torch.tensor([1.0, 1.0]), torch.zeros(2)
    for _ in range(steps):
        opt.zero_grad()
        w.grad = f_grad(w.detach())
        opt.step()
        z = beta * z + f_grad(by_hand)
        by_hand = by_hand - lr * z
    return w.detach(), by_hand


def step_lr_per_epoch(epochs: int = 100, scheduler_first: bool = False) -> list[float]:
    """The lr each epoch trains with, under StepLR(step_size=30, gamma=0.1) starting at 0.05."""
    optimizer = optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    used = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notes' order warns "Detected call of lr_scheduler.step() before ..."
        for _ in range(epochs):
            if scheduler_first:
                scheduler.step()
            used.append(optimizer.param_groups[0]["lr"])
            optimizer.step()  # train(...)
            if not scheduler_first:
                scheduler.step()
    return used


def plateau_lrs(val_losses: list[float], patience: int = 2) -> list[float]:
    """The lr after each ReduceLROnPlateau(optimizer, 'min').step(val_loss)."""
    optimizer = optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = ReduceLROnPlateau(optimizer, "min", patience=patience)
    lrs = []
    for loss in val_losses:
        scheduler.step(loss)
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


def main() -> None:
    sgd, by_hand = momentum_paths()
    show("w after 5 steps: optim.SGD(momentum=0.9), the notes' formula", (sgd, by_hand))
    losses = [1.0, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7]
    show(f"ReduceLROnPlateau(patience=2) on val losses {losses}", [round(x, 4) for x in plateau_lrs(losses)])
    right, notes = step_lr_per_epoch(), step_lr_per_epoch(scheduler_first=True)
    for epoch in (0, 29, 30, 59, 60, 90):
        show(
            f"StepLR lr at epoch {epoch}: step after training, the notes' order",
            (round(right[epoch], 6), round(notes[epoch], 6)),
        )
