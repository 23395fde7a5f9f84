"""Flags that a `with` block turns on for the code it runs: `show` looking at data without writing,
models rebuilt for a checkpoint's weights, passes that see whole sets under torchrun."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Flag:
    """Off, except inside `with flag.on():` (nested blocks too) and in what that block calls. Kept in a
    ContextVar: another thread or asyncio task keeps its own."""

    def __init__(self, name: str) -> None:
        self._value = ContextVar(name, default=False)

    @contextmanager
    def on(self) -> Iterator[None]:
        token = self._value.set(True)
        try:
            yield
        finally:
            self._value.reset(token)

    def is_on(self) -> bool:
        return self._value.get()
