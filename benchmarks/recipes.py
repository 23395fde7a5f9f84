"""`make bench-recipes`: every recipe with its defaults, one at a time, against its quality bar.

Each run is the whole command a user types (`torchlab train RECIPE --seed S`, TensorBoard off),
in a fresh process, one after another. The table (recipe, metric and bar, worst and median over
the seeds, epochs, fit seconds from summary.json, whole-command seconds, train samples/s, the speed of
a plain PyTorch loop measured just before (the host's speed), the load average before and after, when
and on which CPU) goes into the section between BEGIN and END of
BENCHMARKS.md, one row per recipe: a run rewrites the rows of the recipes it ran and keeps the
others; `make bench` keeps the section. Stochastic recipes also run seed 0 with one thread
(`OMP_NUM_THREADS=1`): that run checks the result on another floating-point path; the time target
is for the machine's default threads, so the fit column is the slowest run with them.
Usage: python benchmarks/recipes.py [--out BENCHMARKS.md] [--only R1,R2] [--seeds N] [--quick]
"""

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BEGIN, END = "<!-- bench-recipes -->", "<!-- /bench-recipes -->"
README_BEGIN, README_END = "<!-- results -->", "<!-- /results -->"  # README.md's copy of the table


@dataclass(frozen=True)
class Bar:
    metric: str  # a key of summary.json's test section
    bound: float
    higher_is_better: bool = True
    stochastic: bool = False  # dropout, augmentation, sampling: also measured with one thread
    fit_seconds: float = 120.0  # the time target with the machine's default threads
    # (metric, minimum) that every run must reach as well: a GAN collapsed onto one mode or one digit
    # can meet its main bar (all its samples near one Gaussian, or one digit drawn confidently).
    also: tuple[tuple[str, float], ...] = ()

    def time_target(self, threads: int | None) -> float:
        """One thread is about half of this 2-core machine: that run may take twice as long."""
        return self.fit_seconds * (2 if threads == 1 else 1)

    def met(self, value: float) -> bool:
        """At the bar counts: summary.json's float32 metrics store 9080/10000 as 0.90799999."""
        slack = 1e-6 * abs(self.bound)
        return value >= self.bound - slack if self.higher_is_better else value <= self.bound + slack

    def missed(self, test: dict[str, float]) -> list[str]:
        """The `also` conditions that a run's test figures miss."""
        return [at_least(metric, minimum) for metric, minimum in self.also if test[metric] < minimum]

    def text(self) -> str:
        main = f"{self.metric} {'>=' if self.higher_is_better else '<='} {self.bound:g}"
        return ", ".join([main, *(at_least(metric, minimum) for metric, minimum in self.also)])


def at_least(metric: str, minimum: float) -> str:
    return f"{metric} >= {minimum:g}"


# The README's results rounded down (never lowered to fit). Recipes whose data this machine lacks
# (CIFAR-10, an image folder of your own) have no bar here.
BARS = {
    "mnist-mlp": Bar("accuracy", 0.979),
    "mnist-mlp-scratch": Bar("accuracy", 0.98),
    "mnist-mlp-regularized": Bar("accuracy", 0.984, stochastic=True),
    "mnist-cnn": Bar("accuracy", 0.99),
    "fashion-lenet5": Bar("accuracy", 0.908, stochastic=True),
    "fashion-resnet": Bar("accuracy", 0.925, stochastic=True),
    "fashion-densenet": Bar("accuracy", 0.925, stochastic=True),
    "sst2-lstm": Bar("accuracy", 0.83, stochastic=True),
    "sst2-lstm-glove": Bar("accuracy", 0.83, stochastic=True),
    "sine-rnn": Bar("loss", 0.001, higher_is_better=False),
    "sine-lstm": Bar("loss", 0.0004, higher_is_better=False),
    "sine-lstmcell": Bar("loss", 0.0005, higher_is_better=False),
    "mnist-ae": Bar("reconstruction_mse", 0.0115, higher_is_better=False),
    "mnist-conv-ae": Bar("reconstruction_mse", 0.0085, higher_is_better=False),
    "mnist-vae": Bar("loss", 106.0, higher_is_better=False, stochastic=True),
    "mnist-vae-2d": Bar("loss", 145.0, higher_is_better=False, stochastic=True),
    "gaussians-gan": Bar("modes_covered", 7.0, stochastic=True),
    "gaussians-wgan-gp": Bar("within_3sigma", 0.80, stochastic=True, also=(("modes_covered", 8.0),)),
    # class_entropy: of the confidently judged digits' classes, in nats; ten equally drawn digits give 2.30
    "mnist-dcgan": Bar("confident", 0.70, stochastic=True, fit_seconds=300.0, also=(("class_entropy", 2.0),)),
}
QUICK = ["data.subset=1024", "data.eval_subset=500", "train.epochs=1"]  # --quick: a smoke run, meaningless


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, platform.processor())


def child_env(**extra: str) -> dict[str, str]:
    """This environment for a child process, with this checkout's src/ first on its PYTHONPATH (from
    any working directory) and `extra` variables."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])), **extra}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def host_speed(rounds: int = 5) -> float:
    """Train samples/s of a plain PyTorch loop (pytorch/examples' MNIST network, random images, batch 64,
    the default threads), best of `rounds` epochs of 1024 images. A virtual machine's host has slow
    hours (on 12-02 most recipes took 1.1-1.7 times their fit of 12-01) that the load average, this
    machine's own, does not show: each row says how fast the host was when it ran."""
    import torch
    from reference import ExamplesNet, plain_epoch  # benchmarks/: the script's own folder

    torch.manual_seed(0)
    model = ExamplesNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randint(0, 256, (1024, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (1024,))
    plain_epoch(model, optimizer, None, images[:128], labels[:128], 64)  # warm-up
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        plain_epoch(model, optimizer, None, images, labels, 64)
        best = max(best, len(images) / (time.perf_counter() - started))
    return best


def run_recipe(recipe: str, seed: int, threads: int | None, out: Path, extra: list[str], limit: float) -> dict:
    """One whole command; its summary.json with the command's own seconds. A command still running
    after `limit` seconds has missed its target whatever it reaches: it is stopped (Ctrl-C)."""
    env = child_env(**({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    command = [sys.executable, "-m", "torchlab", "train", recipe, "--seed", str(seed), "--logger", "none"]
    started = time.perf_counter()
    with subprocess.Popen(
        [*command, "--out", str(out), "log.progress=false", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            _, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            process.communicate()
            return {"error": f"over time: stopped after {limit:.0f} s"}
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {process.returncode}"}
    return {**json.loads((out / "summary.json").read_text()), "whole_seconds": seconds}


def measure(recipe: str, seeds: int, extra: list[str], tmp: Path) -> dict:
    """The recipe's runs; once one with the default threads misses the time target the row has failed,
    and the rest are skipped (the one-thread run has a target of its own, `Bar.time_target`)."""
    bar = BARS[recipe]
    before, host = load_average(), host_speed()
    plan = [(f"seed {s}", s, None) for s in range(seeds)] + ([("seed 0, 1 thread", 0, 1)] if bar.stochastic else [])
    runs = {}
    for name, seed, threads in plan:
        target = bar.time_target(threads)
        limit = 2 * target + 60  # the whole command's start-up and pictures come on top of fit
        run = runs[name] = run_recipe(recipe, seed, threads, tmp / f"{recipe}-{len(runs)}", extra, limit)
        run["threads"] = threads
        if "error" in run or run["wall_seconds"] > target:
            break
    return {"recipe": recipe, "bar": bar, "runs": runs, "host": host, "load": (before, load_average())}


def row(result: dict) -> str:
    bar, runs = result["bar"], result["runs"]
    when = f"{time.strftime('%m-%d %H:%M', time.gmtime())}, {cpu_name()}"
    failed = [name for name, run in runs.items() if "error" in run]
    if failed:
        return (
            f"| {result['recipe']} | {bar.text()} | failed: {runs[failed[0]]['error']} |"
            + " |" * 8
            + f" {when} | **no** |"
        )
    values = [run["test"][bar.metric] for run in runs.values()]
    worst = min(values) if bar.higher_is_better else max(values)
    seeded = [run for run in runs.values() if run["threads"] is None]
    first = seeded[0]
    fit = max(run["wall_seconds"] for run in seeded)
    whole = max(run["whole_seconds"] for run in seeded)
    in_time = all(run["wall_seconds"] <= bar.time_target(run["threads"]) for run in runs.values())
    missed = sorted({condition for run in runs.values() for condition in bar.missed(run["test"])})
    met = all(bar.met(v) for v in values) and not missed and in_time
    which = f"seeds 0-{len(seeded) - 1}" if len(seeded) > 1 else "seed 0"
    which += " + 1 thread" if len(runs) > len(seeded) else ""
    which += f"; missed {', '.join(missed)}" if missed else ""
    which += ", then stopped: over time" if not in_time else ""
    return (
        f"| {result['recipe']} | {bar.text()} | {worst:.5g} | {statistics.median(values):.5g} | {which} | "
        f"{first['epochs']} ({first['best_epoch']}) | {fit:.1f} | {whole:.1f} | "
        f"{first['train_samples_per_second'] or 0:,.0f} | {result['host']:,.0f} | "
        f"{result['load'][0]} / {result['load'][1]} | "
        f"{when} | {'yes' if met else '**no**'} |"
    )


def record(out: Path, recipe: str, line: str, readme: Path | None = None) -> None:
    """Put `line` in `out`'s table as `recipe`'s row, the other recipes' rows kept; with `readme`, its
    results table too."""
    rows = {**table_rows(out), recipe: line}
    replace_section(out, section(rows))
    if readme:
        replace_section(readme, readme_section(rows), README_BEGIN, README_END)


def table_rows(path: Path) -> dict[str, str]:
    """The rows of the file's table, by recipe: a run of some recipes keeps the others' rows."""
    section = kept_section(path)
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| recipe |")]
    return {line.split("|")[1].strip(): line for line in rows}


def section(rows: dict[str, str]) -> str:
    lines = [
        BEGIN,
        "## Recipes at their quality bars (`make bench-recipes`)",
        "",
        "Each recipe with its defaults, one whole command at a time, on the seeds its row names (stochastic "
        "ones also seed 0 with one thread), measured when and where the row says "
        "(`make bench-recipes BENCH_ARGS='--only RECIPE --seeds 3'` rewrites one row). Worst and median over "
        "those runs; fit s: the longest summary.json `wall_seconds` (epochs and test) with the default threads; "
        "whole s: the longest of those commands; host samples/s: a plain PyTorch loop's just before the row "
        "(`host_speed`: the host has slow hours that the load average does not show); target: fit <= 120 s "
        "(mnist-dcgan 300 s) and every run at its bar (the one-thread run checks the result on another "
        "floating-point path; it may take twice as long).",
        "",
        "| recipe | bar | worst | median | runs | epochs (best) | fit s | whole s | train samples/s "
        "| host samples/s | load before / after | measured (UTC) | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(rows[recipe] for recipe in BARS if recipe in rows),
        END,
    ]
    return "\n".join(lines) + "\n"


def readme_section(rows: dict[str, str]) -> str:
    """README's results table: each recipe's bar, result and time as its BENCHMARKS.md row has them."""
    lines = [
        README_BEGIN,
        "| recipe | bar | result: worst (median) | runs | fit s | measured (UTC) | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for recipe in (r for r in BARS if r in rows):
        cells = [cell.strip() for cell in rows[recipe].split("|")[1:-1]]
        (name, bar, worst, median, runs, _, fit), (when, met) = cells[:7], cells[-2:]  # rows of older runs too
        result = f"{worst} ({median})" if median else worst
        lines.append(f"| {name} | {bar} | {result} | {runs} | {fit} | {when} | {met} |")
    return "\n".join([*lines, README_END]) + "\n"


def replace_section(path: Path, text: str, begin: str = BEGIN, end: str = END) -> None:
    """Put `text` (a `begin` ... `end` block) in place of the file's block, or at its end."""
    old = path.read_text() if path.is_file() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + text.rstrip("\n") + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    path.write_text(new)


def kept_section(path: Path, begin: str = BEGIN, end: str = END) -> str:
    """The `begin` ... `end` block of `path`, for `make bench` to keep when it rewrites the file."""
    old = path.read_text() if path.is_file() else ""
    return begin + old.split(begin, 1)[1].split(end, 1)[0] + end + "\n" if begin in old and end in old else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--readme", type=Path, help="also rewrite this file's results table (README.md)")
    parser.add_argument("--only", help="comma-separated recipes (default: every recipe with a bar)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny data, one epoch (meaningless)")
    args = parser.parse_args()
    recipes = args.only.split(",") if args.only else list(BARS)
    unknown = [r for r in recipes if r not in BARS]
    if unknown:
        parser.error(f"no bar for {', '.join(unknown)}; known: {', '.join(BARS)}")
    with tempfile.TemporaryDirectory(prefix="bench-recipes-") as tmp:
        for recipe in recipes:
            line = row(measure(recipe, args.seeds, QUICK if args.quick else [], Path(tmp)))
            print(line, flush=True)
            record(args.out, recipe, line, args.readme)  # after each recipe: a long run stopped keeps its rows


if __name__ == "__main__":
    main()
