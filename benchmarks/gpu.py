"""GPU checks for one CUDA device, inside 5 minutes (`benchmarks/gpu.sh`).

1. Correctness of the fast paths on CUDA: mnist-cnn for one epoch on a subset with fp32, bf16 and
   fp16 autocast, torch.compile and channels_last; each must finish with a finite loss and reach
   the fp32 run's validation accuracy within 2 points.
2. Time to 99.0%: `torchlab train mnist-cnn --device cuda` for 3 seeds against the
   pytorch/examples-default loop on the same GPU (until it passes 99.0%).
Appends a section to BENCHMARKS.md (or --out). `--device cpu --quick` is a smoke run of the script
itself (tiny subsets, one seed, no reference loop): the tests run it, since no GPU is at hand there.
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from torchlab import api
from torchlab.data.root import data_root
from torchlab.recipes import load_recipe

sys.path.insert(0, str(Path(__file__).parent))
from bench import SMOKE_DATA, TARGET, cpu_name, train_command  # noqa: E402
from reference import EXAMPLES_EPOCHS, examples_reference  # noqa: E402

PATHS = {
    "fp32": [],
    "bf16 autocast": ["train.amp=bf16"],
    "fp16 autocast + GradScaler": ["train.amp=fp16"],
    "torch.compile": ["train.compile=true"],
    "channels_last off": ["train.channels_last=false"],
}


def fast_path(overrides: list[str], device: str, subset: int, tmp: Path) -> dict:
    cfg = load_recipe(
        "mnist-cnn",
        [
            "log.loggers=[none]",
            "log.progress=false",
            f"train.device={device}",
            "train.epochs=1",
            f"data.subset={subset}",
            *overrides,
        ],
    )
    summary = api.train(cfg, tmp / f"fast-path-{len(list(tmp.iterdir()))}")
    return {
        "val": summary["val"]["accuracy"],
        "samples_per_s": summary["train_samples_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--device", default="cuda", help="cuda (the point), or cpu for a smoke run")
    parser.add_argument("--quick", action="store_true", help="tiny subsets, one seed, no reference loop")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: no CUDA device here")
    card = torch.cuda.get_device_name() if args.device == "cuda" else f"{args.device} ({cpu_name()})"
    subset, seeds = (2048, 1) if args.quick else (20000, 3)
    whole_command = ["--device", args.device, *(SMOKE_DATA if args.quick else [])]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        checks = {label: fast_path(overrides, args.device, subset, tmp) for label, overrides in PATHS.items()}
        runs = [train_command("mnist-cnn", seed, tmp, whole_command) for seed in range(seeds)]
    reference = (
        None if args.quick else examples_reference(str(data_root(None)), EXAMPLES_EPOCHS, TARGET, device=args.device)
    )
    base = checks["fp32"]["val"]
    failed = [label for label, r in checks.items() if not abs(r["val"] - base) <= 0.02]
    to_target = [r["wall"] if r["accuracy"] >= TARGET else float("inf") for r in runs]
    seeds_text = ", ".join(f"{r['wall']:.1f} s ({r['accuracy']:.4f})" for r in runs)
    to_99 = f"; to 99.0%: mean {statistics.mean(to_target):.1f} s, worst {max(to_target):.1f} s."
    how = f"benchmarks/gpu.py --device {args.device} --quick, a smoke run" if args.quick else "benchmarks/gpu.sh"
    lines = [
        "",
        f"## GPU: {card} (torch {torch.__version__}, `{how}`)",
        "",
        f"| fast path (mnist-cnn, 1 epoch, {subset // 1000}k samples) | val accuracy | train samples/s | ok |",
        "|---|---|---|---|",
        *(
            f"| {label} | {r['val']:.4f} | {r['samples_per_s']:,.0f} | {'yes' if label not in failed else 'NO'} |"
            for label, r in checks.items()
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
    with args.out.open("a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if failed:
        raise SystemExit(f"fast paths off by more than 2 points of accuracy: {', '.join(failed)}")


if __name__ == "__main__":
    main()
