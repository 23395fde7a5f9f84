"""GPU checks for one CUDA device, inside 5 minutes (`benchmarks/gpu.sh`).

1. Correctness of the fast paths on CUDA: mnist-cnn for one epoch on a subset with fp32, bf16 and
   fp16 autocast, torch.compile and channels_last; each must finish with a finite loss and reach
   the fp32 run's validation accuracy within 2 points.
2. Time to 99.0%: `torchlab train mnist-cnn --device cuda` for 3 seeds against the
   pytorch/examples-default loop on the same GPU (until it passes 99.0%).
Appends a section to BENCHMARKS.md (or --out).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from torchlab.data.root import data_root
from torchlab.engine.trainer import Trainer
from torchlab.recipes import load_recipe

sys.path.insert(0, str(Path(__file__).parent))
from bench import TARGET, train_command  # noqa: E402
from reference import EXAMPLES_EPOCHS, examples_reference  # noqa: E402

PATHS = {
    "fp32": [],
    "bf16 autocast": ["train.amp=bf16"],
    "fp16 autocast + GradScaler": ["train.amp=fp16"],
    "torch.compile": ["train.compile=true"],
    "channels_last off": ["train.channels_last=false"],
}


def fast_path(overrides: list[str], tmp: Path) -> dict:
    cfg = load_recipe(
        "mnist-cnn",
        [
            "log.loggers=[none]",
            "log.progress=false",
            "train.device=cuda",
            "train.epochs=1",
            "data.subset=20000",
            *overrides,
        ],
    )
    started = time.perf_counter()
    summary = Trainer(cfg, tmp / str(len(list(tmp.iterdir())))).fit()
    return {
        "val": summary["val"]["accuracy"],
        "seconds": time.perf_counter() - started,
        "samples_per_s": summary["train_samples_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: no CUDA device here")
    card = torch.cuda.get_device_name()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        checks = {label: fast_path(overrides, tmp) for label, overrides in PATHS.items()}
        runs = [train_command("mnist-cnn", seed, tmp, ["--device", "cuda"]) for seed in range(3)]
    reference = examples_reference(str(data_root(None)), EXAMPLES_EPOCHS, TARGET, device="cuda")
    base = checks["fp32"]["val"]
    failed = [label for label, r in checks.items() if not abs(r["val"] - base) <= 0.02]
    to_target = [r["wall"] if r["accuracy"] >= TARGET else float("inf") for r in runs]
    ref_time = reference["seconds_to_target"] or reference["points"][-1][0]
    seeds = ", ".join(f"{r['wall']:.1f} s ({r['accuracy']:.4f})" for r in runs)
    points = ", ".join(f"{a:.4f} at {s} s" for s, a in reference["points"])
    lines = [
        "",
        f"## GPU: {card} (torch {torch.__version__}, `benchmarks/gpu.sh`)",
        "",
        "| fast path (mnist-cnn, 1 epoch, 20k samples) | val accuracy | train samples/s | ok |",
        "|---|---|---|---|",
        *(
            f"| {label} | {r['val']:.4f} | {r['samples_per_s']:,.0f} | {'yes' if label not in failed else 'NO'} |"
            for label, r in checks.items()
        ),
        "",
        f"Time to 99.0% (whole command, 3 seeds): {seeds}; mean {statistics.mean(to_target):.1f} s, "
        f"worst {max(to_target):.1f} s. pytorch/examples-default loop on the same GPU: {points}; speed-up "
        f"{'>' if not reference['seconds_to_target'] else ''}{ref_time / statistics.mean(to_target):.1f}x (mean).",
    ]
    with args.out.open("a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if failed:
        raise SystemExit(f"fast paths off by more than 2 points of accuracy: {', '.join(failed)}")


if __name__ == "__main__":
    main()
