#!/usr/bin/env bash
# The GPU check (threadx_bench/gpu_check.py, docs/BENCHMARKS.md "GPU"): on a CUDA machine,
# parity of every CUDA kernel with the CPU kernel, then their speed, in under 5 minutes.
# Installs nothing from the network: wheels in .whl/ ($THREADX_WHEELS; scripts/gpu_wheels.sh makes
# them beforehand on a machine with PyPI) are installed into a scratch folder first. Writes gpu_check.json under
# $OUT (or ./gpu-check); $PYTHON is the interpreter (python3); extra arguments go to the check (--budget SECONDS, --examples N, --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
wheels="${THREADX_WHEELS:-.whl}"
if compgen -G "$wheels/*.whl" >/dev/null; then
    site="${TMPDIR:-/tmp}/threadx-gpu-site"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$python" -m threadx_bench.gpu_check --out "${OUT:-gpu-check}" "$@"
