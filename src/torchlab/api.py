"""What the commands do, as functions: train, resume, evaluate, cross-validate, compare runs.

Every command builds its Trainer through `build_trainer`, which first prepares what the run's
task needs from outside the run (a GAN's judge, trained once if it is not cached yet), and draws
the figures from a `FinishedRun` view of the Trainer.
"""

import contextlib
import copy
import fcntl
import itertools
import json
import os
import re
import shlex
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from torchlab.config import Config, launched, load_run_config, not_blank, save_config
from torchlab.core import collector
from torchlab.core.checkpoint import load_checkpoint, load_weights, refuse_restart, weights_state
from torchlab.core.distributed import (
    barrier,
    from_rank0,
    is_main_process,
    refusals_shared,
    setup_distributed,
    unsharded,
)
from torchlab.core.errors import DivergedError, TorchlabError
from torchlab.core.files import (
    atomic_write_json,
    check_new_run_dir,
    check_output_folder,
    missing_folders,
    refuse_in_use,
    refuse_inside_another,
    remove_made,
    run_lock,
    torchlab_folder,
    user_path,
)
from torchlab.core.runtime import restore_rng_states, rng_states
from torchlab.core.words import counted
from torchlab.data import data_record
from torchlab.data.augment import ImageDataConfig
from torchlab.engine.interrupt import Interrupted, graceful_stop
from torchlab.engine.trainer import Trainer
from torchlab.export import export as export_weights
from torchlab.loggers import logger_classes
from torchlab.models import for_checkpoint
from torchlab.models.size import check_training_memory
from torchlab.recipes import load_recipe, recipe_names
from torchlab.report import FinishedRun, draw_figures
from torchlab.report.pages import reproduce_cv, write_comparison, write_run_report
from torchlab.tasks import check_model_family, check_task_settings
from torchlab.tasks import judge as judges


def build_trainer(config: Config, run_dir: Path, **parts: Any) -> Trainer:
    """The Trainer of `config`, given what its task needs from outside the run. `parts`: what builds
    the `model` and the `data` (`torchlab.fit`) instead of the config's registries."""
    if "model" not in parts:  # before the data and the judge are read
        check_model_family(config)
    wants_judge = config.task.name == "adversarial" and isinstance(config.data, ImageDataConfig)
    resources = {"judge": load_judge(config.task.judge)} if wants_judge else {}
    return Trainer(config, run_dir, resources, **parts)


def load_judge(where: str | None) -> judges.Judge:
    """The classifier saved at `where` (a run directory or a checkpoint), else the default judge
    (trained into the cache the first time, and again when an older torchlab's no longer loads)."""
    if where:
        return judges.judge_from(user_path(where))
    cached = default_judge()  # its own errors (no MNIST, say) are not a reason to train it again
    try:
        return judges.judge_from(cached)
    except TorchlabError as err:
        print(f"the cached judge no longer loads ({err}); training it again")
        return judges.judge_from(default_judge(retrain=True))


def default_judge(retrain: bool = False) -> Path:
    """The cached judge run, trained now in this one process if absent or `retrain`, without touching
    this run's RNG streams. Under torchrun, before the process group forms, the ranks take turns
    under a file lock: the first trains it, the others find it."""
    recipe = "mnist-cnn" if "mnist-cnn" in recipe_names() else "mnist-mlp"
    run_dir = judges.JUDGE_CACHE / f"{recipe}-unsmoothed"
    judges.JUDGE_CACHE.mkdir(parents=True, exist_ok=True)
    with open(judges.JUDGE_CACHE / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if retrain or not (run_dir / "checkpoints" / "best.pt").is_file():
            print(f"training the judge of generated digits once: {recipe} into {run_dir}")
            states = rng_states(torch.Generator())
            tmp = Path(tempfile.mkdtemp(prefix=f".{recipe}.", dir=judges.JUDGE_CACHE))
            try:
                overrides = [
                    "task.label_smoothing=0",
                    "log.loggers=[]",
                    "log.progress=false",
                    *judges.JUDGE_OVERRIDES[recipe],
                ]
                train(load_recipe(recipe, overrides), tmp / "run")
                shutil.rmtree(run_dir, ignore_errors=True)
                (tmp / "run").replace(run_dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
                restore_rng_states(states, torch.Generator())
    return run_dir


def banner(trainer: Trainer) -> str:
    """One line before the first step: what trains, on what, where."""
    cfg, model = trainer.cfg, trainer.model
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)  # not frozen ones, nor an average
    processes = f" x {trainer.dist.world_size} processes" if trainer.dist.world_size > 1 else ""
    start = f"from epoch {trainer.epoch + 1} " if trainer.epoch else ""
    amp = f" ({trainer.amp} autocast)" if trainer.amp != "none" else ""
    return (
        f"{cfg.recipe}: {cfg.model.name} ({counted(params, 'trained parameter')}) on "
        f"{counted(trainer.data.train_size, 'training sample')}, {trainer.device}{amp}{processes}, "
        f"{start}into {trainer.run_dir}"
    )


def finished_run(trainer: Trainer) -> FinishedRun:
    """The view of a trained (or evaluated) run that its figures draw from."""
    trainer.set_training(False)
    return FinishedRun(
        config=trainer.cfg,
        run_dir=trainer.run_dir,
        info=trainer.data.info,
        model=trainer.model,
        task=trainer.task,
        device=trainer.device,
        test_loader=trainer.data.test_loader,
        test=trainer.test_outputs,
    )


def new_run_dir(recipe: str, device: str) -> Path:
    """The default run directory, rank 0's on every rank under torchrun (whose group is joined here
    for it): each rank's own clock could name another second."""
    setup_distributed(device)
    return Path(str(from_rank0(str(default_run_dir(recipe)))))


def recipe_runs(recipe: str) -> Path:
    """runs/RECIPE, the folder of a recipe's default run directories (RECIPE: a recipe file's name)."""
    return Path("runs") / (Path(recipe).name if Path(recipe).name not in ("", ".", "..") else "run")


def default_run_dir(recipe: str, create: bool = False) -> Path:
    """runs/RECIPE/YYYYmmdd-HHMMSS, with a suffix -1, -2... if that name is taken. With `create`,
    the folder is made here, atomically (`mkdir` fails if another process made it first: the next
    suffix is tried), so runs started together each get their own."""
    base, parent_gone = recipe_runs(recipe) / time.strftime("%Y%m%d-%H%M%S"), 0
    for n in itertools.count():
        run_dir = base.with_name(f"{base.name}-{n}") if n else base
        if not create:
            if not run_dir.exists():
                return run_dir
            continue
        try:
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
        except OSError as err:
            if isinstance(err, FileNotFoundError) and (parent_gone := parent_gone + 1) < 3:
                continue  # runs/RECIPE, made above, removed meanwhile by a refused run (`remove_made`)
            raise TorchlabError(f"cannot create the run directory {run_dir}: {err.strerror or err}") from None
    raise AssertionError("unreachable")


def train(config: Config, out: Path | None = None, **parts: Any) -> dict[str, Any]:
    """Train `config` into a new run directory and return its summary.

    `out` must be new, or an empty folder (or one torchlab left before writing config.yaml); the
    default is runs/RECIPE/TIMESTAMP. A run refused before it writes config.yaml (bad data, a model
    that cannot take them, a refusal of another rank) removes the folders it made: the run directory,
    and those above it that it had to make (runs/ among them)."""
    made, run_dir = made_for_run(config.recipe, out)
    try:
        if out is not None:
            check_new_run_dir(run_dir)
        logger_classes(config)  # loggers, data, model and monitor are checked before anything is written
        check_task_settings(config)
        trainer = build_trainer(config, run_dir, **parts)
        with trainer, contextlib.ExitStack() as held:  # a refusal: the lock as found (`run_lock`), the folders gone
            with refusals_shared():  # a rank's own memory or data may refuse where the others' do not
                check_before_training(trainer)
            with refusals_shared():  # rank 0's alone
                # checked again under the lock: two runs racing for one --out
                held.enter_context(own_run_dir(trainer, new_run=True))
                if trainer.dist.is_main:
                    if (trainer.run_dir / "config.yaml").exists():
                        raise TorchlabError(f"{run_dir} already holds a run: `torchlab resume {run_dir}` continues it")
                    save_config(config, trainer.run_dir / "config.yaml")
                    check_data(trainer)
            made = []  # config.yaml written: a run that fails from here keeps its directory
            return finish(trainer)
    except BaseException:
        remove_made(made)
        raise


def made_for_run(recipe: str, out: Path | None) -> tuple[list[Path], Path]:
    """(the folders this process makes for a new run, deepest first; the run directory). The default one
    is made here, by rank 0 alone; `out` later, under its lock, with the parents it lacks."""
    if out is not None:
        return missing_folders(out) if is_main_process() else [], out
    if not is_main_process():
        return [], default_run_dir(recipe)  # rank 0's name replaces it (`Trainer`)
    above = missing_folders(recipe_runs(recipe))
    run_dir = default_run_dir(recipe, create=True)
    return [run_dir, *above], run_dir


def check_before_training(trainer: Trainer) -> None:
    """Refuse what would fail once training runs, before it does (train and resume alike): gradients and
    optimiser states beyond the memory free, a model that cannot take the data (`Trainer.check_settings`)."""
    check_training_memory(trainer.optimizers)
    trainer.check_settings()


def own_run_dir(trainer: Trainer, new_run: bool = False) -> contextlib.AbstractContextManager:
    """The run directory's lock, held by the one process that writes it (rank 0 under torchrun); a
    `new_run`'s directory is made with it, another's must be there (`run_lock`)."""
    return run_lock(trainer.run_dir, new_run) if trainer.dist.is_main else contextlib.nullcontext()


PARTS = {"train": "training set", "val": "validation set", "test": "test set", "classes": "class names"}


def check_data(trainer: Trainer, parts: tuple[str, ...] = ("train", "val", "test")) -> None:
    """Record the data a run sees in split.json (`data_record`), or check that they are still the recorded
    ones: the train/val split, and the digests of `parts` and of the class names (eval needs only the test set)."""
    now, path = data_record(trainer.data), trainer.run_dir / "split.json"
    if not now:
        return
    if not path.is_file():
        if "train" in parts:  # what train and resume train on; eval and report only read the record
            atomic_write_json(path, now)
        return
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(recorded, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as err:  # not UTF-8, not JSON, not a JSON object
        raise TorchlabError(f"{path} is damaged ({type(err).__name__}); delete it to record the split again") from None
    was, seen = recorded.pop("contents", None) or {}, now.pop("contents", {})  # runs before the digests have none
    if recorded != now:
        raise TorchlabError(f"the config of {trainer.run_dir} now gives another train/val split than {path} records")
    changed = [PARTS[part] for part in (*parts, "classes") if part in was and was[part] != seen.get(part)]
    if changed:
        listed = ", ".join(changed[:-1]) + (" and " if len(changed) > 1 else "") + changed[-1]
        raise TorchlabError(
            f"the data differ from those {trainer.run_dir} saw: its {listed} changed since {path} recorded them; "
            "point --data-dir at the data it trained on, or train a new run on these"
        )


def finish(trainer: Trainer) -> dict[str, Any]:
    """Fit, then draw the run's figures into plots/ and write report.html from them (rank 0 only).

    A diverged run still gets its learning curves and report (the weights are NaN: no other figure)."""
    if trainer.dist.is_main and not trainer.cfg.log.quiet:
        print(banner(trainer), flush=True)
    collector.start_up_done()
    try:
        summary = trainer.fit()
        barrier()  # every rank done: see `barrier`
    except DivergedError:
        if trainer.dist.is_main:
            draw_figures(finished_run(trainer), trainer.run_dir / "plots", names=("learning-curves",))
            write_run_report(trainer.run_dir)
        raise
    if trainer.dist.is_main:
        draw_report(trainer)
    return summary


def draw_report(trainer: Trainer) -> Path:
    """Draw a tested run's figures into plots/ and write report.html from them; returns its path. A
    signal meanwhile stops at once (`engine/interrupt.py: PHASES`): `torchlab report RUN` draws them again."""
    from torchlab.loggers import log_figures  # here: the rest of api needs only logger_classes

    with graceful_stop() as stop, stop.during("figures"):
        stop.run_dir = trainer.run_dir
        plots = trainer.run_dir / "plots"
        with unsharded():  # rank 0 draws them, from the whole test set
            draw_figures(finished_run(trainer), plots)
        log_figures(trainer.run_dir, trainer.cfg, sorted(plots.glob("*.png")))  # TensorBoard's images
        return write_run_report(trainer.run_dir)


def report(run_dir: Path) -> Path:
    """RUN_DIR/report.html; drawn again with the run's figures when it is missing (a run stopped while
    drawing them): best.pt is tested again, exactly as at the end of training, and nothing else changes."""
    config = load_run_config(run_dir)
    path = run_dir / "report.html"
    if path.is_file():
        return path
    if not finished(run_dir):
        raise TorchlabError(unfinished(run_dir, config, "draws its report"))
    with for_checkpoint():
        trainer = build_trainer(config, run_dir)
    with trainer, own_run_dir(trainer):
        check_data(trainer, parts=("test",))
        with trainer.memory_named("testing", training=False):
            trainer.test_best()  # the test outputs that the figures draw from
        return draw_report(trainer)


def train_or_continue(config: Config, run_dir: Path) -> dict[str, Any]:
    """Train `config` into `run_dir`, or finish the run of the same config that `run_dir` holds."""
    if not (run_dir / "config.yaml").exists():
        return train(config, run_dir)
    if load_run_config(run_dir) != config:
        raise TorchlabError(f"{run_dir} holds a run of another config; pick another --out")
    if finished(run_dir):
        print(f"{run_dir}: finished before, kept")
        return json.loads((run_dir / "summary.json").read_text())
    print(f"{run_dir}: resuming")
    return resume(run_dir)


def unfinished(run_dir: Path, config: Config, then: str) -> str:
    """Why `run_dir`, which has not finished, cannot be read yet, and what continues it and `then`."""
    refuse_in_use(run_dir)  # training now: the message names the process
    resume = config.continued_by(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        status, resume = summary["status"], summary.get("resume") or resume  # in torchrun, if it stopped so
    except FileNotFoundError:
        status = "stopped before its summary was written"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return (
            f"{run_dir / 'summary.json'} is damaged ({type(err).__name__}); `torchlab resume {run_dir}` writes it again"
        )
    if status == "diverged":
        return f"{run_dir} diverged: its model is NaN (report.html holds its learning curves)"
    return f"{run_dir} has not finished ({status}): `{resume}` finishes it and {then}"


def checkpoint_of(run_dir: Path, config: Config, name: str, then: str, read_other: Callable[[str], str]) -> Path:
    """checkpoints/NAME.pt of the run; where it is missing, a TorchlabError saying why (no epoch ended:
    stopped, diverged; or deleted) with what continues the run and `then`, and, where the other checkpoint
    (best.pt, last.pt) is there, `read_other(its name)`: how the caller reads it instead."""
    path = run_dir / "checkpoints" / f"{name}.pt"
    if path.exists():
        return path
    other = "last" if name == "best" else "best"
    there = (run_dir / "checkpoints" / f"{other}.pt").exists()
    instead = f"; {other}.pt is there: {read_other(other)}" if there else ""
    if not finished(run_dir):
        raise TorchlabError(unfinished(run_dir, config, then) + instead)
    raise TorchlabError(f"{path} is missing, though {run_dir} finished{instead}")


def export(run_dir: Path, fmt: str, out: Path | None = None, checkpoint: str = "best") -> Path:
    """`torchlab export`: the run's best (or last) weights as `fmt` (torchlab.export); returns the file."""
    then, read_other = f"writes its {checkpoint}.pt", lambda other: f"`--checkpoint {other}` exports it"
    checkpoint_of(run_dir, load_run_config(run_dir), checkpoint, then, read_other)
    return export_weights(run_dir, fmt, out, checkpoint)


def finished(run_dir: Path) -> bool:
    """Whether the run's summary.json says it trained to the end (not interrupted, killed or failed)."""
    try:
        return json.loads((run_dir / "summary.json").read_text())["status"] in ("completed", "early_stopped")
    except (OSError, ValueError, KeyError, TypeError):
        return False


def check_cv_dir(parent: Path) -> None:
    """A TorchlabError unless `parent` can take a cross-validation: new, empty, or holding only the
    fold-K runs of one that stopped (each is checked against its fold's config as it comes)."""
    refuse_inside_another(parent.absolute())
    if (parent / "cv_summary.json").exists():
        raise TorchlabError(f"{parent} already holds a cross-validation; pick another --out")
    if (parent / "config.yaml").exists():
        raise TorchlabError(f"{parent} is a run directory, not a cross-validation's folder; pick another --out")
    if not parent.is_dir():
        check_new_run_dir(parent)  # a file, a path too long or unwritable: refused
        return
    others = sorted(name for name in os.listdir(parent) if not re.fullmatch(r"fold-\d+", name))
    if others:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        raise TorchlabError(
            f"{parent} holds {others[0]!r}{more}, which no cross-validation wrote: `torchlab cv` writes only "
            "into a new or empty folder, or one where a cross-validation stopped; pick another --out"
        )


def resume(
    run_dir: Path, epochs: int | None = None, data_dir: str | None = None, quiet: bool = False, **parts: Any
) -> dict[str, Any]:
    """Continue an interrupted run from checkpoints/last.pt (to `epochs` in all, if given), reading
    its data from `data_dir` if the data has moved. `parts`: the `model` and `data` of a
    `torchlab.fit` run that only Python holds."""
    config = with_data_dir(load_run_config(run_dir), data_dir)
    if quiet:
        config.log.quiet, config.log.progress = True, False
    planned = config.train.epochs
    if epochs is not None:
        if epochs < 1:
            raise TorchlabError(f"epochs (--epochs): expected 1 or more, got {epochs}")
        config.train.epochs = epochs
    continued = (run_dir / "checkpoints" / "last.pt").exists()  # else it starts over, pretrained weights and all
    with for_checkpoint() if continued else contextlib.nullcontext():
        trainer = build_trainer(config, run_dir, **parts)
    if epochs is not None and epochs > planned and any(s.planned for s in trainer.schedules.values()):
        raise TorchlabError(
            f"schedule {config.schedule.name} is planned over train.epochs={planned} of {run_dir} and cannot "
            f"stretch to {epochs} epochs: train a new run with train.epochs={epochs}"
        )
    with trainer, contextlib.ExitStack() as held:
        with refusals_shared():  # the lock and split.json: rank 0's alone
            held.enter_context(own_run_dir(trainer))
            check_resumable(trainer, run_dir, epochs)
        if trainer.dist.is_main:
            save_config(config, run_dir / "config.yaml")
        return finish(trainer)


def check_resumable(trainer: Trainer, run_dir: Path, epochs: int | None) -> None:
    """Load last.pt into `trainer`, or refuse: what train refuses (its data or this host may have changed;
    checked before the state is loaded, which the checks keep), a run that cannot restart, `epochs` below
    those trained, other data than split.json records, a run finished (or stopped early) with nothing left."""
    check_before_training(trainer)
    last = run_dir / "checkpoints" / "last.pt"
    if last.exists():
        trainer.load_state_dict(load_checkpoint(last), last)
    else:  # killed inside its first epoch: it starts again, unless it had trained (then refused)
        refuse_restart(run_dir)
    if epochs is not None and epochs < trainer.epoch:
        raise TorchlabError(
            f"{counted(epochs, 'epoch')} in all (--epochs) is below the {counted(trainer.epoch, 'epoch')} "
            f"{run_dir} already trained; ask for {trainer.epoch} or more"
        )
    if finished(run_dir) and (why := nothing_to_resume(run_dir, trainer)):  # else killed while testing: test now
        raise TorchlabError(why)
    if trainer.dist.is_main:  # last: where split.json is missing, it is written, and nothing may refuse after that
        check_data(trainer)


def nothing_to_resume(run_dir: Path, trainer: Trainer) -> str:
    """Why a finished run, its last.pt loaded, has nothing left to train, and what trains it longer; ''
    when it has epochs left. Early stopping met stays met: more epochs are refused for it too."""
    train, trained = trainer.cfg.train, counted(trainer.epoch, "epoch")
    if train.patience and trainer.bad_epochs >= train.patience:
        return (
            f"{run_dir} stopped early after {trained}: {train.monitor} had not improved for "
            f"{counted(trainer.bad_epochs, 'epoch')} (train.patience={train.patience}), so nothing is left to resume; "
            f"its best model, of epoch {trainer.best['epoch']}, is checkpoints/best.pt. To train longer, train a new "
            "run with a larger train.patience"
        )
    if trainer.epoch < train.epochs:
        return ""
    if any(schedule.planned for schedule in trainer.schedules.values()):
        further = f"its {trainer.cfg.schedule.name} schedule ends there: train a new run with more train.epochs"
    else:
        further = f"`torchlab resume {run_dir} --epochs N` trains it on to N epochs in all"
    return f"{run_dir} finished all {trained} of its train.epochs, so nothing is left to resume; {further}"


def with_data_dir(config: Config, data_dir: str | None) -> Config:
    """`config` reading its data from `data_dir` where one is given (an empty one names no folder)."""
    if data_dir is not None:
        not_blank("data", root=data_dir)  # the config's own check, which an assignment skips
        config.data.root = data_dir
    return config


def evaluate(
    run_dir: Path, data_dir: str | None = None, device: str | None = None, weights: Path | None = None
) -> dict[str, float]:
    """Test metrics of a run's best.pt (or of `weights`: a .safetensors or .pt state dict of the
    same model), computed as at the end of training."""
    config = with_data_dir(load_run_config(run_dir), data_dir)
    if device:
        config.train.device = device

    def read_other(name: str) -> str:
        return f"`torchlab eval {run_dir} --weights {run_dir / 'checkpoints' / f'{name}.pt'}` tests it"

    path = weights or checkpoint_of(run_dir, config, "best", "tests it", read_other)
    state = weights_state(path) if weights else load_checkpoint(path)
    with for_checkpoint():
        trainer = build_trainer(config, run_dir)
    with trainer:
        with unsharded():  # as the test pass sees it, whole on every rank
            empty = len(trainer.data.test_loader()) == 0
            if empty:
                raise TorchlabError(f"{run_dir} has no test set to evaluate on (torchlab.fit was given none)")
            trainer.check_lone_eval_sample(("test",))  # other data (--data-dir) may leave one alone
        check_data(trainer, parts=("test",))
        load_weights(trainer.model, state, path)
        trainer.keep_amp_of(state)
        with trainer.memory_named("evaluating", training=False):
            return trainer.test()


def compare(run_dirs: list[Path], out: Path | None = None) -> Path:
    """A comparison page of runs (config keys that differ, metrics, curves overlaid); returns its path."""
    if out is not None and (owner := torchlab_folder(out)):  # its report.html, or a file in it, is its own
        what = "a run directory" if owner == out.resolve() else f"inside {owner}"
        raise TorchlabError(f"{out} is {what}: a run's or cross-validation's files are its own; pick another --out")
    if out is not None:
        check_output_folder(out, "--out")
    return write_comparison(run_dirs, out or default_run_dir("compare"))


def cross_validate(config: Config, folds: int, out: Path | None = None) -> dict[str, Any]:
    """K-fold cross-validation over the training set: one run per fold in `out/fold-K`.

    Each fold trains on K-1 parts, validates on the held-out part (`data.folds`, `data.fold` in
    its config.yaml) and tests its best model on the test set. cv_summary.json holds the mean
    and sample standard deviation of every metric over the folds. Run again with the same `out`
    and config, it continues a cross-validation that stopped: finished folds are kept, an
    interrupted one resumes, the missing ones train. `out/report.html` shows the folds side by side.
    """
    if folds < 2:
        raise TorchlabError(f"--folds must be at least 2, got {folds}")
    parent = out or new_run_dir(config.recipe, config.train.device)
    check_cv_dir(parent)
    runs = []
    for fold in range(folds):
        fold_config = copy.deepcopy(config)
        fold_config.data.folds, fold_config.data.fold = folds, fold
        try:
            runs.append(train_or_continue(fold_config, parent / f"fold-{fold}"))
        except Interrupted as stop:  # the fold's own message would name `torchlab resume` of that fold only
            again = f"{reproduce_cv(config.to_dict(), folds, parent, every_key=True)} --out {shlex.quote(str(parent))}"
            again = launched(again, stop.processes)
            raise Interrupted(
                stop.signum,
                f"in fold {fold} of {folds}: `{again}` continues it, keeping the finished folds",
                stop.processes,
            ) from None

    def stats(part: str) -> dict[str, dict[str, Any]]:
        values = {metric: [run[part][metric] for run in runs] for metric in runs[0][part]}
        return {m: {"mean": statistics.mean(v), "std": statistics.stdev(v), "folds": v} for m, v in values.items()}

    summary = {
        "recipe": config.recipe,
        "folds": folds,
        "val": stats("val"),
        "test": stats("test"),
        "epochs": [run["epochs"] for run in runs],
        "best_epochs": [run["best_epoch"] for run in runs],
        "run_dirs": [run["run_dir"] for run in runs],
        "run_dir": str(parent),
    }
    if not is_main_process():
        return {**summary, "report": str(parent / "report.html")}
    atomic_write_json(parent / "cv_summary.json", summary)
    from torchlab.report.pages import write_cv_page  # here: the rest of api needs two page writers

    return {**summary, "report": str(write_cv_page(summary, parent))}
