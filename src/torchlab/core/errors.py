"""Errors that the command line turns into exit status 2 and one clear line."""

import difflib
from collections.abc import Iterable, Mapping


class TorchlabError(Exception):
    """Bad usage, config, data or checkpoint: the user can fix it. Exit status 2."""


class DataNotFound(TorchlabError):
    """A dataset's files are absent (not downloaded yet, a folder not set or not there); present but
    damaged files are a plain TorchlabError."""


class DivergedError(TorchlabError):
    """The loss became NaN or infinite."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to a misspelt `word`, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def closest_value(word: str, choices: Mapping[str, str]) -> str | None:
    """The value of the key nearest to `word`: a short form matched, the full one given (`epohcs`:
    --epochs, `epochs`: train.epochs); None when no key is close."""
    near = closest(word, choices)
    return choices[near] if near else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' hint for a misspelt name, or '' when nothing is close."""
    return meant_hint(closest(word, choices))


def meant_hint(meant: str | None) -> str:
    """' (did you mean 'x'?)' for what the user likely meant, or '' for None."""
    return f" (did you mean '{meant}'?)" if meant else ""
