"""One batch through the task's networks before the first epoch: a model that cannot take the data.

A model built for other inputs (images not flattened for a Linear, `[B]` numbers for `Linear(1, ...)`,
`[B, T]` sequences for an LSTM of one feature, integers for float weights) fails inside torch on the
first batch. This check runs the first validation batch once, in eval mode without gradients, then
the first training batch once through the task's training step in train mode, its backward too but
no optimiser step (a model that fails only in training: BatchNorm given one sample), with the random
streams and the model's state put back, and turns the failure into a TorchlabError that names the
model, what it was given, the module that failed, torch's own words and the usual fix. A model that
fails later stays a crash. `one_sample_failure` runs one sample the same way, of the training set
(`lone_sample_failure`) or an evaluation set: where a batch of one sample, an epoch's last, would fail.
"""

import math
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchlab.core.errors import TorchlabError, out_of_memory
from torchlab.data import Batch, batch_size_leaving_none_alone
from torchlab.tasks import Task, described, what_it_needs

# What torch raises for inputs a module cannot take (shapes, dtypes, indices, a forward's arguments)
CAUGHT = (RuntimeError, TypeError, IndexError, ValueError)


def check_first_batch(
    task: Task, batch: Batch | None, autocast: Callable[[], AbstractContextManager] = nullcontext
) -> list[str]:
    """The names of the metrics the task's validation step gives for `batch` (none for None); a
    TorchlabError if the step fails on it.

    The plain networks run (no compile or DDP wrapper), each module's train/eval mode and the CPU's
    and CUDA's random streams are as they were after."""
    if batch is None:
        return []
    with probing(task, training=False, autocast=autocast):
        return list(task.validation_step(batch))


def check_training_batch(
    task: Task, first: Callable[[], Batch | None], autocast: Callable[[], AbstractContextManager] = nullcontext
) -> None:
    """A TorchlabError if the task's training step fails on `first()`, the first training batch, with
    its networks in train mode: a model that fails only in training (BatchNorm given one sample, a
    forward that returns something else while training) is refused before the first epoch, not at it.

    Its backward runs, but no optimiser step, and no gradient is left; the random streams (the batch's
    augmentation too), every weight and buffer (BatchNorm's running statistics) and the task's state are
    put back."""
    with torch.random.fork_rng(devices=cuda_devices(task.networks())):  # a failure here is the data's own
        batch = first()
    if batch is None:
        return
    with probing(task, training=True, autocast=autocast):
        task.training_step(batch, gradients_of(task))


def lone_sample_failure(
    task: Task, first: Callable[[], Batch | None], autocast: Callable[[], AbstractContextManager] = nullcontext
) -> str | None:
    """How the task's training step fails on one sample, the first of `first()`, as on an epoch's last
    batch of one (`one_sample_failure`); None where it takes one sample (BatchNorm2d over 7x7 maps has 49
    values per channel). One training step of one sample, its backward too but no optimiser step;
    everything is put back as in `check_training_batch`."""
    with torch.random.fork_rng(devices=cuda_devices(task.networks())):
        batch = first()
    if batch is None:
        return None
    return one_sample_failure(task, batch, "training", autocast)


def one_sample_failure(
    task: Task, batch: Batch, step: str, autocast: Callable[[], AbstractContextManager] = nullcontext
) -> str | None:
    """Where and how the task's `step` ("training", in train mode; "validation" or "test", in eval mode
    without gradients) fails on the first sample of `batch` alone: "module norm (BatchNorm1d, given [1, 8]
    float32) of Normed fails (Expected more than 1 value per channel when training)", "task classify's
    training step fails on Squeezed's output (shape (3,)) (...)" (a forward that squeezes the batch axis
    away), or a loss that is not finite on one sample where it is on the batch (a loss over the batch's
    spread). None where it takes one. Everything is put back as `put_back` says."""
    with put_back(task, step == "training", autocast) as trace:
        try:
            loss = step_loss(task, tuple(part[:1] for part in batch), step)
        except (*CAUGHT, TorchlabError) as err:  # TorchlabError: the task's refusal of what a network gave
            if out_of_memory(err):
                raise
            return failed_where(task, trace, err, f"{step} step")
        if not finite(loss) and finite(step_loss(task, batch, step)):
            return f"task {task.cfg.name}'s {step} loss is {float(loss.float().mean())}"
    return None


def lone_batch_failure(
    task: Task,
    first: Callable[[], Batch],
    step: str,
    samples: int,
    size: int,
    others: Iterable[int] = (),
    autocast: Callable[[], AbstractContextManager] = nullcontext,
) -> tuple[str, int | None] | None:
    """Where `samples` in batches of `size` end in a batch of one sample on which the task's evaluation
    `step` fails (`one_sample_failure`, on a sample of `first()`): how it fails, and the batch size nearest
    `size` that leaves no sample alone, in these samples and the `others` sets' (None: a set of one sample,
    which no batch size mends). None where no batch of one is left, or the step takes one sample.
    Evaluation leaves no sample out, so its caller refuses."""
    if samples % size != 1:
        return None
    failure = one_sample_failure(task, first(), step, autocast)
    if not failure:
        return None
    sets = [samples, *(n for n in others if n > 1)]
    return failure, batch_size_leaving_none_alone(sets, size) if samples > 1 else None


def step_loss(task: Task, batch: Batch, step: str) -> Any:
    """The loss the task's `step` ("training", its backward too; "validation"; "test") gives for `batch`."""
    if step == "training":
        return task.training_step(batch, gradients_of(task))["loss"]
    metrics = task.validation_step(batch) if step == "validation" else task.test_step(batch)[0]
    return metrics.get("loss")


def finite(loss: Any) -> bool:
    """Whether a step's loss is finite (a task's step without one is)."""
    return not isinstance(loss, torch.Tensor) or bool(loss.isfinite().all())


def gradients_of(task: Task) -> Callable[..., None]:
    """An `optimize` for a check: the loss's gradients computed, as the step's backward would (a loss
    that fails only there: the wrong shape read as one unbatched sample), and dropped; nothing steps and
    no `.grad` is touched."""
    weights = [p for net in task.networks().values() for p in net.parameters() if p.requires_grad]

    def backward(loss: torch.Tensor, group: str = "model") -> None:
        torch.autograd.grad(loss, weights, allow_unused=True)

    return backward


@contextmanager
def probing(task: Task, training: bool, autocast: Callable[[], AbstractContextManager]) -> Iterator[None]:
    """The task's plain networks in train or eval mode (`put_back`); a failure inside is a TorchlabError
    naming where."""
    with put_back(task, training, autocast) as trace:
        try:
            yield
        except CAUGHT as err:
            if out_of_memory(err):  # the Trainer's own message
                raise
            raise TorchlabError(refusal(task, trace, err, training)) from None


@contextmanager
def put_back(task: Task, training: bool, autocast: Callable[[], AbstractContextManager]) -> Iterator["Trace"]:
    """The task's plain networks in train or eval mode (gradients on in training), traced. After: modes,
    random streams and, after training, the model's weights and buffers and the task's state as they were."""
    networks = task.networks()
    wrapped, task.nets, trace = task.nets, networks, Trace(networks)
    modes = {m: m.training for net in networks.values() for m in net.modules()}
    nets = (task.model, *networks.values()) if training else ()  # the model holds more: a GAN's average
    tensors = list({id(t): t for net in nets for t in (*net.parameters(), *net.buffers())}.values())
    saved, state = [t.clone() for t in tensors], task.state_dict()
    try:
        with torch.random.fork_rng(devices=cuda_devices(networks)), torch.set_grad_enabled(training), autocast(), trace:
            for net in networks.values():
                net.train(training)
            yield trace
    finally:
        task.nets = wrapped
        for module, mode in modes.items():
            module.training = mode
        with torch.no_grad():
            for tensor, kept in zip(tensors, saved, strict=True):
                tensor.copy_(kept)
        if training:
            task.load_state_dict(state)


def cuda_devices(networks: dict[str, nn.Module]) -> list[torch.device]:
    """The CUDA devices the networks' weights are on, whose random streams a check puts back."""
    return sorted({p.device for net in networks.values() for p in net.parameters() if p.device.type == "cuda"}, key=str)


class Trace:
    """While on: the (module, inputs) entered and not yet left, outermost first (a failure leaves the
    one that raised on top), and each network's last output."""

    def __init__(self, networks: dict[str, nn.Module]) -> None:
        self.networks = networks
        self.stack: list[tuple[nn.Module, tuple[Any, ...]]] = []
        self.outputs: dict[nn.Module, Any] = {}
        self.handles: list[Any] = []

    def __enter__(self) -> "Trace":
        modules = {m for net in self.networks.values() for m in net.modules()}
        self.handles = [
            h for m in modules for h in (m.register_forward_pre_hook(self.enter), m.register_forward_hook(self.leave))
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()

    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.stack.append((module, args))

    def leave(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        while self.stack and self.stack.pop()[0] is not module:  # a module whose forward caught a failure inside
            pass
        if module in self.networks.values():
            self.outputs[module] = output


def refusal(task: Task, trace: Trace, err: Exception, training: bool = False) -> str:
    """What failed where, given what (`training`: in train mode), in torch's words, and the fix where it is known."""
    error = first_line(err)
    model, networks, outputs = task.model, trace.networks, trace.outputs
    if not trace.stack:  # every network had returned: the task failed on what one gave (a tuple expected, say)
        net = next(reversed(outputs), model)
        output = f" on its output ({described(outputs[net])})" if net in outputs else ""
        step = "'s training step" if training else ""
        failed = f"task {task.cfg.name}{step} failed{output}"
        needs = what_it_needs(task.cfg.name, task.info)
        return f"{named(model, net, networks)} cannot train on these data: {failed}: {error}{user_line(err)}; {needs}"
    root, given = trace.stack[0]
    module, inputs = trace.stack[-1]
    where = f"{type(root).__name__}.forward" if module is root else f"its {module_given(root, module, inputs)}"
    return (
        f"{named(model, root, networks)} cannot take a batch of these data{' in training' if training else ''}: "
        f"given {shapes(given)}, {where} raised: "
        f"{error}{user_line(err)}{hint(module, inputs)}"
    )


def failed_where(task: Task, trace: Trace, err: Exception, step: str) -> str:
    """The module that raised `err`, what it was given and torch's words: "module norm (BatchNorm1d, given
    [1, 8] float32) of Normed fails (...)"; where every network had returned, the task's `step` on what
    the last one gave; the line of the user's code where there is one."""
    error = f"({first_line(err)}){user_line(err)}"
    if not trace.stack:
        net = next(reversed(trace.outputs), task.model)
        output = f" on {named(task.model, net, trace.networks)}'s output ({described(trace.outputs[net])})"
        return f"task {task.cfg.name}'s {step} fails{output if net in trace.outputs else ''} {error}"
    (root, _), (module, inputs) = trace.stack[0], trace.stack[-1]
    network = named(task.model, root, trace.networks)
    where = (
        f"{network} (given {shapes(inputs)})"
        if module is root
        else f"{module_given(root, module, inputs)} of {network}"
    )
    return f"{where} fails {error}"


def module_given(root: nn.Module, module: nn.Module, inputs: tuple[Any, ...]) -> str:
    """`module norm (BatchNorm1d, given [1, 8] float32)`: a module of `root` by its name, and what it was given."""
    name = next(n for n, m in root.named_modules() if m is module)
    return f"module {name} ({type(module).__name__}, given {shapes(inputs)})"


def first_line(err: Exception) -> str:
    """Torch's words: the first line of `err` (its type where it has none)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def named(model: nn.Module, net: nn.Module, networks: dict[str, nn.Module]) -> str:
    """The model's class, and which of its networks `net` is where it is not the model itself (a GAN's critic)."""
    role = next((name for name, each in networks.items() if each is net), "network")
    return type(model).__name__ if net is model else f"{type(model).__name__}'s {role} ({type(net).__name__})"


def shapes(args: tuple[Any, ...]) -> str:
    """A forward's arguments as `[32, 1, 28, 28] float32`, or their types where they are no tensors."""
    return ", ".join(
        f"[{', '.join(map(str, a.shape))}] {str(a.dtype).removeprefix('torch.')}"
        if isinstance(a, torch.Tensor)
        else type(a).__name__
        for a in args
    )


def user_line(err: Exception) -> str:
    """` (at FILE:LINE)`: the last line of the traceback in code of the user's, neither torch's nor torchlab's."""
    libraries = (Path(torch.__file__).parent, Path(__file__).parents[1])
    frames = [
        frame
        for frame in traceback.extract_tb(err.__traceback__)
        if not any(Path(frame.filename).is_relative_to(library) for library in libraries)
    ]
    return f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""


def hint(module: nn.Module, inputs: tuple[Any, ...]) -> str:
    """The usual fix of `module` failing on `inputs`, as '; FIX', or ''."""
    x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
    if x is None:
        return ""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training and len(x) == 1:
        return (
            "; BatchNorm trains on batches of 2 or more samples: raise data.batch_size, or give more training samples"
        )
    if isinstance(module, nn.Embedding | nn.EmbeddingBag):
        return "; token ids must be integers: x.long()" if x.is_floating_point() else ""
    if not x.is_floating_point() and any(p.is_floating_point() for p in module.parameters(recurse=False)):
        return f"; {str(x.dtype)[6:]} inputs into float weights: convert them with x.float() (pixels: x.float() / 255)"
    if isinstance(module, nn.Linear) and x.dim() == 1 and module.in_features == 1:
        return "; inputs of shape [N] are N single numbers: x.unsqueeze(-1) makes them [N, 1], one feature each"
    if isinstance(module, nn.Linear) and x.dim() > 2 and math.prod(x.shape[1:]) == module.in_features:
        return "; flatten each sample first: nn.Flatten() before the Linear, or x.flatten(1) in forward"
    if isinstance(module, nn.RNNBase) and x.dim() == 2 and module.input_size == 1:
        return "; sequences of shape [B, T] need a feature axis: x.unsqueeze(-1) makes them [B, T, 1]"
    if isinstance(module, nn.modules.conv._ConvNd):
        return conv_hint(module, x)
    return ""


def conv_hint(conv: nn.modules.conv._ConvNd, x: torch.Tensor) -> str:
    """A convolution's usual fixes: a channel axis to add, or channels to move first."""
    dims = len(conv.kernel_size)
    if x.dim() == dims + 1 and conv.in_channels == 1:
        return "; images without a channel axis: x.unsqueeze(1) gives them one"
    if x.dim() == dims + 2 and x.shape[-1] == conv.in_channels != x.shape[1]:
        return "; the channels come last: x.movedim(-1, 1) puts them first, as torch wants"
    return ""
