"""GPU checks for one CUDA device, inside 7 minutes (`benchmarks/gpu.sh`).

1. Correctness of the fast paths on CUDA: mnist-cnn for one epoch on a subset with fp32, bf16 and
   fp16 autocast, torch.compile and channels_last; each must finish with a finite loss and reach
   the fp32 run's validation accuracy within 2 points.
2. Every family on CUDA: one recipe of each task (classifier, ResNet with BatchNorm, autoencoder,
   VAE, image GAN, WGAN-GP's double backward, LSTM, LSTMCell, packed text) for one short epoch in fp32
   and in bf16 autocast; each must end with finite figures.
3. Time to 99.0%: `torchlab train mnist-cnn --device cuda` for 3 seeds against the
   pytorch/examples-default loop on the same GPU (until it passes 99.0%).
4. `--recipes R1,R2` (instead of 1-3): each recipe's whole command with its defaults on the device,
   seed 0, `--jobs` at a time, against its bar of `make bench-recipes` (a result that must hold on
   CUDA's floating-point paths too); the fit seconds of runs side by side on one GPU are not timings.
Each part replaces its own section of BENCHMARKS.md (or --out), which `make bench` keeps.
`--device cpu --quick` is a smoke run of the script itself (tiny subsets, one seed, no reference
loop): the tests run it, since no GPU is at hand there.
"""

import argparse
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from torchlab import api
from torchlab.data.root import data_root
from torchlab.recipes import load_recipe

sys.path.insert(0, str(Path(__file__).parent))
from bench import GPU_RECIPES_SECTION, GPU_SECTION, SMOKE_DATA, TARGET, cpu_name, train_command  # noqa: E402
from recipes import BARS, replace_section, run_recipe  # noqa: E402
from reference import EXAMPLES_EPOCHS, examples_reference  # noqa: E402

PATHS = {
    "fp32": [],
    "bf16 autocast": ["train.amp=bf16"],
    "fp16 autocast + GradScaler": ["train.amp=fp16"],
    "torch.compile": ["train.compile=true"],
    "channels_last off": ["train.channels_last=false"],
}

FAMILIES = [  # one recipe of each task and model kind whose data travels with the script
    "mnist-mlp",
    "fashion-resnet",
    "mnist-conv-ae",
    "mnist-vae",
    "mnist-dcgan",
    "gaussians-wgan-gp",
    "sine-lstm",
    "sine-lstmcell",
    "sst2-lstm",
]


def short_run(recipe: str, overrides: list[str], device: str, subset: int, tmp: Path) -> dict:
    """One epoch of `recipe` on the first `subset` samples; its summary."""
    cfg = load_recipe(
        recipe,
        [
            "log.loggers=[none]",
            "log.progress=false",
            f"train.device={device}",
            "train.epochs=1",
            f"data.subset={subset}",
            *overrides,
        ],
    )
    return api.train(cfg, tmp / f"{recipe}-{len(list(tmp.iterdir()))}")


def fast_path(overrides: list[str], device: str, subset: int, tmp: Path) -> dict:
    summary = short_run("mnist-cnn", overrides, device, subset, tmp)
    return {"val": summary["val"]["accuracy"], "samples_per_s": summary["train_samples_per_second"]}


def family_run(recipe: str, amp: str, device: str, subset: int, tmp: Path) -> dict:
    """The recipe's monitored validation figure after one short epoch, and whether every figure is finite.
    A GAN's quality figures come from as many generated samples as the evaluation has real ones."""
    config, evaluated = load_recipe(recipe), subset // 4
    generated = [f"task.samples={evaluated}"] if hasattr(config.task, "samples") else []
    summary = short_run(recipe, [f"train.amp={amp}", f"data.eval_subset={evaluated}", *generated], device, subset, tmp)
    split, name = config.train.monitor.split(".")
    figures = [v for part in ("val", "test") for v in summary[part].values() if isinstance(v, float)]
    return {
        "figure": f"{name} {summary[split][name]:.4g}",
        "samples_per_s": summary["train_samples_per_second"],
        "finite": all(math.isfinite(v) for v in figures),
    }


def recipe_bars(recipes: list[str], device: str, jobs: int, tmp: Path) -> list[str]:
    """Rows of a table: each recipe's seed-0 whole command on `device` against its bar, in `recipes`'
    order; each row is printed as its run ends, so a run stopped early still shows the finished ones."""

    def run(recipe: str) -> str:
        bar = BARS[recipe]
        result = run_recipe(recipe, 0, None, tmp / f"bar-{recipe}", ["--device", device], 2 * bar.fit_seconds + 60)
        if "error" in result:
            row = f"| {recipe} | {bar.text()} | failed: {result['error']} | | | **no** |"
        else:
            value, missed = result["test"][bar.metric], bar.missed(result["test"])
            met = bar.met(value) and not missed
            row = (
                f"| {recipe} | {bar.text()} | {value:.5g}{'; missed ' + ', '.join(missed) if missed else ''} | "
                f"{result['epochs']} | {result['wall_seconds']:.1f} | {'yes' if met else '**no**'} |"
            )
        print(row, flush=True)
        return row

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(run, recipes))


def utc_now() -> str:
    return time.strftime("%m-%d %H:%M UTC", time.gmtime())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--device", default="cuda", help="cuda (the point), or cpu for a smoke run")
    parser.add_argument("--quick", action="store_true", help="tiny subsets, one seed, no reference loop")
    parser.add_argument("--recipes", help="comma-separated recipes with a bar: only their seed-0 runs (part 4)")
    parser.add_argument("--jobs", type=int, default=4, help="--recipes' runs at a time (default 4)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: no CUDA device here")
    card = torch.cuda.get_device_name() if args.device == "cuda" else f"{args.device} ({cpu_name()})"
    if args.recipes:
        bars_section(args, card)
        return
    subset, seeds = (2048, 1) if args.quick else (20000, 3)
    whole_command = ["--device", args.device, *(SMOKE_DATA if args.quick else [])]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        checks = {label: fast_path(overrides, args.device, subset, tmp) for label, overrides in PATHS.items()}
        families = {
            (recipe, amp): family_run(recipe, amp, args.device, subset // 4, tmp)
            for recipe in FAMILIES
            for amp in ("none", "bf16")
        }
        runs = [train_command("mnist-cnn", seed, tmp, whole_command) for seed in range(seeds)]
    reference = (
        None if args.quick else examples_reference(str(data_root(None)), EXAMPLES_EPOCHS, TARGET, device=args.device)
    )
    base = checks["fp32"]["val"]
    failed = [label for label, r in checks.items() if not abs(r["val"] - base) <= 0.02]
    failed += [f"{recipe} ({amp})" for (recipe, amp), r in families.items() if not r["finite"]]
    to_target = [r["wall"] if r["accuracy"] >= TARGET else float("inf") for r in runs]
    seeds_text = ", ".join(f"{r['wall']:.1f} s ({r['accuracy']:.4f})" for r in runs)
    to_99 = f"; to 99.0%: mean {statistics.mean(to_target):.1f} s, worst {max(to_target):.1f} s."
    how = f"benchmarks/gpu.py --device {args.device} --quick, a smoke run" if args.quick else "benchmarks/gpu.sh"
    lines = [
        GPU_SECTION[0],
        f"## GPU: {card} (torch {torch.__version__}, `{how}`, {utc_now()})",
        "",
        f"| fast path (mnist-cnn, 1 epoch, {subset // 1000}k samples) | val accuracy | train samples/s | ok |",
        "|---|---|---|---|",
        *(
            f"| {label} | {r['val']:.4f} | {r['samples_per_s']:,.0f} | {'yes' if label not in failed else 'NO'} |"
            for label, r in checks.items()
        ),
        "",
        f"| family (1 epoch, {subset // 4:,} samples) | fp32 | bf16 autocast | samples/s fp32 / bf16 |",
        "|---|---|---|---|",
        *(
            f"| {recipe} | {families[recipe, 'none']['figure']} | {families[recipe, 'bf16']['figure']} | "
            f"{families[recipe, 'none']['samples_per_s']:,.0f} / {families[recipe, 'bf16']['samples_per_s']:,.0f} |"
            for recipe in FAMILIES
        ),
        "",
        f"Whole command, seconds (test accuracy): {seeds_text}" + ("." if args.quick else to_99),
    ]
    if reference:
        ref_time = reference["seconds_to_target"] or reference["points"][-1][0]
        points = ", ".join(f"{a:.4f} at {s} s" for s, a in reference["points"])
        lines[-1] += (
            f" pytorch/examples-default loop on the same device: {points}; speed-up "
            f"{'>' if not reference['seconds_to_target'] else ''}{ref_time / statistics.mean(to_target):.1f}x (mean)."
        )
    lines[-1] += " torch.compile's samples/s include its compilation in this one epoch."
    replace_section(args.out, "\n".join([*lines, GPU_SECTION[1]]) + "\n", *GPU_SECTION)
    print("\n".join(lines))
    if failed:
        raise SystemExit(f"off by more than 2 points of accuracy, or not finite: {', '.join(failed)}")


def bars_section(args: argparse.Namespace, card: str) -> None:
    recipes = args.recipes.split(",")
    unknown = [r for r in recipes if r not in BARS]
    if unknown:
        raise SystemExit(f"no bar for {', '.join(unknown)}; known: {', '.join(BARS)}")
    with tempfile.TemporaryDirectory() as name:
        rows = recipe_bars(recipes, args.device, args.jobs, Path(name))
    lines = [
        GPU_RECIPES_SECTION[0],
        f"## Recipes' bars on {card} (torch {torch.__version__}, `benchmarks/gpu.py --recipes ... "
        f"--jobs {args.jobs}`, seed 0, {args.jobs} runs at a time, {utc_now()})",
        "",
        "| recipe | bar | test result | epochs | fit s | met |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section(args.out, "\n".join([*lines, GPU_RECIPES_SECTION[1]]) + "\n", *GPU_RECIPES_SECTION)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
