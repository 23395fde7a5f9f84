"""Data given from Python (`torchlab.fit`): pairs of tensors, or any map-style Dataset.

Tensors become a device-resident `TensorSplits` (the fast path of the built-in datasets); a
Dataset is read through a DataLoader, sharded by rank like an image folder. Without a validation
set, `data.val_split` of the training set is held out (seeded by `data.split_seed`); without a
test set, the run has no test figures.

A run of tensors keeps them in RUN_DIR/data.safetensors (`data.name: tensors`), so that the
command line can resume or evaluate it; Datasets are Python objects (`data.name: python`), so
such a run continues from Python only.
"""

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate

from torchlab.config import DataConfig, in_range
from torchlab.core.errors import TorchlabError
from torchlab.core.files import check_data_file
from torchlab.core.words import counted
from torchlab.data import DATASETS, DataInfo
from torchlab.data.loaders import TensorSplits
from torchlab.data.splits import split_indices
from torchlab.data.workers import MAX_WORKERS, DeviceBatches, Loaders, SeededSamples, ShardSampler, worker_loader

SPLITS = ("train", "val", "test")
SAMPLED = 8  # samples that recognise a Dataset: its first, its last and evenly between
Pair = tuple[torch.Tensor, torch.Tensor]
Data = Pair | Dataset  # a split as torchlab.fit takes it


@dataclass
class GivenConfig(DataConfig):
    name: str = "tensors"
    val_split: int | float = 0.1
    path: str = ""  # tensors: the safetensors file holding {train,val,test}.{x,y}
    num_classes: int | None = None  # a classifier's; None: not a classification
    workers: int = 0  # Datasets: DataLoader worker processes

    def __post_init__(self) -> None:
        super().__post_init__()
        in_range("data", 0, MAX_WORKERS, "[]", workers=self.workers)


def holds_out_val(cfg: DataConfig, val: object) -> bool:
    """Whether the validation set is cut out of the training set: when fit got none (K-fold needs that)."""
    if val is not None and cfg.folds:
        raise TorchlabError("data.folds holds each fold out of the training set: call fit without val=")
    return val is None


def checked_pair(split: str, pair: Pair, classify: bool, caller: str = "torchlab.fit") -> Pair:
    """`(inputs, targets)` of one length; a classifier's targets as int64 class indices of shape [N]
    (numpy and pandas often give int32, and a column [N, 1]), where cross-entropy would fail mid-epoch."""
    x, y = pair
    if x.dim() == 0 or y.dim() == 0:
        raise TorchlabError(f"{caller}: {split}'s inputs and targets need a row per sample; got a 0-d tensor")
    if len(x) != len(y):
        raise TorchlabError(f"{caller}: {split} has {counted(len(x), 'input')} but {counted(len(y), 'target')}")
    if not classify:
        return x, y
    one_hot = " (one-hot rows: y.argmax(1))" if y.dim() == 2 and y.shape[1] > 1 else ""
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TorchlabError(
            f"{caller}: a classifier's {split} targets must be integer class indices, got {y.dtype}"
            + (one_hot or " (task='regress' fits numbers)")
        )
    if y.dim() == 2 and y.shape[1] == 1:
        y = y.flatten()
    if y.dim() != 1:
        raise TorchlabError(
            f"{caller}: a classifier's {split} targets must be one class index per sample, shape [N]; got "
            f"{list(y.shape)}{one_hot}"
        )
    return x, y.long()


def check_class_range(caller: str, targets: torch.Tensor, classes: int | None = None) -> None:
    """Refuse class indices below 0 (or from `classes` on), which cross-entropy meets as an IndexError
    in the middle of an epoch."""
    outside = targets[(targets < 0) | (targets >= classes)] if classes else targets[targets < 0]
    if len(outside):
        span = f"0 to {classes - 1}" if classes else "from 0 up"
        raise TorchlabError(f"{caller}: a classifier's targets are class indices {span}; got {int(outside[0])}")


def check_binary(split: str, targets: torch.Tensor, caller: str) -> None:
    """Refuse targets other than 0 and 1 for task='binary': its cross-entropy takes a 2 or a -1 as a
    target probability and trains on it without a word."""
    outside = targets[(targets != 0) & (targets != 1)]
    if len(outside):
        raise TorchlabError(
            f"{caller}: task='binary' takes targets 0 and 1; {split} holds {outside[0].item():g} "
            "(task='classify' takes class indices 0 to K-1)"
        )


def check_samples(split: str, dataset: Dataset, classify: bool, caller: str = "torchlab.fit") -> None:
    """Refuse, before anything trains, a Dataset whose first sample is not an `(input, target)` pair,
    whose first input is no tensor (a PIL image), or whose first target is not one integer class index
    where a classifier needs one."""
    if len(dataset) == 0:
        return
    sample = dataset[0]
    if not (isinstance(sample, tuple | list) and len(sample) == 2):
        what = (
            f"a dict with keys {list(sample)}"
            if isinstance(sample, dict)
            else f"a {type(sample).__name__} of {len(sample)}"
            if isinstance(sample, tuple | list)
            else f"a {type(sample).__name__}"
        )
        raise TorchlabError(f"{caller}: a Dataset's samples must be (input, target) pairs; {split}[0] is {what}")
    part_tensor(sample[0], f"{split}[0]", "input", caller)
    target = part_tensor(sample[1], f"{split}[0]", "target", caller)
    if classify:
        class_index(target, f"{split}[0]", caller)


ACCEPTED = {"input": "tensors or numpy arrays", "target": "numbers, tensors or numpy arrays"}  # as parts of a sample


def part_tensor(part: Any, where: str, role: str, caller: str = "torchlab.fit") -> torch.Tensor:
    """A sample's input or target (`role`) as a tensor; one that converts to none (a PIL image, a class
    name, None) is refused naming its type, where it was torch's TypeError or RuntimeError."""
    try:
        return torch.as_tensor(part)
    except (TypeError, ValueError, RuntimeError):
        kind = type(part)
        named = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        hint = (
            " (images: give the Dataset transform=transforms.ToTensor())"
            if role == "input"
            else " (class names: map each to its index, 0 to K-1)"
            if isinstance(part, str)
            else ""
        )
        raise TorchlabError(
            f"{caller}: a Dataset's {role}s must be {ACCEPTED[role]}; {where}'s is a {named}{hint}"
        ) from None


def class_index(target: torch.Tensor, where: str, caller: str = "torchlab.fit") -> int:
    """A classifier's target as its class index; anything but one integer is refused."""
    if (
        target.numel() != 1
        or target.dim() > 1
        or target.is_floating_point()
        or target.is_complex()
        or target.dtype == torch.bool
    ):
        raise TorchlabError(
            f"{caller}: a classifier's targets must each be one integer class index; {where}'s is "
            f"{target.dtype} of shape {tuple(target.shape)} (task='regress' fits numbers)"
        )
    return int(target)


def refuse_ragged(samples: list[Any], caller: str = "torchlab.fit") -> None:
    """Refuse samples whose inputs (or targets) are no tensors or differ in shape, which a batch cannot
    stack: found where they meet, mid-epoch too, since the samples that fit checks first may all agree."""
    for k, role in enumerate(("input", "target")):
        shapes = sorted({tuple(part_tensor(sample[k], "a sample", role, caller).shape) for sample in samples})
        if len(shapes) > 1:
            raise TorchlabError(
                f"{caller}: a Dataset's {role}s differ in shape ({list(shapes[0])} and {list(shapes[1])}): "
                f"a batch stacks {role}s of one shape"
            )


def collated(batch: list[Any]) -> Any:
    """A batch as `default_collate` makes it; samples it cannot stack are refused by `refuse_ragged`
    (it was torch.stack's RuntimeError mid-epoch)."""
    try:
        return default_collate(batch)
    except (RuntimeError, TypeError):
        refuse_ragged(batch)
        raise


def check_alike(splits: dict[str, Pair | Dataset | None]) -> None:
    """Refuse val or test inputs of another shape or dtype per sample than train's: the model would fail
    on them at the first validation, or at the test after training (predict refuses them too)."""
    first = {name: x for name, split in splits.items() if split is not None and (x := first_input(split)) is not None}
    if "train" not in first:
        return
    want = first.pop("train")
    for name, x in first.items():
        if (x.shape, x.dtype) != (want.shape, want.dtype):
            raise TorchlabError(
                f"torchlab.fit: {name}'s inputs are {list(x.shape)} {str(x.dtype)[6:]} each, where train's are "
                f"{list(want.shape)} {str(want.dtype)[6:]}: a run takes inputs of one shape and dtype"
            )


def first_input(split: Pair | Dataset) -> torch.Tensor | None:
    """The input of a split's first sample; None where it has none."""
    if isinstance(split, tuple):
        return split[0][0] if len(split[0]) else None
    return torch.as_tensor(split[0][0]) if len(split) else None


def stacked(dataset: Dataset, classify: bool, caller: str) -> Pair:
    """A map-style Dataset of `(input, target)` samples as one pair of tensors, checked as fit checks it."""
    check_samples("the Dataset", dataset, classify, caller)
    if len(dataset) == 0:
        raise TorchlabError(f"{caller}: the Dataset is empty")
    samples = [dataset[i] for i in range(len(dataset))]
    refuse_ragged(samples, caller)
    return tuple(torch.stack([torch.as_tensor(sample[k]) for sample in samples]) for k in (0, 1))


class ClassIndices(Dataset):
    """A Dataset's samples with the target as an int64 class index, as cross-entropy needs (a
    numpy int32 label would fail mid-epoch)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple:
        x, y = self.dataset[index]
        return x, torch.as_tensor(y, dtype=torch.long).reshape(())  # a label of shape [1] too, as a pair's [N, 1]


def limits(cfg: DataConfig) -> dict[str, int | None]:
    """How many samples of each split a run uses, the first ones: `data.subset` of train and
    `data.eval_subset` of val and test, as the built-in datasets read them (None: all)."""
    return {"train": cfg.subset, "val": cfg.eval_subset, "test": cfg.eval_subset}


def first(dataset: Dataset, n: int | None) -> Dataset:
    """The first `n` samples of `dataset` (all of them where `n` is None)."""
    return dataset if n is None else Subset(dataset, range(min(n, len(dataset))))


def info_of(x: torch.Tensor, num_classes: int | None) -> DataInfo:
    return DataInfo(tuple(x.shape[1:]), num_classes, input_dtype=str(x.dtype).removeprefix("torch."))


class GivenTensors(TensorSplits):
    """Train/val/test pairs of tensors on the device, batched by index (`TensorLoader`)."""

    def __init__(self, cfg: GivenConfig, device: torch.device, splits: dict[str, Pair | None]) -> None:
        classify = cfg.num_classes is not None
        splits = {name: None if pair is None else checked_pair(name, pair, classify) for name, pair in splits.items()}
        train, val = splits["train"], splits["val"]
        if train is None or len(train[0]) == 0:
            raise TorchlabError("torchlab.fit: the training set is empty")
        if holds_out_val(cfg, val):
            train_idx, val_idx = split_indices(len(train[0]), cfg)
            train, val = (train[0][train_idx], train[1][train_idx]), (train[0][val_idx], train[1][val_idx])
        test = splits["test"] or (train[0][:0], train[1][:0])
        self.cfg = cfg
        self.splits = {"train": train, "val": val, "test": test}  # on the CPU, as given: what data.safetensors keeps
        limit = limits(cfg)
        self.train, self.val, self.test = (
            tuple(t[: limit[name]].to(device) for t in pair) for name, pair in self.splits.items()
        )
        self.info = info_of(train[0], cfg.num_classes)
        self.train_size = len(self.train[0])

    def tensors(self) -> dict[str, torch.Tensor]:
        """The splits as flat named tensors (`train.x`, ...), as data.safetensors keeps them."""
        return {f"{split}.{name}": t for split, pair in self.splits.items() for name, t in zip("xy", pair, strict=True)}


@DATASETS.register("tensors", config=GivenConfig)
def saved_tensors(cfg: GivenConfig, device: torch.device) -> GivenTensors:
    """A `torchlab.fit` run's tensors, read back from its data.safetensors."""
    check_data_file(Path(cfg.path), "the run's tensors ")  # safetensors waits on a pipe
    try:
        flat = load_file(cfg.path)
    except (OSError, ValueError) as err:
        raise TorchlabError(f"data.path: cannot read the run's tensors from {cfg.path or '(none)'} ({err})") from None
    splits = {split: (flat[f"{split}.x"], flat[f"{split}.y"]) if f"{split}.x" in flat else None for split in SPLITS}
    return GivenTensors(cfg, device, splits)


class GivenDatasets:
    """Map-style Datasets of `(input, target)` samples, read through DataLoaders sharded by rank."""

    def __init__(self, cfg: GivenConfig, device: torch.device, splits: dict[str, Dataset | None]) -> None:
        train, val = splits["train"], splits["val"]
        if train is None or len(train) == 0:
            raise TorchlabError("torchlab.fit: the training set is empty")
        self.kinds = {name: type(train if split is None else split).__qualname__ for name, split in splits.items()}
        if holds_out_val(cfg, val):
            train_idx, val_idx = split_indices(len(train), cfg)
            train, val = Subset(train, train_idx), Subset(train, val_idx)
        self.cfg, self.device = cfg, device
        given = {"train": train, "val": val, "test": splits["test"] or Subset(train, [])}
        limit = limits(cfg)
        self.datasets = {name: first(dataset, limit[name]) for name, dataset in given.items()}
        if cfg.num_classes is not None:
            self.datasets = {name: ClassIndices(dataset) for name, dataset in self.datasets.items()}
        x, _ = self.datasets["train"][0]
        self.info = info_of(torch.as_tensor(x)[None], cfg.num_classes)
        self.train_size = len(self.datasets["train"])
        self._loaders = Loaders()

    def contents(self) -> dict[str, str | list[str]]:
        """Each split recognised without reading it whole (a Dataset may be huge, or slow to read): a
        digest of its class, its length and SAMPLED of its samples spread over it. A change to the
        other samples of the same class and length passes unseen."""
        return {name: sampled_digest(self.kinds[name], dataset) for name, dataset in self.datasets.items()}

    def _loader(self, split: str, batch_size: int, generator: torch.Generator | None) -> DeviceBatches:
        def build() -> DeviceBatches:
            dataset = SeededSamples(self.datasets[split])
            sampler = ShardSampler(len(dataset), generator, seeds=generator is not None)
            loader = worker_loader(dataset, batch_size, sampler, self.cfg.workers, self.device, collated)
            return DeviceBatches(loader, self.device)

        return self._loaders.get(generator if generator is not None else split, build)

    def close(self) -> None:
        self._loaders.close()

    def train_loader(self, generator: torch.Generator) -> DeviceBatches:
        return self._loader("train", self.cfg.batch_size, generator)

    def val_loader(self) -> DeviceBatches:
        return self._loader("val", self.cfg.eval_batch_size, None)

    def test_loader(self) -> DeviceBatches:
        return self._loader("test", self.cfg.eval_batch_size, None)


def sampled_digest(kind: str, dataset: Dataset) -> str:
    """A digest of `kind`, the length of `dataset` and SAMPLED of its samples, read as training reads
    them (`SeededSamples`: random augmentation draws the same each time, and the caller's streams stay)."""
    n = len(dataset)
    digest = hashlib.sha256(f"{kind}\t{n}".encode())
    picks = sorted({round(k * (n - 1) / (SAMPLED - 1)) for k in range(SAMPLED)}) if n else []
    for sample in SeededSamples(dataset).__getitems__(picks):
        for part in sample:
            digest.update(part_bytes(part))
    return digest.hexdigest()


def part_bytes(part: Any) -> bytes:
    """One part of a sample (input or target) as bytes: a tensor's dtype, shape and values, else its repr."""
    try:
        tensor = torch.as_tensor(part)
    except (TypeError, ValueError, RuntimeError):  # a string, a PIL image...
        return repr(part).encode()
    values = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
    return f"{tensor.dtype}{tuple(tensor.shape)}".encode() + values


@DATASETS.register("python", config=GivenConfig)
def python_datasets(cfg: GivenConfig, device: torch.device) -> GivenDatasets:
    raise TorchlabError(
        "this run's data were Datasets given to torchlab.fit, which only Python holds: continue it with "
        "torchlab.fit(model, train, val, test, out=RUN_DIR)"
    )


def is_pair(data: Any) -> bool:
    return isinstance(data, tuple | list) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)


def given(name: str, split: Any) -> Any:
    """A split as fit takes it: None, a pair of tensors (numpy arrays or lists become tensors), or a
    map-style Dataset (anything with `len` and indexing)."""
    if split is None or is_pair(split):
        return split
    if isinstance(split, tuple | list) and len(split) == 2:
        try:
            return tuple(torch.as_tensor(part) for part in split)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TorchlabError(f"torchlab.fit: {name}'s (inputs, targets) do not convert to tensors ({err})") from None
    if refusal := not_a_split(name, split):
        raise TorchlabError(f"torchlab.fit: {refusal}")
    return split


def not_a_split(name: str, split: Any) -> str:
    """Why `split` is neither a pair nor a map-style Dataset (anything with `len` and indexing but a
    mapping or one array), or '' where it is a Dataset."""
    arrays = isinstance(split, tuple | list) and split and all(map(is_array, split))
    if is_array(split) or arrays:
        what = (
            f"a {type(split).__name__} of {counted(len(split), 'array')}" if arrays else f"one {type(split).__name__}"
        )
        return f"{name} is {what}; give inputs and targets as one pair: {name}=(x, y)"
    if isinstance(split, DataLoader):  # fit batches, shuffles and shards by rank itself
        return (
            f"{name} is a DataLoader; give its Dataset ({name}.dataset) and its batch size as "
            f"data__batch_size={split.batch_size}"
        )
    if isinstance(split, int | float) and name == "val":
        return f"val is a number; a share of train held out for validation is data__val_split={split}"
    if isinstance(split, str | os.PathLike):  # fit(model, train, "runs/x"): a str has len and indexing too
        return f"{name} is a path ({str(split)!r}); the run directory is a keyword argument, out={str(split)!r}"
    if hasattr(split, "__len__") and hasattr(split, "__getitem__") and not isinstance(split, Mapping):
        return ""
    return f"{name} must be (inputs, targets) tensors or a map-style Dataset, got {type(split).__name__}"


def is_array(data: Any) -> bool:
    """A tensor, or what converts to one as a whole (a numpy array, a pandas frame)."""
    return isinstance(data, torch.Tensor) or hasattr(data, "__array__")


def count_classes(splits: dict[str, Data | None]) -> int:
    """A classifier's number of classes: the highest target + 1 (a Dataset's `classes`, where it has them)."""
    highest = -1
    for name, split in splits.items():
        if split is None:
            continue
        if not is_pair(split) and hasattr(split, "classes"):
            highest = max(highest, len(split.classes) - 1)
            continue
        targets = split[1] if is_pair(split) else class_targets(split, name)
        check_class_range("torchlab.fit", targets)
        highest = max(highest, int(targets.max()) if len(targets) else -1)
    return highest + 1


def class_targets(dataset: Dataset, name: str) -> torch.Tensor:
    """The class index of every sample of a Dataset (split `name`): the labels it holds beside its
    samples (`held_labels`), which cost no image decoded, where its first sample's target agrees with
    them; else each sample's target, read once."""
    labels = held_labels(dataset)
    if labels is not None and (len(labels) == 0 or int(labels[0]) == target_class(dataset[0][1], name, 0)):
        return labels
    return as_class_indices([dataset[i][1] for i in range(len(dataset))], name)


def target_class(target: Any, name: str, i: int) -> int:
    """Sample `i`'s target (split `name`) as its class index; anything but one integer is refused, named."""
    where = f"{name}[{i}]"
    return class_index(part_tensor(target, where, "target"), where)


def held_labels(dataset: Dataset) -> torch.Tensor | None:
    """The class indices a Dataset keeps beside its samples: a TensorDataset's targets, `targets` or
    `labels` (torchvision's, most others'), through Subsets and ConcatDatasets; None where it keeps
    none, changes them as it reads them (`target_transform`), or they are no class index per sample."""
    if isinstance(dataset, Subset):
        labels = held_labels(dataset.dataset)
        return None if labels is None else labels[torch.as_tensor(dataset.indices, dtype=torch.long)]
    if isinstance(dataset, ConcatDataset):
        parts = [held_labels(part) for part in dataset.datasets]
        return None if any(part is None for part in parts) else torch.cat(parts)
    if isinstance(dataset, TensorDataset):
        kept = dataset.tensors[-1]
    elif getattr(dataset, "target_transform", None) is None:
        kept = next((getattr(dataset, key) for key in ("targets", "labels") if hasattr(dataset, key)), None)
    else:
        return None
    if kept is None:
        return None
    try:
        labels = torch.as_tensor(kept)
    except (TypeError, ValueError, RuntimeError):  # class names
        return None
    return labels.reshape(-1).long() if is_index_column(labels, len(dataset)) else None


def is_index_column(labels: torch.Tensor, n: int) -> bool:
    """Whether `labels` are `n` integers, one per sample: shape [n] or [n, 1]."""
    integer = not (labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool)
    return integer and tuple(labels.shape) in ((n,), (n, 1))


def as_class_indices(targets: list[Any], name: str) -> torch.Tensor:
    """The targets read from a Dataset (split `name`) as one int64 tensor, converted at once; where
    that fails, one by one, so that the first that is no class index is refused naming its sample."""
    try:
        together = torch.as_tensor(targets)
    except (TypeError, ValueError, RuntimeError):  # class names, None, targets of different shapes
        together = None
    if together is not None and is_index_column(together, len(targets)):
        return together.reshape(-1).long()
    return torch.tensor([target_class(target, name, i) for i, target in enumerate(targets)], dtype=torch.long)
