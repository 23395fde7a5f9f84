"""Training steps with glibc's default allocator settings against `keep_freed_memory()` (what the
Trainer sets): samples per second and page faults per step.

Each image classifier recipe's model (its batch size and memory format, SGD, random data) trains
for `--seconds` in a child process of its own, the two settings alternating `--rounds` times; the
ratio is the median of the paired ratios. Run it alone: it times the CPU.

Usage: PYTHONPATH=src python benchmarks/allocator.py [--rounds 3] [--seconds 4]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from eval_batch import RECIPES, recipe_model  # this folder: the image recipes and how their models are built


def child(recipe: str, keep: bool, seconds: float) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from torchlab.core.runtime import keep_freed_memory

    if keep and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() changed nothing here (not glibc, or an allocator set in the environment)")
    model, layout, batch_size, _ = recipe_model(recipe)
    images = torch.randn(batch_size, 1, 28, 28).to(memory_format=layout)
    labels = torch.randint(0, 10, (batch_size,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(10):  # warm-up: kernels chosen, the heap grown
        step()
    faults, started, steps = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        step()
        steps += 1
    elapsed = time.perf_counter() - started
    return {
        "samples_per_second": steps * len(images) / elapsed,
        "faults_per_step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps,
    }


def measure(recipe: str, keep: bool, seconds: float) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", recipe, "--seconds", str(seconds)] + (["--keep"] if keep else [])
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.keep, args.seconds)))
        return
    print("| recipe | samples/s, glibc's defaults | samples/s, memory kept | ratio | page faults per step |")
    print("|---|---|---|---|---|")
    for recipe in args.recipes.split(","):
        runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(args.rounds):
            for keep in (False, True):
                runs[keep].append(measure(recipe, keep, args.seconds))
        rate = {keep: [r["samples_per_second"] for r in runs[keep]] for keep in runs}
        ratio = statistics.median(k / d for d, k in zip(rate[False], rate[True], strict=True))
        faults = {keep: statistics.median(r["faults_per_step"] for r in runs[keep]) for keep in runs}
        print(
            f"| {recipe} | {statistics.median(rate[False]):,.0f} | {statistics.median(rate[True]):,.0f} "
            f"| **{ratio:.2f}x** | {faults[False]:,.0f} / {faults[True]:,.0f} |"
        )


if __name__ == "__main__":
    main()
