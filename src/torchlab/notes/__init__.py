"""The notes, runnable: one module per section of the notes (../shared/notes/pytorch-notes.md).

Each section module has a docstring (its first line is the title), `BLOCKS` (the headings of the
notes' code blocks it stands for) and `main()`, which prints what the section shows. Its other
functions return the facts that tests/test_notes.py asserts: what the notes state, or the truth
where they are wrong (docs/corrections.md).
"""

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import torch

from torchlab.core.errors import TorchlabError, did_you_mean


def sections() -> dict[str, ModuleType]:
    """Every section module by name, in the notes' order (each module's `ORDER`)."""
    found = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return {m.__name__.rsplit(".", 1)[1]: m for m in sorted(found, key=lambda m: m.ORDER)}


def title(module: ModuleType) -> str:
    return (module.__doc__ or "").strip().splitlines()[0]


def run(name: str) -> None:
    """Run one section's example; an unknown name is a TorchlabError with a suggestion."""
    found = sections()
    if name not in found:
        raise TorchlabError(f"unknown notes section '{name}'{did_you_mean(name, found)}; see `torchlab notes`")
    torch.manual_seed(0)
    found[name].main()


def show(label: str, value: Any) -> None:
    """Print one fact: a label, then the value (tensors on their own lines)."""
    if isinstance(value, torch.Tensor) and value.dim() > 1:
        print(f"{label}:\n{value}")
    else:
        print(f"{label}: {value}")
