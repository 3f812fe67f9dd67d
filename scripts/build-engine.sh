#!/usr/bin/env bash
# Builds llama-cpp-python from source without AMX (the default -march=native build
# segfaults on the first prompt on these CPUs, llama.cpp #20824) and caches the wheel,
# so a second install takes seconds. pip's own wheel cache ignores CMAKE_ARGS, hence
# our own cache directory keyed by version + flags.
set -euo pipefail
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
# -march=native: a wheel built on one CPU may not run on another (e.g. AVX512-FP16 on Intel,
# absent on AMD Zen 4), so the CPU's feature flags are part of the cache key
CPU=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-8)
KEY=$(printf '%s %s %s' "$VERSION" "$FLAGS" "$CPU" | sha256sum | cut -c1-12)
CACHE="${OPENMAAS_WHEEL_CACHE:-$HOME/.cache/openmaas/wheels}/llama-cpp-$KEY"
PY="${PYTHON:-python3}"

if ! ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $VERSION (5-7 minutes, once) into $CACHE"
  mkdir -p "$CACHE.tmp"
  CMAKE_ARGS="-DCMAKE_C_FLAGS='$FLAGS' -DCMAKE_CXX_FLAGS='$FLAGS'" \
    "$PY" -m pip wheel --no-deps --no-cache-dir -w "$CACHE.tmp" "llama-cpp-python==$VERSION"
  rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
fi
echo "$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl)"
