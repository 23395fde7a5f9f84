"""Typed configs: dataclass defaults <- recipe YAML <- command-line overrides.

Every section is a dataclass that owns its defaults. The sections `data`, `model`, `task`,
`optim` and `schedule` pick their dataclass by `name` from a registry, so each dataset, model,
task, optimiser and schedule declares exactly the keys it understands. Unknown keys and values
of the wrong type raise TorchlabError (exit 2) with a "did you mean" hint.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import types
import typing
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from torchlab.core.errors import TorchlabError, closest, did_you_mean, meant_hint
from torchlab.core.files import atomic_write_text, named_path, torchlab_folder
from torchlab.registry import DATASETS, MODELS, OPTIMIZERS, SCHEDULES, TASKS, import_user_code, user_sources


def at_least(low: int, **values: int) -> None:
    """Range checks in __post_init__: `at_least(1, data_batch_size=n)` names the key `data.batch_size`."""
    for name, value in values.items():
        if not value >= low:  # NaN too
            raise TorchlabError(f"{name.replace('_', '.', 1)}: expected {low} or more, got {value}")


def in_range(section: str, low: float, high: float = math.inf, brackets: str = "[)", **values: Any) -> None:
    """Range checks in __post_init__: each of `values` (None: unset, skipped; a list: each item) must lie
    in the interval from `low` to `high`, `brackets` saying which ends it includes. The default,
    `[low, inf)`, also refuses NaN and infinity. `in_range("model", 0, 1, dropout=p)` names `model.dropout`."""
    for name, value in values.items():
        items = enumerate(value) if isinstance(value, list | tuple) else [(None, value)]
        for i, item in items:
            if item is None:
                continue
            above = item >= low if brackets[0] == "[" else item > low
            below = item <= high if brackets[1] == "]" else item < high
            if not (above and below):
                key = f"{section}.{name}" + (f"[{i}]" if i is not None else "")
                at_least = f"{low} or more" if brackets[0] == "[" else f"more than {low}"
                allowed = at_least if high == math.inf else f"a value in {brackets[0]}{low}, {high}{brackets[1]}"
                raise TorchlabError(f"{key}: expected {allowed}, got {item}")


def not_blank(section: str, **paths: str | None) -> None:
    """Path settings in __post_init__: each given (not None) must name something (`named_path`); None,
    or the key left out, takes its default."""
    for name, value in paths.items():
        if value is not None:
            named_path(value, f"{section}.{name}", has_default=True)


def count_in_range(section: str, low: int, high: int, total: int | None = None, **lists: list[int]) -> None:
    """Range checks in __post_init__ of how many items each list holds (a model's layers or stages, each
    built by a Python loop: 100,000 build for minutes, even on the meta device), and of their `total`
    where given. `count_in_range("model", 0, 100, hidden=sizes)` names `model.hidden`."""
    for name, value in lists.items():
        if not low <= len(value) <= high:
            raise TorchlabError(f"{section}.{name}: expected {low} to {high} items, got {len(value)}")
        if total is not None and sum(value) > total:
            raise TorchlabError(f"{section}.{name}: expected {total} or fewer in all, got {sum(value)}")


DEVICE = re.compile(r"auto|(cpu|cuda|mps|xpu)(:\d+)?")  # what train.device may name


def expect(ok: bool, key: str, value: Any, allowed: str) -> None:
    """A range check that `in_range` cannot say: a TorchlabError naming the key, the value and what is allowed."""
    if not ok:
        raise TorchlabError(f"{key}: expected {allowed}, got {value!r}")


@dataclass
class DataConfig:
    """Where the samples come from and how they are batched and split."""

    name: str = "mnist"
    root: str | None = None  # data root; None: $TORCHLAB_DATA, else ~/.cache/torchlab/data
    batch_size: int = 128
    # 256, not 1000: the image recipes' convolutional models predict 1.3-1.9x faster on a CPU in
    # batches of 256 than of 1000, the MLP within 2% (benchmarks/eval_batch.py).
    eval_batch_size: int = 256
    val_split: int | float = 10000  # a count of training samples, or a fraction when below 1
    split_seed: int = 0  # split, folds, sine and gaussians data: one for every train.seed
    folds: int = 0  # K-fold cross-validation: K >= 2 replaces val_split by fold `fold` of K
    fold: int = 0  # which fold (0..K-1) is held out for validation
    subset: int | None = None  # train on the first N samples of the training split only
    eval_subset: int | None = None  # validate and test on the first N samples only
    download: bool = True  # fetch missing files where a network exists

    def __post_init__(self) -> None:
        at_least(1, data_batch_size=self.batch_size, data_eval_batch_size=self.eval_batch_size)
        not_blank("data", root=self.root)
        in_range("data", 1, subset=self.subset, eval_subset=self.eval_subset)
        in_range("data", 0, 2**64, split_seed=self.split_seed)  # what torch.Generator.manual_seed takes
        split = self.val_split
        expect(
            (isinstance(split, float) and 0 <= split < 1) or (isinstance(split, int) and split >= 0 and split != 1),
            "data.val_split",
            split,
            "a fraction in [0, 1) or a count of samples (0, or 2 or more)",
        )
        expect(self.folds == 0 or self.folds >= 2, "data.folds", self.folds, "0 (off) or 2 or more")
        if self.folds:
            expect(0 <= self.fold < self.folds, "data.fold", self.fold, f"a fold in 0..{self.folds - 1}")
        else:
            expect(self.fold == 0, "data.fold", self.fold, "0 while K-fold is off (set data.folds=K too)")


@dataclass
class ModelConfig:
    name: str = "mlp"


@dataclass
class TaskConfig:
    name: str = "classify"


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        in_range("optim", 0, lr=self.lr, weight_decay=self.weight_decay)


@dataclass
class ScheduleConfig:
    name: str = "none"
    warmup_steps: int = 0  # linear warm-up over the first N optimizer steps, before any schedule
    warmup_start_factor: float = 0.01  # the warm-up starts at this fraction of the learning rate

    def __post_init__(self) -> None:
        in_range("schedule", 0, warmup_steps=self.warmup_steps)
        in_range("schedule", 0, 1, "(]", warmup_start_factor=self.warmup_start_factor)


@dataclass
class TrainConfig:
    """How the Trainer runs: length, device, checkpoint selection and the fast paths."""

    epochs: int = 10
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    monitor: str | None = "val.accuracy"  # picks best.pt and drives early stopping; null: best.pt is the last epoch
    mode: Literal["min", "max"] = "max"
    patience: int = 0  # early stopping after this many epochs without improvement; 0 = off
    min_delta: float = 0.0
    clip_grad_norm: float | None = None  # one global norm over all parameters
    clip_grad_value: float | None = None
    l1: float = 0.0  # adds l1 * sum(|w|) to the loss
    l1_params: Literal["weights", "all"] = "weights"  # weights: skip biases and norm layers (1-D parameters)
    amp: Literal["none", "auto", "bf16", "fp16"] = "none"  # autocast dtype; auto: bf16 where it runs fast, else none
    compile: bool = False
    channels_last: bool = False
    deterministic: bool = False
    log_every: int = 50  # steps between progress updates and loss checks on accelerators

    def __post_init__(self) -> None:
        at_least(0, train_epochs=self.epochs, train_patience=self.patience, train_seed=self.seed)
        at_least(1, train_log_every=self.log_every)
        if self.patience and self.monitor is None:
            raise TorchlabError(f"train.patience={self.patience} needs a train.monitor to watch (it is null)")
        if self.seed >= 2**63:
            raise TorchlabError(f"train.seed: {self.seed} is too large; use a seed below 2**63")
        in_range("train", 0, min_delta=self.min_delta, l1=self.l1)
        # 0 would zero every gradient: training that silently stands still
        in_range("train", 0, math.inf, "()", clip_grad_norm=self.clip_grad_norm, clip_grad_value=self.clip_grad_value)
        expect(DEVICE.fullmatch(self.device) is not None, "train.device", self.device, "auto, cpu, cuda, cuda:N or mps")


@dataclass
class VisdomConfig:
    """Where the visdom logger sends its windows (`python -m visdom.server` listens on 8097)."""

    server: str = "http://localhost"
    port: int = 8097
    env: str | None = None  # the Visdom environment; None: RECIPE_RUNDIRNAME
    timeout: float = 5.0  # seconds each request may wait for the server (a silent one turns the logger off)

    def __post_init__(self) -> None:
        in_range("log.visdom", 1, 65535, "[]", port=self.port)
        in_range("log.visdom", 0, math.inf, "()", timeout=self.timeout)
        try:
            url = urllib.parse.urlsplit(self.server)
            usable = url.scheme in ("http", "https") and url.hostname and url.port is None
        except ValueError:  # an unclosed IPv6 bracket, a port out of range
            usable = False
        if not usable or any(c.isspace() for c in self.server):
            raise TorchlabError(
                f"log.visdom.server: expected http://HOST or https://HOST (the port is log.visdom.port), "
                f"got {self.server!r}"
            )


@dataclass
class LogConfig:
    loggers: list[str] = field(default_factory=lambda: ["tensorboard"])
    progress: bool = True  # a tqdm bar per epoch (only on a terminal)
    quiet: bool = False  # console: no line per epoch, only the final summary (--quiet also sets progress=false)
    preview: int = 16  # inputs (with predictions) shown by TensorBoard and Visdom each epoch; 0: none
    histograms: bool | None = None  # TensorBoard: weight and gradient histograms per epoch; null: below 1 M parameters
    visdom: VisdomConfig = field(default_factory=VisdomConfig)

    def __post_init__(self) -> None:
        in_range("log", 0, preview=self.preview)
        others = [name for name in self.loggers if name != "none"]
        if others and len(others) < len(self.loggers):  # which one was meant: all off, or these on?
            raise TorchlabError(
                f"log.loggers: 'none' turns every logger off, and {', '.join(others)} turns one on: keep one of them"
            )


@dataclass
class Config:
    recipe: str = ""
    description: str = ""
    source: str = ""  # the recipe file a run started from when it is not a built-in recipe (its absolute path)
    # The user's modules or .py files that define its components (found, and recorded, by itself):
    # imported again before a run's config is read, so eval, resume and export find them.
    imports: list[str] = field(default_factory=list)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def python_only(self) -> bool:
        """Whether only Python can continue this run: Datasets given to `torchlab.fit`, or a model class
        defined where nothing can import it again (a notebook cell)."""
        return self.data.name == "python" or (self.model.name == "python" and not getattr(self.model, "target", ""))

    def continued_by(self, run_dir: Path, processes: int = 1) -> str:
        """The call that continues a run of this config in `run_dir`, in `processes` processes (under
        torchrun when more than one)."""
        if self.python_only:
            call = "torchlab.fit(..., out=RUN_DIR)"
            return call if processes == 1 else f"{call} under torchrun --nproc_per_node {processes}"
        return launched(f"torchlab resume {run_dir}", processes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def launched(command: str, processes: int) -> str:
    """`torchlab ...` as typed to run in `processes` processes: under torchrun when more than one."""
    return command if processes == 1 else f"torchrun --nproc_per_node {processes} -m {command}"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as dotted keys, the way overrides name them: {"optim.lr": 0.05, ...}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# The registry that picks each named section's dataclass.
SECTION_REGISTRIES = {"data": DATASETS, "model": MODELS, "task": TASKS, "optim": OPTIMIZERS, "schedule": SCHEDULES}


# ---------------------------------------------------------------------------------------------
# Building dataclasses from plain dicts, with type checks


PLURALS = {int: "integers", float: "numbers", str: "strings", bool: "true or false values"}  # "a list of integers"


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if tp is dict or origin is dict:
        return "a mapping of keys"
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        item = typing.get_args(tp)[0]
        return f"a list of {PLURALS.get(item) or _type_name(item)}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", Any: "any value"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


class NoValue:
    """The value of an override with nothing after its `=` (`train.epochs=$UNSET`), where YAML reads null,
    which took a key's default without a word: `coerce` refuses it, once the key's type says what it takes."""

    def __init__(self, override: str) -> None:
        self.override = override

    def __repr__(self) -> str:
        return "''"  # as a message about a value holding it quotes it

    def refusal(self, key: str, tp: Any, owner: type | None = None) -> TorchlabError:
        """The error naming what `key` (of type `tp`, a field of dataclass `owner`) takes instead: the advice
        `key=null` only where it takes null, `key=[]` only where `owner` takes an empty list."""
        if dataclasses.is_dataclass(tp):
            return TorchlabError(
                f"override '{self.override}' has no value; {key} is a section: set its keys, {key}.KEY=VALUE"
            )
        takes = f"{key} takes {_type_name(tp)}"
        if takes_null(tp):
            takes += f": {key}=null sets null"
        elif typing.get_origin(tp) is list and owner is not None and takes_empty_list(owner, key.rpartition(".")[2]):
            takes += f": {key}=[] sets an empty list"
        return TorchlabError(f"override '{self.override}' has no value; {takes}")


def takes_null(tp: Any) -> bool:
    """Whether a key of type `tp` takes null (`str | None`, `Any`)."""
    return tp is Any or tp is type(None) or type(None) in typing.get_args(tp)


def takes_empty_list(owner: type, name: str) -> bool:
    """Whether dataclass `owner` (its other keys at their defaults) takes an empty list as `name`: its range
    checks may refuse one (`model.hidden_sizes` needs a layer)."""
    try:
        owner(**{name: []})
    except (TorchlabError, TypeError, ValueError):
        return False
    return True


def coerce(value: Any, tp: Any, path: str, owner: type | None = None) -> Any:
    """Return `value` as type `tp`, or raise TorchlabError naming `path` (a key of dataclass `owner`, if given)."""
    if isinstance(value, NoValue):
        raise value.refusal(path, tp, owner)
    fail = TorchlabError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise TorchlabError(
            f"{path}: {value!r} is not one of {list(choices)}{did_you_mean(str(value), map(str, choices))}"
        )
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return coerce(value, option, path)
            except TorchlabError:
                continue
        raise fail
    if tp is type(None):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            return None
        raise fail
    if origin in (list, tuple):
        if isinstance(value, str):  # a command line gives `a,b,c`
            if not value.strip():  # `log__loggers=""` turned every logger off without a word; `[]` says so
                raise fail
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise fail
        (item_type, *_) = typing.get_args(tp)
        items = [coerce(v, item_type, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise fail
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in BOOL_WORDS:
            return BOOL_WORDS[value.lower()]
        raise fail
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise fail from None
        raise fail
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail from None
        raise fail
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise fail
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    raise TypeError(f"config type {tp!r} at {path} is not supported")


def from_dict(
    cls: type,
    values: Any,
    path: str,
    elsewhere: dict[str, list[str]] | None = None,
    kin: Callable[[str], list[str]] | None = None,
) -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys with a suggestion.

    `elsewhere` maps the other sections to their keys, so a key put in the wrong section
    (`train.batch_size`) is pointed to the one that has it (`data.batch_size`); `kin(key)` names
    the section's other components that have a key (`model.latent`: autoencoder, vae...)."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise TorchlabError(f"{path}: expected a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        prefix = f"{path}." if path else ""
        if key not in hints:
            owner = next((section for section, keys in (elsewhere or {}).items() if key in keys), None)
            near = closest(str(key), names)
            suggestion = f"{owner}.{key}" if owner else (f"{prefix}{near}" if near else None)
            hint = meant_hint(suggestion) or kin_hint(path, key, values.get("name"), kin)
            raise TorchlabError(f"unknown config key '{prefix}{key}'{hint}; {path or 'config'} has: {', '.join(names)}")
        kwargs[key] = coerce(value, hints[key], f"{prefix}{key}", cls)
    return cls(**kwargs)


def meant_setting(key: str, settings: Iterable[str]) -> str | None:
    """The setting a misspelt or section-less key likely means, matched on the settings' last parts
    (`epochs`: train.epochs, `lr`: optim.lr, `hflip`: data.augment.hflip, `optimm`: optim); None when
    none is close, or when the part closest ends several settings (`name`). The command line's hint
    and torchlab.fit's (which writes the dots as __) both come from it."""
    by_leaf: dict[str, list[str]] = {}
    for name in settings:
        by_leaf.setdefault(name.rpartition(".")[2], []).append(name)
    names = by_leaf.get(closest(key, by_leaf) or "", [])
    return names[0] if len(names) == 1 else None


def setting_hint(key: str, sections: Iterable[str], classes: dict[str, type]) -> str:
    """' (did you mean ...?)' for a top-level `key=value` that is no section: a setting without its
    section (`port`: log.visdom.port) or a misspelt section (`imprts`); '' when none is close."""
    settings = [name for section, cls in classes.items() for name in dotted_settings(cls, f"{section}.")]
    return meant_hint(meant_setting(key, [*sections, *settings]))


def dotted_settings(cls: type, prefix: str) -> list[str]:
    """The settings of dataclass `cls` as overrides name them, nested ones too (`data.augment.hflip`)."""
    hints = typing.get_type_hints(cls)
    names = []
    for f in dataclasses.fields(cls):
        nested = dataclasses.is_dataclass(hints[f.name])
        names += dotted_settings(hints[f.name], f"{prefix}{f.name}.") if nested else [f"{prefix}{f.name}"]
    return names


def kin_hint(section: str, key: str, current: Any, kin: Callable[[str], list[str]] | None) -> str:
    """' (a key of model autoencoder, vae, not of mlp)' for a key of the section's other components."""
    names = kin(key) if kin else []
    if not names:
        return ""
    listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f" (a key of {section} {listed}, not of {current})"


def components_with(section: str, key: str) -> list[str]:
    """The components of a registry `section` whose config has `key`."""
    default = next(f.default_factory for f in dataclasses.fields(Config) if f.name == section)
    registry = SECTION_REGISTRIES[section]
    return [name for name in registry.names() if key in typing.get_type_hints(registry.config_class(name, default))]


def build_config(raw: dict[str, Any]) -> Config:
    """Resolve a raw nested dict (recipe + overrides) into a fully typed Config.

    The user code it names under `imports` is imported first; the built config's `imports` then
    lists every module outside torchlab that defines one of its components."""
    raw = dict(raw)
    top = {f.name: f for f in dataclasses.fields(Config)}
    hints = typing.get_type_hints(Config)
    for key, value in raw.items():  # `imports=`, a section (`train=`): its own word, not a mapping's
        if key in top and isinstance(value, NoValue):
            raise value.refusal(key, hints[key], Config)
    imported = import_user_code(coerce(raw.get("imports") or [], list[str], "imports"))
    registries = SECTION_REGISTRIES
    chosen = {}
    classes = {name: hints[name] for name in top if dataclasses.is_dataclass(hints[name])}
    for name in registries:
        section = raw[name] = raw.get(name) or {}  # `data:` with nothing under it is an empty section
        if not isinstance(section, dict):
            raise TorchlabError(f"{name}: expected a mapping of keys, got {section!r}")
        chosen[name] = coerce(section.get("name", top[name].default_factory().name), str, f"{name}.name")
        classes[name] = registries[name].config_class(chosen[name], top[name].default_factory)
    keys = {name: [f.name for f in dataclasses.fields(cls) if f.name != "name"] for name, cls in classes.items()}
    for key in raw:
        if key not in top:
            hint = did_you_mean(str(key), top) if isinstance(raw[key], dict) else setting_hint(str(key), top, classes)
            raise TorchlabError(f"unknown config section '{key}'{hint}; sections: {', '.join(top)}")
    built: dict[str, Any] = {}
    for name in top:
        others = {other: names for other, names in keys.items() if other != name}
        if name in registries:
            kin = functools.partial(components_with, name)
            built[name] = from_dict(classes[name], {**raw[name], "name": chosen[name]}, name, others, kin)
        elif name in classes and name in raw:
            built[name] = from_dict(classes[name], raw[name], name, others)
        elif name in raw:
            built[name] = coerce(raw[name], hints[name], name)
    components = [registries[name].get(built[name].name) for name in registries]
    built["imports"] = list(dict.fromkeys([*imported, *user_sources(components)]))
    return Config(**built)


# ---------------------------------------------------------------------------------------------
# YAML and overrides


class ConfigLoader(yaml.SafeLoader):
    """YAML as configs read it: only true and false are booleans (YAML 1.2), so `train.amp=off` or
    `device: no` stays the word the user wrote; a bool key takes yes/no/on/off too (`coerce`)."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader: builds plain values only


def parse_value(text: str) -> Any:
    """A command-line value as YAML would read it (`0.1`, `true`, `[1, 2]`), else the string."""
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply one `section.key=value` override to a raw config dict in place."""
    if "=" not in override:
        raise TorchlabError(f"override '{override}' must look like section.key=value (for example optim.lr=0.1)")
    dotted, text = override.split("=", 1)
    keys = [k.strip() for k in dotted.split(".")]
    if not all(keys):
        raise TorchlabError(f"override '{override}' has an empty key")
    node = raw
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise TorchlabError(f"override '{override}': '{key}' is a value, not a section")
        node = child
    node[keys[-1]] = parse_value(text) if text.strip() else NoValue(override)


def yaml_problem(err: Exception) -> str:
    """What is wrong and where (`found character '\\t' that cannot start any token, line 3, column 1`);
    the error's first line alone said only what the parser was doing ("while scanning for the next token")."""
    problem, mark = getattr(err, "problem", None), getattr(err, "problem_mark", None)
    if problem is None or mark is None:
        return str(err).splitlines()[0]
    where = f"{problem}, line {mark.line + 1}, column {mark.column + 1}"
    context, opened = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and opened and opened.line != mark.line:  # an unclosed [ or { further up
        where += f" ({context} at line {opened.line + 1}, column {opened.column + 1})"
    return where


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TorchlabError(f"config file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise TorchlabError(f"{path} is not valid YAML: {yaml_problem(err)}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise TorchlabError(f"{path} must hold a mapping of config sections")
    return loaded


def save_config(config: Config, path: Path) -> None:
    """config.yaml, in the recipe's key order, with its text as written (`我的 MLP 实验`, `λ`), not escaped."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))


def not_a_run(run_dir: Path) -> TorchlabError:
    """The error for a path without config.yaml, pointing to the run it meant: a cross-validation's
    folds, the run that a file or folder given lies in (`RUN/checkpoints`), or the runs a folder holds."""
    if (run_dir / "cv_summary.json").is_file() or (run_dir / "fold-0" / "config.yaml").is_file():
        return TorchlabError(
            f"{run_dir} is a cross-validation, not a run: its folds are the runs ({run_dir / 'fold-0'}, ...), "
            f"and {run_dir / 'report.html'} shows them side by side"
        )
    if not os.path.lexists(run_dir):
        return TorchlabError(f"{run_dir} is not a torchlab run directory: it does not exist")
    owner = torchlab_folder(run_dir)
    if owner is not None:
        run = next((parent for parent in run_dir.parents if parent.resolve() == owner), owner)
        return TorchlabError(f"{run_dir} is not a torchlab run directory but lies in one: name the run, {run}")
    configs = [*run_dir.glob("*/config.yaml"), *run_dir.glob("*/*/config.yaml")]  # runs/RECIPE/TIMESTAMP
    runs = sorted(path.parent for path in configs if torchlab_folder(path.parent) == path.parent.resolve())
    if runs:
        held = f"{len(runs)} runs ({runs[0]} ... {runs[-1]})" if len(runs) > 1 else f"one run, {runs[0]}"
        return TorchlabError(f"{run_dir} is not a torchlab run directory but holds {held}: name one")
    return TorchlabError(f"{run_dir} is not a torchlab run directory (no config.yaml)")


# The path keys that were taken as unset when empty, before `not_blank` refused them.
BLANK_WAS_UNSET = (("data", "root"), ("data", "index"), ("task", "judge"), ("model", "embeddings"))


def as_it_ran(raw: dict[str, Any]) -> dict[str, Any]:
    """A run's config as it trained, where torchlab took what it now refuses: 'none' beside another
    logger ran the other, an empty path key its default. Its eval, resume and report go on."""
    log = raw.get("log")
    if isinstance(log, dict) and isinstance(loggers := log.get("loggers"), list) and any(n != "none" for n in loggers):
        log["loggers"] = [name for name in loggers if name != "none"]
    for section, key in BLANK_WAS_UNSET:
        part = raw.get(section)
        if isinstance(part, dict) and isinstance(value := part.get(key), str) and not value.strip():
            part[key] = None
    return raw


def load_run_config(run_dir: Path) -> Config:
    """The fully resolved config a run directory was started with."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise not_a_run(run_dir)
    raw = read_yaml(path)
    if not raw:
        raise TorchlabError(f"{path} is empty: the run's config is lost (a full disk, or an edit)")
    try:
        return build_config(as_it_ran(raw))
    except TorchlabError as err:  # not the user's command line: the run's own file (edited, or another version's)
        raise TorchlabError(f"{path}: {err}") from None
