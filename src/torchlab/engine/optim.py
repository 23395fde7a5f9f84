"""Optimisers and learning-rate schedules, chosen by name from registries.

A schedule also says when it steps: once per `epoch`, once per optimizer `step` (warm-up,
OneCycle), or per epoch on the monitored validation metric (`plateau`). The Trainer steps it
after `optimizer.step()`, as PyTorch has required since 1.1.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from torchlab.config import OptimConfig, ScheduleConfig
from torchlab.registry import Registry

OPTIMIZERS: Registry = Registry("optimizer")
SCHEDULES: Registry = Registry("schedule")

Params = Iterable[nn.Parameter] | Iterable[dict]


@dataclass
class SGDConfig(OptimConfig):
    momentum: float = 0.0
    nesterov: bool = False


@dataclass
class AdamConfig(OptimConfig):
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


@OPTIMIZERS.register("sgd", config=SGDConfig)
def sgd(cfg: SGDConfig, params: Params) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
    )


@OPTIMIZERS.register("adam", config=AdamConfig)
def adam(cfg: AdamConfig, params: Params) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adamw", config=AdamConfig)
def adamw(cfg: AdamConfig, params: Params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


Interval = Literal["epoch", "step", "plateau"]


@dataclass
class Schedule:
    """A built scheduler and when the Trainer steps it (None: constant learning rate)."""

    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None
    interval: Interval = "epoch"


@dataclass
class StepConfig(ScheduleConfig):
    step_size: int = 30
    gamma: float = 0.1


@dataclass
class CosineConfig(ScheduleConfig):
    eta_min: float = 0.0


@dataclass
class OneCycleConfig(ScheduleConfig):
    """OneCycleLR over the whole run; its peak learning rate is `optim.lr`."""

    pct_start: float = 0.3


@SCHEDULES.register("none")
def constant(cfg: ScheduleConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    return Schedule(None)


@SCHEDULES.register("step", config=StepConfig)
def step_lr(cfg: StepConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    return Schedule(torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma))


@SCHEDULES.register("cosine", config=CosineConfig)
def cosine(cfg: CosineConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    return Schedule(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=cfg.eta_min))


@SCHEDULES.register("onecycle", config=OneCycleConfig)
def onecycle(cfg: OneCycleConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    max_lr = [group["lr"] for group in optimizer.param_groups]
    total = epochs * steps_per_epoch
    return Schedule(torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, total, pct_start=cfg.pct_start), "step")


def build_optimizer(cfg: OptimConfig, params: Params) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(cfg.name)(cfg, params)


def build_schedule(
    cfg: ScheduleConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int
) -> Schedule:
    return SCHEDULES.get(cfg.name)(cfg, optimizer, epochs, steps_per_epoch)
