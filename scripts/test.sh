#!/usr/bin/env bash
# Installs what is missing, builds the release and the ASan+UBSan trees, and runs every test in both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release
"$root/scripts/build.sh" asan
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
echo "== tests (release) =="
(cd "$root/build" && ctest --output-on-failure -j "$jobs") || status=1
echo "== tests (ASan+UBSan) =="
(cd "$root/build-asan" && ctest --output-on-failure -j "$jobs" -LE slow) || status=1
exit $status
