"""Config values are range-checked before any data loads (issue 24, the config-value cases): every
numeric key of every recipe refuses NaN, infinity, negative values and its own out-of-range
values with one line that names the key, the value and what is allowed."""

import dataclasses
import typing
from pathlib import Path

import pytest

from torchlab.cli import main
from torchlab.config import Config
from torchlab.core.errors import TorchlabError
from torchlab.recipes import load_recipe, recipe_names, recipe_raw, resolve

# Keys that must be 1 or more (a size, a count, a step) or above 0: 0 is refused too.
POSITIVE = {
    "batch_size", "eval_batch_size", "log_every", "subset", "eval_subset", "hidden", "latent", "width", "widths",
    "hidden_size", "num_layers", "hidden_sizes", "first_kernel", "blocks", "embed_dim", "num_outputs", "n_critic",
    "samples", "context", "step_size", "milestones", "image_size", "sequences", "test_sequences", "steps",
    "test_steps", "modes", "test_samples", "min_freq", "center_crop", "port", "span", "frequency", "div_factor",
    "final_div_factor", "pct_start", "factor", "warmup_start_factor", "max_vocab", "max_length",
}  # fmt: skip
# The smallest value above each bounded key's range.
ABOVE = {
    "dropout": "1", "hflip": "1.5", "vflip": "1.5", "scale": "1", "label_smoothing": "1.5", "confidence": "1.5",
    "rho": "1.5", "pct_start": "1", "factor": "1", "base_momentum": "1.5", "max_momentum": "1.5", "test_split": "1",
    "port": "65536", "split_seed": str(2**64), "seed": str(2**63), "warmup_start_factor": "1.5", "betas": "[0.9, 1]",
    "val_split": "1", "fold": "99", "folds": "1",
}  # fmt: skip

# Checked against the images once they are read (exit 2, one line, before training): the limit is their size.
CHECKED_WITH_THE_DATA = {"data.center_crop"}


def numeric_fields(obj: object, prefix: str) -> dict[str, type]:
    """Dotted key -> the numeric type (int or float) of every numeric field, nested sections included."""
    found: dict[str, type] = {}
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        if dataclasses.is_dataclass(value):
            found.update(numeric_fields(value, f"{prefix}{f.name}."))
            continue
        args = typing.get_args(hint)
        inner = typing.get_args(args[0]) if args and typing.get_origin(args[0]) in (list, tuple) else ()
        kinds = {hint, *args, *inner}
        for kind in (float, int):
            if kind in kinds and bool not in kinds:
                found[f"{prefix}{f.name}"] = kind
                break
    return found


def sections(config: Config) -> dict[str, object]:
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if dataclasses.is_dataclass(getattr(config, f.name))
    }


def cases() -> list[tuple[str, str, str]]:
    """(recipe, key, bad value) for every numeric key of every recipe; a key of a section class
    that an earlier recipe has already shown (the same checks) is not tried again."""
    found, seen = [], set()
    for recipe in recipe_names():
        config = load_recipe(recipe)
        for name, section in sections(config).items():
            for key in numeric_fields(section, f"{name}."):
                if (type(section), key) in seen or key in CHECKED_WITH_THE_DATA:
                    continue
                seen.add((type(section), key))
                is_list = isinstance(getattr_dotted(config, key), list | tuple)
                last = key.rsplit(".", 1)[1]
                bad = ["nan", "-1", "1e999", "-inf"]
                if last in POSITIVE:
                    bad.append("0")
                if last in ABOVE:
                    bad.append(ABOVE[last])
                for value in bad:
                    if is_list and not value.startswith("["):
                        value = f"[{value}]"
                    found.append((recipe, key, value))
    return found


def getattr_dotted(obj: object, key: str) -> object:
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


CASES = cases()


def test_the_walk_covers_every_recipe_and_many_keys():
    assert len({recipe for recipe, _, _ in CASES}) >= 10
    assert len({key for _, key, _ in CASES}) >= 60, sorted({key for _, key, _ in CASES})
    print(f"\nrange cases tried: {len(CASES)} values of {len({key for _, key, _ in CASES})} keys")


def test_every_numeric_key_of_every_recipe_refuses_out_of_range_values():
    """In process, through the recipe loader the command line uses: one TorchlabError per value,
    naming the key (its first line), before any data is read."""
    accepted, raw = [], {recipe: recipe_raw(recipe) for recipe in recipe_names()}
    for recipe, key, value in CASES:
        try:
            resolve(raw[recipe], [f"{key}={value}"])
        except TorchlabError as err:
            message = str(err)
            assert "\n" not in message and key.split(".")[-1] in message, (recipe, key, value, message)
            continue
        accepted.append((recipe, key, value))
    assert not accepted, f"{len(accepted)} out-of-range values accepted: {accepted[:20]}"


# The values the issue found accepted, or crashing after the data had loaded.
FROM_THE_ISSUE = [
    ("mnist-mlp-regularized", "model.dropout=2", "model.dropout"),
    ("mnist-mlp-regularized", "model.dropout=-0.5", "model.dropout"),
    ("mnist-cnn", "schedule.name=step schedule.step_size=0", "schedule.step_size"),
    ("folder-resnet18", "data.workers=-1", "data.workers"),
    ("folder-resnet18", "data.image_size=0", "data.image_size"),
    ("mnist-mlp", "model.hidden=[-3]", "model.hidden[0]"),
    ("mnist-mlp", "train.device=meta", "train.device"),
    ("mnist-mlp", f"data.split_seed={2**64}", "data.split_seed"),
    ("mnist-mlp", "data.subset=-1", "data.subset"),
    ("mnist-mlp", "train.min_delta=nan", "train.min_delta"),
    ("mnist-mlp", "train.clip_grad_norm=-1", "train.clip_grad_norm"),
    ("mnist-mlp", "train.clip_grad_value=0", "train.clip_grad_value"),  # zeroes every gradient
    ("sst2-lstm", "optim.eps=0", "optim.eps"),  # divides by zero where a gradient is zero
    ("folder-resnet18", "data.workers=1000", "data.workers"),  # minutes of starting processes
    ("mnist-cnn", "data.augment.rotation=nan", "data.augment.rotation"),
    ("mnist-mlp", "data.val_split=1.0", "data.val_split"),
]


@pytest.mark.parametrize(("recipe", "overrides", "key"), FROM_THE_ISSUE)
def test_the_issues_out_of_range_values_exit_2_with_one_line_before_anything_is_written(
    recipe, overrides, key, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["train", recipe, *overrides.split(), "--data-dir", str(tmp_path / "nodata"), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"torchlab: error: {key}: expected "), err  # key, allowed range, value
    assert "dataset not found" not in err and not out.exists()


def test_every_recipe_still_loads_with_its_own_values():
    for recipe in recipe_names():
        assert load_recipe(recipe).recipe


def test_edge_values_inside_the_ranges_are_accepted():
    load_recipe(
        "mnist-mlp-regularized", ["model.dropout=0", "data.val_split=0.5", "data.split_seed=18446744073709551615"]
    )
    load_recipe("mnist-mlp", ["train.clip_grad_norm=1e-6", "train.device=cuda", "data.val_split=2", "data.val_split=0"])
    load_recipe("folder-resnet18", ["data.workers=0", "data.workers=64", "data.image_size=1"])


def test_a_recipe_file_with_an_out_of_range_value_names_the_key(tmp_path: Path, capsys):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("base: mnist-mlp\nmodel:\n  dropout: .nan\n")
    assert main(["train", str(recipe), "--data-dir", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "model.dropout: expected a value in [0, 1), got nan" in capsys.readouterr().err
