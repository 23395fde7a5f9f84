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
import math
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


RULED = ("classify", "binary", "regress")  # the tasks whose targets `TargetRule` checks


@dataclass(frozen=True)
class TargetRule:
    """The targets `task` trains on: class indices 0 to `classes` - 1 (classify; `classes` None: from 0
    up), 0 and 1 (binary), finite numbers (regress); another task's are its own. `classes_from`: where the
    count comes from, for the message (default: data.num_classes)."""

    task: str
    classes: int | None = None
    caller: str = "torchlab.fit"
    classes_from: str = ""

    def check(self, split: str, targets: torch.Tensor, first: int = 0) -> None:
        """Refuse the first of `targets` (a row per sample, from sample `first` of `split` on) that the task
        cannot train on, naming its sample, its value and what is taken: cross-entropy meets a class index
        outside as an IndexError (a CUDA device assert) mid-epoch, binary's takes a 2 as a probability
        without a word, and a NaN makes the loss NaN."""
        if self.task not in RULED or not len(targets):
            return
        refused = self.refused(targets).reshape(len(targets), -1)
        rows = refused.any(1).nonzero()
        if len(rows):
            row = int(rows[0, 0])
            value = targets[row].reshape(-1)[refused[row]][0].item()
            raise TorchlabError(f"{self.caller}: {self.takes()}; {split}[{first + row}] holds {value:g}{self.hint()}")

    def check_sample(self, split: str, index: int, target: torch.Tensor | int) -> None:
        """`check` of sample `index`'s target (a class index as an int); one number is compared as a Python
        number (tensor comparisons cost some 30 µs a sample, more than reading one may)."""
        one = target if isinstance(target, int) else target.item() if target.numel() == 1 else None
        if self.task in RULED and (one is None or self.refused(one)):
            self.check(split, torch.as_tensor(target).reshape(1, -1), index)

    def refused(self, targets: torch.Tensor | float) -> Any:
        """Which values of `targets` the task refuses, elementwise (of one Python number: whether it does)."""
        if self.task == "classify":
            return (targets < 0) | (targets >= self.classes) if self.classes else targets < 0
        if self.task == "binary":
            return (targets != 0) & (targets != 1)
        return ~torch.isfinite(targets) if isinstance(targets, torch.Tensor) else not math.isfinite(targets)

    def takes(self) -> str:
        """What the task takes, as a message says it."""
        if self.task == "classify":
            classes = self.classes
            span = (
                f"0 to {classes - 1} ({self.classes_from or f'data.num_classes={classes}'})" if classes else "from 0 up"
            )
            return f"a classifier's targets are class indices {span}"
        if self.task == "binary":
            return "task='binary' takes targets 0 and 1"
        return "task='regress' fits finite numbers"

    def hint(self) -> str:
        """What a message adds after the refused value."""
        return {
            "binary": " (task='classify' takes class indices 0 to K-1)",
            "regress": " (drop or fill in the samples without a number)",
        }.get(self.task, "")


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


class CheckedTargets(Dataset):
    """A split's samples, a classifier's targets as int64 class indices, as cross-entropy needs them (a
    numpy int32 label would fail mid-epoch); with a `rule`, each target checked by it as it is read and
    refused naming its index in the split (that of a Dataset that keeps its targets nowhere in plain sight:
    the first batch holding one fails, where torch's IndexError did deep in the loss)."""

    def __init__(self, dataset: Dataset, split: str, rule: TargetRule | None, classify: bool) -> None:
        self.dataset, self.split, self.rule, self.classify = dataset, split, rule, classify

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple:
        x, y = self.dataset[index]
        if self.rule is None:  # a label of shape [1] too, as a pair's [N, 1]
            return x, torch.as_tensor(y, dtype=torch.long).reshape(()) if self.classify else y
        target = target_class(y, self.split, index) if self.classify else torch.as_tensor(y)
        self.rule.check_sample(self.split, index, target)
        return x, torch.tensor(target) if self.classify else y


def checked_targets(name: str, dataset: Dataset, rule: TargetRule | None, classify: bool) -> Dataset:
    """`dataset` (split `name`) with its targets checked by `rule`: all at once where it keeps them in plain
    sight (`kept_targets`), else each as it is read (`CheckedTargets`); a classifier's as int64 class indices."""
    kept = kept_targets(dataset, name, classify) if rule is not None else None
    if kept is not None:
        rule.check(name, kept)
    each = rule if kept is None else None
    return CheckedTargets(dataset, name, each, classify) if classify or each else dataset


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

    def __init__(
        self, cfg: GivenConfig, device: torch.device, splits: dict[str, Pair | None], rule: TargetRule | None = None
    ) -> None:
        """`rule`: what every target is checked by (fit's; a run's saved tensors were checked when it began)."""
        classify = cfg.num_classes is not None
        splits = {name: None if pair is None else checked_pair(name, pair, classify) for name, pair in splits.items()}
        for name, pair in splits.items():
            if pair is not None and rule is not None:
                rule.check(name, pair[1])
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

    def __init__(
        self, cfg: GivenConfig, device: torch.device, splits: dict[str, Dataset | None], rule: TargetRule | None = None
    ) -> None:
        """`rule`: what every target is checked by, before training where the Datasets keep them in plain
        sight (`checked_targets`); a sample is named by its split as given to fit and its index there."""
        train = splits["train"]
        if train is None or len(train) == 0:
            raise TorchlabError("torchlab.fit: the training set is empty")
        self.kinds = {name: type(train if split is None else split).__qualname__ for name, split in splits.items()}
        classify = cfg.num_classes is not None
        splits = {
            name: None if split is None else checked_targets(name, split, rule, classify)
            for name, split in splits.items()
        }
        train, val = splits["train"], splits["val"]
        if holds_out_val(cfg, val):
            train_idx, val_idx = split_indices(len(train), cfg)
            train, val = Subset(train, train_idx), Subset(train, val_idx)
        self.cfg, self.device = cfg, device
        given = {"train": train, "val": val, "test": splits["test"] or Subset(train, [])}
        limit = limits(cfg)
        self.datasets = {name: first(dataset, limit[name]) for name, dataset in given.items()}
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
    """A classifier's number of classes: the most a split's Dataset names (`classes`), else the highest
    target + 1."""
    if declared := [len(split.classes) for split in splits.values() if names_classes(split)]:
        return max(declared)
    highest = -1
    for name, split in splits.items():
        if split is None:
            continue
        targets = split[1] if is_pair(split) else class_targets(split, name)
        TargetRule("classify").check(name, targets)
        highest = max(highest, int(targets.max()) if len(targets) else -1)
    return highest + 1


def names_classes(split: Data | None) -> bool:
    """Whether `split` is a Dataset naming its classes (torchvision's `classes`)."""
    return split is not None and not is_pair(split) and hasattr(split, "classes")


def target_rule(task: str, classes: int | None, splits: dict[str, Data | None]) -> TargetRule | None:
    """The rule of fit's targets for `task` (None: a task whose targets are its own), a classifier's count
    said to come from the Dataset naming that many classes, where one does."""
    if task not in RULED:
        return None
    named = next((name for name, split in splits.items() if names_classes(split) and len(split.classes) == classes), "")
    return TargetRule(task, classes, classes_from=f"{named}.classes names {classes}" if named else "")


def class_targets(dataset: Dataset, name: str) -> torch.Tensor:
    """The class index of every sample of a Dataset (split `name`): the labels it holds beside its
    samples (`kept_targets`), which cost no image decoded; else each sample's target, read once."""
    labels = kept_targets(dataset, name, classify=True)
    if labels is not None:
        return labels
    return as_class_indices([dataset[i][1] for i in range(len(dataset))], name)


def kept_targets(dataset: Dataset, name: str, classify: bool) -> torch.Tensor | None:
    """The targets a Dataset (split `name`) keeps beside its samples, a row per sample (a classifier's as
    int64 class indices, `held_labels`), where its first sample's target agrees with them; else None."""
    kept = held_labels(dataset) if classify else held_targets(dataset)
    if kept is None or len(kept) == 0:
        return kept
    first = part_tensor(dataset[0][1], f"{name}[0]", "target")
    if classify:
        return kept if int(kept[0]) == class_index(first, f"{name}[0]") else None
    same = first.numel() == kept[0].numel() and torch.equal(first.reshape(-1).double(), kept[0].reshape(-1).double())
    return kept if same else None


def target_class(target: Any, name: str, i: int) -> int:
    """Sample `i`'s target (split `name`) as its class index; anything but one integer is refused, named."""
    where = f"{name}[{i}]"
    return class_index(part_tensor(target, where, "target"), where)


def held_targets(dataset: Dataset) -> torch.Tensor | None:
    """The targets a Dataset keeps beside its samples, a row per sample: a TensorDataset's, `targets` or
    `labels` (torchvision's, most others'), through Subsets and ConcatDatasets; None where it keeps none,
    changes them as it reads them (`target_transform`), or they are no numbers (class names)."""
    if isinstance(dataset, Subset):
        kept = held_targets(dataset.dataset)
        return None if kept is None else kept[torch.as_tensor(dataset.indices, dtype=torch.long)]
    if isinstance(dataset, ConcatDataset):
        parts = [held_targets(part) for part in dataset.datasets]
        if any(part is None for part in parts) or len({part.shape[1:] for part in parts}) > 1:
            return None
        return torch.cat(parts)
    if isinstance(dataset, TensorDataset):
        kept = dataset.tensors[-1]
    elif getattr(dataset, "target_transform", None) is None:
        kept = next((getattr(dataset, key) for key in ("targets", "labels") if hasattr(dataset, key)), None)
    else:
        return None
    if kept is None:
        return None
    try:
        targets = torch.as_tensor(kept)
    except (TypeError, ValueError, RuntimeError):  # class names
        return None
    return targets if targets.dim() and len(targets) == len(dataset) else None


def held_labels(dataset: Dataset) -> torch.Tensor | None:
    """The class indices a Dataset keeps beside its samples (`held_targets`), as int64 of shape [N]; None
    where it keeps none, or they are no class index per sample."""
    labels = held_targets(dataset)
    return labels.reshape(-1).long() if labels is not None and is_index_column(labels, len(dataset)) else None


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
