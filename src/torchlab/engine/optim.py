"""Optimisers and learning-rate schedules, chosen by name from registries.

A schedule also says when it steps: once per `epoch`, once per optimizer `step` (OneCycle), or
per epoch on the monitored validation metric (`plateau`). `schedule.warmup_steps` adds a linear
warm-up, stepped per optimizer step, in front of any schedule; it multiplies the learning rate
as PyTorch's ChainedScheduler does. The Trainer steps both after `optimizer.step()`, as PyTorch
has required since 1.1.
"""

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
from torch import nn
from torch.optim import lr_scheduler

from torchlab.config import OptimConfig, ScheduleConfig, TrainConfig, in_range
from torchlab.core.errors import TorchlabError
from torchlab.core.words import counted
from torchlab.registry import OPTIMIZERS, SCHEDULES

Params = Iterable[nn.Parameter] | Iterable[dict]


def settings(cfg: Any, base: type) -> dict[str, Any]:
    """The keys a component's config adds to `base`: named as PyTorch's own arguments, so they
    pass straight through (`torch.optim.SGD(params, lr=..., **settings(cfg, OptimConfig))`)."""
    inherited = {f.name for f in fields(base)}
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in inherited}


# -- optimisers -----------------------------------------------------------------------------
@dataclass
class SGDConfig(OptimConfig):
    momentum: float = 0.0
    nesterov: bool = False
    fused: bool | None = None  # one fused kernel for the whole update (CPU, CUDA); None: PyTorch's default

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("optim", 0, momentum=self.momentum)


@dataclass
class AdamConfig(OptimConfig):
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    fused: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("optim", 0, 1, betas=self.betas)
        in_range("optim", 0, math.inf, "()", eps=self.eps)  # 0 divides by zero where a gradient is 0


@dataclass
class RMSpropConfig(OptimConfig):
    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    centered: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("optim", 0, alpha=self.alpha, momentum=self.momentum)
        in_range("optim", 0, math.inf, "()", eps=self.eps)


@dataclass
class AdadeltaConfig(OptimConfig):
    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("optim", 0, 1, "[]", rho=self.rho)
        in_range("optim", 0, eps=self.eps)


def torch_optimizer(cls: type[torch.optim.Optimizer]) -> Callable[[OptimConfig, Params], torch.optim.Optimizer]:
    def build(cfg: OptimConfig, params: Params) -> torch.optim.Optimizer:
        return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **settings(cfg, OptimConfig))

    return build


OPTIMIZERS.register("sgd", config=SGDConfig)(torch_optimizer(torch.optim.SGD))
OPTIMIZERS.register("adam", config=AdamConfig)(torch_optimizer(torch.optim.Adam))
OPTIMIZERS.register("adamw", config=AdamConfig)(torch_optimizer(torch.optim.AdamW))
OPTIMIZERS.register("rmsprop", config=RMSpropConfig)(torch_optimizer(torch.optim.RMSprop))
OPTIMIZERS.register("adadelta", config=AdadeltaConfig)(torch_optimizer(torch.optim.Adadelta))


# -- schedules ------------------------------------------------------------------------------
Interval = Literal["epoch", "step", "plateau"]
Scheduler = lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau


@dataclass
class Schedule:
    """A built scheduler (None: constant), when the Trainer steps it, and an optional warm-up.

    `planned`: the scheduler spans exactly `train.epochs` (cosine, OneCycle), so a run cannot be
    resumed past that length."""

    scheduler: Scheduler | None
    interval: Interval = "epoch"
    warmup: lr_scheduler.LinearLR | None = None
    planned: bool = False

    def step_batch(self) -> None:
        """After every optimizer.step()."""
        if self.warmup is not None:
            self.warmup.step()
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()

    def step_epoch(self, metric: float | None) -> None:
        """After every epoch's validation; `metric` is the monitored validation metric."""
        if self.scheduler is None or self.interval == "step":
            return
        with warnings.catch_warnings():
            # A run resumed where its first epoch had taken its last step steps the schedule before
            # any optimizer.step() of this process: PyTorch's warning about that order is false here.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.scheduler.step(*([metric] if self.interval == "plateau" else []))

    def state_dict(self) -> dict[str, Any]:
        return {name: s.state_dict() for name, s in self.parts().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, s in self.parts().items():
            s.load_state_dict(state[name])

    def parts(self) -> dict[str, Scheduler]:
        return {name: s for name, s in (("scheduler", self.scheduler), ("warmup", self.warmup)) if s is not None}


@dataclass
class StepConfig(ScheduleConfig):
    step_size: int = 30
    gamma: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("schedule", 1, step_size=self.step_size)
        in_range("schedule", 0, gamma=self.gamma)


@dataclass
class MultiStepConfig(ScheduleConfig):
    milestones: list[int] = field(default_factory=lambda: [30, 60])
    gamma: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("schedule", 1, milestones=self.milestones)
        in_range("schedule", 0, gamma=self.gamma)


@dataclass
class CosineConfig(ScheduleConfig):
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("schedule", 0, eta_min=self.eta_min)


@dataclass
class OneCycleConfig(ScheduleConfig):
    """OneCycleLR over the whole run; its peak learning rate is `optim.lr`."""

    pct_start: float = 0.3
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("schedule", 0, 1, "()", pct_start=self.pct_start)
        in_range("schedule", 0, 1, "[]", base_momentum=self.base_momentum, max_momentum=self.max_momentum)
        in_range("schedule", 0, math.inf, "()", div_factor=self.div_factor, final_div_factor=self.final_div_factor)


@dataclass
class PlateauConfig(ScheduleConfig):
    """ReduceLROnPlateau on `train.monitor`, in `train.mode`."""

    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: Literal["rel", "abs"] = "rel"
    cooldown: int = 0
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("schedule", 0, 1, "()", factor=self.factor)
        in_range("schedule", 0, patience=self.patience, threshold=self.threshold, cooldown=self.cooldown)
        in_range("schedule", 0, min_lr=self.min_lr)


Optimizer = torch.optim.Optimizer


@SCHEDULES.register("none")
def constant(cfg: ScheduleConfig, optimizer: Optimizer, train: TrainConfig, steps_per_epoch: int) -> Schedule:
    return Schedule(None)


@SCHEDULES.register("step", config=StepConfig)
def step_lr(cfg: StepConfig, optimizer: Optimizer, train: TrainConfig, steps_per_epoch: int) -> Schedule:
    return Schedule(lr_scheduler.StepLR(optimizer, **settings(cfg, ScheduleConfig)))


@SCHEDULES.register("multistep", config=MultiStepConfig)
def multistep(cfg: MultiStepConfig, optimizer: Optimizer, train: TrainConfig, steps_per_epoch: int) -> Schedule:
    return Schedule(lr_scheduler.MultiStepLR(optimizer, **settings(cfg, ScheduleConfig)))


@SCHEDULES.register("cosine", config=CosineConfig)
def cosine(cfg: CosineConfig, optimizer: Optimizer, train: TrainConfig, steps_per_epoch: int) -> Schedule:
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=train.epochs, **settings(cfg, ScheduleConfig))
    return Schedule(scheduler, planned=True)


def onecycle_phase_ends(cfg: OneCycleConfig, total_steps: int) -> list[float]:
    """The steps where OneCycleLR's phases end, by its own arithmetic."""
    warm_up = float(cfg.pct_start * total_steps)
    return [warm_up - 1, 2 * warm_up - 2, total_steps - 1] if cfg.three_phase else [warm_up - 1, total_steps - 1]


@SCHEDULES.register("onecycle", config=OneCycleConfig)
def onecycle(cfg: OneCycleConfig, optimizer: Optimizer, train: TrainConfig, steps_per_epoch: int) -> Schedule:
    total_steps = train.epochs * steps_per_epoch
    ends = onecycle_phase_ends(cfg, total_steps)
    if any(end == start for start, end in zip([0.0, *ends[:-1]], ends, strict=True)):  # OneCycleLR divides by it
        raise TorchlabError(
            f"schedule 'onecycle': pct_start {cfg.pct_start} over {counted(total_steps, 'step')} leaves a phase "
            "of the cycle without steps; train for more steps (more data or epochs, a smaller batch) or change "
            "schedule.pct_start"
        )
    scheduler = lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=total_steps,
        **settings(cfg, ScheduleConfig),
    )
    return Schedule(scheduler, "step", planned=True)


@SCHEDULES.register("plateau", config=PlateauConfig)
def plateau(cfg: PlateauConfig, optimizer: Optimizer, train: TrainConfig, steps_per_epoch: int) -> Schedule:
    if train.monitor is None:
        raise TorchlabError("schedule 'plateau' watches train.monitor, which is null; name a validation metric")
    scheduler = lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode=train.mode,
        **settings(cfg, ScheduleConfig),
    )
    return Schedule(scheduler, "plateau")


# -- building -------------------------------------------------------------------------------
def _checked(section: str, name: str, build: Callable[[], Any]) -> Any:
    """PyTorch rejects bad arguments with ValueError: report them as the config's fault."""
    try:
        return build()
    except ValueError as err:
        raise TorchlabError(f"{section} '{name}': {err}") from None


def build_optimizer(cfg: OptimConfig, params: Params) -> torch.optim.Optimizer:
    return _checked("optim", cfg.name, lambda: OPTIMIZERS.get(cfg.name)(cfg, params))


def build_schedule(cfg: ScheduleConfig, optimizer: Optimizer, train: TrainConfig, steps_per_epoch: int) -> Schedule:
    """The schedule `cfg.name` registered, with `cfg.warmup_steps` of linear warm-up in front."""
    schedule = _checked("schedule", cfg.name, lambda: SCHEDULES.get(cfg.name)(cfg, optimizer, train, steps_per_epoch))
    if cfg.warmup_steps < 0 or not 0 < cfg.warmup_start_factor <= 1:
        raise TorchlabError("schedule.warmup_steps must be >= 0 and schedule.warmup_start_factor in (0, 1]")
    if cfg.warmup_steps:
        schedule.warmup = lr_scheduler.LinearLR(
            optimizer, start_factor=cfg.warmup_start_factor, total_iters=cfg.warmup_steps
        )
    return schedule
