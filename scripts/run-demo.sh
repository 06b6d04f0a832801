#!/usr/bin/env bash
# The demo proper (scripts/demo.sh installs and builds first). Until the pipeline lands, it round-trips
# every real recording in tests/data/ through the batch codec (accel-batch encode, then decode), checks
# every sample (same t_ns, |value error| <= resolution/2) and prints what it measured.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ACCEL_BUILD_DIR:-$root/build}/tools"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '%-12s %8s %10s %10s %8s %8s %8s  %s\n' file samples csv_bytes batch_bytes B/sample \
  enc_ns/s dec_ns/s verdict
total_n=0 total_b=0 total_csv=0 failed=0
for csv in "$root"/tests/data/*.csv; do
  name="$(basename "$csv" .norm.csv)"
  enc="$("$bin/accel-batch" encode "$csv" -o "$work/$name.batch" --device-id demo-watch)"
  dec="$("$bin/accel-batch" decode "$work/$name.batch" -o "$work/$name.out.csv")"
  enc_ns="$(sed -n 's/.*encoded in \([0-9]*\) ns\/sample.*/\1/p' <<<"$enc")"
  dec_ns="$(sed -n 's/.*decoded in \([0-9]*\) ns\/sample.*/\1/p' <<<"$dec")"
  # Every sample: identical timestamp, each value within half a step of 1/16384 g.
  bad="$(paste -d, "$csv" "$work/$name.out.csv" | awk -F, 'NR > 1 {
      h = 1 / 32768 + 1e-12
      if ($1 != $5 || ($2 - $6) > h || ($6 - $2) > h || ($3 - $7) > h || ($7 - $3) > h ||
          ($4 - $8) > h || ($8 - $4) > h) bad++ }
      END { print bad + 0 }')"
  n=$(($(wc -l <"$csv") - 1))
  m=$(($(wc -l <"$work/$name.out.csv") - 1))
  b=$(stat -c %s "$work/$name.batch")
  c=$(stat -c %s "$csv")
  if [ "$n" -eq "$m" ] && [ "$bad" -eq 0 ]; then verdict="exact round trip"; else
    verdict="MISMATCH ($bad samples differ, $n vs $m)"; failed=1; fi
  printf '%-12s %8d %10d %10d %8.3f %8s %8s  %s\n' "$name" "$n" "$c" "$b" \
    "$(echo "$b / $n" | bc -l)" "$enc_ns" "$dec_ns" "$verdict"
  total_n=$((total_n + n)) total_b=$((total_b + b)) total_csv=$((total_csv + c))
done
printf '%-12s %8d %10d %10d %8.3f  (CSV/batch = %.1fx; one-shot timings include a cold start:\n' \
  total "$total_n" "$total_csv" "$total_b" "$(echo "$total_b / $total_n" | bc -l)" \
  "$(echo "$total_csv / $total_b" | bc -l)"
echo "             bench/codec_compare.sh measures steady-state speed and compares with FLAC, xz, zstd, JSON)"
exit $failed
