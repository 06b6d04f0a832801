#!/usr/bin/env bash
# The demo proper (scripts/demo.sh installs and builds first). Until the pipeline lands, it round-trips
# every real recording in tests/data/ through the batch codec and prints what it measured.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/build/tools"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '%-22s %8s %10s %10s %8s  %s\n' file samples csv_bytes batch_bytes B/sample verdict
for csv in "$root"/tests/data/*.csv; do
  name="$(basename "$csv" .norm.csv)"
  "$bin/accel-batch" encode "$csv" -o "$work/$name.batch" --device-id demo-watch >/dev/null
  "$bin/accel-batch" decode "$work/$name.batch" -o "$work/$name.out.csv" >/dev/null
  n=$(($(wc -l <"$csv") - 1))
  m=$(($(wc -l <"$work/$name.out.csv") - 1))
  b=$(stat -c %s "$work/$name.batch")
  verdict=$([ "$n" -eq "$m" ] && echo "round trip ok" || echo "COUNT MISMATCH")
  printf '%-22s %8d %10d %10d %8.2f  %s\n' "$name" "$n" "$(stat -c %s "$csv")" "$b" \
    "$(echo "$b / $n" | bc -l)" "$verdict"
done
