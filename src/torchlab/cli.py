"""The `torchlab` command: parses arguments, calls torchlab.api, prints. No training logic.

Exit status: 0 done; 2 bad usage, config, data or checkpoint (one line, no traceback unless
--debug); 1 anything unexpected.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchlab.errors import TorchlabError

Command = Callable[[argparse.Namespace], int]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is a TorchlabError (exit 2, one line)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise TorchlabError(f"{self.prog}: {message}")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags shared by train and cv; each becomes a config override."""
    parser.add_argument("recipe", help="recipe name (see `torchlab list`) or a path to a recipe YAML file")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=0.05")
    parser.add_argument("--epochs", type=int, help="train.epochs")
    parser.add_argument("--out", type=Path, help="the run directory (default runs/RECIPE/TIMESTAMP)")
    parser.add_argument("--data-dir", help="data root (default $TORCHLAB_DATA, else ~/.cache/torchlab/data)")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")
    parser.add_argument("--seed", type=int, help="train.seed")
    parser.add_argument("--logger", help="comma-separated loggers: tensorboard, visdom, none (log.loggers)")
    parser.add_argument("--deterministic", action="store_true", help="PyTorch's deterministic algorithms")


def overrides_from(args: argparse.Namespace) -> list[str]:
    flags = {
        "train.epochs": args.epochs,
        "data.root": args.data_dir,
        "train.device": args.device,
        "train.seed": args.seed,
        "log.loggers": args.logger,
        "train.deterministic": True if args.deterministic else None,
    }
    return [*args.overrides, *(f"{key}={value}" for key, value in flags.items() if value is not None)]


def print_summary(summary: dict[str, Any]) -> None:
    from torchlab.engine.distributed import is_main_process

    if not is_main_process():  # under torchrun, rank 0 speaks for all
        return
    test = "  ".join(f"{k} {v:.4f}" for k, v in summary["test"].items())
    rate = summary["train_samples_per_second"]
    print(f"\n{summary['recipe']}: {summary['status']}")
    print(f"  test          {test}")
    print(f"  epochs        {summary['epochs']} (best {summary['best_epoch']})")
    print(f"  wall time     {summary['wall_seconds']:.1f} s" + (f", {rate:,.0f} train samples/s" if rate else ""))
    print(f"  run directory {summary['run_dir']}")


def cmd_list(args: argparse.Namespace) -> int:
    from torchlab.recipes import load_recipe, recipe_names

    names = recipe_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {load_recipe(name).description}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from torchlab import api
    from torchlab.recipes import load_recipe

    print_summary(api.train(load_recipe(args.recipe, overrides_from(args)), args.out))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from torchlab import api

    print_summary(api.resume(args.run_dir, args.epochs))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from torchlab import api

    metrics = api.evaluate(args.run_dir, args.data_dir, args.device)
    print("  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return 0


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="torchlab", description="Train, evaluate and compare the notes' recipes.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    sub.add_parser("list", help="list the recipes", description="List every recipe with one line about it.")

    train = sub.add_parser("train", help="train a recipe", description="Train a recipe into a new run directory.")
    add_run_flags(train)

    resume = sub.add_parser(
        "resume", help="continue an interrupted run", description="Continue a run from its checkpoints/last.pt."
    )
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--epochs", type=int, help="train to this many epochs in all")

    ev = sub.add_parser(
        "eval",
        help="re-evaluate a run's best checkpoint on the test set",
        description="Re-evaluate checkpoints/best.pt of a run on its test set.",
    )
    ev.add_argument("run_dir", type=Path)
    ev.add_argument("--data-dir", help="data root, if not the one the run used")
    ev.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    return parser


COMMANDS: dict[str, Command] = {"list": cmd_list, "train": cmd_train, "resume": cmd_resume, "eval": cmd_eval}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # KEY=VALUE overrides may stand anywhere, also after flags such as --out DIR.
        if hasattr(args, "overrides"):
            args.overrides += [a for a in extra if "=" in a and not a.startswith("-")]
            extra = [a for a in extra if a not in args.overrides]
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return COMMANDS[args.command](args)
    except TorchlabError as err:
        if debug:
            raise
        print(f"torchlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("torchlab: interrupted", file=sys.stderr)
        return 130
