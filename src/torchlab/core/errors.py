"""Errors that the command line turns into exit status 2 and one clear line."""

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager


class TorchlabError(Exception):
    """Bad usage, config, data or checkpoint: the user can fix it. Exit status 2."""


class DataNotFound(TorchlabError):
    """A dataset's files are absent (not downloaded yet, a folder not set or not there); present but
    damaged files are a plain TorchlabError."""


class RefusedTogether(TorchlabError):
    """Under torchrun: a refusal that every rank agreed on as it joined the process group (the first
    refusing rank's), which rank 0 says for all."""


class DivergedError(TorchlabError):
    """The loss became NaN or infinite."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to a misspelt `word`, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def closest_value(word: str, choices: Mapping[str, str]) -> str | None:
    """The value of the key nearest to `word`: a short form matched, the full one given (`epohcs`:
    --epochs); None when no key is close."""
    near = closest(word, choices)
    return choices[near] if near else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' hint for a misspelt name, or '' when nothing is close."""
    return meant_hint(closest(word, choices))


def meant_hint(meant: str | None) -> str:
    """' (did you mean 'x'?)' for what the user likely meant, or '' for None."""
    return f" (did you mean '{meant}'?)" if meant else ""


def out_of_memory(err: BaseException) -> str | None:
    """What an out-of-memory error asked for ("2.0 GiB asked for at once", else its first line), for a
    one-line message; None where `err` is none (Python's MemoryError, torch's on the CPU or a GPU)."""
    text = str(err)
    if not isinstance(err, MemoryError) and not (
        isinstance(err, RuntimeError) and any(s in text for s in ("out of memory", "allocate memory"))
    ):
        return None
    if asked := re.search(r"allocate (\d+) bytes", text):  # the CPU allocator's
        return f"{int(asked[1]) / 2**30:,.1f} GiB asked for at once"
    if asked := re.search(r"Tried to allocate ([\d.]+ \w+)", text):  # CUDA's
        return f"{asked[1]} asked for at once"
    return next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)[:160]


def memory_refusal(err: BaseException, doing: str, batch: str, lower: str = "", kept: str = "") -> str | None:
    """The one line that says an out-of-memory `err`, met `doing` something ("evaluating"): what it asked for,
    the batch size that applied (`batch`: "data.eval_batch_size=256"), what to `lower` (the setting; '': the
    model's size alone) and `kept`, what a run keeps; None where `err` is no out-of-memory error."""
    if (asked := out_of_memory(err)) is None:
        return None
    remedy = f"{lower} or the model's size" if lower else "the model's size"
    return f"out of memory {doing} ({asked}) with {batch}: lower {remedy}{kept}"


@contextmanager
def memory_named(doing: str, batch: str, lower: str = "", kept: str = "") -> Iterator[None]:
    """Within it, running out of memory is a TorchlabError in `memory_refusal`'s one line, not torch's
    RuntimeError and its traceback."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        if (refusal := memory_refusal(err, doing, batch, lower, kept)) is None:
            raise
        raise TorchlabError(refusal) from None
