"""The Trainer: runs a task's steps over the data, validates, checkpoints, tests the best.

It knows nothing of any particular model or task (their contract: `torchlab.tasks`). It owns
every wrapper: it wraps each network the task names (channels_last, torch.compile, DDP) and
enters autocast around each step. One run directory holds what it writes: config.yaml (by the
caller), metrics.jsonl, summary.json and checkpoints/{last,best}.pt. Under torchrun every rank
trains on its shard of the data, with its own random streams, and validates and tests on the whole
validation and test sets (their figures are then one process's); rank 0 alone writes.
"""

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchlab.config import Config
from torchlab.core.checkpoint import load_checkpoint, load_weights, save_checkpoint
from torchlab.core.distributed import (
    all_reduce_sum,
    any_rank,
    barrier,
    data_parallel,
    from_rank0,
    gather_objects,
    join,
    max_over_ranks,
    refusals_shared,
    shard,
    this_process,
    unsharded,
)
from torchlab.core.errors import DivergedError, TorchlabError, did_you_mean, memory_named, memory_refusal, out_of_memory
from torchlab.core.files import atomic_write, atomic_write_json
from torchlab.core.metrics import RunningMeans
from torchlab.core.runtime import (
    keep_freed_memory,
    rank_seed,
    resolve_amp,
    restore_rng_states,
    rng_states,
    seed_everything,
    warn_of_other_threads,
)
from torchlab.core.words import counted
from torchlab.data import (
    Batch,
    DataModule,
    Loader,
    WithoutLoneSample,
    batch_size_of,
    build_data,
    close_data,
    samples_in,
)
from torchlab.data.text import first_samples
from torchlab.engine.bookmark import Bookmark
from torchlab.engine.interrupt import Interrupted, StopRequest, graceful_stop
from torchlab.engine.optim import build_optimizer, build_schedule
from torchlab.loggers import build_loggers
from torchlab.loggers.console import number, progress, short_name
from torchlab.models import build_model
from torchlab.models.size import check_device_memory
from torchlab.tasks import build_task
from torchlab.tasks.first_batch import (
    check_first_batch,
    check_training_batch,
    lone_batch_failure,
    lone_sample_failure,
)


def parameters_of(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every parameter the optimiser updates, over all its parameter groups."""
    return [p for group in optimizer.param_groups for p in group["params"]]


class Trainer:
    def __init__(
        self,
        cfg: Config,
        run_dir: Path,
        resources: dict[str, Any] | None = None,
        *,
        model: Callable[[], nn.Module] | None = None,
        data: Callable[[torch.device], DataModule] | None = None,
    ) -> None:
        """`resources`: what the task needs from outside the run (a GAN's judge), prepared by the api.
        `model()`, `data(device)`: given by the caller (`torchlab.fit`) instead of built from the config;
        both are called after seeding, so the run's seed covers a model's initial weights."""
        self.cfg, train = cfg, cfg.train
        self.dist = this_process(train.device)  # under torchrun: this rank's device; rank 0 writes
        self.device = self.dist.device
        seed_everything(rank_seed(train.seed, self.dist.rank), train.deterministic)
        keep_freed_memory()
        self.data = data(self.device) if data else build_data(cfg.data, self.device)
        # The plain model (checkpoints, figures); the task's networks may wrap it below.
        built = model() if model else build_model(cfg.model, self.data.info)
        check_device_memory(built, self.device)
        self.model = built.to(self.device)
        if train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        on_device = {k: v.to(self.device) if isinstance(v, nn.Module) else v for k, v in (resources or {}).items()}
        self.task = build_task(cfg.task, self.model, self.data.info, on_device)
        # Under torchrun, the group is joined once every rank has built its data, model and task: a
        # refusal met by any rank until here ends every rank at once, said by rank 0.
        join(self.dist)
        self.run_dir = Path(from_rank0(str(run_dir)))
        self.task.nets = {name: self.wrap(name, net) for name, net in self.task.networks().items()}
        self.optimizers = {
            name: build_optimizer(cfg.optim, params) for name, params in self.task.parameter_groups().items()
        }
        self.generator = torch.Generator().manual_seed(train.seed)  # shuffling order: the same on every rank
        self.use_amp(from_rank0(resolve_amp(train.amp, self.device)))  # rank 0's timing decides `auto`
        with memory_named("checking the training step on a lone sample", "a batch of one"):
            self.lone_sample_failure = self.fails_on_lone_sample()
        steps_per_epoch = len(self.train_loader())
        self.schedules = {
            name: build_schedule(cfg.schedule, opt, train, steps_per_epoch) for name, opt in self.optimizers.items()
        }
        self.lr = {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}  # of the last step
        # L1 penalises weights only by default: biases and normalisation parameters are 1-D.
        self.l1_params = {
            name: [p for p in parameters_of(opt) if p.ndim > 1 or train.l1_params == "all"]
            for name, opt in self.optimizers.items()
        }
        # With several optimisers (a GAN's generator and critic), a step's backward fills only its own
        # group's gradients: the generator's step then skips the critic's weight gradients, which the
        # critic's next step would zero unread. Not under DDP: its reducer waits for the gradients of
        # every parameter of a network that ran forward, and would fail the next step without them.
        several = len(self.optimizers) > 1 and self.dist.world_size == 1
        self.backward_into = {
            name: [p for p in parameters_of(opt) if p.requires_grad] if several else None
            for name, opt in self.optimizers.items()
        }
        # Reading the loss costs a device sync on accelerators: check it every step on the CPU only.
        self.check_every = 1 if self.device.type == "cpu" else train.log_every
        self.epoch = self.step = self.bad_epochs = 0
        self.best: dict[str, Any] = {"value": None, "epoch": None, "metrics": {}}
        self.best_saved = dict(self.best)  # what checkpoints/best.pt holds
        # train_samples: every step's, epoch_samples: the last whole epoch's (None before one), over all ranks
        self.clock = {"train_seconds": 0.0, "train_samples": 0, "wall_seconds": 0.0, "epoch_samples": None}
        self.stop = StopRequest()  # set by SIGINT/SIGTERM while fit() runs
        self.bookmark = Bookmark(self.generator)  # where in an epoch a stop left the run
        self.test_outputs: dict[str, torch.Tensor] = {}  # the task's per-sample test outputs, whole set

    def __enter__(self) -> "Trainer":
        return self

    def __exit__(self, *exc: object) -> None:
        """Done with the run: its data's worker processes end (a notebook goes on without them)."""
        close_data(self.data)

    def wrap(self, name: str, net: nn.Module) -> nn.Module:
        """One of the task's networks as training calls it: compiled and under DDP, as configured."""
        if self.cfg.train.compile and name not in self.task.eager_networks:
            net = torch.compile(net)
        if self.dist.world_size > 1:
            net = data_parallel(net)
        return net

    # -- one optimisation step, handed to the task ------------------------------------------
    def optimize(self, loss: torch.Tensor, group: str = "model") -> None:
        optimizer, train = self.optimizers[group], self.cfg.train
        if train.l1:
            loss = loss + train.l1 * sum(p.abs().sum() for p in self.l1_params[group])
        optimizer.zero_grad(set_to_none=True)
        scaling = self.scaler.is_enabled()
        (self.scaler.scale(loss) if scaling else loss).backward(inputs=self.backward_into[group])
        if train.clip_grad_norm or train.clip_grad_value:
            self.scaler.unscale_(optimizer)
            params = parameters_of(optimizer)
            if train.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, train.clip_grad_norm)
            if train.clip_grad_value:
                torch.nn.utils.clip_grad_value_(params, train.clip_grad_value)
        if scaling:
            self.scaler.step(optimizer)
            # After every step, not once per batch: a task may step one optimiser several times
            # per batch (a GAN's n_critic), and GradScaler allows one step per optimiser between updates.
            self.scaler.update()
        else:
            optimizer.step()
        self.lr[group] = optimizer.param_groups[0]["lr"]
        self.schedules[group].step_batch()

    # -- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to `train.epochs` (or an early stop), then test the best checkpoint. A signal in
        any phase is handled as `engine/interrupt.py: PHASES` says; summary.json is written in all."""
        loggers: list = []
        status, test, started, wall_before = "failed", {}, time.perf_counter(), self.clock["wall_seconds"]
        try:
            with graceful_stop() as self.stop, self.memory_named():
                self.stop.run_dir = self.run_dir
                with self.stop.during("start-up"):
                    loggers = build_loggers(self.run_dir, self.cfg) if self.dist.is_main else []
                with self.stop.during("training"):
                    self.note_kept()
                    status = self.run_epochs(loggers, started, wall_before)
                with self.stop.during("test"):
                    test = self.test_best()
                    for logger in loggers:
                        logger.log_metrics(test, self.step, self.epoch, "test")
        except DivergedError:
            status = "diverged"
            raise
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            self.clock["wall_seconds"] = wall_before + time.perf_counter() - started
            summary = self.summary(status, test)
            if self.dist.is_main:
                try:
                    atomic_write_json(self.run_dir / "summary.json", summary)
                except TorchlabError:  # a full disk: the error that stopped the run, if any, says more
                    if status in ("completed", "early_stopped"):
                        raise
            for logger in loggers:
                logger.finish(summary)
        return summary

    def run_epochs(self, loggers: list, started: float, wall_before: float) -> str:
        """The epochs from `self.epoch` on; returns "completed" or "early_stopped"."""
        train = self.cfg.train
        if train.epochs == 0 and self.epoch == 0:  # an untrained baseline: eval, export and resume start from it
            self.best["epoch"] = 0
            self.save("best", "last")
        while self.epoch < train.epochs:
            train_metrics = self.train_epoch(loggers)
            if self.bookmark.stopped:  # stopped mid-epoch by a signal: save exactly where
                self.clock["wall_seconds"] = wall_before + time.perf_counter() - started
                self.save("last")
                raise self.interrupted()
            val = self.validate()
            self.epoch += 1
            improved = self.update_best(val)
            for logger in loggers:
                logger.log_metrics({**train_metrics, **val, **self.learning_rates()}, self.step, self.epoch, "epoch")
                logger.log_model(self.model, self.step, self.epoch)  # weights and the last step's gradients
            self.log_preview([logger for logger in loggers if logger.wants_preview])
            for schedule in self.schedules.values():
                schedule.step_epoch(val.get(train.monitor))
            self.clock["wall_seconds"] = wall_before + time.perf_counter() - started
            if self.dist.is_main:
                self.save_snapshot()
            self.save(*(("best", "last") if improved else ("last",)))
            if train.patience and self.bad_epochs >= train.patience and self.epoch < train.epochs:
                return "early_stopped"
            if any_rank(self.device, self.stop.requested)[0]:  # in the last epoch too: resume then tests
                raise self.interrupted()
        return "completed"

    def resume_processes(self) -> int:
        """How many processes resume this run: one stopped inside an epoch as many as it ran in (its
        shards were cut for them), else any number, one for short."""
        return self.dist.world_size if self.bookmark.state_dict() is not None else 1

    def continued_by(self) -> str:
        """The call that resumes this run."""
        return self.cfg.continued_by(self.run_dir, self.resume_processes())

    def how_to_continue(self) -> str:
        """The call that resumes this run, quoted, for a message."""
        return f"`{self.continued_by()}`" + (" of the same model and data" if self.cfg.python_only else "")

    def interrupted(self) -> Interrupted:
        how = self.how_to_continue()
        where = f"at step {self.step}; checkpoints/last.pt holds it"
        # The signal may have reached one rank alone (a `kill` of its pid); every rank stops by it.
        signum = max_over_ranks(self.device, self.stop.signum or 0)
        return Interrupted(signum, f"{where}: {how} continues exactly", self.resume_processes())

    def note_kept(self) -> None:
        """Tell the stop request what a second signal, which stops training at once (in a step, a
        Dataset's read, a logger's call), leaves: the last checkpoint, if any, named in its message."""
        how = self.how_to_continue()
        if (self.run_dir / "checkpoints" / "last.pt").is_file():
            kept = f"checkpoints/last.pt holds step {self.step} (epoch {self.epoch}): {how} continues"
        else:
            kept = f"before the first checkpoint: {how} starts it again"
        self.stop.kept = f"a second time, during training; {kept}"

    def train_samples_per_process(self) -> int:
        """The training samples each process sees every epoch (its shard under torchrun, padded)."""
        return len(shard(torch.arange(self.data.train_size), pad=True))

    def fails_on_lone_sample(self) -> str | None:
        """How the task's training step fails on the batch of one sample each epoch would end in (in each
        process), in `one_sample_failure`'s words: a BatchNorm seeing one value per channel, a forward that
        squeezes the batch axis away, a loss over the batch's spread; None where no epoch ends so, or the
        step takes one sample. The ranks, whose shards may differ (sentences' lengths), decide as one: they
        take as many steps. Resume and eval decide as train does (the same seed draws the same first batch).
        A training set of one batch of one is the first-batch check's."""
        samples = self.train_samples_per_process()
        if samples < 2 or samples % self.cfg.data.batch_size != 1:
            return None
        with refusals_shared():  # a rank's own data may refuse where the others' do not
            failure = lone_sample_failure(self.task, self.first_training_batch, self.autocast)
        return next((each for each in gather_objects(failure) if each), None)  # each rank's shard

    def train_loader(self) -> Loader:
        """This epoch's training batches, without a lone last sample where the training step fails on it."""
        loader = self.data.train_loader(self.generator)
        return WithoutLoneSample(loader) if self.lone_sample_failure else loader

    @contextmanager
    def memory_named(self, where: str | None = None, training: bool | None = None) -> Iterator[None]:
        """Within it, running out of memory is a TorchlabError naming the batch size that asked for it (that
        of training where `training`, by default where `where` is not given and the model is in train mode),
        the remedy, and what a resume takes up (`memory_refusal`); `where`: the epoch and step by default.
        What was saved stays (summary.json: "failed")."""
        try:
            yield
        except (MemoryError, RuntimeError) as err:
            if out_of_memory(err) is None:
                raise
            if training is None:
                training = self.model.training and where is None
            setting = "data.batch_size" if training else "data.eval_batch_size"
            where = where or (f"at epoch {self.epoch + 1}, step {self.step + 1}" if training else "evaluating")
            size = self.cfg.data.batch_size if training else self.cfg.data.eval_batch_size
            resume = f"{self.how_to_continue()} continues from there"
            kept = f"; checkpoints/last.pt keeps epoch {self.epoch}: {resume}" if self.epoch else ""
            raise TorchlabError(memory_refusal(err, where, f"{setting}={size}", setting, kept)) from None

    def train_epoch(self, loggers: list) -> dict[str, float]:
        self.set_training(True)
        means = RunningMeans(over_ranks=True)  # each rank trains on its shard
        self.bookmark.begin_epoch()
        loader = self.train_loader()
        batches = iter(loader)
        done, logged = self.bookmark.skip_done(batches, means, self.device)  # resuming a stopped epoch
        desc = f"epoch {self.epoch + 1}/{self.cfg.train.epochs}"
        bar = progress(batches, len(loader) - done, desc, self.cfg.log.progress)
        started, counted = time.perf_counter(), means.count
        for batch in bar:
            with self.autocast():
                metrics = self.task.training_step(batch, self.optimize)  # forward, loss, self.optimize
            self.step, done = self.step + 1, done + 1
            means.add(metrics, batch_size_of(batch))
            stopping = self.check(metrics["loss"], batch)
            if self.step % self.cfg.train.log_every == 0:
                recent = {f"train.{k}": v for k, v in means.means(since=logged).items()}
                bar.set_postfix({short_name(k.split(".")[1]): number(v) for k, v in recent.items()})
                for logger in loggers:
                    logger.log_metrics({**recent, **self.learning_rates()}, self.step, self.epoch, "step")
                logged = means.snapshot()
            if stopping:
                self.bookmark.mark(done, means, logged)
                break
        self.clock["train_seconds"] += time.perf_counter() - started
        self.count_samples(means.count, means.count - counted)
        return {f"train.{k}": v for k, v in means.means().items()}

    def count_samples(self, epoch: int, trained: int) -> None:
        """Add to the clock, over all ranks, the samples this session `trained` in the epoch (so that the
        throughput is the run's, not rank 0's share) and, once the epoch is whole, its `epoch` samples:
        a stopped epoch's part is no epoch."""
        epoch_total, trained_total = all_reduce_sum(torch.tensor([epoch, trained], device=self.device)).tolist()
        self.clock["train_samples"] += trained_total
        if not self.bookmark.stopped:
            self.clock["epoch_samples"] = epoch_total

    def check(self, loss: torch.Tensor, batch: Batch) -> bool:
        """After a step on `batch`: raise DivergedError if the loss is not finite; say whether a signal asked to stop.

        Reading the loss syncs with an accelerator, so there it is read every `log_every` steps.
        Under torchrun the ranks agree (one small all-reduce) and only at those steps, so that
        every rank stops, or diverges, at the same step."""
        checked = self.step % self.check_every == 0
        if self.dist.world_size > 1 and not checked:
            return False
        stop, diverged = any_rank(self.device, self.stop.requested, checked and not math.isfinite(loss.item()))
        if diverged:
            kept = "checkpoints/last.pt keeps the last good epoch" if self.epoch else "no epoch had finished"
            raise DivergedError(
                f"loss became {loss.item()} at epoch {self.epoch + 1}, step {self.step}; "
                f"the run stopped and {kept} ({divergence_hint(batch)})"
            )
        return stop

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """The validation figures of the model now, which pick the best epoch: the means of the task's
        validation steps over the batches, and its figures of the whole set (`validation_metrics`).

        As the test pass does (`test`), every rank validates the whole validation set, in one process's
        batches, drawing from `train.seed` (a VAE's latent samples; a GAN's come from noise of its own), so
        the figures and the best epoch are one process's (on shards each rank drew its own), and every
        epoch draws the same ones. Rank 0's figures are every rank's: BatchNorm statistics stay per rank, and the ranks
        must agree on the best epoch and on early stopping."""
        self.set_training(False)
        means = RunningMeans()
        with self.seeded(), unsharded():
            for batch in self.data.val_loader():
                with self.autocast():
                    means.add(self.task.validation_step(batch), batch_size_of(batch))
            with self.autocast():  # the task's figures of the whole set; none without one
                whole = self.task.validation_metrics(self.data.val_loader()) if means.count else {}
        return from_rank0({f"val.{k}": v for k, v in {**means.means(), **whole}.items()})

    @contextmanager
    def seeded(self) -> Iterator[None]:
        """Random draws from `train.seed` inside the block; the global RNG is left as it was."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.cfg.train.seed)
            yield

    def set_training(self, mode: bool) -> None:
        """Train or eval mode for the model and every wrapper around its networks."""
        self.model.train(mode)
        for net in self.task.nets.values():
            net.train(mode)

    @torch.no_grad()
    def log_preview(self, loggers: list) -> None:
        """Show the loggers that want it (rank 0's) the first `log.preview` validation samples, those of
        one process rather than of rank 0's shard (whatever `data.eval_batch_size`), and what the model
        makes of them."""
        shown = self.cfg.log.preview
        with unsharded():
            batch = first_samples(self.data.val_loader(), shown) if loggers and shown else None
        if batch is None:
            return
        with self.autocast():
            preview = self.task.preview(batch, shown)
        for logger in loggers if preview else ():
            logger.log_preview(preview, self.step, self.epoch)

    @torch.no_grad()
    def save_snapshot(self) -> None:
        """The task's end-of-epoch tensors (model in eval mode), for figures drawn after the run."""
        with self.autocast():
            snapshot = self.task.epoch_snapshot()
        if snapshot:
            path = self.run_dir / "snapshots" / f"epoch-{self.epoch:03d}.pt"
            atomic_write(path, lambda f: torch.save(snapshot, f))

    # -- best model, learning rates, early stopping -----------------------------------------
    def check_settings(self) -> None:
        """Refuse, before the first epoch and not after training, a setting the data cannot honour:
        inputs of another precision than the model's, a model that cannot take a batch, a
        `train.monitor` that validation does not report, a model that fails in training on a training
        batch, a task setting the test data rules out."""
        with unsharded():  # as validation and the test see them
            batch = next(iter(self.data.val_loader()), None)
            first = batch if batch is not None else next(iter(self.data.test_loader()), None)
            self.check_precision(first)
            with self.memory_named("on the first validation batch"):
                metrics = check_first_batch(
                    self.task, first, self.autocast
                )  # the one pass over a batch before training
            self.check_monitor(batch, [f"val.{name}" for name in (*metrics, *self.task.validation_metric_names())])
            self.task.check_test_data(self.data.test_loader())
            self.check_lone_eval_sample()
        with self.memory_named("on the first training batch", training=True):
            check_training_batch(self.task, self.first_training_batch, self.autocast)
        if self.lone_sample_failure and self.dist.is_main:
            warnings.warn(self.lone_sample_left_out(), stacklevel=2)

    def check_lone_eval_sample(self, splits: tuple[str, ...] = ("validation", "test")) -> None:
        """Refuse, before training, a validation or test set whose last batch is one sample on which the
        task's step fails in eval mode (a forward that squeezes the batch axis away): it would crash the
        first epoch's validation, or the test after training, and evaluation leaves no sample out. The
        refusal names the failure and a data.eval_batch_size that leaves no sample alone. Whole sets (call
        it `unsharded`), as evaluation sees them."""
        loaders = {"validation": self.data.val_loader(), "test": self.data.test_loader()}
        sizes = {split: samples_in(loader) for split, loader in loaders.items()}
        size = self.cfg.data.eval_batch_size
        for split in splits:
            if (samples := sizes[split]) is None:
                continue
            with self.memory_named(f"on one {split} sample", training=False):
                first = lambda loader=loaders[split]: next(iter(loader))  # noqa: E731  (drawn only where needed)
                others = [n for n in sizes.values() if n is not None]
                lone = lone_batch_failure(self.task, first, split, samples, size, others, self.autocast)
            if lone is None:
                continue
            failure, fix = lone
            more = f"give the {split} set more samples"
            mend = f"set data.eval_batch_size={fix}, which leaves none alone" if fix else more
            raise TorchlabError(
                f"the {split} set's {counted(samples, 'sample')} in batches of {size} (data.eval_batch_size) end "
                f"in a batch of one sample, on which {failure}; evaluation leaves no sample out: {mend}, or make "
                "the model take one sample"
            )

    def lone_sample_left_out(self) -> str:
        """The warning of a run whose epochs leave out their lone last sample: how many, and why."""
        per_process = f", {self.train_samples_per_process():,} per process," if self.dist.world_size > 1 else ""
        return (
            f"{self.data.train_size:,} training samples{per_process} in batches of {self.cfg.data.batch_size} leave "
            f"one alone in each epoch's last batch, on which {self.lone_sample_failure}: that sample (another "
            "each epoch) sits the epoch out; another data.batch_size keeps it"
        )

    def first_training_batch(self) -> Batch | None:
        """The first batch of the first epoch (never a lone sample left out), drawn with the shuffling
        generator put back."""
        state = self.generator.get_state()
        try:
            return next(iter(self.data.train_loader(self.generator)), None)
        finally:
            self.generator.set_state(state)

    def check_precision(self, batch: Any) -> None:
        """float64 inputs for float32 weights (numpy's default) or the other way round: PyTorch would
        stop at the first step with a dtype error inside the model."""
        x = batch[0] if isinstance(batch, tuple | list) else batch
        weights = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), None)
        floating = isinstance(x, torch.Tensor) and x.is_floating_point() and weights is not None
        if floating and (x.dtype == torch.float64) != (weights == torch.float64):
            raise TorchlabError(
                f"the inputs are {x.dtype} but the model's weights are {weights}: convert one to the other "
                "(x.float(), as numpy arrays are float64; or model.double())"
            )

    @torch.no_grad()
    def check_monitor(self, batch: Any, names: list[str]) -> None:
        """Refuse a `train.monitor` that is not among `names`, the metrics validation gave for `batch`."""
        monitor = self.cfg.train.monitor
        if monitor is None:
            return
        if batch is None:
            raise TorchlabError(
                f"train.monitor '{monitor}' needs a validation set; this config holds none (set train.monitor=null)"
            )
        if monitor not in names:
            hint = did_you_mean(monitor, names)
            raise TorchlabError(f"train.monitor '{monitor}' is not a validation metric{hint}; have: {', '.join(names)}")

    def update_best(self, val: dict[str, float]) -> bool:
        monitor, train = self.cfg.train.monitor, self.cfg.train
        if monitor is None:  # no selection: best.pt is the last epoch
            self.best = {"value": None, "epoch": self.epoch, "metrics": val}
            return True
        if monitor not in val:
            raise TorchlabError(f"train.monitor '{monitor}' is not a validation metric; have: {', '.join(val)}")
        value, best = val[monitor], self.best["value"]
        better = best is None or (
            value > best + train.min_delta if train.mode == "max" else value < best - train.min_delta
        )
        if better and math.isfinite(value):
            self.best, self.bad_epochs = {"value": value, "epoch": self.epoch, "metrics": val}, 0
            return True
        self.bad_epochs += 1
        return False

    def learning_rates(self) -> dict[str, float]:
        """The learning rate of each optimiser's last step: `lr`, or `lr.GROUP` with several."""
        return {f"lr.{name}" if len(self.lr) > 1 else "lr": lr for name, lr in self.lr.items()}

    def test_best(self) -> dict[str, float]:
        best = self.run_dir / "checkpoints" / "best.pt"
        barrier()  # rank 0 has written best.pt
        if best.is_file():
            state = load_checkpoint(best)
            load_weights(self.model, state, best)
            self.keep_amp_of(state)
        return self.test()

    def test(self) -> dict[str, float]:
        """The test figures of the model's weights now (with a task's own, e.g. a GAN critic's
        loss and the generator's quality, of `task.samples` samples).

        Random draws (a VAE's latent samples; a GAN's noise is its own) come from `train.seed`, so
        `torchlab eval` reproduces a run's figures exactly; the global RNG is left as it was. Under
        torchrun every rank tests the whole set, in one process's batches, from the same seed: the
        figures are one process's, bit for bit, where shards would each draw their own noise (and a
        task's `test_metrics` would see one rank's half). A test pass costs one forward over the
        test set, as in one process.
        """
        with self.seeded(), unsharded():
            self.set_training(False)
            means, outputs = RunningMeans(), []
            with torch.no_grad(), self.autocast():
                for batch in self.data.test_loader():
                    metrics, kept = self.task.test_step(batch)
                    means.add(metrics, batch_size_of(batch))
                    outputs.append({k: v.cpu() for k, v in kept.items()})
                extra = self.task.test_metrics(self.data.test_loader())
        self.test_outputs = {k: torch.cat([o[k] for o in outputs]) for k in outputs[0]} if outputs else {}
        return {**{f"test.{k}": v for k, v in means.means().items()}, **{f"test.{k}": v for k, v in extra.items()}}

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, *names: str) -> None:
        """Write checkpoints/NAME.pt for each name (rank 0; every rank takes part in gathering the state).

        If best.pt cannot be written (a full disk), `self.best` goes back to the epoch the old
        best.pt holds, so the summary never names a best epoch that no checkpoint keeps."""
        state = self.state_dict()
        for name in names if self.dist.is_main else ():
            try:
                save_checkpoint(self.run_dir / "checkpoints" / f"{name}.pt", state)
            except TorchlabError:
                if name == "best":
                    self.best = dict(self.best_saved)
                raise
        if "best" in names:
            self.best_saved = dict(self.best)
        if "last" in names:
            self.note_kept()

    def use_amp(self, amp: str) -> None:
        """Autocast (and fp16's GradScaler) for `amp`: none, bf16 or fp16."""
        self.amp = amp
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        # With AMP off the hot loop enters no autocast context and calls no GradScaler: even
        # disabled, they cost microseconds a step, which a small model's ~1.5 ms step notices.
        self.autocast = partial(torch.autocast, self.device.type, dtype=dtype) if dtype else nullcontext
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")

    def keep_amp_of(self, state: dict[str, Any]) -> None:
        """With `train.amp=auto`, the precision a checkpoint was trained in (none or bf16), whatever this
        host would pick: a resumed run goes on in it, and its test and `torchlab eval` compute in it."""
        if self.cfg.train.amp == "auto" and state.get("amp") in ("none", "bf16") and state["amp"] != self.amp:
            self.use_amp(state["amp"])

    def state_dict(self) -> dict[str, Any]:
        """The whole training state. Under torchrun, `ranks` holds each rank's RNG states (and the means
        of a stopped epoch), gathered from every rank: call it on all of them."""
        position = self.bookmark.state_dict()
        ranks = gather_objects(
            {"rng": rng_states(self.generator), "means": position and position["means"], "task": self.task.state_dict()}
        )
        return {
            "recipe": self.cfg.recipe,
            "model_name": self.cfg.model.name,
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedules": {name: s.state_dict() for name, s in self.schedules.items()},
            "scaler": self.scaler.state_dict(),
            "amp": self.amp,
            "epoch": self.epoch,
            "step": self.step,
            "best": dict(self.best),
            "early_stop": {"bad_epochs": self.bad_epochs},
            "clock": dict(self.clock),
            "rng": ranks[0]["rng"],
            "task": ranks[0]["task"],
            "position": position,
            "world_size": self.dist.world_size,
            "threads": torch.get_num_threads(),
            "ranks": ranks if self.dist.world_size > 1 else [],
            "info": dataclasses.asdict(self.data.info),
            "config": self.cfg.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], path: Path) -> None:
        """Continue exactly where `state` (a last.pt) left off.

        In another number of processes than it was written by, rank 0 continues rank 0's random
        streams and the others start their own; a run stopped inside an epoch must resume in the
        number of processes it stopped in (its shards were cut for it)."""
        load_weights(self.model, state, path)
        self.keep_amp_of(state)
        if self.dist.is_main:
            warn_of_other_threads(state.get("threads"), str(path.parent.parent))
        try:
            for name, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
            for name, schedule in self.schedules.items():
                schedule.load_state_dict(state["schedules"][name])
            self.scaler.load_state_dict(state["scaler"])
            self.epoch, self.step, self.best = state["epoch"], state["step"], dict(state["best"])
            self.best_saved = dict(self.best)
            self.bad_epochs = state["early_stop"]["bad_epochs"]
            self.clock = {**self.clock, **state["clock"]}
            written_by = state.get("world_size", 1)
            mine = state["ranks"][self.dist.rank] if written_by == self.dist.world_size > 1 else None
            rng = mine["rng"] if mine else state["rng"]
            if mine or self.dist.rank == 0:
                restore_rng_states(rng, self.generator)
                self.task.load_state_dict((mine or state).get("task", {}))
            else:  # a rank the checkpoint did not have: its own streams, the common shuffling order
                self.generator.set_state(state["rng"]["data"])
            position = state.get("position")
            if position and written_by != self.dist.world_size:
                raise TorchlabError(
                    f"{path} stopped inside an epoch with {counted(written_by, 'process', 'processes')} "
                    "and resumes only in as many: "
                    f"`{self.cfg.continued_by(self.run_dir, written_by)}`"
                )
            self.bookmark.load_state_dict(position and {**position, "means": (mine or position)["means"]}, rng)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError, RuntimeError) as err:
            # a damaged entry (an RNG state of the wrong size, a list for a dict) is as wrong as a missing one
            detail = (str(err).strip().splitlines() or [""])[0][:200]
            raise TorchlabError(
                f"{path} does not match this run's optimiser, schedule or state ({type(err).__name__}: {detail})"
            ) from None

    def summary(self, status: str, test: dict[str, float]) -> dict[str, Any]:
        """summary.json: validation metrics are those of the best epoch, test those of best.pt."""

        def strip(metrics: dict[str, float]) -> dict[str, float]:
            return {k.split(".", 1)[1]: v for k, v in metrics.items()}

        seconds = self.clock["train_seconds"]
        return {
            "recipe": self.cfg.recipe,
            "status": status,
            "epochs": self.epoch,
            "best_epoch": self.best["epoch"],
            "monitor": {"metric": self.cfg.train.monitor, "best": self.best["value"]},
            "val": strip(self.best["metrics"]),
            "test": strip(test),
            "wall_seconds": round(self.clock["wall_seconds"], 3),
            "train_samples": self.clock["train_samples"],  # trained, over all ranks, every session
            "train_seconds": round(seconds, 3),  # spent in training steps
            "train_samples_per_second": round(self.clock["train_samples"] / seconds, 1) if seconds else None,
            "device": str(self.device),
            "amp": self.amp,
            "world_size": self.dist.world_size,
            "epoch_train_samples": self.clock["epoch_samples"],  # the last whole epoch's, over all ranks
            "seed": self.cfg.train.seed,
            "threads": torch.get_num_threads(),  # the last bits of the weights depend on it (README, Reproducibility)
            "torch": torch.__version__,
            "run_dir": str(self.run_dir),
            "resume": self.continued_by() if status == "interrupted" else None,
        }


def divergence_hint(batch: Batch) -> str:
    """What to try after a loss that is not finite: where the batch's own floats are not (NaN or inf in a
    user's data), no learning rate helps, so the data are named; else a lower learning rate."""
    last = len(batch) - 1
    bad = {
        "targets" if i == last and last > 0 else "inputs"
        for i, t in enumerate(batch)
        if torch.is_tensor(t) and t.is_floating_point() and not t.isfinite().all()
    }
    if bad:
        return f"this batch's {' and '.join(sorted(bad))} hold NaN or inf: mend the data, as no optim.lr can"
    return "try a lower optim.lr"
