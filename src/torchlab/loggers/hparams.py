"""Which config keys a run changed from its recipe, and which keys are hyper-parameters at all.

The reproduce command and the "This run changed" line of report.html, TensorBoard's HPARAMS tab and
the comparison page all read a run's config through these functions, so that they agree on what the
user chose.
"""

import json
from pathlib import Path
from typing import Any

from torchlab.config import flatten
from torchlab.core.errors import TorchlabError
from torchlab.recipes import load_recipe, recipe_names

LABELS = ("recipe", "description", "source", "imports")  # name the run; change nothing it computes
# Where and how a run is watched or stored, not what it learns: never a hyper-parameter.
NOT_HYPERPARAMETERS = (
    "log.",
    "data.root",
    "data.download",
    "data.workers",
    "data.eval_batch_size",
    "train.device",
    "train.log_every",
)


def plain(value: Any) -> Any:
    """A config value as YAML and JSON hold it: tuples as lists, so that a recipe's tuple default
    equals the list config.yaml read back."""
    return json.loads(json.dumps(value))


def is_hyperparameter(key: str) -> bool:
    return key not in LABELS and not key.startswith(NOT_HYPERPARAMETERS)


def recipe_differences(config: dict[str, Any]) -> dict[str, Any] | None:
    """The flat keys (`optim.lr`) where a resolved config differs from its built-in recipe, compared
    after normalising types; a section's `name` comes first, since naming another component starts
    that section from its defaults. None for a recipe torchlab does not know (a user's YAML)."""
    recipe = config.get("source") or config.get("recipe", "")  # a user's YAML: the file it came from
    if recipe not in recipe_names() and not Path(recipe).is_file():
        return None
    run = {k: plain(v) for k, v in flatten(config).items() if k not in LABELS}
    try:  # None where the recipe no longer resolves alone: a component this torchlab no longer has, a
        # recipe file edited since, or one with a value that only the run's overrides made valid
        recipe_names_of = flatten(load_recipe(recipe).to_dict())
        renamed = {k: v for k, v in run.items() if k.endswith(".name") and v != recipe_names_of.get(k)}
        base = {
            k: plain(v)
            for k, v in flatten(load_recipe(recipe, [f"{k}={v}" for k, v in renamed.items()]).to_dict()).items()
        }
    except TorchlabError:
        return None
    return {**renamed, **{k: v for k, v in run.items() if k not in base or base[k] != v}}


def changed_hyperparameters(config: dict[str, Any]) -> dict[str, Any] | None:
    """`recipe_differences` less the keys that change nothing a run learns (`log.quiet`, `data.root`):
    what a learner sets to reproduce the result. None for a recipe torchlab does not know."""
    differences = recipe_differences(config)
    return None if differences is None else {k: v for k, v in differences.items() if is_hyperparameter(k)}
