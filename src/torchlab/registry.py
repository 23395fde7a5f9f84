"""Name -> component registries, filled by decorators (timm's register_model, in small)."""

import importlib
import pkgutil
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from torchlab.errors import TorchlabError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A plain dict of named components with an optional config dataclass each.

    `package` names the package whose modules register the entries: they are imported on
    first lookup, so a new file in that package is all it takes to add a component.
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self.entries: dict[str, T] = {}
        self.configs: dict[str, type] = {}

    def load(self) -> None:
        if self.package:
            package, self.package = importlib.import_module(self.package), None
            for module in pkgutil.iter_modules(package.__path__):
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
