"""Tasks say what one step means: classify, forecast, reconstruct, adversarial.

The contract between a model, a task and the Trainer (every family follows it):

- A **model** is a plain `nn.Module` built from its config and the DataInfo. Whatever training
  computes goes through the `forward` of one of its networks; a model may also offer helpers
  that compute nothing with its parameters (a GAN's `noise`) and attributes (`latent`,
  `variational`).
- A **task** names the networks it trains in `networks_of(model)` (`{"model": model}` by default; a
  GAN `{"generator": ..., "critic": ...}`) and the optimiser groups in `parameter_groups()`. The
  Trainer wraps each network (channels_last, `torch.compile`, DistributedDataParallel, in that
  order) and hands the wrapped ones back as `task.nets`. Training and evaluation steps compute
  only by calling `self.nets[name](...)`, so that every wrapper sees every computation: DDP
  synchronises the gradients, compile compiles what runs. A network named in `eager_networks`
  is not compiled (a WGAN-GP critic: torch.compile cannot differentiate twice).
- `task.model` is the plain, unwrapped model. A task reads attributes from it and uses it outside
  the training loop (figures, pictures); it never reaches through a wrapper.
- The Trainer enters autocast around each step and supplies `optimize(loss, group)`: zero_grad,
  backward with the AMP scaler, clipping, the optimiser and its per-step schedule. A task with two
  optimisers calls `optimize` twice, in plain sight; each call's backward fills only its own group's
  gradients (in one process; under DDP every network's). Steps return batch-mean metrics as detached
  scalar tensors (or a `PerSample` metric, computed later for many batches at once); the Trainer
  averages them over the epoch, and over every rank, without a device sync each step. A figure that
  is no mean over samples (a GAN's modes covered) comes from `validation_metrics` and `test_metrics`,
  given the whole set; so do all of a task's figures where they share one costly draw for the whole
  set (a GAN's critic loss and quality, of one generation of samples), and its steps return none.
- What a task needs from outside its run (a GAN's judge) comes as keyword arguments of its
  constructor, prepared by the api before the Trainer is built; a task never trains a model.
"""

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from torchlab.config import Config, ModelConfig, TaskConfig
from torchlab.core.errors import TorchlabError
from torchlab.core.metrics import PerSample
from torchlab.core.runtime import cpu_streams_kept
from torchlab.data import Batch, DataInfo, planned_info
from torchlab.models import for_checkpoint
from torchlab.registry import MODELS, TASKS

Optimize = Callable[..., None]  # optimize(loss, group="model")
Metrics = dict[str, torch.Tensor | PerSample]


def described(output: Any) -> str:
    """A network's output as a refusal names it: its shape, a tuple's parts, or its type."""
    if isinstance(output, tuple | list):
        return f"{type(output).__name__} ({', '.join(map(described, output))})"
    return f"shape {tuple(output.shape)}" if isinstance(output, torch.Tensor) else type(output).__name__


def per_target(output: Any, target: torch.Tensor, task: str, model: nn.Module) -> torch.Tensor:
    """`output` in the shape of `target` ([B, 1] against [B], or the other way round). Another size is
    refused naming both: [B, 3] against [B, 1] would broadcast to a wrong loss without a word."""
    if not isinstance(output, torch.Tensor) or output.numel() != target.numel():
        shape = ", ".join(["batch", *map(str, target.shape[1:])])
        raise TorchlabError(
            f"task {task} needs one output per target, shape [{shape}], from the model; "
            f"{type(model).__name__} returned {described(output)}"
        )
    return output.view_as(target)


@dataclass
class Preview:
    """What the live loggers (TensorBoard, Visdom) show of one batch each epoch."""

    images: torch.Tensor | None  # [N, 1 or 3, H, W] in any range (loggers rescale each to [0, 1]); None: not images
    text: str  # what the model made of them, e.g. predicted and true labels
    outputs: torch.Tensor | None = None  # what the model made of them as pictures (reconstructions), like `images`


def value_rows(predicted: torch.Tensor, true: torch.Tensor, heading: str = "", limit: int = 4) -> str:
    """A preview's text for numeric outputs: a row per sample, its first `limit` predicted and true values,
    under `predicted HEADING` and `true HEADING`."""

    def values(row: torch.Tensor) -> str:
        shown = ", ".join(f"{v:.4g}" for v in row[:limit].tolist())
        return shown + (", ..." if len(row) > limit else "")

    def per_sample(t: torch.Tensor) -> torch.Tensor:
        return t.detach().float().reshape(len(t), -1).cpu()

    cells = [(values(p), values(t)) for p, t in zip(per_sample(predicted), per_sample(true), strict=True)]
    label = f" {heading}" if heading else ""
    width = max([len(p) for p, _ in cells] + [len("predicted" + label)]) + 3
    return "\n".join([f"{'predicted' + label:<{width}}true{label}"] + [f"{p:<{width}}{t}" for p, t in cells])


class Task:
    """Base class: one network, the model itself, and one optimiser group named "model"."""

    eager_networks: tuple[str, ...] = ()  # networks torch.compile must leave alone
    any_length = False  # whether inputs may be sequences of any length (dim 1), as a forecaster's are
    calls: ClassVar[str] = "forward(x)"  # what the task calls of a model, as its refusals say it
    needs: ClassVar[tuple[str, ...]] = ()  # the model's attributes it reads besides forward

    def __init__(self, model: nn.Module, cfg: TaskConfig, info: DataInfo) -> None:
        check_model_needs(type(self), cfg.name, model, info)
        self.model = model  # plain: attributes and use outside training
        self.cfg = cfg
        self.info = info
        self.nets: dict[str, nn.Module] = self.networks()  # the Trainer replaces them by their wrapped selves

    @classmethod
    def check_config(cls, config: Config) -> None:
        """Raise a TorchlabError, before any data are read, for settings of other sections that training
        this task cannot honour (a GAN's batch too small for its critic steps); none by default."""

    @classmethod
    def networks_of(cls, model: nn.Module) -> dict[str, nn.Module]:
        """The networks this task's training calls in `model`, by name, in the order data flows through
        them (TensorBoard's graph chains them). A class method: `torchlab show` lists them with no task
        built (a GAN's task would need its judge)."""
        return {"model": model}

    def networks(self) -> dict[str, nn.Module]:
        """The networks training calls, each wrapped by the Trainer."""
        return self.networks_of(self.model)

    def parameter_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        """One optimiser is built per entry, each from the `optim` config."""
        return {"model": self.model.parameters()}

    def metrics(self, batch: Batch) -> Metrics:
        """The loss and metrics of one batch, for a task with one network and one loss: its
        training step minimises `loss`, its validation step reports them all."""
        raise NotImplementedError

    def training_step(self, batch: Batch, optimize: Optimize) -> Metrics:
        metrics = self.metrics(batch)
        optimize(metrics["loss"])
        return {name: value.detach() for name, value in metrics.items()}

    def validation_step(self, batch: Batch) -> Metrics:
        return self.metrics(batch)

    def test_step(self, batch: Batch) -> tuple[Metrics, dict[str, torch.Tensor]]:
        """A validation step on a test batch, and per-sample tensors to keep for the run's figures
        (a classifier's labels and predictions), over the whole test set (under torchrun too)."""
        return self.validation_step(batch), {}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """What the plain model makes of inputs `x` (a classifier's classes); not every task has it."""
        raise TorchlabError(f"task {self.cfg.name} has no predict")

    def probabilities(self, *inputs: torch.Tensor) -> torch.Tensor:
        """A classifier's probability of each class for `inputs`, `[N, classes]`; other tasks have none."""
        raise TorchlabError(f"task {self.cfg.name} has no class probabilities")

    def epoch_snapshot(self) -> dict[str, torch.Tensor]:
        """Tensors to keep from the end of each epoch (a GAN's fixed-noise samples); none by default.

        The Trainer saves them as RUN_DIR/snapshots/epoch-NNN.pt for figures to draw.
        """
        return {}

    def validation_metric_names(self) -> tuple[str, ...]:
        """The names of the figures `validation_metrics` gives, known before training (`train.monitor`
        may name one); none by default."""
        return ()

    def validation_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        """Figures of the whole validation set at once, not means over its batches (a GAN's modes covered),
        which must not change with how the set is batched; none by default."""
        return {}

    def test_metrics(self, loader: Iterable[Batch]) -> dict[str, float]:
        """Figures that need the whole test set at once (modes covered, ELBO...); none by default."""
        return {}

    def check_test_data(self, loader: Iterable[Batch]) -> None:
        """Raise a TorchlabError, before training, for a setting that the test data cannot honour."""

    def state_dict(self) -> dict[str, Any]:
        """What training carries from step to step besides networks and optimisers (a forecaster's
        recurrent state), on the CPU: last.pt keeps it so that a resumed run goes on exactly. None by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what `state_dict` returned (`{}` from a checkpoint that has none)."""

    def preview(self, batch: Batch, n: int) -> Preview | None:
        """The first `n` samples of a validation batch as the live loggers should show them; none by default."""
        return None


def what_it_needs(task: str, info: DataInfo | None) -> str:
    """What task `task` calls of a model and the models made for it that build for data `info`, as a refusal ends."""
    family = models_for(task, info)
    models = f"; models made for it: {', '.join(family)}" if family else ""
    return f"task {task} needs a model with {TASKS.get(task).calls}{models}"


def models_for(task: str, info: DataInfo | None, inputs: tuple[torch.Tensor, ...] | None = None) -> list[str]:
    """The registered models made for `task` that build for data `info` and take its `inputs` (`builds_for`);
    all of them where `info` is None: what a refusal suggests and `torchlab show` lists."""
    return [name for name in MODELS.made_for(task) if info is None or builds_for(name, info, inputs)]


@torch.no_grad()
def builds_for(model: str, info: DataInfo, inputs: tuple[torch.Tensor, ...] | None = None) -> bool:
    """Whether registered model `model`, of its default settings, builds for data `info` and takes two samples
    of its inputs (a GAN: of its noise). Without `inputs`, zeros of the data's input shape on the meta device:
    no weights made or read, nothing computed. With them (the data's own, read: a text batch's token ids and
    lengths, which no zeros of a shape stand for), on the CPU, pretrained weights still unread."""
    cfg = MODELS.config_class(model, ModelConfig)(name=model)
    info = dataclasses.replace(info, num_classes=info.num_classes or 2)  # a folder's classes are not known yet
    example = (torch.zeros(2, *info.input_shape, device="meta"),) if inputs is None else inputs
    try:
        with for_checkpoint(), torch.device(example[0].device), cpu_streams_kept():
            net = MODELS.get(model)(cfg, info).eval()
            net(*((net.noise(2),) if hasattr(net, "noise") else example))
    except Exception:  # noqa: BLE001  (any failure: it does not fit)
        return False
    return True


def check_model_family(config: Config) -> None:
    """Refuse, before any data are read, a registered model made for other tasks than the config's, where that
    task has models of its own: a task no model is made for (regress, a task of yours) may try any."""
    model, task = config.model.name, config.task.name
    MODELS.get(model)  # an unknown name: its own refusal
    made_for = MODELS.tasks.get(model)
    if made_for and task not in made_for and MODELS.made_for(task):
        raise TorchlabError(
            f"model {model} is made for task {' or '.join(made_for)}, not for {config.recipe}'s task {task}: "
            f"{what_it_needs(task, planned_info(config.data))} (model.name=NAME picks one)"
        )


def check_task_settings(config: Config) -> None:
    """Refuse, before any data are read, a config that its task cannot train on (`Task.check_config`)."""
    TASKS.get(config.task.name).check_config(config)


def check_model_needs(task_class: type[Task], task: str, model: nn.Module, info: DataInfo | None) -> None:
    """Refuse a model without the attributes task `task` (of class `task_class`) reads: a GAN task's
    generator and critic, say."""
    missing = [name for name in task_class.needs if not hasattr(model, name)]
    if missing:
        raise TorchlabError(f"{type(model).__name__} has no {', '.join(missing)}: {what_it_needs(task, info)}")


def build_task(cfg: TaskConfig, model: nn.Module, info: DataInfo, resources: dict[str, Any] | None = None) -> Task:
    """The task `cfg.name` for the plain `model`; `resources` are its constructor's extra arguments."""
    return TASKS.get(cfg.name)(model, cfg, info, **(resources or {}))
