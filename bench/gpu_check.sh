#!/usr/bin/env bash
# GPU check for a lent GPU machine: the gpu-marked tests, the GPU-relevant test files
# as a whole (a GPU changes what device="auto" picks), and the GPU benchmarks.
# Bounded by GPU_CHECK_SECONDS (default 480). Results go to $OUT (or ./gpu-results), as one
# archive gpu-results.tar.gz plus summary.txt (the device tool returns at most 8 files).
#   On the device machine (torch, CuPy, scikit-learn, pytest-timeout; dask, skops and
#   skorch carried as wheels, installed in /tmp/site):
#   PYTHONPATH=/tmp/site:src GPU_CHECK_SECONDS=470 PYTHON=python3 bash bench/gpu_check.sh
# Every step is bounded by what is left of GPU_CHECK_SECONDS, and the archive is
# written on exit, so a run stopped early still returns what it measured.
set -uo pipefail
out="${OUT:-gpu-results}"
work="$(mktemp -d)/gpu-results"
mkdir -p "$out" "$work"
export PYTHONPATH="${PYTHONPATH:-}:src" SCIPY_ARRAY_API=1 PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
summary="$out/summary.txt"
budget=${GPU_CHECK_SECONDS:-480}
left() { echo $(( budget - SECONDS > 5 ? budget - SECONDS : 5 )); }
upto() { local l; l=$(left); echo $(( l < $1 ? l : $1 )); }  # at most $1 s, within the budget
trap 'tar -czf "$out/gpu-results.tar.gz" -C "$(dirname "$work")" gpu-results' EXIT

step() { echo "== $1 ($(date -u +%H:%M:%S))" | tee -a "$summary"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$work/gpu.txt" | tee -a "$summary"
"$py" - <<'EOF' 2>&1 | tee -a "$work/gpu.txt" | tee -a "$summary"
import importlib, os, platform
import torch
print("python", platform.python_version(), "cpus", os.cpu_count())
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
for name in ("cupy", "sklearn", "numpy", "scipy", "joblib", "dask", "distributed", "skorch"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as exc:  # noqa: BLE001 - report what is missing and go on
        print(name, "missing:", exc)
EOF

step "tests: gpu-marked"
timeout "$(upto 240)" "$py" -m pytest -p no:cacheprovider -o addopts="" -q -rs --timeout 120 \
  tests/test_gpu.py tests/test_nn.py -m gpu 2>&1 | tee "$work/gpu-tests.txt" | tail -15 | tee -a "$summary"

step "bench: Array API pipelines, CPU vs GPU (scaleml bench)"
timeout "$(upto 150)" "$py" -m scaleml bench recipes/scaler_pca_ridge.yaml --scale 10 --repeat 5 --no-memory \
  --backends sklearn,torch:device=cpu,torch,cupy --out "$work/bench-ridge" 2>&1 | tee "$work/bench-ridge.txt" | tail -12 | tee -a "$summary"
timeout "$(upto 150)" "$py" -m scaleml bench recipes/logreg_large.yaml --scale 5 --repeat 5 --no-memory \
  --backends sklearn,torch:device=cpu,torch,cupy --out "$work/bench-logreg" 2>&1 | tee "$work/bench-logreg.txt" | tail -12 | tee -a "$summary"

step "bench: CNN vs hand-written loop vs skorch on CUDA"
timeout "$(upto 120)" "$py" bench/nn/cnn.py --repeat 3 --device cuda --out "$work/cnn-cuda.json" 2>&1 | tee "$work/cnn-cuda.txt" | tail -8 | tee -a "$summary"
# Streamed vs in-memory images/s with AMP and channels_last, against a hand-written
# AMP loop on the same card.
timeout "$(upto 120)" "$py" bench/nn/cnn_streaming.py --part throughput --device cuda --repeat 3 --images 20000 \
  --out "$work/cnn-streaming-cuda.json" 2>&1 | tee "$work/cnn-streaming-cuda.txt" | tail -8 | tee -a "$summary"

# With a GPU present device="auto" picks CUDA: the files whose tests train or place
# steps, run whole in the time left.
step "tests: the GPU-relevant files, $(left) s left"
if [ "$(left)" -gt 30 ]; then
  timeout "$(left)" "$py" -m pytest -p no:cacheprovider -o addopts="" -q -rfs --timeout 120 -m "not slow" \
    tests/test_torch_backend.py tests/test_backend_kit.py tests/test_nn.py tests/test_nn_callbacks.py \
    tests/test_nn_streaming.py tests/test_nn_estimator_checks.py tests/test_nn_dask_ddp.py tests/test_registry.py \
    tests/test_planning.py tests/test_profiles.py tests/test_params.py tests/test_cli.py 2>&1 \
    | tee "$work/gpu-files.txt" | tail -30 | tee -a "$summary"
fi

step "done"
