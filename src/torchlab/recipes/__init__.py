"""Recipes: one YAML file each in this folder, named after the recipe (`mnist-mlp.yaml`).

A recipe file (here or anywhere: `torchlab train my.yaml`) may start from another with
`base: mnist-mlp` (a recipe name, or a YAML path relative to the file); its own keys then override
the base's, section by section. A file or override that names another component (`model.name`,
`data.name`, ...) starts that section from the new component's own defaults. The files a recipe
`imports` are found beside it (`imports: [mymodels.py]` or `[mymodels]`), and add to its base's.
"""

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any

from torchlab.config import SECTION_REGISTRIES, Config, TaskConfig, apply_override, build_config, read_yaml
from torchlab.core.errors import TorchlabError, closest, meant_hint
from torchlab.core.files import user_path

RECIPE_DIR = Path(str(resources.files(__package__)))


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def recipe_path(recipe: str, relative_to: Path | None = None) -> Path:
    """The YAML file of a recipe given by name, or by a path (relative to `relative_to`'s folder)."""
    names = recipe_names()
    if recipe.endswith((".yaml", ".yml")):
        path = user_path(recipe)
        path = path if path.is_absolute() or relative_to is None else relative_to.parent / path
        if not path.exists() and Path(recipe).stem in names:  # `torchlab train mnist-mlp.yaml`
            raise TorchlabError(f"config file not found: {path} (did you mean the recipe '{Path(recipe).stem}'?)")
        return path
    if recipe not in names:
        raise TorchlabError(f"unknown recipe '{recipe}'{recipe_hint(recipe, names)}; `torchlab list` shows them all")
    return RECIPE_DIR / f"{recipe}.yaml"


def recipe_hint(recipe: str, names: list[str]) -> str:
    """What an unknown recipe name likely meant: a run directory's config, a YAML file of that
    name without its suffix (`my` for my.yaml), or a close recipe name."""
    given = user_path(recipe)
    if (given / "config.yaml").is_file():
        return (
            f" ({recipe} is a run: name its config, {given / 'config.yaml'}, or continue it: torchlab resume {recipe})"
        )
    files = [f"{recipe}{suffix}" for suffix in (".yaml", ".yml") if Path(f"{given}{suffix}").is_file()]
    return meant_hint(files[0] if files else closest(recipe, names))


def recipe_raw(recipe: str, relative_to: Path | None = None, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw dict of a recipe given by name, or by the path of a YAML file, with its `base` merged in."""
    path = recipe_path(recipe, relative_to)
    if path.resolve() in seen:
        raise TorchlabError(f"{path}: `base` leads back to a file it started from")
    own = read_yaml(path)
    base = own.pop("base", None)
    if base is not None and not isinstance(base, str):
        raise TorchlabError(f"{path}: base must be a recipe name or a YAML path, got {base!r}")
    inherited = recipe_raw(base, path, (*seen, path.resolve())) if base is not None else {}
    if isinstance(own.get("imports"), list):  # a base's imports stay: its components need them
        kept = inherited.get("imports") if isinstance(inherited.get("imports"), list) else []
        own["imports"] = [*kept, *(beside(spec, path.parent) for spec in own["imports"])]
    raw = merge(inherited, own)
    raw["recipe"] = own.get("recipe", path.stem) if recipe.endswith((".yaml", ".yml")) else recipe
    raw["source"] = str(path.resolve()) if recipe.endswith((".yaml", ".yml")) else ""
    return raw


def recipe_task(raw: dict[str, Any]) -> str:
    """The task a recipe's raw dict trains (`task.name`, else the default task), read without torch."""
    task = raw.get("task")
    return str(task.get("name", TaskConfig.name)) if isinstance(task, dict) else TaskConfig.name


def dict_raw(recipe: dict[str, Any]) -> dict[str, Any]:
    """A recipe given as a dict, read as its YAML file would be: its `base` merged in, named as its
    `recipe:` says, else as its base, else 'python'."""
    own = copy.deepcopy(recipe)
    base = own.pop("base", None)
    if base is not None and not isinstance(base, str):
        raise TorchlabError(f"base must be a recipe name or a YAML path, got {base!r}")
    return {"recipe": "python", **(merge(recipe_raw(base), own) if base is not None else own)}


def beside(spec: Any, folder: Path) -> Any:
    """A recipe's `imports` entry as the recipe's folder names it: a file path, or a module name
    with a .py file there, becomes that file's absolute path; other modules are left to sys.path."""
    if not isinstance(spec, str):
        return spec  # build_config names the wrong type
    if spec.endswith(".py") or os.sep in spec:
        return str(folder.resolve() / user_path(spec))
    return str(module.resolve()) if (module := folder / f"{spec}.py").is_file() else spec


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, section by section; a section that names another component
    (`name`) replaces the base's section instead of adding to it."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        section = merged.get(key)
        renamed = isinstance(value, dict) and isinstance(section, dict) and value.get("name", section.get("name"))
        if key in SECTION_REGISTRIES and renamed and renamed != section.get("name"):
            merged[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(section, dict):
            merged[key] = merge(section, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_recipe(recipe: str, overrides: list[str] = ()) -> Config:
    """Defaults <- recipe (<- its base) <- overrides, resolved and type-checked. An override of a
    section's `name` (`model.name=cnn`) starts that section from the new component's defaults, and
    the section's other overrides apply to that, whatever their order."""
    return resolve(recipe_raw(recipe), overrides)


def resolve(raw: dict[str, Any], overrides: list[str] = ()) -> Config:
    """A raw config dict (a recipe's, a run's) with `overrides` applied, as `load_recipe` applies them."""
    raw = copy.deepcopy(raw)
    for override in overrides:
        probe: dict[str, Any] = {}
        apply_override(probe, override)
        ((section, value),) = probe.items()
        renamed = section in SECTION_REGISTRIES and isinstance(value, dict) and "name" in value
        if renamed and isinstance(raw.get(section), dict) and raw[section].get("name") != value["name"]:
            raw[section] = {}
    for override in overrides:
        apply_override(raw, override)
    return build_config(raw)
