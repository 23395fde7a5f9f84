"""torchlab from Python: train a recipe, load a run, fit a model and data of your own.

    import torchlab
    run = torchlab.train("mnist-mlp", train__epochs=2, optim__lr=0.1)
    run.summary["test"]["accuracy"], run.report_path
    torchlab.load(run.run_dir).predict(images)        # classes, from the best weights
    run.evaluate(images, labels)                      # loss and accuracy of the best weights on new data
    run = torchlab.fit(MyNet(), (x, y), test=(x_test, y_test), train__epochs=1)

The same engine as the command line: checkpoints, resume, early stopping, schedules,
metrics.jsonl, report.html, TensorBoard. Overrides are keyword arguments with `__` for the dots
(`optim__lr=0.1`) or `overrides=["optim.lr=0.1"]`, checked as the command line's KEY=VALUE. A
stop (Ctrl-C, a notebook's stop button) ends a run as on the command line: last.pt written,
status "interrupted", and the call returns its Run; `torchlab.resume(run.run_dir)` continues it.
"""

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import cache, wraps
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import TensorDataset

from torchlab import api
from torchlab.config import Config, build_config, flatten, load_run_config, meant_setting
from torchlab.core.checkpoint import load_tensors, save_tensors
from torchlab.core.distributed import is_main_process, refusal_agreed
from torchlab.core.errors import TorchlabError, memory_named
from torchlab.core.files import named_path
from torchlab.core.metrics import RunningMeans
from torchlab.core.runtime import global_state_kept, resolve_device
from torchlab.core.words import counted
from torchlab.data import Batch
from torchlab.data.given import (
    Data,
    GivenDatasets,
    GivenTensors,
    TargetRule,
    check_alike,
    check_samples,
    checked_pair,
    count_classes,
    given,
    is_pair,
    not_a_split,
    stacked,
    target_rule,
)
from torchlab.loggers.jsonl import read_metrics
from torchlab.models.python import check_trainable, constructed, rebuild_recipe, rebuilt_dtype
from torchlab.models.size import check_size
from torchlab.predictions import LoadedRun
from torchlab.recipes import dict_raw, load_recipe, resolve
from torchlab.tasks import Task
from torchlab.tasks.first_batch import lone_batch_failure


class Elsewhere:
    """A name that Lightning, Keras or the command line lead a learner to try on a Run: reading it raises
    an AttributeError naming what does it here. (A `__getattr__` would also take the AttributeError raised
    inside a property, `run.model` of a model class with a bug, and hide it behind "no attribute 'model'".)"""

    def __init__(self, instead: str) -> None:
        self.instead = instead

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, run: Any, owner: type | None = None) -> Any:
        if run is None:
            return self
        raise AttributeError(f"a Run has no {self.name}: {self.instead}")


@dataclass(eq=False, repr=False)
class Run(LoadedRun):
    """A run directory, read from Python: its config, summary, metrics and best model (`predict`,
    `probabilities` and `model`: predictions.LoadedRun)."""

    def __post_init__(self) -> None:
        """A Run built by hand (`torchlab.load` builds one) takes a path and the run's Config."""
        self.run_dir = as_path(self.run_dir, "Run's run_dir")
        if not isinstance(self.config, Config):
            raise TorchlabError(
                f"Run takes the run's Config, got {type(self.config).__name__}: torchlab.load(run_dir) reads it"
            )
        super().__post_init__()

    eval = Elsewhere("run.evaluate(inputs, targets) scores new data; run.summary['test'] holds its test figures")
    test = Elsewhere("run.summary['test'] holds its test figures; run.evaluate(inputs, targets) scores new data")
    report = Elsewhere("run.report_path is its report.html (None while it has none)")
    resume = Elsewhere("torchlab.resume(run.run_dir, epochs=N) continues it")
    history = Elsewhere("run.metrics holds the records of metrics.jsonl")

    def __repr__(self) -> str:
        """One line, as a notebook shows a cell's Run: where, which recipe, how far, its test figures
        (the dataclass's repr printed the whole config)."""
        try:
            summary = self.summary
        except TorchlabError:  # a damaged summary.json: `run.summary` says so
            summary = {}
        test = ", ".join(f"test.{name} {value:.4f}" for name, value in summary.get("test", {}).items())
        epochs = summary.get("epochs", 0)
        how_far = f"{summary['status']} after {counted(epochs, 'epoch')}" if summary else "no summary yet"
        return f"Run({str(self.run_dir)!r}, {self.config.recipe}, {how_far}{', ' if test else ''}{test})"

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json (empty while the run has none)."""
        path = self.run_dir / "summary.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise TorchlabError(
                f"{path} is damaged ({type(err).__name__}); `{self.config.continued_by(self.run_dir)}` writes it again"
            ) from None

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl: one per logged step, epoch and test."""
        return read_metrics(self.run_dir) if (self.run_dir / "metrics.jsonl").is_file() else []

    @property
    def report_path(self) -> Path | None:
        path = self.run_dir / "report.html"
        return path if path.is_file() else None

    @torch.no_grad()
    def evaluate(self, inputs: Any, targets: Any = None, batch_size: int = 256) -> dict[str, float]:
        """The task's figures of the best model on new data (a classifier: loss and accuracy): `inputs`
        and `targets`, or a map-style Dataset of `(input, target)` as fit takes it, inputs read as
        `predict` reads them (a text run: sentences). On the run's own test set they are `summary["test"]`."""
        batch_size = as_count(batch_size, "evaluate's batch_size=")
        task, device = self.built_task("evaluate"), resolve_device(self.device)
        classify, text = self.config.task.name == "classify", self.info.vocab is not None
        if targets is None and not text and not_a_split("inputs", inputs) == "":
            inputs, targets = stacked(inputs, classify, "evaluate")
        elif targets is None:
            raise TorchlabError(
                f"evaluate takes inputs and targets, or a Dataset of both; got {type(inputs).__name__} alone"
            )
        if text:  # sentences: token ids and lengths, as predict makes them
            xs = tuple(t.to(device) for t in self.as_token_ids((inputs,)))
        else:
            xs = (self.as_loaded(inputs, task, device, "evaluate"),)
        try:
            y = torch.as_tensor(targets, device=device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TorchlabError(f"evaluate: the targets do not convert to a tensor ({err})") from None
        _, y = checked_pair("test", (xs[0], y), classify, caller="evaluate")
        if not len(y):  # the figures of no sample: they were {} without a word
            raise TorchlabError("evaluate: no samples given")
        classes = self.info.num_classes
        TargetRule(self.config.task.name, classes, "evaluate", f"the run's {classes} classes").check("targets", y)
        means = RunningMeans()
        with memory_named("evaluating", f"evaluate's batch_size={batch_size}", "evaluate's batch_size"):
            check_lone_sample(task, (*xs, y), batch_size)
            for start in range(0, len(y), batch_size):
                batch = (*(x[start : start + batch_size] for x in xs), y[start : start + batch_size])
                means.add(task.validation_step(batch), len(batch[-1]))
        return means.means()


def check_lone_sample(task: Task, data: Batch, batch_size: int) -> None:
    """Refuse `data` whose last batch of `batch_size` is one sample on which the task's step fails (a
    forward that squeezes the batch axis away), naming a batch_size= that leaves none alone: evaluation
    leaves no sample out (`lone_batch_failure`)."""
    samples = len(data[-1])
    first = lambda: tuple(part[:batch_size] for part in data)  # noqa: E731  (a batch's worth)
    if samples > 1 and (lone := lone_batch_failure(task, first, "validation", samples, batch_size)):
        failure, fix = lone
        raise TorchlabError(
            f"evaluate: {samples:,} samples in batches of {batch_size} end in a batch of one sample, on which "
            f"{failure}; evaluation leaves no sample out: batch_size={fix} leaves none alone"
        )


def in_python_words(call: Callable[..., Run]) -> Callable[..., Run]:
    """`call`, whose refusals (shared with the command line) name what Python passes: `out=` where they
    said `--out`, `torchlab.resume('DIR')` where they said `torchlab resume DIR` (`epochs=N`: `--epochs N`).
    Under torchrun a rank that refuses before joining the process group joins it to say so, as the command
    line's does: the others, which would wait for it there, raise RefusedTogether."""

    @wraps(call)
    def spoken(*args: Any, **kwargs: Any) -> Run:
        try:
            return call(*args, **kwargs)
        except TorchlabError as err:
            refusal_agreed(str(err))
            text = re.sub(r"--out\b ?", "out=", str(err))
            text = re.sub(
                r"`torchlab resume (\S+)( --epochs N)?`",
                lambda m: f"`torchlab.resume({m[1]!r}{', epochs=N' if m[2] else ''})`",
                text,
            )
            if text == str(err):
                raise
            raise type(err)(text) from None

    return spoken


@in_python_words
def load(
    run_dir: str | Path, device: str = "cpu", model: nn.Module | None = None, checkpoint: str | None = None
) -> Run:
    """A finished or interrupted run. `device`: where its model goes (auto, cpu, cuda, cuda:N, mps).
    `model`: an instance of the run's model class, for a run whose class torchlab cannot import again
    (defined in a notebook); its weights are replaced by the run's. `checkpoint`: "best" or "last"
    (`torchlab predict`'s and `export`'s `--checkpoint`); None: best.pt, else last.pt before a first best."""
    if model is not None and not isinstance(model, nn.Module):
        what = f"the class {model.__name__}" if isinstance(model, type) else f"a {type(model).__name__}"
        raise TorchlabError(f"torchlab.load: model= takes an instance of the run's model class, built, got {what}")
    run_dir = as_path(run_dir, "torchlab.load's run_dir")
    run = Run(run_dir, load_run_config(run_dir), device, model, checkpoint)
    if checkpoint is not None:
        run.checkpoint_path  # noqa: B018 (the checkpoint asked for refused at once where it is missing)
    return run


@in_python_words
def train(
    recipe: str | Path | Config | dict[str, Any], out: str | Path | None = None, *, overrides=(), **settings: Any
) -> Run:
    """Train a recipe (a name, a YAML path, a Config, or a dict read as a recipe's YAML) into a new run directory."""
    config = configure(recipe, [*listed(overrides), *dotted(settings, "train")])
    out = (
        as_path(out, "torchlab.train's out=", has_default=True)
        if out is not None
        else api.new_run_dir(config.recipe, config.train.device)
    )
    return until_stopped(lambda: api.train(config, out), out)


@in_python_words
def resume(
    run_dir: str | Path, epochs: int | None = None, *, data_dir: str | Path | None = None, quiet: bool = False
) -> Run:
    """Continue an interrupted run (to `epochs` in all, if given; its data from `data_dir` if moved)."""
    epochs = None if epochs is None else as_count(epochs, "torchlab.resume's epochs=")
    data_dir = None if data_dir is None else str(as_path(data_dir, "torchlab.resume's data_dir=", has_default=True))
    return resumed(as_path(run_dir, "torchlab.resume's run_dir"), epochs, data_dir, quiet)


def resumed(run_dir: Path, epochs: int | None, data_dir: str | None, quiet: bool, **parts: Any) -> Run:
    """`resume`, with the model and data a fit gives (`parts`), which the public call does not take:
    a misspelt keyword there is Python's TypeError naming it, not the Trainer's."""
    return until_stopped(lambda: api.resume(run_dir, epochs, data_dir, quiet, **parts), run_dir)


@in_python_words
def fit(
    model: nn.Module | type[nn.Module],
    train: Data,
    val: Data | None = None,
    test: Data | None = None,
    task: str = "classify",
    out: str | Path | None = None,
    *,
    model_kwargs: dict[str, Any] | None = None,
    overrides=(),
    **settings: Any,
) -> Run:
    """Train `model` (any nn.Module) on your data with the recipes' engine.

    `model`: an instance, trained from the weights it has (seed before building it, or bring
    pretrained ones), or its class, built with `model_kwargs` once the run's seed (`train.seed`)
    is set, so that the same seed repeats the same run, initial weights included.
    Data are `(inputs, targets)` pairs of tensors (or numpy arrays) or map-style Datasets of `(input, target)`;
    without `val`, `data.val_split` (10%) of `train` is held out. `task`: classify (cross-entropy
    on logits, the classes counted from the targets), regress (mean squared error), or any
    registered task whose batches are `(input, target)`. Defaults: Adam at 1e-3, 10 epochs,
    batches of 128; change them as for `train` (`train__epochs=1`). `model_kwargs`: the arguments
    that build the model (`MyNet(**model_kwargs)`), so that `torchlab resume`, `eval` and `load`
    can rebuild it without Python's help.
    """
    if not (isinstance(model, nn.Module) or (isinstance(model, type) and issubclass(model, nn.Module))):
        raise TorchlabError(f"torchlab.fit needs an nn.Module or an nn.Module class, got {type(model).__name__}")
    if isinstance(model, nn.Module):
        check_trainable(model)
    if model_kwargs is not None and not isinstance(model_kwargs, Mapping):
        raise TorchlabError(
            f"torchlab.fit's model_kwargs= takes a dict of the model's arguments, got {type(model_kwargs).__name__}"
        )
    classify = task == "classify"
    splits = {name: given(name, split) for name, split in {"train": train, "val": val, "test": test}.items()}
    splits = {name: checked_pair(name, split, classify) if is_pair(split) else split for name, split in splits.items()}
    tensors = all(split is None or is_pair(split) for split in splits.values())
    kind = "tensors" if tensors else "python"
    target, kwargs, rebuild_note = rebuild_recipe(model, model_kwargs or {})
    if not tensors:  # Datasets, and any pair given beside them as one
        splits = {name: TensorDataset(*split) if is_pair(split) else split for name, split in splits.items()}
        for name, split in splits.items():
            if split is not None:
                check_samples(name, split, classify)
    check_alike(splits)
    train, val, test = splits.values()
    raw = {
        "recipe": f"fit-{(model if isinstance(model, type) else type(model)).__name__.lower()}",
        "data": {"name": kind, "num_classes": count_classes(splits) if classify else None},
        "model": {"name": "python", "target": target, "kwargs": kwargs, "dtype": rebuilt_dtype(model, target)},
        "task": {"name": task},
        "optim": {"name": "adam", "lr": 1e-3},
        "train": {"monitor": "val.accuracy" if classify else "val.loss", "mode": "max" if classify else "min"},
    }
    given_settings = [*listed(overrides), *dotted(settings, "fit")]
    if val is not None and any(setting.startswith("data.val_split=") for setting in given_settings):  # else unused
        raise TorchlabError(
            "torchlab.fit: data.val_split holds part of train out when no val= is given; give one of them"
        )
    config = resolve(raw, given_settings)
    run_dir = (
        as_path(out, "torchlab.fit's out=", has_default=True)
        if out is not None
        else api.new_run_dir(config.recipe, config.train.device)
    )
    if tensors:
        config.data.path = str((run_dir / "data.safetensors").resolve())
    built: list[Any] = []
    rule = target_rule(task, config.data.num_classes, splits)  # every target of every split

    def data(device: torch.device) -> Any:
        built.append((GivenTensors if tensors else GivenDatasets)(config.data, device, splits, rule))
        return built[-1]

    @cache
    def build() -> nn.Module:  # called by the Trainer after seeding; the same module every call
        if isinstance(model, nn.Module):
            return model
        kwargs = model_kwargs or {}
        check_size(lambda: model(**kwargs), kwargs, "model_kwargs")
        return check_trainable(constructed(model, kwargs, f"torchlab.fit's {model.__name__}", "model_kwargs"))

    parts = {"model": build, "data": data}
    saved = Path(config.data.path) if tensors else None
    earlier = (run_dir / "config.yaml").is_file()  # an earlier fit into the same folder
    try:
        if earlier:
            run = fit_again(run_dir, config, parts)
        else:
            run = until_stopped(lambda: api.train(config, run_dir, **parts), run_dir)
        run.given_model = build()  # the module trained; `run.model` loads the best weights into it
        if rebuild_note:  # of a run saved: one refused at start has nothing to rebuild
            print(rebuild_note, file=sys.stderr)
        return run
    except BaseException:
        saved = None if earlier else saved  # a refused fit into an earlier one leaves its folder as it found it
        raise
    finally:  # for the command line (`torchlab resume/eval RUN_DIR`); fit_again checked an earlier one's.
        # Only beside a run: a fit refused before it wrote config.yaml leaves its out= folder as it was.
        if saved and built and (run_dir / "config.yaml").is_file() and not saved.exists() and is_main_process():
            save_tensors(saved, built[-1].tensors())


def same_data(run_dir: Path, config: Config, parts: dict[str, Any]) -> str:
    """'' when fit's data are those an earlier fit into the folder saw, else the first part that differs:
    tensors against those it kept (data.safetensors), Datasets against the digests split.json records
    (`GivenDatasets.contents`: class, length and a few samples of each split)."""
    if config.data.name == "python":
        return other_datasets(run_dir / "split.json", parts["data"](torch.device("cpu")).contents())
    path = Path(config.data.path)
    if config.data.name != "tensors" or not path.is_file():
        return ""
    kept = load_tensors(path)
    given = parts["data"](torch.device("cpu")).tensors()
    return next((name for name, t in given.items() if name not in kept or not torch.equal(kept[name], t)), "")


def other_datasets(record: Path, seen: dict[str, Any]) -> str:
    """The first split whose digest differs from the one `record` (split.json) holds, as 'the train
    Dataset'; '' where they agree or nothing was recorded (a damaged record: resuming says so)."""
    try:
        was = json.loads(record.read_text(encoding="utf-8")).get("contents") or {}
    except (OSError, ValueError, AttributeError):
        return ""
    return next((f"the {name} Dataset" for name in was if name in seen and seen[name] != was[name]), "")


def other_weights(run: Run, parts: dict[str, Any]) -> str:
    """'' when fit's model has the weights' names and shapes of the folder's checkpoint (or it has
    none yet), else the first that differs (a notebook cell's class changed and run again)."""
    if not any((run.run_dir / "checkpoints" / name).is_file() for name in ("best.pt", "last.pt")):
        return ""
    with torch.random.fork_rng(devices=[]):  # a class is built here: the caller's random streams stay theirs
        given = {name: tuple(t.shape) for name, t in parts["model"]().state_dict().items()}
    kept = {name: tuple(t.shape) for name, t in run._checkpoint["model"].items()}
    name = next((name for name in sorted(given.keys() | kept.keys()) if given.get(name) != kept.get(name)), None)
    return "" if name is None else f"{name}: {kept.get(name, 'none')} -> {given.get(name, 'none')}"


def fit_again(run_dir: Path, config: Config, parts: dict[str, Any]) -> Run:
    """A fit into a folder that holds an earlier one: of the same config (epochs aside) it continues to
    `train.epochs`, or is kept once it has trained that far (a notebook run again); another is refused."""
    earlier = load_run_config(run_dir)
    stored, new = flatten(earlier.to_dict()), flatten(config.to_dict())
    # train.epochs says how far to go; log.* how to show it: neither changes what is trained
    differ = [
        key for key in new if key != "train.epochs" and not key.startswith("log.") and stored.get(key) != new[key]
    ]
    changed = [f"{key}: {stored.get(key)!r} -> {new[key]!r}" for key in differ]
    if changed:
        raise TorchlabError(f"{run_dir} holds a fit of another config ({'; '.join(changed[:3])}); pass another out=")
    if other := same_data(run_dir, config, parts):
        raise TorchlabError(f"{run_dir} holds a fit of other data ({other} differs); pass another out=")
    kept = Run(run_dir, earlier)
    if other := other_weights(kept, parts):
        raise TorchlabError(f"{run_dir} holds a fit of another model ({other}); pass another out=")
    if api.finished(run_dir) and kept.summary.get("epochs", 0) >= config.train.epochs:
        return kept
    return resumed(run_dir, config.train.epochs, None, config.log.quiet, **parts)


def until_stopped(train_fn: Callable[[], Any], out: Path) -> Run:
    """Run `train_fn()`, which trains into `out`; a stop (Ctrl-C) returns the interrupted run instead of raising.
    The random streams and deterministic switches that seeding changed are the caller's again after."""
    try:
        with global_state_kept():
            train_fn()
    except KeyboardInterrupt as stop:
        if not (out / "config.yaml").is_file():
            raise
        config = load_run_config(out)
        # The Trainer's stop message names the fit call that continues a run only Python holds; a stop
        # before training began (a Ctrl-C while the data were checked) has no message, and printed "torchlab: ".
        said = str(stop)
        call = config.continued_by(out) if config.python_only else f"torchlab.resume({str(out)!r})"
        python_way = "" if said and config.python_only else f"; {call} continues it"
        if getattr(stop, "processes", 1) > 1:  # stopped inside an epoch: in as many processes
            python_way += " under the same torchrun"
        if is_main_process():
            print(f"torchlab: {said or 'interrupted'}{python_way}", file=sys.stderr)
        return Run(out, config)
    return Run(out, load_run_config(out))


def configure(recipe: str | Path | Config | dict[str, Any], overrides: list[str]) -> Config:
    if isinstance(recipe, Config):
        return resolve(recipe.to_dict(), overrides)
    if isinstance(recipe, dict):
        return resolve(dict_raw(recipe), overrides)
    if not isinstance(recipe, str | Path):
        raise TorchlabError(
            f"torchlab.train takes a recipe name, a YAML path, a dict or a Config, got {type(recipe).__name__}"
        )
    return load_recipe(str(recipe), overrides)


def as_path(value: Any, what: str, has_default: bool = False) -> Path:
    """`value` as a Path: a str or os.PathLike (an int or None was pathlib's TypeError), not empty
    (`out=""` trained into the default folder, `load("")` read the current one: `named_path`)."""
    if not isinstance(value, str | os.PathLike):
        raise TorchlabError(f"{what} takes a path (a str or pathlib.Path), got {type(value).__name__}")
    return Path(named_path(value, what, has_default))


def as_count(value: Any, what: str) -> int:
    """`value`, an int of 1 or more (numpy's too); a str, float or bool was Python's TypeError deep inside,
    and a batch size of -1 gave no figures at all."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TorchlabError(f"{what} takes an integer, got {type(value).__name__} {value!r}"[:200])
    if value < 1:
        raise TorchlabError(f"{what} takes 1 or more, got {value}")
    return int(value)


def dotted(settings: dict[str, Any], caller: str) -> list[str]:
    """Keyword overrides as the command line's KEY=VALUE: `optim__lr=0.1` -> `optim.lr=0.1`."""
    for key in settings:
        check_keyword(key, caller)
    return listed({key.replace("__", "."): value for key, value in settings.items()})


def listed(overrides: Any) -> list[str]:
    """`overrides` as a list of KEY=VALUE: a list of them, one of them, or a dict {KEY: value}
    (a string was read letter by letter, a dict key by key, each a malformed override)."""
    if isinstance(overrides, str):
        return [overrides]
    if isinstance(overrides, Mapping):
        return [
            f"{key}={yaml.safe_dump(value, default_flow_style=True).splitlines()[0]}"
            for key, value in overrides.items()
        ]
    if not isinstance(overrides, list | tuple) or not all(isinstance(item, str) for item in overrides):
        raise TorchlabError(
            f"overrides= takes KEY=VALUE strings (one, a list of them) or a dict {{KEY: value}}, got {overrides!r}"[
                :200
            ]
        )
    return list(overrides)


def check_keyword(key: str, caller: str) -> None:
    """Refuse a keyword that is neither `section__key` nor a section (`epochs=3`), naming the setting
    it likely means (`train__epochs`), where the config said only that no section has its name."""
    if "__" in key or key in {f.name for f in fields(Config)}:
        return
    meant = meant_setting(key, flatten(build_config({}).to_dict()))
    hint = f"did you mean {meant.replace('.', '__')}=?" if meant else "for example train__epochs=3"
    raise TorchlabError(
        f"torchlab.{caller}: unknown keyword argument {key}=; a setting is a config key with __ for its dot ({hint})"
    )


__all__ = ["Run", "TorchlabError", "fit", "load", "resume", "train"]
