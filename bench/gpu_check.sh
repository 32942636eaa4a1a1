#!/usr/bin/env bash
# GPU check for a lent GPU machine: the gpu-marked tests and the CNN benchmark on CUDA.
# Runs in well under 5 minutes. Results go to $OUT (or ./gpu-results).
#   On the device machine (it has torch, scikit-learn; no dask):
#   PYTHONPATH=src bash bench/gpu_check.sh
set -uo pipefail
out="${OUT:-gpu-results}"
mkdir -p "$out"
export PYTHONPATH="${PYTHONPATH:-}:src"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' | tee -a "$out/gpu.txt"
python -m pytest -m gpu tests/test_nn.py -q -p no:cacheprovider -o addopts="" 2>&1 | tee "$out/gpu-tests.txt"
python bench/cnn.py --repeat 3 --device cuda --out "$out/cnn-cuda.json" 2>&1 | tee "$out/cnn-cuda.txt"
# Streamed vs in-memory images/s with AMP and channels_last, against a hand-written
# AMP loop on the same card; then DDP across the card's GPUs where there are several.
python bench/cnn_streaming.py --part throughput --device cuda --repeat 3 --images 20000 \
  --out "$out/cnn-streaming-cuda.json" 2>&1 | tee "$out/cnn-streaming-cuda.txt"
python bench/cnn_streaming.py --part ddp-gpus --repeat 3 --out "$out/cnn-ddp-gpus.json" 2>&1 | tee "$out/cnn-ddp-gpus.txt"
