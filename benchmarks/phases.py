"""Where the time of one whole `torchlab train` command goes, as ratios measured in one run.

    make bench-phases                 # mnist-cnn, 3 rounds; the table goes into BENCHMARKS.md
    PYTHONPATH=src python benchmarks/phases.py --recipe sine-lstm --rounds 5 --out -
    PYTHONPATH=src python benchmarks/phases.py --out - data.subset=2048   # overrides go to both commands

Each round runs, one after another: `python -c "import torch"`, the plain whole command
`python -m torchlab train RECIPE` and the same command instrumented (this file with --child),
which prints a wall-clock timestamp at the end of each phase. The table gives medians over the
rounds and three ratios (issue 23's targets):
  whole command / import torch                         (mnist-cnn: <= 3.5)
  first optimiser step / (import torch + data loading) (<= 1.5)
  figures and report after the test (seconds)          (<= 1 s for a classifier)
and, without a target, the first ratio less the import of torch._dynamo (timed after `import torch` in a
process of its own): torch.optim imports it on its first call, so no recipe setting removes it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipes import child_env, cpu_name, load_average, replace_section  # this folder is on sys.path: the script's own

BEGIN, END = "<!-- bench-phases -->", "<!-- /bench-phases -->"
MARK = "phase "  # the child's stderr lines: "phase NAME EPOCH_SECONDS"
# What torch.optim adds on its first call (any optimizer's constructor or step imports torch._dynamo):
# a floor under the whole command that no recipe setting removes. Timed in a process of its own after
# `import torch`, with the collector paused as a training command pauses it.
DYNAMO = """import sys, time
from torchlab.core.collector import paused_through_start_up
with paused_through_start_up():
    import torch
    started = time.perf_counter()
    import torch._dynamo
    print(time.perf_counter() - started, file=sys.stderr)"""


def mark(what: str) -> None:
    print(f"{MARK}{what} {time.time():.4f}", file=sys.stderr, flush=True)


def timed(owner: object, name: str, *, start: bool = False, once: bool = False) -> None:
    """Replace `owner.name` by a wrapper that marks when it returns (and starts, with `start`);
    `once`: only its first call."""
    inner = getattr(owner, name)
    calls = []

    def wrapper(*args, **kwargs):
        first = not calls
        calls.append(1)
        if start and (first or not once):
            mark(f"{name} started")
        result = inner(*args, **kwargs)
        if first or not once:
            mark(f"{name} done")
        return result

    setattr(owner, name, wrapper)


def child(argv: list[str]) -> None:
    """The torchlab command in this process, with a mark after each phase."""
    from torchlab.core.collector import paused_through_start_up  # as the command does, from the start

    with paused_through_start_up():
        import torch  # noqa: F401

        mark("torch imported")
        from torchlab import api, cli
        from torchlab.engine import trainer

        mark("torchlab imported")
        timed(trainer, "build_data", start=True)
        timed(trainer.Trainer, "optimize", once=True)  # the first optimiser step
        timed(trainer.Trainer, "fit")
        timed(api, "draw_figures")
        timed(api, "write_run_report")
        timed(cli, "main")
        sys.argv = ["torchlab", *argv]
        cli.run()  # the command's own exit path


def timed_command(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(start, wall seconds, stderr) of one command that must succeed."""
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return started, time.time() - started, done.stderr


def marks(stderr: str, started: float) -> dict[str, float]:
    """The child's marks as seconds since its launch."""
    found = {}
    for line in stderr.splitlines():
        if line.startswith(MARK):
            name, stamp = line[len(MARK) :].rsplit(" ", 1)
            found[name] = float(stamp) - started
    return found


def measure(recipe: str, overrides: list[str], rounds: int, tmp: Path) -> dict[str, list[float]]:
    env = child_env()
    train = ["train", recipe, "--logger", "none", "log.progress=false", *overrides]
    series: dict[str, list[float]] = {}
    for n in range(rounds):
        add = lambda key, value: series.setdefault(key, []).append(value)  # noqa: E731
        add("import torch", timed_command([sys.executable, "-c", "import torch"], env)[1])
        add(
            "torch._dynamo's import, after torch",
            float(timed_command([sys.executable, "-c", DYNAMO], env)[2].split()[-1]),
        )
        plain = [sys.executable, "-m", "torchlab", *train, "--out", str(tmp / f"plain-{n}")]
        add("whole command", timed_command(plain, env)[1])
        instrumented = [sys.executable, __file__, "--child", *train, "--out", str(tmp / f"timed-{n}")]
        started, wall, stderr = timed_command(instrumented, env)
        at = marks(stderr, started)
        add("torch imported", at["torch imported"])
        add("torchlab imported", at["torchlab imported"])
        add("data loading", at["build_data done"] - at["build_data started"])
        add("first step", at["optimize done"])
        add("fit done", at["fit done"])
        add("figures and report", at["write_run_report done"] - at["fit done"])
        add("exit", wall - at["main done"])
        add("instrumented command", wall)
    return series


def ratios(series: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per round, so each ratio pairs figures measured side by side."""
    pairs = zip(
        series["whole command"], series["import torch"], series["first step"], series["data loading"], strict=True
    )
    whole, start = [], []
    for whole_s, torch_s, first_s, data_s in pairs:
        whole.append(whole_s / torch_s)
        start.append(first_s / (torch_s + data_s))
    dynamo = [
        (whole_s - dynamo_s) / torch_s
        for whole_s, torch_s, dynamo_s in zip(
            series["whole command"], series["import torch"], series["torch._dynamo's import, after torch"], strict=True
        )
    ]
    return {
        "whole command / import torch": whole,
        "first step / (import torch + data loading)": start,
        "(whole command - torch._dynamo's import) / import torch": dynamo,
    }


def section(train_args: str, rounds: int, series: dict, loads: tuple[str, str], command: str) -> str:
    lines = [
        BEGIN,
        f"## Fixed costs of one command (`{command}`)",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average {loads[0]} before, {loads[1]} after. `torchlab train {train_args}`, {rounds} rounds of "
        '`python -c "import torch"`, the whole command and the same command with a timestamp after each '
        "phase (seconds since launch). Medians; min-max in brackets.",
        "",
        "| phase | seconds |",
        "|---|---|",
    ]
    for name, values in series.items():
        lines.append(f"| {name} | {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f}) |")
    figures = "figures and report after the test (s)"
    targets = {"whole command / import torch": 3.5, "first step / (import torch + data loading)": 1.5, figures: 1}
    lines += ["", "| ratio (per round) | median | worst | target | met |", "|---|---|---|---|---|"]
    for name, values in {**ratios(series), figures: series["figures and report"]}.items():
        limit = targets.get(name)  # None: shown for what it tells, with no target
        target = "" if limit is None else f"<= {limit}"
        met = "" if limit is None else "yes" if max(values) <= limit else "**no**"
        lines.append(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} | {target} | {met} |")
    return "\n".join([*lines, END]) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="mnist-cnn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="BENCHMARKS.md", help="a markdown file to update, or - to print")
    parser.add_argument("overrides", nargs="*", help="config overrides for both commands, e.g. data.subset=2048")
    args = parser.parse_args()
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        series = measure(args.recipe, args.overrides, args.rounds, Path(tmp))
    after = load_average()
    flags = " ".join(
        f
        for f in [
            f"--recipe {args.recipe}" * (args.recipe != "mnist-cnn"),
            f"--rounds {args.rounds}" * (args.rounds != 3),
            *args.overrides,
        ]
        if f
    )
    command = "make bench-phases" + (f" BENCH_ARGS='{flags}'" if flags else "")
    text = section(" ".join([args.recipe, *args.overrides]), args.rounds, series, (before, after), command)
    if args.out == "-":
        print(text)
        return
    replace_section(Path(args.out), text, BEGIN, END)
    print(text)


if __name__ == "__main__":
    main()
