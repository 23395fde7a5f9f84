"""The `torchlab` command: parses arguments, calls torchlab.api, prints. No training logic.

Exit status: 0 done; 2 bad usage, config, data, checkpoint or a full disk (one line, no
traceback unless --debug); 130 / 143 stopped by SIGINT / SIGTERM; 141 the output's reader left
(a closed pipe); 1 anything unexpected.

Each command imports the api (and with it torch) inside its own function: `torchlab --help` and
`torchlab list` answer without waiting seconds for torch to load.
"""

import argparse
import atexit
import contextlib
import errno
import io
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchlab.core.collector import paused_through_start_up
from torchlab.core.errors import (
    RefusedTogether,
    TorchlabError,
    closest_value,
    did_you_mean,
    meant_hint,
    out_of_memory,
)
from torchlab.core.files import named_path

Command = Callable[[argparse.Namespace], int]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is a TorchlabError (exit 2, one line) that suggests the close match."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("torchlab").strip()  # "torchlab: error: " starts the line already
        raise TorchlabError(f"{command}: {message}" if command else message)

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        # An empty value is refused here, where the flag is known (a `type` sees the text alone): a path's in
        # the words of every entry point (core.files.named_path), another text's (`--device "$UNSET"`, which
        # became the override `train.device=` or was skipped) in the same words.
        flag = action.option_strings[-1] if action.option_strings else action.metavar or action.dest
        if action.type in (Path, path_text):
            named_path(arg_string, flag, has_default=bool(action.option_strings))
        elif action.option_strings and action.type is None and action.choices is None and not arg_string.strip():
            raise TorchlabError(f"{flag} is empty: give it a value, or leave it out for its default")
        return super()._get_value(action, arg_string)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # Python 3.11's argparse names the choices but not the one a typo meant (`torchlab trian`).
        if action.choices is not None and value not in action.choices:
            choices = [str(choice) for choice in action.choices]
            hint = did_you_mean(str(value), choices) or f" (choose from {', '.join(choices)})"
            if action.dest == "command" and is_recipe(str(value)):  # `torchlab mnist-mlp`
                hint = f" (to train that recipe: torchlab train {value})"
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}")

    def misplaced_flags(self, argv: list[str]) -> None:
        """Refuse a command's flags written before the command (`torchlab --epochs 3 train mnist-mlp`
        was "invalid choice: '3'"), naming the line that works: they go after it."""
        commands = self._subparsers._group_actions[0].choices if self._subparsers else {}
        if not argv or not argv[0].startswith("-") or argv[0] in self._option_string_actions:
            return
        for i, word in enumerate(argv):
            flag = commands[word]._option_string_actions.get(argv[i - 1]) if word in commands else None
            if word in commands and not (flag and flag.nargs != 0):  # not the value of `--out train`
                moved = " ".join(argv[:i])
                raise TorchlabError(f"{moved}: options go after the command: torchlab {' '.join(argv[i:])} {moved}")

    def unrecognized(self, command: str | None, extra: list[str]) -> None:
        """Refuse arguments no parser took, naming the flag a misspelt one was close to (`--epohcs`)."""
        subparsers = self._subparsers._group_actions[0].choices if self._subparsers else {}
        parser = subparsers.get(command, self)
        flags = {flag.lstrip("-"): flag for flag in parser._option_string_actions}
        typed = [a.split("=")[0].lstrip("-") for a in extra if a.startswith("-")]
        meant = next(filter(None, (closest_value(word, flags) for word in typed)), None)
        parser.error(f"unrecognized arguments: {' '.join(extra)}{meant_hint(meant)}")


def is_recipe(word: str) -> bool:
    """Whether `word` names a built-in recipe or a recipe file (YAML only: no torch)."""
    from torchlab.recipes import recipe_names

    return word in recipe_names() or (word.endswith((".yaml", ".yml")) and Path(word).is_file())


def recipe_first(args: argparse.Namespace) -> None:
    """Refuse overrides written before the recipe (`torchlab train optim.lr=0.1 mnist-mlp`), which
    made the first override the recipe ("unknown recipe 'optim.lr=0.1'"), naming the line meant."""
    recipe, overrides = getattr(args, "recipe", ""), getattr(args, "overrides", [])
    names = [word for word in overrides if "=" not in word]
    if "=" in recipe and names:
        rest = [word for word in [recipe, *overrides] if word != names[0]]
        raise TorchlabError(
            f"the recipe comes before its overrides: torchlab {args.command} {names[0]} {' '.join(rest)}"
        )


def path_text(text: str) -> str:
    """The type of a flag that names a file or folder and stays text (`--data-dir`); `Path` is that of the
    others. `ArgumentParser` refuses either when empty (`--data-dir "$UNSET"` took the default without a word)."""
    return text


def add_run_flags(parser: argparse.ArgumentParser, out_help: str) -> None:
    """The flags shared by train and cv; each becomes a config override."""
    parser.add_argument("recipe", help="recipe name (see `torchlab list`) or a path to a recipe YAML file")
    # A default makes the optional `*` positional optional in the usage error too (argparse lists it
    # as required otherwise: "required: recipe, KEY=VALUE"); build_parser makes a fresh list per call.
    parser.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=0.05"
    )
    parser.add_argument("--epochs", type=int, help="train.epochs")
    parser.add_argument("--out", type=Path, help=out_help)
    parser.add_argument(
        "--data-dir", type=path_text, help="data root (default $TORCHLAB_DATA, else ~/.cache/torchlab/data)"
    )
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")
    parser.add_argument("--seed", type=int, help="train.seed")
    parser.add_argument("--logger", help="comma-separated loggers: tensorboard, visdom, none (log.loggers)")
    parser.add_argument("--deterministic", action="store_true", help="PyTorch's deterministic algorithms")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or epoch lines, only the summary")


def overrides_from(args: argparse.Namespace) -> list[str]:
    """The KEY=VALUE overrides and the flags as overrides; a key set both ways is refused, as the
    flag would hide the other value (`-q log.quiet=abc` trained without a word about 'abc')."""
    flags = {  # key: (flag, value)
        "train.epochs": ("--epochs", args.epochs),
        "data.root": ("--data-dir", args.data_dir),
        "train.device": ("--device", args.device),
        "train.seed": ("--seed", args.seed),
        "log.loggers": ("--logger", args.logger),
        "train.deterministic": ("--deterministic", True if args.deterministic else None),
        "log.quiet": ("--quiet", True if args.quiet else None),
        "log.progress": ("--quiet", False if args.quiet else None),
    }
    set_by_flags = {key: (flag, value) for key, (flag, value) in flags.items() if value is not None}
    for override in args.overrides:
        key = override.split("=", 1)[0].strip()
        if key in set_by_flags:
            raise TorchlabError(f"{key} is set twice, by {set_by_flags[key][0]} and by {override}: keep one")
    return [*args.overrides, *(f"{key}={value}" for key, (_, value) in set_by_flags.items())]


def print_summary(summary: dict[str, Any]) -> None:
    from torchlab.loggers.console import number

    lines = ["  test        "]  # 4 significant figures, as the epoch lines; within 80 columns
    for token in (f"{k} {number(v)}" for k, v in summary["test"].items()):
        lines += [" " * 14] if len(lines[-1]) + 2 + len(token) > 80 and lines[-1].strip() != "test" else []
        lines[-1] += f"  {token}"
    rate = summary["train_samples_per_second"]
    print(f"\n{summary['recipe']}: {summary['status']}")
    print("\n".join(lines))
    print(f"  epochs        {summary['epochs']} (best {summary['best_epoch']})")
    print(f"  wall time     {summary['wall_seconds']:.1f} s" + (f", {rate:,.0f} train samples/s" if rate else ""))
    run_dir = Path(summary["run_dir"])
    print(f"  run directory {run_dir}")
    if (run_dir / "report.html").is_file():
        print(f"  report        {run_dir / 'report.html'}")
    if (run_dir / "tensorboard").is_dir():
        print(f"  tensorboard   tensorboard --logdir {run_dir / 'tensorboard'}")
    if "visdom" in summary.get("watch", {}):  # the visdom logger ran, and its server answered to the end
        print(f"  visdom        {summary['watch']['visdom']}")


def print_cv_summary(summary: dict[str, Any]) -> None:
    from torchlab.loggers.console import number  # 4 significant figures, as the epoch lines

    print(f"\n{summary['recipe']}: {summary['folds']}-fold cross-validation")
    for part in ("val", "test"):
        for metric, s in summary[part].items():
            folds = " ".join(map(number, s["folds"]))
            print(f"  {part + '.' + metric:<16} {number(s['mean'])} ± {number(s['std'])}   (folds: {folds})")
    print(f"  epochs           {summary['epochs']} (best {summary['best_epochs']})")
    print(f"  run directory    {summary['run_dir']}")


def cmd_list(args: argparse.Namespace) -> int:
    from torchlab.recipes import recipe_names, recipe_raw, recipe_task  # YAML only: a list needs no torch

    names = recipe_names()
    raws = {name: recipe_raw(name) for name in names}
    tasks = {name: recipe_task(raw) for name, raw in raws.items()}  # its family: the models made for that task
    width, task_width = max(map(len, names)), max(map(len, tasks.values()))
    course = [name for name in names if name.startswith("course-")]
    for name in [n for n in names if n not in course] + course:
        if course and name == course[0]:
            print("\nthe course's own settings (its architectures and training, its mistakes flagged):")
        print(f"{name:<{width}}  {tasks[name]:<{task_width}}  {raws[name].get('description', '')}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import json

    from torchlab.loggers import logger_classes
    from torchlab.recipes import load_recipe
    from torchlab.show import describe, refusal, render

    root = [f"data.root={args.data_dir}"] if args.data_dir else []
    config = load_recipe(args.recipe, [*args.overrides, *root])
    logger_classes(config)  # an unknown logger is refused as train refuses it, not shown as if it were fine
    described = describe(config)
    print(json.dumps(described, indent=2, default=str) if args.json else render(described))
    if refused := refusal(described):  # printed all it could: data unusable, or no layers for scripts to rely on
        raise TorchlabError(refused)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from torchlab import api
    from torchlab.recipes import load_recipe

    print_summary(api.train(load_recipe(args.recipe, overrides_from(args)), args.out))
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    from torchlab import api
    from torchlab.recipes import load_recipe

    for override in args.overrides:  # data.folds=4 with --folds 3 trained 3 folds without a word
        if override.split("=", 1)[0].strip() in ("data.folds", "data.fold"):
            raise TorchlabError(
                f"{override}: cv sets data.folds (--folds K) and data.fold (each in turn); leave it out"
            )
    summary = api.cross_validate(load_recipe(args.recipe, overrides_from(args)), args.folds, args.out)
    print_cv_summary(summary)
    print(f"  report           {summary['report']}")  # the page of the folds
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from torchlab import api

    print_summary(api.resume(args.run_dir, args.epochs, args.data_dir, args.quiet))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from torchlab import api

    metrics = api.evaluate(args.run_dir, args.data_dir, args.device, args.weights)
    print("  ".join(f"{k} {v + 0.0:.4f}" for k, v in metrics.items()))  # + 0.0: no "-0.0000"
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from torchlab import api

    if len(args.run_dirs) == 1 and args.out is None:  # one run: its own report, drawn again if missing
        print(api.report(args.run_dirs[0]))
        return 0
    print(api.compare(args.run_dirs, args.out))
    return 0


def cmd_notes(args: argparse.Namespace) -> int:
    from torchlab import notes

    if args.section:
        notes.run(args.section, code_only=args.code, pictures=args.pictures, data_dir=args.data_dir)
        return 0
    found = notes.sections()
    width = max(map(len, found))
    for name, module in found.items():
        print(f"{name:<{width}}  {notes.title(module)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from torchlab import api

    print(api.export(args.run_dir, args.format, args.out, args.checkpoint))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import json

    from torchlab.predictions import predict_inputs

    for predicted in predict_inputs(args.run_dir, args.inputs, args.top, args.checkpoint, args.device):
        if args.json:
            print(json.dumps(predicted, ensure_ascii=False))
            continue
        given = predicted.get("file") or json.dumps(predicted["sentence"], ensure_ascii=False)
        classes = ", ".join(f"{c['label']} {c['probability']:.1%}" for c in predicted["predictions"])
        print(f"{one_line(given)}: {classes}")
    return 0


RUN_DIR_HELP = "a run directory, as train printed it (runs/RECIPE/TIMESTAMP, or its --out)"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="torchlab",
        description="Train, evaluate and compare the notes' recipes.",
        epilog="A command's options go after it: `torchlab COMMAND --help` lists them.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        metavar="MODULE_OR_FILE",
        help="import your own models, datasets or tasks first (repeatable; also $TORCHLAB_IMPORT, "
        f"separated by '{os.pathsep}'); a run records them, so eval, resume and export find them again",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    sub.add_parser(
        "list",
        help="list the recipes",
        description="List every recipe: its task (classify, binary, forecast, reconstruct, adversarial; "
        "`torchlab show RECIPE` names the models made for it) and one line about it.",
    )

    show = sub.add_parser(
        "show",
        help="a recipe before training: its config, data and model",
        description="Print a recipe's resolved config with the meaning of every key, its data's split sizes, "
        "and the layers of each network it trains with output shapes and parameter counts. Nothing is "
        "downloaded: data that are absent give their shapes without their files (exit 0); where only the "
        "files can give them (SST-2's vocabulary), the config is printed and the exit status is 2.",
    )
    show.add_argument("recipe", help="a recipe name or a YAML file")
    show.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="overrides, as for train")
    show.add_argument(
        "--data-dir", type=path_text, help="data root (default $TORCHLAB_DATA, else ~/.cache/torchlab/data)"
    )
    show.add_argument("--json", action="store_true", help="the same as JSON, for scripts")

    train = sub.add_parser("train", help="train a recipe", description="Train a recipe into a new run directory.")
    add_run_flags(train, "the run directory (default runs/RECIPE/TIMESTAMP)")

    cv = sub.add_parser(
        "cv",
        help="K-fold cross-validation of a recipe",
        description="Train a recipe once per fold of its training set; report each metric's mean ± std.",
    )
    add_run_flags(cv, "the parent of one run directory per fold (default runs/RECIPE/TIMESTAMP)")
    cv.add_argument("--folds", type=int, default=5, help="K, the number of folds (default 5)")

    resume = sub.add_parser(
        "resume",
        help="continue a stopped run, or train a finished one further (--epochs N)",
        description="Continue a run from its checkpoints/last.pt.",
    )
    resume.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP)
    resume.add_argument("--epochs", type=int, help="train to this many epochs in all")
    resume.add_argument("--data-dir", type=path_text, help="data root, if not the one the run used")
    resume.add_argument("-q", "--quiet", action="store_true", help="no progress bar or epoch lines, only the summary")

    ev = sub.add_parser(
        "eval",
        help="re-evaluate a run's best checkpoint on the test set",
        description="Re-evaluate checkpoints/best.pt of a run on its test set.",
    )
    ev.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP)
    ev.add_argument("--data-dir", type=path_text, help="data root, if not the one the run used")
    ev.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    ev.add_argument("--weights", type=Path, help="evaluate these weights instead (.safetensors, or a .pt state dict)")

    report = sub.add_parser(
        "report",
        help="compare runs on one HTML page, or draw one run's missing report again",
        description="Write a page comparing runs: the config keys that differ, their metrics, their curves overlaid. "
        "With one RUN_DIR and no --out: print its report.html, drawing its figures and the page again if they "
        "are missing (a run stopped while drawing them).",
    )
    report.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    report.add_argument("--out", type=Path, help="folder for report.html (default runs/compare/TIMESTAMP)")
    notes = sub.add_parser(
        "notes",
        help="the notes' examples, runnable",
        description="List the sections of the notes, or run one: the notes' lines, the corrected code, what it shows.",
    )
    notes.add_argument("section", nargs="?", help="a section name from `torchlab notes`")
    notes.add_argument("--code", action="store_true", help="print only the corrected code the section runs")
    notes.add_argument("--pictures", type=Path, help="folder for the section's pictures (default runs/notes/SECTION)")
    notes.add_argument(
        "--data-dir", type=path_text, help="data root of the MNIST sections (default $TORCHLAB_DATA, else ~/.cache/...)"
    )

    export = sub.add_parser(
        "export",
        help="export a run's weights as safetensors or ONNX",
        description="Write checkpoints/best.pt's weights as safetensors (any model) or ONNX (classifiers; "
        "input: the normalised image batch, output: logits). Prints the file written.",
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP)
    export.add_argument("--format", required=True, choices=["safetensors", "onnx"])
    export.add_argument("--out", type=Path, help="the file to write (default RUN_DIR/export/model.FORMAT)")
    export.add_argument("--checkpoint", choices=["best", "last"], default="best")

    predict = sub.add_parser(
        "predict",
        help="what a trained classifier makes of your own images or sentences",
        description="Print the most probable classes, with their probabilities, that a run's model gives each "
        "input: image files (PNG, JPEG) for a classifier of images, turned into what it trained on (grey or RGB, "
        "its size and centre crop, its normalisation); sentences for a classifier of text ('-' reads one a line "
        "from stdin). Other runs predict from Python: torchlab.load(RUN_DIR).predict(tensor).",
    )
    predict.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP)
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="an image file, or a sentence ('-': stdin's lines)")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show per input (default 3)")
    predict.add_argument("--json", action="store_true", help="one JSON object per input, for scripts")
    predict.add_argument("--checkpoint", choices=["best", "last"], default="best")
    predict.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps (default cpu)")
    return parser


COMMANDS: dict[str, Command] = {
    "list": cmd_list,
    "show": cmd_show,
    "train": cmd_train,
    "cv": cmd_cv,
    "resume": cmd_resume,
    "eval": cmd_eval,
    "report": cmd_report,
    "notes": cmd_notes,
    "export": cmd_export,
    "predict": cmd_predict,
}
# The commands that reach training, where the collector paused through start-up resumes (core/collector.py).
TRAINING = {"train", "cv", "resume"}
# A full or read-only disk is the user's to fix: exit 2 and one line, as for bad input.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
RANK0_FIRST_SECONDS = 10  # how long another rank leaves rank 0 to say a refusal first (`refuse`)


def one_line(message: str) -> str:
    """Messages echo user input: escape its control characters so that the message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def refuse_spaced_overrides(argv: list[str]) -> None:
    """Refuse `optim.lr = 0.1` (or `optim.lr =0.1`), which argparse split into words it could not
    place ("unrecognized arguments: optim.lr 0.1"), naming the one word meant."""
    for i, word in enumerate(argv[1:], 1):
        if word.startswith("=") and not argv[i - 1].startswith("-"):
            value = argv[i + 1] if word == "=" and i + 1 < len(argv) else word[1:]
            raise TorchlabError(f"an override is one word, without spaces: {argv[i - 1]}={value}")


def user_imports(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the `--import MODULE_OR_FILE` values, anywhere on the line, then $TORCHLAB_IMPORT's; argv without them)."""
    specs, rest, args = [], [], iter(argv)
    for arg in args:
        if arg == "--import":
            value = next(args, None)
            if value is None:
                raise TorchlabError("--import needs a module name or a .py file")
            specs.append(value)
        elif arg.startswith("--import="):
            specs.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return [*specs, *filter(None, os.environ.get("TORCHLAB_IMPORT", "").split(os.pathsep))], rest


def warned_by_torchlab() -> bool:
    """Whether the warning being shown was raised by torchlab's own code: the first frame outside the
    warnings machinery (and this hook) is the caller of `warnings.warn`, whatever its `stacklevel`."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in ("warnings", "_py_warnings", __name__):
        frame = frame.f_back
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith("torchlab.")


def torchlab_warnings() -> None:
    """Format the warnings of torchlab's own components as one line, `torchlab: warning: ...` (its first
    line), without Python's file path and source line; every other library's warnings as before.

    A `formatwarning` hook, not `showwarning`: whoever records warnings (`catch_warnings(record=True)`,
    pytest) still gets them all, and the filters (`-W`, once per place) still decide what is shown."""
    if getattr(warnings.formatwarning, "torchlab", False):
        return  # installed already (main called again in one process)
    formatted_before = warnings.formatwarning

    def formatted(message: Any, category: Any, filename: str, lineno: int, line: str | None = None) -> str:
        if not warned_by_torchlab():
            return formatted_before(message, category, filename, lineno, line)
        first = next((text.strip() for text in str(message).splitlines() if text.strip()), category.__name__)
        return f"torchlab: warning: {one_line(first)}\n"

    formatted.torchlab = True  # type: ignore[attr-defined]
    warnings.formatwarning = formatted


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    torchlab_warnings()
    from torchlab.engine.interrupt import graceful_stop  # signal handling only: no torch

    try:
        with graceful_stop():  # a signal in any phase, start-up included: engine/interrupt.py's PHASES
            if any("\0" in a for a in argv):  # only callers of main() can pass one; os calls would raise ValueError
                raise TorchlabError("an argument holds a NUL byte, which no path, recipe or value may contain")
            specs, argv = user_imports(argv)
            if specs:
                from torchlab.registry import import_user_code

                import_user_code(specs)
            parser = build_parser()
            parser.misplaced_flags(argv)
            refuse_spaced_overrides(argv)
            args, extra = parser.parse_known_args(argv)
            # KEY=VALUE overrides may stand anywhere, also after flags such as --out DIR.
            if hasattr(args, "overrides"):
                args.overrides += [a for a in extra if "=" in a and not a.startswith("-")]
                extra = [a for a in extra if a not in args.overrides]
            if extra:
                parser.unrecognized(args.command, extra)
            recipe_first(args)
            with (
                paused_through_start_up() if args.command in TRAINING else contextlib.nullcontext(),
                contextlib.nullcontext() if main_rank() else contextlib.redirect_stdout(io.StringIO()),
            ):  # under torchrun rank 0 prints for all
                return COMMANDS[args.command](args)
    except (TorchlabError, OSError) as err:
        if isinstance(err, OSError) and err.errno not in DISK_ERRORS:
            raise
        if debug:  # the traceback too (from every rank under torchrun), with the same exit status
            traceback.print_exc()
        refuse(one_line(str(err)), debug, agreed=isinstance(err, RefusedTogether))
        return 2
    except (MemoryError, RuntimeError) as err:  # torch's out of memory (CPU or CUDA) is a RuntimeError
        if (asked := out_of_memory(err)) is None:  # what runs the model on batches names their size; elsewhere, this
            raise
        if debug:
            traceback.print_exc()
        refuse(f"out of memory ({one_line(asked)}): lower the model's size or the data's", debug)
        return 2
    except KeyboardInterrupt as err:  # Interrupted (a signal, after last.pt is written) or a plain Ctrl-C
        if main_rank():
            print(f"torchlab: {one_line(str(err)) or 'interrupted'}", file=sys.stderr)
        return getattr(err, "exit_status", 130)


def refuse(message: str, debug: bool, agreed: bool = False) -> None:
    """Say `message` as torchlab's one-line error, once under torchrun: rank 0 says it. A rank that
    refuses before joining torchrun's process group joins it, and every rank agrees on the first
    refusing rank's message (`rank R: ...` if not rank 0's; `agreed`: met while joining) and stops at
    once. Another rank then waits, since torchrun ends the other workers (SIGTERM) as soon as one exits
    and rank 0, ended first, would say nothing. A refusal that no other rank agreed on (met once the
    group was joined) is said by its rank after that wait, naming itself. With `debug` every rank says it."""
    if not agreed and (refusal := torchrun_refusal(message)) is not None:
        message, agreed = refusal, True
    if not (main_rank() or debug):
        time.sleep(RANK0_FIRST_SECONDS)  # normally ended here by torchrun, rank 0 having said it
        if agreed:
            return
        message = f"rank {os.environ['RANK']}: {message}"
    print(f"torchlab: error: {message}", file=sys.stderr)


def torchrun_refusal(message: str) -> str | None:
    """Under torchrun, the refusal every rank agreed on (`core.distributed.refusal_agreed`); else None."""
    if os.environ.get("WORLD_SIZE", "1") == "1":
        return None
    from torchlab.core.distributed import refusal_agreed  # torch: only under torchrun

    return refusal_agreed(message)


def main_rank() -> bool:
    """Rank 0 under torchrun, or the only process (torchrun's RANK, read without importing torch)."""
    return os.environ.get("RANK", "0") == "0"


def run() -> None:
    """The `torchlab` command: `main()`, then exit without tearing the interpreter down.

    Unloading the modules that torch imports (torch._dynamo among them) takes about a second at
    exit, after every file is written and closed. So exit handlers run and output is flushed here,
    and the process ends at once with main's status. An unexpected exception, or a thread still
    running, exits as usual.
    """
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left early (`torchlab list | head`): no traceback, as Python's docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 128 + signal.SIGPIPE
    if any(thread is not threading.main_thread() and not thread.daemon for thread in threading.enumerate()):
        sys.exit(status)
    atexit._run_exitfuncs()  # what the interpreter's own exit would run first
    sys.stderr.flush()
    os._exit(status)
