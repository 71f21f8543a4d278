#!/usr/bin/env bash
# Download, on a machine with PyPI, the wheels that threadx_core needs and a GPU machine without
# a package registry may lack, into .whl/ (git-ignored): scripts/gpu_check.sh installs them
# from there. The GPU image this was written for (Python 3.12, NumPy, pandas, pyarrow, numba,
# numba-cuda, pytest, hypothesis, requests, matplotlib) lacks pandera and pydantic's stack.
#   PYTHON_VERSION=3.12 scripts/gpu_wheels.sh        # the default
set -euo pipefail
cd "$(dirname "$0")/.."
version="${PYTHON_VERSION:-3.12}"
# Pinned to versions the test suite ran with; --no-deps: each missing dependency is named here.
wheels=(pandera==0.35.0 pydantic==2.14.4 pydantic-core==2.50.5 typeguard==4.6.1
        annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0)
rm -rf .whl && mkdir .whl
"${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${wheels[@]}"
ls -1 .whl
