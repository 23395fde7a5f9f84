"""Name -> component registries, filled by decorators (timm's register_model, in small)."""

import importlib
import pkgutil
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from torchlab.core.errors import TorchlabError, did_you_mean

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

    def load(self) -> None:
        if self.package:
            package, self.package = importlib.import_module(self.package), None
            for module in pkgutil.iter_modules(getattr(package, "__path__", [])):  # a module has none
                importlib.import_module(f"{package.__name__}.{module.name}")

    def register(self, name: str, config: type | None = None) -> Callable[[T], T]:
        """Decorator: `@MODELS.register("mlp", config=MLPConfig)`."""

        def add(obj: T) -> T:
            if name in self.entries:
                warnings.warn(f"{self.kind} '{name}' registered twice; the later one wins", stacklevel=2)
            self.entries[name] = obj
            if config is not None:
                self.configs[name] = config
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

    def __contains__(self, name: Any) -> bool:
        self.load()
        return name in self.entries


# The registries that pick a config section's dataclass by `name` (see `config.build_config`).
DATASETS: Registry = Registry("dataset", package="torchlab.data")
MODELS: Registry = Registry("model", package="torchlab.models")
TASKS: Registry = Registry("task", package="torchlab.tasks")
OPTIMIZERS: Registry = Registry("optimizer", package="torchlab.engine.optim")
SCHEDULES: Registry = Registry("schedule", package="torchlab.engine.optim")
