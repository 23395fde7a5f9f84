"""The notes' 时间序列预测 data: sine waves from a random start; predict each next value.

A sequence holds `steps` samples `sin(frequency * t)` spaced `span / (steps - 1)` apart (the
notes: 50 steps over 10 radians), from a start drawn uniformly over one period. Inputs are
samples 0..T-2, targets 1..T-1, both `[T-1, 1]`. Test sequences run `test_steps` samples, so
that a model warmed up on a few can free-run for the rest. Seeded by data.split_seed.
"""

import math
from dataclasses import dataclass

import torch

from torchlab.config import DataConfig, in_range
from torchlab.core.errors import TorchlabError
from torchlab.data import DATASETS, DataInfo, info_without_files
from torchlab.data.loaders import TensorSplits
from torchlab.data.splits import split_indices


@dataclass
class SineConfig(DataConfig):
    batch_size: int = 64
    eval_batch_size: int = 500
    val_split: int | float = 0.1
    sequences: int = 4000  # training and validation sequences together
    test_sequences: int = 500
    steps: int = 50
    test_steps: int = 60  # 10 observed, then 50 predicted free-running (task.context=10)
    span: float = 10.0  # radians covered by `steps` samples
    frequency: float = 1.0
    noise: float = 0.0  # standard deviation of Gaussian noise on every sample

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("data", 1, sequences=self.sequences, test_sequences=self.test_sequences)
        in_range("data", 2, steps=self.steps, test_steps=self.test_steps)
        in_range("data", 0, math.inf, "()", span=self.span, frequency=self.frequency)
        in_range("data", 0, noise=self.noise)


def sine_waves(cfg: SineConfig, count: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """[count, steps] samples of noisy sine waves with random phases."""
    start = torch.rand(count, 1, generator=generator, dtype=torch.float64) * (2 * math.pi / cfg.frequency)
    t = start + torch.arange(steps, dtype=torch.float64) * (cfg.span / (cfg.steps - 1))
    wave = torch.sin(cfg.frequency * t)
    if cfg.noise:
        wave += cfg.noise * torch.randn(wave.shape, generator=generator, dtype=torch.float64)
    return wave.float()


@info_without_files("sine")
def sine_info(cfg: SineConfig) -> DataInfo:
    """Sequences of one value per step, each but the last (whose next value is the target's)."""
    return DataInfo((cfg.steps - 1, 1))


@DATASETS.register("sine", config=SineConfig)
class SineWaves(TensorSplits):
    """Train/val/test sine sequences on the device, as (inputs, next values) pairs."""

    def __init__(self, cfg: SineConfig, device: torch.device) -> None:
        if cfg.steps < 2 or cfg.test_steps < 2 or cfg.frequency <= 0:
            raise TorchlabError("data.steps and data.test_steps must be at least 2 and data.frequency positive")
        generator = torch.Generator().manual_seed(cfg.split_seed)
        waves = sine_waves(cfg, cfg.sequences, cfg.steps, generator)
        test = sine_waves(cfg, cfg.test_sequences, cfg.test_steps, generator)[: cfg.eval_subset]
        train_idx, val_idx = split_indices(cfg.sequences, cfg)
        train_idx, val_idx = train_idx[: cfg.subset], val_idx[: cfg.eval_subset]

        def pairs(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            w = w.unsqueeze(-1).to(device)
            return w[:, :-1], w[:, 1:]

        self.cfg = cfg
        self.train, self.val, self.test = pairs(waves[train_idx]), pairs(waves[val_idx]), pairs(test)
        self.info = sine_info(cfg)
        self.train_size = len(train_idx)
