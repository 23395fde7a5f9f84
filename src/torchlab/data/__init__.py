"""Datasets and loaders. Each dataset registers a builder that returns a DataModule."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from torchlab.config import DataConfig
from torchlab.registry import DATASETS

Batch = tuple[torch.Tensor, ...]


@dataclass
class DataInfo:
    """What a model and a task need to know about the data."""

    input_shape: tuple[int, ...]
    num_classes: int | None = None
    class_names: list[str] | None = None
    vocab: list[str] | None = None  # a text dataset's tokens; index = token id
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # images: (mean, std) of `x/255`
    input_dtype: str | None = None  # torchlab.fit's inputs, which the model takes as they came: "uint8"...
    uncropped: tuple[int, int] | None = None  # images cut to their centre (data.center_crop): (H, W) before the cut

    @property
    def images(self) -> bool:
        """Whether the inputs are pictures to draw: [1 or 3 channels, H, W] (not a table or a sequence)."""
        return len(self.input_shape) == 3 and self.input_shape[0] in (1, 3)

    @classmethod
    def from_dict(cls, raw: dict) -> "DataInfo":
        """The info a checkpoint recorded (`dataclasses.asdict`), with its tuples back."""
        norm, uncropped = raw.get("normalization"), raw.get("uncropped")
        tuples = {"normalization": norm and tuple(map(tuple, norm)), "uncropped": uncropped and tuple(uncropped)}
        return cls(**{**raw, "input_shape": tuple(raw["input_shape"]), **tuples})


class DataModule(Protocol):
    """Train, validation and test batches for one dataset, already on the training device.

    A dataset that splits its training set itself may also offer `split`, a dict describing the
    train/val indices (`data.splits.describe_split`); one read from files (or given as Datasets to
    `torchlab.fit`) offers `contents()`, a digest of each part (train, val, test) and its class names.
    Runs record both in split.json (`data_record`), so that eval and resume can tell other data from
    those a run saw. One that holds processes open (DataLoader workers) offers `close()`, called when
    the run is over (`close_data`).
    """

    info: DataInfo
    train_size: int

    def train_loader(self, generator: torch.Generator) -> "Loader": ...

    def val_loader(self) -> "Loader": ...

    def test_loader(self) -> "Loader": ...


class Loader(Protocol):
    """Batches, `len` of them. torchlab's loaders also say how many samples they hold (`samples_in`)."""

    def __iter__(self) -> Iterator[Batch]: ...

    def __len__(self) -> int: ...


def samples_in(loader: Loader) -> int | None:
    """The samples `loader`'s epoch holds in this process, where it says (its `samples`; a dataset of a
    plugin's may not)."""
    samples = getattr(loader, "samples", None)
    return samples if isinstance(samples, int) else None


class WithoutLoneSample:
    """A training loader's batches less its batch of one sample (where BatchNorm cannot train on one): the
    sample the shuffle left alone, another each epoch, sits the epoch out. The batch is still drawn,
    so that the random streams go on as they would."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader) - 1

    def __iter__(self) -> Iterator[Batch]:
        return (batch for batch in self.loader if batch_size_of(batch) > 1)


def batch_size_leaving_none_alone(samples: list[int], size: int) -> int:
    """The batch size nearest `size` (the smaller of two as near) whose last batch of each of `samples`
    (2 or more each) holds more than one sample; the largest of them always does."""
    fits = (each for each in range(2, max(samples) + 1) if all(n % each != 1 for n in samples))
    return min(fits, key=lambda each: (abs(each - size), each))


def build_data(cfg: DataConfig, device: torch.device) -> DataModule:
    """Build the DataModule that `cfg.name` registered."""
    return DATASETS.get(cfg.name)(cfg, device)


def data_record(data: DataModule) -> dict:
    """What split.json records of `data`: its train/val split, and the `contents` digests under "contents"."""
    contents = getattr(data, "contents", None)
    return {**getattr(data, "split", {}), **({"contents": contents()} if contents else {})}


# name -> the DataInfo a dataset gives from its config alone: its input shape without its files
# (CIFAR-10 is 3 x 32 x 32 whatever it holds), so that `torchlab show` shows a model before any download.
INFO_WITHOUT_FILES: dict[str, Callable[[DataConfig], DataInfo]] = {}


def info_without_files(name: str) -> Callable:
    """Decorator: `@info_without_files("cifar10")` on `f(cfg) -> DataInfo` (num_classes None: not known yet)."""

    def add(info: Callable[[DataConfig], DataInfo]) -> Callable[[DataConfig], DataInfo]:
        INFO_WITHOUT_FILES[name] = info
        return info

    return add


def planned_info(cfg: DataConfig) -> DataInfo | None:
    """What dataset `cfg.name` says of its inputs without reading a file; None where only its files can
    say it (SST-2: the vocabulary sizes the model's embedding)."""
    DATASETS.get(cfg.name)  # imports the dataset modules, which fill INFO_WITHOUT_FILES
    info = INFO_WITHOUT_FILES.get(cfg.name)
    return info(cfg) if info else None


def close_data(data: DataModule) -> None:
    """End what `data` holds open, if anything: its DataLoaders' worker processes."""
    close = getattr(data, "close", None)
    if close is not None:
        close()


def batch_size_of(batch: Iterable[torch.Tensor]) -> int:
    return len(next(iter(batch)))
