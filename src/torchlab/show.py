"""`torchlab show RECIPE`: a recipe before it trains: every resolved key with its meaning, the data's
split sizes, and the model's layers with output shapes and parameter counts (torchinfo).

A key's meaning is the comment on its line in the dataclass that declares it (a component's own
config first, then the classes it extends), else the general meaning of that key's name below.
"""

import dataclasses
import inspect
import re
from functools import cache
from typing import Any

from torchlab.config import Config

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
    "seed": "seed of initialisation, shuffling, dropout and augmentation",
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
    """What `torchlab show` prints: the resolved config and each key's meaning, the data's split sizes,
    the model's parameter counts and its layers (torchinfo: output shapes, parameters)."""
    import torch  # here: the meanings above need no torch
    import torchinfo

    from torchlab.data import build_data, close_data
    from torchlab.models import build_model

    data = build_data(config.data, torch.device("cpu"))
    model = build_model(config.model, data.info)

    def count(loader: Any) -> int:
        return sum(len(batch[0]) for batch in loader)

    try:
        sizes = {"train": data.train_size, "val": count(data.val_loader()), "test": count(data.test_loader())}
        *inputs, _ = next(iter(data.val_loader()))
    finally:
        close_data(data)
    try:  # shapes from a real batch of two; a model that takes something else (a GAN's noise) gets none
        stats = torchinfo.summary(model, input_data=[x[:2] for x in inputs], depth=4, verbose=0)
    except Exception:  # noqa: BLE001  (torchinfo re-raises whatever the forward raised)
        stats = torchinfo.summary(model, depth=4, verbose=0)
    layers = [
        {
            "layer": f"{'  ' * (layer.depth - 1)}{layer.class_name}",
            "output": list(layer.output_size) if layer.output_size else None,
            "parameters": layer.num_params if layer.is_leaf_layer or not layer.children else None,
        }
        for layer in stats.summary_list
        if layer.depth > 0
    ]
    return {
        "recipe": config.recipe,
        "description": config.description,
        "config": config.to_dict(),
        "meanings": meanings(config),
        "data": {"sizes": sizes, "input_shape": list(data.info.input_shape), "classes": data.info.num_classes},
        "model": {
            "name": config.model.name,
            "parameters": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "layers": layers,
        },
    }


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
    data, model = described["data"], described["model"]
    sizes = ", ".join(f"{split} {n:,}" for split, n in data["sizes"].items())
    classes = f", {data['classes']} classes" if data["classes"] else ""
    lines += ["", f"data: {sizes}; inputs {tuple(data['input_shape'])}{classes}"]
    lines += ["", f"model {model['name']}: {model['parameters']:,} parameters ({model['trainable']:,} trainable)"]
    width = max([len(layer["layer"]) for layer in model["layers"]] + [5])
    lines.append(f"  {'layer':<{width}}  {'output':<22}  parameters")
    for layer in model["layers"]:
        output = str(tuple(layer["output"])) if layer["output"] else "-"
        params = f"{layer['parameters']:,}" if layer["parameters"] is not None else ""
        lines.append(f"  {layer['layer']:<{width}}  {output:<22}  {params}")
    return "\n".join(lines)
