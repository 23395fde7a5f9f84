"""Recipes: one YAML file each in this folder, named after the recipe (`mnist-mlp.yaml`)."""

from importlib import resources
from pathlib import Path
from typing import Any

from torchlab.config import Config, apply_override, build_config, read_yaml
from torchlab.core.errors import TorchlabError, did_you_mean

RECIPE_DIR = Path(str(resources.files(__package__)))


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def recipe_raw(recipe: str) -> dict[str, Any]:
    """The raw dict of a recipe given by name, or by the path of a YAML file."""
    path = Path(recipe)
    if recipe.endswith((".yaml", ".yml")):
        raw = read_yaml(path)
        raw.setdefault("recipe", path.stem)
        return raw
    names = recipe_names()
    if recipe not in names:
        raise TorchlabError(f"unknown recipe '{recipe}'{did_you_mean(recipe, names)}; `torchlab list` shows them all")
    raw = read_yaml(RECIPE_DIR / f"{recipe}.yaml")
    raw["recipe"] = recipe
    return raw


def load_recipe(recipe: str, overrides: list[str] = ()) -> Config:
    """Defaults <- recipe <- overrides, resolved and type-checked."""
    raw = recipe_raw(recipe)
    for override in overrides:
        apply_override(raw, override)
    return build_config(raw)
