#!/usr/bin/env bash
# Install Triton's perf_analyzer (C++ load generator) into a private virtualenv.
#
# Route A of shared PROTOCOL.md §9.2: the 2.48.0 binary bundled in the tritonclient 2.48.0
# wheel. Newer perf-analyzer wheels need glibc >= 2.38 and do not install on Debian 12, and
# `pip install perf-analyzer` resolves to an empty placeholder here.
#
# Usage: benchmarks/setup_perf_analyzer.sh [VENV_DIR]
#   VENV_DIR defaults to benchmarks/.perf_analyzer (ignored by git).
# Afterwards `benchmarks/run.py --client perf_analyzer` finds the binary there (or pass
# --perf-analyzer-venv VENV_DIR).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-$here/.perf_analyzer}"
python="${PYTHON:-python3}"

# The binary links libb64 (Debian package libb64-0d); it is not in any wheel.
if ! ldconfig -p | grep -q 'libb64\.so\.0d'; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    $sudo apt-get install -y libb64-0d
fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# nvidia-cuda-runtime-cu12 only provides libcudart.so.12, which the binary links even for
# CPU-only HTTP/gRPC runs against a remote server.
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet 'tritonclient==2.48.0' nvidia-cuda-runtime-cu12

pyver="$("$venv/bin/python" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')"
cudart="$venv/lib/$pyver/site-packages/nvidia/cuda_runtime/lib"
LD_LIBRARY_PATH="$cudart${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$venv/bin/perf_analyzer" --version
echo "perf_analyzer installed: $venv/bin/perf_analyzer (LD_LIBRARY_PATH=$cudart)"
