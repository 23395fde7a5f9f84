"""Does one config give the same weights in every fresh process? Trains it N times, one process after
another, and counts the distinct final weights (a hash of best.pt's model).

    PYTHONPATH=src python benchmarks/determinism.py --runs 40
    PYTHONPATH=src python benchmarks/determinism.py --runs 40 --threads 1 -- train.epochs=1

On the Intel host of stop 36, about one process in 50 differed (docs/reliability.md, Known gaps: a
second OpenMP thread's share of an Adam update). A line per run, then the counts; nothing is written
outside a temporary folder.
"""

import argparse
import collections
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from recipes import child_env, cpu_name  # this folder is on sys.path: the script's own

SMALL = ["--logger", "none", "-q", "train.epochs=1", "data.subset=3000", "data.eval_subset=500"]


def weights_hash(run: Path) -> str:
    from torchlab.core.checkpoint import load_checkpoint

    model = load_checkpoint(run / "checkpoints" / "best.pt")["model"]
    return hashlib.sha1(b"".join(model[k].numpy().tobytes() for k in sorted(model))).hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="mnist-mlp")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of the runs (0: torch's default)")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE after the small defaults (after --)")
    args = parser.parse_args()
    env = child_env(**({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}))
    seen: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.runs):
            out = Path(folder) / f"run{i}"
            command = [sys.executable, "-m", "torchlab", "train", args.recipe, "--out", str(out), *SMALL]
            subprocess.run([*command, *args.overrides], env=env, check=True, capture_output=True)
            seen[weights_hash(out)] += 1
            print(f"run {i}: {weights_hash(out)}", flush=True)
    threads = args.threads or "default"
    print(f"{args.recipe}, {args.runs} processes, threads {threads}, {cpu_name()}: {len(seen)} distinct weights")
    for digest, count in seen.most_common():
        print(f"  {digest}: {count}")


if __name__ == "__main__":
    main()
