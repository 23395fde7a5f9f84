"""`make bench`: torchlab side by side with reference loops, each figure a ratio from one run.

Writes BENCHMARKS.md (figures 1-5, the machine, torch's version, the command). Every timing
alternates the two sides, so a busy machine skews both alike; figure 1 takes the median of paired
ratios, the others each side's best repeat.
Usage: python benchmarks/bench.py [--out BENCHMARKS.md] [--quick]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from torchlab.data.root import data_root
from torchlab.engine.optim import build_optimizer, build_schedule
from torchlab.engine.trainer import Trainer
from torchlab.models import build_model
from torchlab.recipes import load_recipe, recipe_names

sys.path.insert(0, str(Path(__file__).parent))
import phases  # noqa: E402
import recipes as bench_recipes  # noqa: E402
from recipes import child_env, cpu_name, kept_section  # noqa: E402  (the sections of bench-recipes and bench-phases stay)

TUNING = ("<!-- tuning -->", "<!-- /tuning -->")  # the recipes' A/B runs, written by hand: kept too
GPU_SECTION = ("<!-- gpu -->", "<!-- /gpu -->")  # benchmarks/gpu.sh's figures: kept too
GPU_RECIPES_SECTION = ("<!-- gpu-recipes -->", "<!-- /gpu-recipes -->")  # gpu.py --recipes': kept too
from reference import EXAMPLES_EPOCHS, examples_reference, plain_epoch  # noqa: E402

QUIET = ["log.loggers=[none]", "log.progress=false"]
SMOKE_DATA = ["data.subset=2048", "data.eval_subset=1000"]  # --quick: tiny, meaningless sizes
TARGET = 0.99


def best_rate(work, repeats: int) -> float:
    """The best of `repeats` timed calls of `work()` (which returns a count), per second."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - started))
    return max(rates)


def trainer_for(recipe: str, overrides: list[str], tmp: Path) -> Trainer:
    return Trainer(load_recipe(recipe, [*QUIET, *overrides]), tmp / f"{recipe}-{len(os.listdir(tmp))}")


# -- figure 1: engine overhead ---------------------------------------------------------------
def engine_overhead(recipe: str, subset: int, repeats: int, tmp: Path) -> dict:
    epochs = repeats + 1  # one warm-up epoch, then the timed ones (the schedules span them all)
    trainer = trainer_for(recipe, [f"data.subset={subset}", f"train.epochs={epochs}"], tmp)
    cfg, data = trainer.cfg, trainer.data
    model = build_model(cfg.model, data.info)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg.optim, model.parameters())
    scheduler = build_schedule(cfg.schedule, optimizer, cfg.train, len(data.train_loader(None)))
    amp = {"bf16": torch.bfloat16}.get(cfg.train.amp)
    smoothing = getattr(cfg.task, "label_smoothing", 0.0)
    generator = torch.Generator().manual_seed(0)

    def torchlab_epoch() -> int:
        before = trainer.step
        trainer.train_epoch([])
        return trainer.step - before

    def plain() -> int:
        return plain_epoch(
            model,
            optimizer,
            scheduler.scheduler,
            data.train_images,
            data.train_labels,
            cfg.data.batch_size,
            label_smoothing=smoothing,
            amp=amp,
            channels_last=cfg.train.channels_last,
            generator=generator,
        )

    torchlab_epoch(), plain()  # warm-up: allocator, oneDNN kernels
    rates = {"torchlab": [], "plain": []}
    for _ in range(repeats):
        rates["torchlab"].append(best_rate(torchlab_epoch, 1))
        rates["plain"].append(best_rate(plain, 1))
    # The median of paired ratios: adjacent epochs share the machine's state, and the median drops
    # the epochs a neighbour slowed. (The ratio of best rates moved by +-10% between runs here.)
    paired = [t / p for t, p in zip(rates["torchlab"], rates["plain"], strict=True)]
    return {
        "recipe": recipe,
        "torchlab": statistics.median(rates["torchlab"]),
        "plain": statistics.median(rates["plain"]),
        "ratio": statistics.median(paired),
        "pairs": repeats,
        "steps": len(data.train_loader(None)),
    }


# -- figure 2: data path ---------------------------------------------------------------------
def data_path(batches: int, tmp: Path) -> dict:
    from torchvision import datasets, transforms

    trainer = trainer_for("mnist-mlp", [], tmp)
    loader = trainer.data.train_loader(torch.Generator().manual_seed(0))

    def in_memory() -> int:
        return sum(len(y) for _, y in loader)

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = datasets.MNIST(str(data_root(None)), train=True, transform=tf)
    out = {"torchlab": best_rate(in_memory, 3)}
    for workers in (0, 2):

        def per_sample(workers: int = workers) -> int:
            dl = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, num_workers=workers)
            it, n = iter(dl), 0
            for _ in range(batches):
                n += len(next(it)[1])
            return n

        out[f"workers={workers}"] = best_rate(per_sample, 2)
    return out


# -- figures 3 and 5: whole commands ---------------------------------------------------------
def train_command(recipe: str, seed: int, tmp: Path, extra: list[str] = ()) -> dict:
    """`torchlab train RECIPE --seed SEED EXTRA` as a user types it (TensorBoard logging included), timed whole."""
    out = tmp / f"cmd-{recipe}-{seed}-{len(os.listdir(tmp))}"
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchlab",
            "train",
            recipe,
            "--seed",
            str(seed),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=child_env(),
    )
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"torchlab train {recipe} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {"wall": wall, "accuracy": summary["test"]["accuracy"], "samples_per_s": summary["train_samples_per_second"]}


def time_to_accuracy(seeds: int, ref_epochs: int, tmp: Path) -> dict:
    runs = [train_command("mnist-cnn", seed, tmp) for seed in range(seeds)]
    to_target = [r["wall"] if r["accuracy"] >= TARGET else float("inf") for r in runs]
    reference = examples_reference(str(data_root(None)), ref_epochs, TARGET)
    return {"runs": runs, "mean": statistics.mean(to_target), "worst": max(to_target), "reference": reference}


# -- figure 4: Lightning ---------------------------------------------------------------------
def lightning_ratio(recipe: str, subset: int, tmp: Path) -> dict | None:
    try:
        import lightning as L
    except ImportError:
        return None
    trainer = trainer_for(recipe, [f"data.subset={subset}", "train.epochs=2"], tmp)
    cfg, data, task = trainer.cfg, trainer.data, trainer.task

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = build_model(cfg.model, data.info)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.model(x), y, label_smoothing=task.cfg.label_smoothing)

        def configure_optimizers(self):
            optimizer = build_optimizer(cfg.optim, self.parameters())
            schedule = build_schedule(
                cfg.schedule, optimizer, replace(cfg.train, epochs=2), len(data.train_loader(None))
            )
            if schedule.scheduler is None:
                return optimizer
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule.scheduler, "interval": "step"}}

    class Clock(L.Callback):
        def on_train_epoch_start(self, *_):
            self.started = time.perf_counter()

        def on_train_epoch_end(self, *_):
            self.seconds = time.perf_counter() - self.started

    clock = Clock()
    module = Module()
    if cfg.train.channels_last:
        module = module.to(memory_format=torch.channels_last)
    fitter = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    steps = len(data.train_loader(None))
    fitter.fit(module, train_dataloaders=data.train_loader(torch.Generator().manual_seed(0)))
    lightning = steps / clock.seconds  # the second epoch: warm, like torchlab's below
    trainer.train_epoch([])
    started = time.perf_counter()
    trainer.train_epoch([])
    ours = steps / (time.perf_counter() - started)
    return {
        "recipe": recipe,
        "torchlab": ours,
        "lightning": lightning,
        "ratio": ours / lightning,
        "version": L.__version__,
    }


# -- figure 5: hardware use ------------------------------------------------------------------
def matmul_peak(dtype: torch.dtype, n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def train_flops_per_sample(recipe: str, tmp: Path) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    trainer = trainer_for(recipe, ["data.subset=256", "data.eval_subset=256"], tmp)
    batch = next(iter(trainer.data.train_loader(torch.Generator().manual_seed(0))))
    with FlopCounterMode(display=False) as counter:
        trainer.task.training_step(batch, trainer.optimize)
    return counter.get_total_flops() / len(batch[1])


def hardware_use(recipes: dict[str, list[str]], fp32_runs: dict, tmp: Path) -> dict:
    out = {"fp32_peak": matmul_peak(torch.float32), "bf16_peak": matmul_peak(torch.bfloat16), "rows": []}
    for recipe, extra in recipes.items():
        if recipe not in recipe_names():
            out["rows"].append({"recipe": recipe, "skipped": f"recipe {recipe} does not exist on this branch yet"})
            continue
        flops = train_flops_per_sample(recipe, tmp)
        for amp in ("none", "bf16"):
            run = fp32_runs.get(recipe) if amp == "none" else None
            run = run or train_command(recipe, 0, tmp, [*extra, f"train.amp={amp}"])
            share = flops * run["samples_per_s"] / out["fp32_peak"]
            out["rows"].append({"recipe": recipe, "amp": amp, "flops": flops, **run, "share": share})
    return out


# -- the report ------------------------------------------------------------------------------
def write_report(path: Path, results: dict, command: str) -> None:
    f1, f2, f3, f4, f5 = (results.get(k) for k in ("overhead", "data", "tta", "lightning", "hardware"))
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Load average at the start: {results['load']}.",
        f"Command: `{command}`.",
        "Each ratio is measured in one run; both sides alternate (figure 1: the median of paired ratios; "
        "the others: each side's best repeat).",
        *(
            [
                "",
                "**Smoke run (`--quick`)**: tiny subsets, one seed, no reference loop; it shows the benchmarks "
                "run, not how fast torchlab is. `make bench` gives the real figures.",
            ]
            if "--quick" in command
            else []
        ),
        "",
        "## 1. Engine overhead (Trainer vs a plain loop, same model, data, batch, optimiser; target >= 0.97)",
        "",
        f"Epochs alternate, {f1[0]['pairs']} of each; steps/s are medians and the ratio is the median of the "
        "ratios of adjacent epochs.",
        "",
        "| recipe | steps/epoch | torchlab steps/s | plain loop steps/s | ratio |",
        "|---|---|---|---|---|",
        *(
            f"| {r['recipe']} | {r['steps']} | {r['torchlab']:.1f} | {r['plain']:.1f} | **{r['ratio']:.3f}** |"
            for r in f1
        ),
        "",
        "## 2. Data path (samples/s iterating MNIST train batches of 128, normalised; target >= 10x)",
        "",
        "| loader | samples/s | torchlab's ratio |",
        "|---|---|---|",
        f"| torchlab in-memory | {f2['torchlab']:,.0f} | 1 |",
        *(
            f"| torchvision per-sample, DataLoader {k} | {v:,.0f} | **{f2['torchlab'] / v:.1f}x** |"
            for k, v in f2.items()
            if k != "torchlab"
        ),
        "",
    ]
    lines += [
        "## 3. Time to 99.0% test accuracy (`torchlab train mnist-cnn`, whole command; target <= 10 s and >= 15x)",
        "",
        "torchlab's time is the wall time of the whole command (startup, data, training, validation, test, "
        "checkpoints, TensorBoard logs, plots, report) when its final test accuracy is >= 99.0%. The reference is "
        "a loop with pytorch/examples' MNIST defaults, its test accuracy evaluated after each epoch, training "
        "seconds only (in its favour).",
        "",
        "| seed | whole command s | test accuracy |",
        "|---|---|---|",
        *(f"| {i} | {r['wall']:.1f} | {r['accuracy']:.4f} |" for i, r in enumerate(f3["runs"])),
        "",
        f"Mean {f3['mean']:.1f} s, worst seed {f3['worst']:.1f} s.",
    ]
    ref = f3["reference"]
    if ref:
        reached, last = ref["seconds_to_target"], ref["points"][-1][0]
        bound, more = (reached, "") if reached else (last, ">")
        lines += [
            f"Reference: {ref['epoch_seconds']:.1f} s/epoch, test accuracy "
            f"{', '.join(f'{a:.4f} at {s} s' for s, a in ref['points'])}; 99.0% "
            + (f"at {reached:.1f} s." if reached else f"not reached in {len(ref['points'])} epochs (> {last:.1f} s)."),
            f"Speed-up to 99.0%: mean **{more}{bound / f3['mean']:.1f}x**, "
            f"worst seed **{more}{bound / f3['worst']:.1f}x**.",
        ]
    lines.append("")
    lines += ["## 4. Lightning (same model, data, optimiser and schedule; steps/s, warm epoch)", ""]
    if f4:
        lines += ["| recipe | torchlab steps/s | lightning steps/s | ratio |", "|---|---|---|---|"]
        lines += [f"| {r['recipe']} | {r['torchlab']:.1f} | {r['lightning']:.1f} | **{r['ratio']:.3f}** |" for r in f4]
        lines += ["", f"lightning {f4[0]['version']}.", ""]
    else:
        lines += ["Skipped: `lightning` is not installed (`pip install -e .[bench]`).", ""]
    lines += [
        "## 5. Hardware use (model FLOPs/s while training, as a share of the fp32 matmul peak)",
        "",
        f"fp32 matmul peak {f5['fp32_peak'] / 1e9:.0f} GFLOP/s, bf16 {f5['bf16_peak'] / 1e9:.0f} GFLOP/s "
        "(1024x1024 matmul, best of 20). Model FLOPs per training sample from torch's FlopCounterMode "
        "(forward + backward).",
        "",
        "| recipe | autocast | MFLOP/sample | train samples/s | GFLOP/s | share of fp32 peak | test accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in f5["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['recipe']} | - | - | - | - | - | skipped: {r['skipped']} |")
        else:
            lines.append(
                f"| {r['recipe']} | {r['amp']} | {r['flops'] / 1e6:.2f} | {r['samples_per_s']:,.0f} | "
                f"{r['flops'] * r['samples_per_s'] / 1e9:.1f} | {r['share']:.1%} | {r['accuracy']:.4f} |"
            )
    marks = [(bench_recipes.BEGIN, bench_recipes.END), TUNING, (phases.BEGIN, phases.END)]
    marks += [GPU_SECTION, GPU_RECIPES_SECTION]
    kept = [section for begin, end in marks if (section := kept_section(path, begin, end))]
    path.write_text("\n".join(lines) + "\n" + "".join("\n" + section for section in kept))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, one seed (numbers meaningless)")
    parser.add_argument(
        "--ref-epochs",
        type=int,
        default=EXAMPLES_EPOCHS,
        help="the reference trains until 99.0%%, at most this many epochs (pytorch/examples' default)",
    )
    args = parser.parse_args()
    quick = args.quick
    subset, repeats, seeds = (2048, 1, 1) if quick else (12800, 21, 3)
    results = {"load": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        results["overhead"] = [engine_overhead(r, subset, repeats, tmp) for r in ("mnist-mlp", "mnist-cnn")]
        results["data"] = data_path(5 if quick else 40, tmp)
        lightning = [lightning_ratio(r, subset, tmp) for r in ("mnist-mlp", "mnist-cnn")]
        results["lightning"] = lightning if all(lightning) else None
        if quick:
            run = train_command("mnist-cnn", 0, tmp, SMOKE_DATA)
            results["tta"] = {"runs": [run], "mean": run["wall"], "worst": run["wall"], "reference": None}
            hardware = {"mnist-cnn": SMOKE_DATA}
        else:
            results["tta"] = time_to_accuracy(seeds, args.ref_epochs, tmp)
            hardware = {"mnist-cnn": [], "fashion-resnet": ["--epochs", "1", "data.subset=10000"]}
        fp32 = {"mnist-cnn": results["tta"]["runs"][0]}  # the hardware table's fp32 command too
        results["hardware"] = hardware_use(hardware, fp32, tmp)
    command = "make bench" + (" BENCH_ARGS=--quick" if quick else "")
    write_report(args.out, results, command)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
