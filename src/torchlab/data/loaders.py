"""Device-resident loaders: the whole split is one tensor on the device; a batch is a slice.

This is airbench's CifarLoader idea: no per-sample Python, no worker processes, no PIL in the
hot loop. Normalisation (and augmentation) run on whole batches, on the training device.
Under torchrun each rank iterates its own shard (`shard`), padded as DistributedSampler pads.
"""

from collections.abc import Callable, Iterator
from typing import Any

import torch

from torchlab.core.distributed import shard
from torchlab.data import Batch

Transform = Callable[[torch.Tensor], torch.Tensor]


class TensorLoader:
    """Batches of `(transform(inputs[idx]), targets[idx])`, shuffled with a caller's generator."""

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int,
        *,
        transform: Transform | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.inputs, self.targets = inputs, targets
        self.batch_size = batch_size
        self.transform = transform
        self.generator = generator  # None: keep the order (evaluation)

    @property
    def samples(self) -> int:
        """The samples this process's epoch holds: under torchrun its shard (training: padded)."""
        return len(shard(torch.arange(len(self.inputs)), pad=self.generator is not None))

    def __len__(self) -> int:
        return -(-self.samples // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        if self.generator is None:  # this rank's rows, as views
            inputs, targets, order = shard(self.inputs), shard(self.targets), None
        else:  # drawn on the CPU so a seed gives the same order on every device (and every rank)
            inputs, targets = self.inputs, self.targets
            order = torch.randperm(len(inputs), generator=self.generator)
            order = shard(order, pad=True).to(inputs.device, non_blocking=True)
        for start in range(0, len(inputs) if order is None else len(order), self.batch_size):
            if order is None:
                x, y = inputs[start : start + self.batch_size], targets[start : start + self.batch_size]
            else:
                idx = order[start : start + self.batch_size]
                x, y = inputs[idx], targets[idx]
            yield (self.transform(x) if self.transform else x), y


class Normalize:
    """uint8 images -> float32 `(x / 255 - mean) / std`, one fused pass over the batch."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        std_t = torch.tensor(std, device=device).view(-1, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.negative_shift = -torch.tensor(mean, device=device).view(-1, 1, 1) / std_t

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.negative_shift, images.float(), self.scale)


def to_unit_range(images: torch.Tensor, normalization: tuple[tuple[float, ...], tuple[float, ...]]) -> torch.Tensor:
    """Normalize's inverse: images in the data's normalisation -> pixels in [0, 1] (as x / 255)."""
    mean, std = (torch.tensor(v, device=images.device).view(-1, 1, 1) for v in normalization)
    return images * std + mean


class TensorSplits:
    """Loaders over `train`, `val` and `test` tuples of tensors already on the device.

    A small dataset sets those three tuples (and `cfg`, `info`, `train_size`) and inherits the rest.
    """

    cfg: Any
    train: tuple[torch.Tensor, ...]
    val: tuple[torch.Tensor, ...]
    test: tuple[torch.Tensor, ...]

    def train_loader(self, generator: torch.Generator) -> TensorLoader:
        return TensorLoader(*self.train, self.cfg.batch_size, generator=generator)

    def val_loader(self) -> TensorLoader:
        return TensorLoader(*self.val, self.cfg.eval_batch_size)

    def test_loader(self) -> TensorLoader:
        return TensorLoader(*self.test, self.cfg.eval_batch_size)
