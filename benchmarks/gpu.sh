#!/usr/bin/env bash
# On a machine with one CUDA GPU, from the repository root: CUDA correctness of the fast paths
# (AMP bf16/fp16, torch.compile, channels_last), every family in fp32 and bf16, and time to 99.0% on
# mnist-cnn, inside 7 minutes.
# Appends a "GPU" section to BENCHMARKS.md. Usage: benchmarks/gpu.sh [PYTHON]
set -euo pipefail
PY=${1:-${PY:-python}}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} TORCHLAB_DATA=${TORCHLAB_DATA:-$(cd .. && pwd)/shared/datasets}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 420 "$PY" benchmarks/gpu.py --out BENCHMARKS.md
