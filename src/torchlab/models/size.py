"""A model too large for this machine, refused before it is built.

A size setting far too large (`model.hidden=[1000000000]`) would allocate and initialise weights for
minutes, then die out of memory. The model is built first on PyTorch's meta device, which allocates
nothing (milliseconds), and refused when its weights alone exceed the memory free now (the host's, where
it is built; once built, the accelerator's it trains on, before it moves there). Depth settings
(`num_layers`, `blocks`), whose Python loop is slow even on the meta device, have a range of their own.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from torchlab.core.errors import TorchlabError
from torchlab.core.runtime import available_memory, cpu_streams_kept

# of one stack: a recurrent one (1.4 ms a layer to build, and quadratic on the meta device), an MLP's
# hidden layers, a CNN's widths or stages
MAX_LAYERS = 100
MAX_BLOCKS = 1000  # of a ResNet or DenseNet, a stage's and all (ResNet-1202 has 600): 1 s to build 1000


def check_size(build: Callable[[], nn.Module], settings: dict[str, Any], section: str) -> None:
    """Refuse the model `build()` makes when its parameters and buffers exceed the memory free now (or
    a tensor's size overflows), naming the largest number among its `settings` (as `section.KEY=VALUE`)."""
    free = available_memory()
    try:
        with torch.device("meta"), cpu_streams_kept():  # a constructor's draws: the real build's again
            model = build()
    except Exception as err:  # an estimate only: the real build, next, raises what this one met
        if isinstance(err, RuntimeError) and "overflow" in str(err):  # "Storage size calculation overflowed"
            raise TorchlabError(
                f"{section}: too large for any memory ({one_line(err)}){asked(settings, section)}; lower it"
            ) from None
        return
    if free is not None and weights_bytes(model) > free:
        raise TorchlabError(f"{section}: {too_large(model, free)}{asked(settings, section)}; lower it")


def check_device_memory(model: nn.Module, device: torch.device) -> None:
    """Refuse a model built in host memory (which `check_size` measured) whose weights exceed the memory
    free on the accelerator it trains on, before they are moved there."""
    if device.type != "cpu" and (free := free_memory(device)) is not None and weights_bytes(model) > free:
        raise TorchlabError(f"model: {too_large(model, free, f' on {device}')}; lower its size")


def weights_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def too_large(model: nn.Module, free: int, where: str = "") -> str:
    count = sum(t.numel() for t in model.parameters())
    return (
        f"{type(model).__name__} of {count:,} parameters needs {in_bytes(weights_bytes(model))} for its weights "
        f"alone, more than the {in_bytes(free)} of memory free{where}"
    )


def free_memory(device: torch.device) -> int | None:
    """Bytes free on `device`: a CUDA device's, else this host's (`available_memory`)."""
    return torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else available_memory()


def in_bytes(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def one_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def asked(settings: dict[str, Any], section: str) -> str:
    """` (the largest size asked: SECTION.KEY=VALUE)`, the setting holding the largest integer, or ''."""
    sized = [(key, value) for key, value in settings.items() if biggest(value)]
    largest = max(sized, key=lambda kv: biggest(kv[1]), default=None)
    return f" (the largest size asked: {section}.{largest[0]}={largest[1]})" if largest else ""


def biggest(value: Any) -> int:
    """The largest integer in a setting (a list's items too), 0 where it holds none."""
    items = value if isinstance(value, list | tuple) else [value]
    return max((v for v in items if isinstance(v, int) and not isinstance(v, bool)), default=0)


def check_training_memory(optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Refuse, once the model is built, a training whose gradients and optimiser states (Adam's two per
    weight, momentum's one) exceed the memory still free on the weights' device."""
    trained = {opt: params_of(opt) for opt in optimizers.values()}
    first = next((p for params in trained.values() for p in params), None)
    if first is None:
        return
    device = first.device
    free = free_memory(device)
    need = sum(p.numel() * p.element_size() * (1 + states(opt)) for opt, params in trained.items() for p in params)
    if free is not None and need > free:
        count = sum(p.numel() for params in trained.values() for p in params)
        raise TorchlabError(
            f"training needs {in_bytes(need)} for the gradients and optimiser states of {count:,} weights, "
            f"more than the {in_bytes(free)} of memory free on {device}: lower the model's size"
        )


def params_of(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The weights `optimizer` trains."""
    return [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]


def states(optimizer: torch.optim.Optimizer) -> int:
    """How many tensors of a weight's size the optimiser keeps for each: Adam's two moments, momentum's one."""
    defaults = optimizer.defaults
    return (2 if "betas" in defaults else int(bool(defaults.get("momentum")))) + int(bool(defaults.get("amsgrad")))
