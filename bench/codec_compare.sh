#!/usr/bin/env bash
# Runs codec_bench over the real recordings: tests/data/ and, when present, every folder of
# ../shared/data/accel/. Usage: bench/codec_compare.sh [--quick] [BUILD_DIR]   (default BUILD_DIR: build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
build="${1:-$root/build}"
bin="$build/bench/codec_bench"
if [ ! -x "$bin" ]; then
  echo "codec_compare: $bin not built (cmake --build $build --target codec_bench)" >&2
  exit 2
fi
for tool in flac xz zstd; do
  command -v "$tool" >/dev/null || { echo "codec_compare: $tool missing (scripts/setup.sh installs it)" >&2; exit 2; }
done
folders=("$root/tests/data")
shared="$root/../shared/data/accel"
if [ -d "$shared" ]; then
  for d in "$shared"/*/; do folders+=("${d%/}"); done
fi
exec "$bin" "${quick[@]}" "${folders[@]}"
