"""`torchlab show RECIPE`: a recipe before it trains: every resolved key with its meaning, the data's
split sizes, and the layers of every network the recipe trains (a GAN's generator and critic), with
output shapes and parameter counts that sum to the model's.

A key's meaning is the comment on its line in the dataclass that declares it (a component's own
config first, then the classes it extends), else the general meaning of that key's name below.

Nothing is downloaded or written (an image folder's index.csv neither) and no pretrained weights are
read: the layers need the architecture only.
Where the data are absent, the dataset's shapes without its files (`data.planned_info`: CIFAR-10 is
3 x 32 x 32) stand in; where only its files can say them (SST-2's vocabulary), `describe` says
what the layer table needs instead.
"""

import dataclasses
import inspect
import re
from collections import Counter
from functools import cache
from typing import TYPE_CHECKING, Any

from torchlab.config import Config
from torchlab.core.errors import DataNotFound, TorchlabError
from torchlab.core.words import counted

if TYPE_CHECKING:  # types only: the meanings need no torch
    import torch
    import torchinfo
    from torch import nn

    from torchlab.data import DataInfo

DEPTH = 4  # levels of submodules listed below each network
UNKNOWN_CLASSES = 2  # the classes a head is shown with while a folder's are not known

MEANINGS = {  # what a key's name means wherever it stands, when its own line has no comment
    "name": "which registered component this section uses",
    "recipe": "the recipe's name",
    "description": "one line about the recipe",
    "imports": "your modules or .py files that define its components (imported again by eval, resume, export)",
    "lr": "learning rate",
    "weight_decay": "L2 penalty, as the optimiser's weight decay",
    "momentum": "momentum of the update",
    "nesterov": "Nesterov momentum",
    "betas": "Adam's decay rates of the gradient's mean and square",
    "eps": "added to the denominator for numerical stability",
    "fused": "PyTorch's fused update kernel (None: PyTorch's default)",
    "alpha": "decay of the squared-gradient average",
    "centered": "normalise by the gradient's variance, not its second moment",
    "rho": "decay of the squared-gradient average",
    "batch_size": "training samples per step (per process under torchrun)",
    "eval_batch_size": "samples per batch in validation and test",
    "augment": "random changes to training images (drawn per image, training split only)",
    "pixels": "pixel scale: standardize (mean 0, std 1), unit ([0, 1]) or signed ([-1, 1])",
    "center_crop": "keep the central N x N pixels of every image (None: the whole image)",
    "image_size": "the side of the square images fed to the model",
    "test_split": "fraction of the images held out for the test set",
    "modes": "Gaussians on the circle",
    "radius": "radius of the circle the Gaussians sit on",
    "std": "standard deviation of each Gaussian",
    "test_samples": "points in the test set",
    "steps": "samples per sequence",
    "test_sequences": "sequences in the test set",
    "frequency": "angular frequency of the sine",
    "hidden": "widths of the hidden layers",
    "hidden_size": "width of the recurrent state",
    "hidden_sizes": "width of each recurrent layer's state",
    "num_layers": "stacked recurrent layers",
    "bidirectional": "read each sequence both ways",
    "latent": "dimensions of the code z",
    "width": "channels of the first convolution (later ones scale from it)",
    "widths": "channels of each stage",
    "blocks": "residual blocks per stage",
    "strides": "stride of each stage",
    "first_kernel": "kernel size of the first convolution",
    "activation": "the non-linearity between layers",
    "pool": "the pooling layer",
    "dropout": "probability of zeroing an activation in training",
    "label_smoothing": "share of the target spread over the other classes",
    "loss": "the loss function",
    "gp_lambda": "weight of the gradient penalty",
    "confidence": "the judge's probability above which a generated image counts as confidently classified",
    "eta_min": "the lowest learning rate of the cosine",
    "step_size": "epochs between learning-rate drops",
    "gamma": "factor of each learning-rate drop",
    "milestones": "epochs at which the learning rate drops",
    "pct_start": "share of the steps spent raising the learning rate",
    "div_factor": "initial learning rate = lr / div_factor",
    "final_div_factor": "final learning rate = initial / final_div_factor",
    "anneal_strategy": "shape of the decrease: cos or linear",
    "cycle_momentum": "move momentum against the learning rate",
    "base_momentum": "momentum at the learning rate's peak",
    "max_momentum": "momentum at the learning rate's lowest",
    "three_phase": "a third phase that anneals below the initial learning rate",
    "factor": "factor of each learning-rate drop",
    "epochs": "passes over the training set",
    "seed": "seed of initialisation, shuffling, dropout, augmentation and sampling",
    "mode": "whether a higher (max) or lower (min) train.monitor is better",
    "min_delta": "the least change of train.monitor that counts as an improvement",
    "clip_grad_value": "clip each gradient element to [-value, value]",
    "compile": "torch.compile the networks",
    "channels_last": "channels-last memory format for convolutions",
    "deterministic": "PyTorch's deterministic algorithms only",
    "loggers": "where metrics go besides metrics.jsonl: tensorboard, visdom, console",
    "visdom": "the Visdom server and environment",
    "server": "the Visdom server's address",
    "port": "the Visdom server's port",
}


@cache
def line_comments(cls: type) -> dict[str, str]:
    """{field: the comment on its line} over `cls` and the dataclasses it extends (its own first)."""
    found: dict[str, str] = {}
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            match = re.match(r"\s+(\w+): [^#]+#\s*(.+)$", line)
            if match and match.group(1) not in found:
                found[match.group(1)] = match.group(2).strip()
    return found


def meanings(config: Config) -> dict[str, str]:
    """{dotted key: its one-line meaning} for every key of `config`."""
    out: dict[str, str] = {}

    def walk(obj: Any, prefix: str) -> None:
        comments = line_comments(type(obj))
        for f in dataclasses.fields(obj):
            value, key = getattr(obj, f.name), f"{prefix}{f.name}"
            if dataclasses.is_dataclass(value):
                walk(value, f"{key}.")
            else:
                out[key] = comments.get(f.name) or MEANINGS.get(f.name, "")

    walk(config, "")
    return out


def describe(config: Config) -> dict[str, Any]:
    """What `torchlab show` prints: the resolved config and each key's meaning, the data (split sizes,
    inputs, classes), the task and its model family (the registered models made for it that build for
    these data, as a refusal suggests them) and the model (parameter counts, each trained network's
    layers). Where the model cannot be shown, `model` is None and `missing` the one line that says what
    its table needs."""
    from torchlab.tasks import check_model_family, check_task_settings, models_for

    check_model_family(config)
    check_task_settings(config)  # what train refuses before any data are read
    data, info, inputs = read_data(config)
    task = {"name": config.task.name, "models": models_for(config.task.name, info, inputs)}
    model, missing = None, None
    if info is None:
        name, unread = config.data.name, data["unread"]
        missing = f"no layer table: dataset {name} gives the shape of its inputs only from its files ({unread})"
    else:
        model = describe_model(config, info, inputs)
    return {
        "recipe": config.recipe,
        "description": config.description,
        "config": config.to_dict(),
        "meanings": meanings(config),
        "data": data,
        "task": task,
        "model": model,
        "missing": missing,
    }


def read_data(config: Config) -> tuple[dict[str, Any], "DataInfo | None", tuple["torch.Tensor", ...] | None]:
    """(the data as `describe` gives them, their DataInfo, two samples' inputs). Data that cannot be read
    (absent, damaged) give what the dataset says without its files, no inputs, and why (`unread`)."""
    import torch

    from torchlab.data import build_data, close_data, planned_info
    from torchlab.data.root import looking

    try:
        with looking():  # show reads the data, never writes beside them nor fetches them
            data = build_data(config.data, torch.device("cpu"))
        try:  # reading the batches: an image damaged since the folder was indexed says so here
            sizes = {"train": data.train_size, "val": count(data.val_loader()), "test": count(data.test_loader())}
            *inputs, _ = next(iter(data.val_loader()))
        finally:
            close_data(data)
    except TorchlabError as err:
        info = planned_info(config.data)
        return summarize(info, None, str(err), unusable=not isinstance(err, DataNotFound)), info, None
    return summarize(data.info, sizes, None), data.info, tuple(x[:2] for x in inputs)


def summarize(
    info: "DataInfo | None", sizes: dict[str, int] | None, unread: str | None, unusable: bool = False
) -> dict[str, Any]:
    """`unread`: why the data were not read; `unusable`: they are there but train would refuse them (damaged)."""
    shape = list(info.input_shape) if info else None
    classes = info and info.num_classes
    return {"sizes": sizes, "input_shape": shape, "classes": classes, "unread": unread, "unusable": unusable}


def refusal(described: dict[str, Any]) -> str | None:
    """The one line that makes `torchlab show` exit 2 after printing: data present but unusable (what
    train would say of them), else a layer table that needs the files; None when all was shown."""
    data = described["data"]
    if data["unusable"]:
        return f"the data files are damaged or wrong; train and eval would stop with: {data['unread']}"
    return described["missing"]


def count(loader: Any) -> int:
    return sum(len(batch[0]) for batch in loader)


def describe_model(config: Config, info: "DataInfo", inputs: tuple["torch.Tensor", ...] | None) -> dict[str, Any]:
    """The model's parameter counts and the layers of each network that the task trains; parameters
    outside those (a GAN's moving average of its generator) under `untrained`. Without `inputs` (data
    not read), zeros of the input shape; classes not known yet, UNKNOWN_CLASSES (`classes_assumed`)."""
    import torch

    from torchlab.models import build_model, for_checkpoint
    from torchlab.registry import TASKS
    from torchlab.tasks import check_model_needs

    assumed = UNKNOWN_CLASSES if inputs is None and info.num_classes is None else None
    with for_checkpoint():  # the architecture only: no ImageNet or GloVe weights fetched or read
        model = build_model(config.model, dataclasses.replace(info, num_classes=info.num_classes or assumed))
    model.eval()
    candidates = [inputs or (torch.zeros(2, *info.input_shape),)]
    if callable(getattr(model, "noise", None)):  # a GAN's generator takes noise
        candidates.append((model.noise(2),))
    task = TASKS.get(config.task.name)
    check_model_needs(task, config.task.name, model, info)
    networks = task.networks_of(model)
    tables = {name: layer_rows(net, candidates) for name, net in networks.items()}
    trained = {id(p) for net in networks.values() for p in net.parameters()}
    others = [(name, m) for name, m in model.named_children() if not any(m is net for net in networks.values())]
    untrained = {f"{name} ({type(m).__name__})": untrained_count(m, trained) for name, m in others}
    return {
        "name": config.model.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "classes_assumed": assumed,
        "networks": tables,
        "untrained": {name: n for name, n in untrained.items() if n},
    }


def untrained_count(module: "nn.Module", trained: set[int]) -> int:
    """The elements of `module`'s parameters that no trained network holds (a shared weight is theirs)."""
    return sum(p.numel() for p in module.parameters() if id(p) not in trained)


def layer_rows(net: "nn.Module", candidates: list[tuple]) -> list[dict[str, Any]]:
    """One row per module of `net` down to DEPTH levels (torchinfo; the network itself first): its first
    call's output shape on the first of `candidates` that `net` takes, how often it was called (a cell
    run at every time step is one row), and the parameters it holds that no row below it lists, so that
    the rows sum to the network's."""
    layers = [layer for layer in torchinfo_summary(net, candidates).summary_list if layer.depth <= DEPTH]
    calls = Counter(layer.layer_id for layer in layers)
    return [
        {
            "layer": f"{'  ' * layer.depth}{layer.class_name}",
            "output": list(layer.output_size) if layer.output_size else None,
            "calls": calls[layer.layer_id] if layer.executed else 0,
            "parameters": own if (own := own_parameters(layer)) or layer.is_leaf_layer else None,
        }
        for layer in layers
        if not layer.is_recursive  # a module's later calls: counted above, listed once
    ]


def own_parameters(layer: "torchinfo.layer_info.LayerInfo") -> int:
    """A row's parameters: those of its module that no row below it lists (all, at the last level listed)."""
    return layer.num_params if layer.depth == DEPTH else layer.leftover_params()


def torchinfo_summary(net: "nn.Module", candidates: list[tuple]) -> "torchinfo.ModelStatistics":
    """torchinfo's summary of `net` run on the first of `candidates` that it takes; without a run (it
    takes none: a critic given noise), its modules and parameters only."""
    import torchinfo

    for inputs in candidates:
        try:
            return torchinfo.summary(net, input_data=list(inputs), depth=DEPTH, device="cpu", verbose=0)
        except Exception:  # noqa: BLE001  (torchinfo re-raises whatever the forward raised)
            continue
    return torchinfo.summary(net, depth=DEPTH, device="cpu", verbose=0)


def render(described: dict[str, Any]) -> str:
    """`describe`'s result as the text `torchlab show` prints."""
    import yaml

    lines = [f"{described['recipe']}: {described['description']}", "", "config (resolved):"]
    dumped = yaml.safe_dump(described["config"], sort_keys=False, allow_unicode=True).splitlines()
    meaning_of, path = described["meanings"], []
    for line in dumped:
        depth = (len(line) - len(line.lstrip())) // 2
        key = line.strip().split(":", 1)[0]
        path = [*path[:depth], key]
        meaning = meaning_of.get(".".join(path), "") if not line.strip().startswith("-") else ""
        lines.append(f"  {line:<44}  # {meaning}" if meaning else f"  {line}")
    lines += ["", render_data(described["data"]), render_task(described["task"])]
    if described["model"]:
        lines += ["", *render_model(described["model"])]
    return "\n".join(lines)


def render_data(data: dict[str, Any]) -> str:
    if data["sizes"] is not None:
        said = ", ".join(f"{split} {n:,}" for split, n in data["sizes"].items())
    elif data["unusable"]:
        said = "not read, its files are damaged or wrong (the error below)"
    else:
        said = f"not read ({data['unread']})"
    if data["input_shape"] is None:
        return f"data: {said}"
    classes = f", {counted(data['classes'], 'class', 'classes')}" if data["classes"] else ""
    if data["sizes"] is None and not data["classes"]:
        classes = ", classes unknown until the data are read"
    return f"data: {said}; inputs {tuple(data['input_shape'])}{classes}"


def render_task(task: dict[str, Any]) -> str:
    """The task's line: its name and its model family, the registered models made for it (`model.name=NAME`)."""
    family = ", ".join(task["models"]) or "none registered (a model of yours: --import)"
    return f"task: {task['name']}; models made for it: {family}"


def render_model(model: dict[str, Any]) -> list[str]:
    """The model's counts, then a table per trained network (a section each when there are several)."""
    lines = [f"model {model['name']}: {counted(model['parameters'], 'parameter')} ({model['trainable']:,} trainable)"]
    if model["classes_assumed"]:
        lines.append(
            f"  (the classes are not known until the data are read: the head is shown for {model['classes_assumed']})"
        )
    several = len(model["networks"]) > 1
    for name, rows in model["networks"].items():
        total = sum(row["parameters"] or 0 for row in rows)
        lines += ["", f"{name}: {counted(total, 'parameter')}"] if several else []
        lines += table(rows)
    for name, n in model["untrained"].items():
        lines += ["", f"{name}: {counted(n, 'parameter')}, in the model but in no network the task trains"]
    return lines


def table(rows: list[dict[str, Any]]) -> list[str]:
    width = max([len(row["layer"]) for row in rows] + [5])
    lines = [f"  {'layer':<{width}}  {'output':<22}  parameters"]
    for row in rows:
        output = str(tuple(row["output"])) if row["output"] else "-"
        output += f" x{row['calls']}" if row["calls"] > 1 else ""
        params = f"{row['parameters']:,}" if row["parameters"] is not None else ""
        lines.append(f"  {row['layer']:<{width}}  {output:<22}  {params}")
    return lines
