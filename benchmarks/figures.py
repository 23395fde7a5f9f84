"""What a finished run's pictures cost, piece by piece: matplotlib's import, each figure, and one plain
axes with and without `tight_layout` (the unit that the figures are made of).

Each round is a fresh process that readies the run as `torchlab report` does (the best checkpoint
tested again), with Python's collector paused and frozen as a training command has it, then times
the pieces in order: the first figure also pays for loading the font. Medians over the rounds,
min-max in brackets. Without --run it first trains mnist-cnn into a temporary folder.

Usage: PYTHONPATH=src python benchmarks/figures.py [--rounds 5] [--run RUN_DIR]
"""

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipes import child_env, cpu_name, load_average  # this folder is on sys.path: the script's own


def child(run_dir: Path) -> None:
    """One round: a JSON line of seconds per piece."""
    from torchlab.core import collector

    with collector.paused_through_start_up():
        from torchlab import api
        from torchlab.config import load_run_config
        from torchlab.report import FIGURES

        config = load_run_config(run_dir)
        with (
            api.build_trainer(config, run_dir) as trainer,
            api.own_run_dir(trainer),
            tempfile.TemporaryDirectory(prefix="bench-figures-") as plots_dir,
        ):
            trainer.test_best()
            run = api.finished_run(trainer)
            collector.start_up_done()
            seconds = {}
            started = time.perf_counter()
            from matplotlib.figure import Figure

            seconds["import matplotlib.figure"] = time.perf_counter() - started
            plots = Path(plots_dir)
            api.draw_figures(run, plots, names=())  # imports the figure modules, draws none
            for name in FIGURES:
                started = time.perf_counter()
                if api.draw_figures(run, plots, names=(name,)):
                    seconds[f"figure {name}"] = time.perf_counter() - started
            for layout in (False, True):
                started = time.perf_counter()
                fig = Figure(figsize=(4.2, 3.4))
                ax = fig.subplots()
                ax.plot([0, 1, 2], [3, 1, 2], label="a line")
                ax.set_title("one axes")
                if layout:
                    fig.tight_layout()
                fig.savefig(io.BytesIO(), format="png", dpi=110)
                seconds[f"one plain axes{', tight_layout' * layout}"] = time.perf_counter() - started
    print(json.dumps(seconds))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--run", type=Path, help="a finished run directory (default: train mnist-cnn first)")
    args = parser.parse_args()
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        run_dir = args.run or Path(tmp) / "run"
        if args.run is None:
            train = ["-m", "torchlab", "train", "mnist-cnn", "--logger", "none", "log.progress=false"]
            subprocess.run([sys.executable, *train, "--out", str(run_dir)], env=env, check=True, capture_output=True)
        rounds = []
        for _ in range(args.rounds):
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(run_dir)], env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                sys.exit(done.stderr[-2000:])
            rounds.append(json.loads(done.stdout.splitlines()[-1]))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{cpu_name()}, {args.rounds} rounds, {when}, load average {load_average()}\n")
    print("| piece | seconds |\n|---|---|")
    for piece in rounds[0]:
        values = [r[piece] for r in rounds]
        print(f"| {piece} | {statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f}) |")


if __name__ == "__main__":
    main()
