#!/usr/bin/env bash
# On a machine with one CUDA GPU, from the repository root: CUDA correctness of the fast paths
# (AMP bf16/fp16, torch.compile, channels_last) and time to 99.0% on mnist-cnn, inside 5 minutes.
# Appends a "GPU" section to BENCHMARKS.md. Usage: benchmarks/gpu.sh [PYTHON]
set -euo pipefail
PY=${1:-${PY:-python}}
export PYTHONPATH=src TORCHLAB_DATA=${TORCHLAB_DATA:-$(cd .. && pwd)/shared/datasets}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 300 "$PY" benchmarks/gpu.py --out BENCHMARKS.md
