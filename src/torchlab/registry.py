"""Name -> component registries, filled by decorators (timm's register_model, in small)."""

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
import warnings
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from torchlab.core.errors import TorchlabError, did_you_mean
from torchlab.core.files import user_path

T = TypeVar("T")


class Registry(Generic[T]):
    """A plain dict of named components with an optional config dataclass each.

    `package` names the package (or module) whose modules register the entries: they are
    imported on first lookup, so a new file in that package is all it takes to add a component.
    That import is by name, not a static one: the registries live here, below `config`, so that
    config can pick a section's dataclass by name while the packages that fill them import config.
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self.entries: dict[str, T] = {}
        self.configs: dict[str, type] = {}
        self.tasks: dict[str, tuple[str, ...]] = {}  # a model's family: the tasks it is made for

    def load(self) -> None:
        load_plugins()
        if self.package:
            package, self.package = importlib.import_module(self.package), None
            for module in pkgutil.iter_modules(getattr(package, "__path__", [])):  # a module has none
                importlib.import_module(f"{package.__name__}.{module.name}")

    def register(self, name: str, config: type | None = None, tasks: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator: `@MODELS.register("mlp", config=MLPConfig, tasks=("classify",))`; `tasks`: those a model
        is made for (none said: any task may try it)."""

        def add(obj: T) -> T:
            if name in self.entries:
                warnings.warn(f"{self.kind} '{name}' registered twice; the later one wins", stacklevel=2)
            self.entries[name] = obj
            if config is not None:
                self.configs[name] = config
            if tasks:
                self.tasks[name] = tasks
            return obj

        return add

    def get(self, name: str) -> T:
        self.load()
        if name not in self.entries:
            known = ", ".join(sorted(self.entries))
            raise TorchlabError(f"unknown {self.kind} '{name}'{did_you_mean(name, self.entries)}; known: {known}")
        return self.entries[name]

    def config_class(self, name: str, default: type) -> type:
        self.get(name)  # a clear error for an unknown name
        return self.configs.get(name, default)

    def names(self) -> list[str]:
        self.load()
        return sorted(self.entries)

    def made_for(self, task: str) -> list[str]:
        """The entries registered as made for `task` (a model family's members)."""
        self.load()
        return sorted(name for name, tasks in self.tasks.items() if task in tasks)

    def __contains__(self, name: Any) -> bool:
        self.load()
        return name in self.entries


# The registries that pick a config section's dataclass by `name` (see `config.build_config`).
DATASETS: Registry = Registry("dataset", package="torchlab.data")
MODELS: Registry = Registry("model", package="torchlab.models")
TASKS: Registry = Registry("task", package="torchlab.tasks")
OPTIMIZERS: Registry = Registry("optimizer", package="torchlab.engine.optim")
SCHEDULES: Registry = Registry("schedule", package="torchlab.engine.optim")


def import_user_code(specs: list[str]) -> list[str]:
    """Import a user's modules (`mymodels`) or files (`path/to/mymodels.py`) so that the components in
    them register themselves; returns the specs as a run records them (files as absolute paths)."""
    return [import_user_module(spec)[0] for spec in specs]


def import_user_module(spec: str) -> tuple[str, ModuleType]:
    """(the spec as a run records it, the module) for a module name or a .py file.

    A file is imported under a name of its own, once per process: a script that also trains should
    keep that part under `if __name__ == "__main__":`, as any imported script must. The script this
    process runs is not imported again: its module is `__main__`."""
    if not spec.strip():  # it said "import  failed: ValueError: Empty module name"
        raise TorchlabError("an import (--import, $TORCHLAB_IMPORT, imports:) is empty: name a module or a .py file")
    if spec.endswith(".py") or os.sep in spec:
        path = user_path(spec).resolve()
        if not path.is_file():
            raise TorchlabError(f"import {spec}: no such file")
        if path == running_script():  # this process runs it: its classes exist, and running it again would train again
            return str(path), sys.modules["__main__"]
        name = f"torchlab_user_{path.stem}_{zlib.crc32(str(path).encode()):08x}"
        if str(path.parent) not in sys.path:  # its sibling modules import as beside a script run by python,
            sys.path.append(str(path.parent))  # but after the installed packages, which they must not shadow
        if name not in sys.modules:
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                _run_user_code(spec, partial(module_spec.loader.exec_module, module))
            except TorchlabError:
                del sys.modules[name]
                raise
        return str(path), sys.modules[name]
    if str(Path.cwd()) not in sys.path:  # `torchlab` (a console script) does not put it there itself
        sys.path.append(str(Path.cwd()))
    _run_user_code(spec, partial(importlib.import_module, spec))
    return spec, sys.modules[spec]


def running_script() -> Path | None:
    """The file that `python FILE.py` (or `python -m`) runs in this process, if any."""
    file = getattr(sys.modules.get("__main__"), "__file__", None)
    return Path(file).resolve() if file else None


def _run_user_code(spec: str, load: Callable[[], Any]) -> None:
    try:
        load()
    except ModuleNotFoundError as err:
        if err.name == spec:
            raise TorchlabError(f"import {spec}: no such module (a file? give its path, ending in .py)") from None
        raise TorchlabError(f"import {spec} failed: {err}") from err
    except TorchlabError:
        raise
    except Exception as err:  # noqa: BLE001  (the user's code: one line; --debug shows where)
        raise TorchlabError(f"import {spec} failed: {type(err).__name__}: {err}") from err


def user_sources(entries: list[Any]) -> list[str]:
    """What to import again for these registered components to be found: the modules (or files)
    outside torchlab that define them."""
    sources = []
    for entry in entries:
        while isinstance(entry, partial):  # a partial's own __module__ is "functools"
            entry = entry.func
        module = sys.modules.get(getattr(entry, "__module__", "") or "")
        if module is None or module.__name__.split(".")[0] == "torchlab":
            continue
        file = getattr(module, "__file__", None)
        if module.__name__.startswith("torchlab_user_") or module.__name__ == "__main__":
            if file:
                sources.append(str(Path(file).resolve()))
        else:
            sources.append(module.__name__)
    return list(dict.fromkeys(sources))


def load_plugins() -> None:
    """Import the installed packages that register components through the `torchlab.plugins`
    entry-point group (in their pyproject: `[project.entry-points."torchlab.plugins"] name = "pkg.module"`)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry_point in importlib.metadata.entry_points(group="torchlab.plugins"):
        _run_user_code(entry_point.value, entry_point.load)


_plugins_loaded = False
