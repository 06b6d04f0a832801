#!/usr/bin/env bash
# The demo proper (scripts/demo.sh installs and builds first): the real data in tests/data/ goes through
# watch-agent -> link -> phone-relay -> a local DynamoDB (moto_server, SigV4 checking on), is read back and
# compared sample for sample, plotted, and a short live run measures end-to-end latency.
# Everything runs on loopback; everything it starts is stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/build"
out="$root/demo-out"
mkdir -p "$out"
work="$(mktemp -d /tmp/accelpipe-demo.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
[ -n "${DEMO_KEEP:-}" ] && trap - EXIT

wait_line() {  # wait_line FILE PATTERN SECONDS
  for _ in $(seq $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: timed out waiting for '$2' in $1" >&2
  return 1
}
json_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "== 1/5 local AWS stand-in: moto_server on loopback, SigV4 checking on"
python3 "$root/tests/fixtures/localaws.py" moto --auth-user-file "$work/creds.json" \
  >"$work/moto.out" 2>"$work/moto.log" </dev/null &
pids+=($!)
wait_line "$work/moto.out" READY 60
export AWS_ENDPOINT_URL="$(awk '/READY/{print $2}' "$work/moto.out")"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID="$(json_get "$work/creds.json" access_key_id)"
export AWS_SECRET_ACCESS_KEY="$(json_get "$work/creds.json" secret_access_key)"
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_DYNAMODB
echo "   $AWS_ENDPOINT_URL (IAM user key ${AWS_ACCESS_KEY_ID:0:8}...)"

echo "== 2/5 pairing two devices of one user: a watch and a phone"
mkdir -p "$work/keys" && chmod 700 "$work/keys"
for dev in demo-watch demo-phone; do
  "$bin/watch-agent/watch-agent" pair --secret-file "$work/$dev.key" >/dev/null
  install -m 600 "$work/$dev.key" "$work/keys/$dev.key"
done

echo "== 3/5 phone-relay"
partition="us-east-1:demo-user"
cat >"$work/relay.json" <<JSON
{"state_dir": "$work/relay", "listen": "unix:$work/relay.sock", "paired_devices_dir": "$work/keys",
 "table": "accel-demo", "partition_id": "$partition", "create_table": true,
 "metrics_listen": "127.0.0.1:0", "flush_timeout_ms": 1000}
JSON
"$bin/phone-relay/phone-relay" --config "$work/relay.json" >"$work/relay.out" 2>"$work/relay.log" &
relay_pid=$!
pids+=($relay_pid)
wait_line "$work/relay.out" listening 60
metrics_port="$(awk '/listening/{print $4}' "$work/relay.out")"
echo "   link unix:$work/relay.sock, metrics http://127.0.0.1:$metrics_port/metrics"

echo "== 4/5 watch agents replaying tests/data (paced 20x real time)"
watch_files=("$root"/tests/data/*_sw.norm.csv)
phone_files=("$root"/tests/data/*_sp.norm.csv)
agent_pids=()
for dev in demo-watch demo-phone; do
  if [ "$dev" = demo-watch ]; then files=("${watch_files[@]}"); else files=("${phone_files[@]}"); fi
  paths="$(printf '"%s",' "${files[@]}")"
  cat >"$work/$dev.json" <<JSON
{"device_id": "$dev", "state_dir": "$work/$dev", "relay": "unix:$work/relay.sock",
 "pairing_secret_file": "$work/$dev.key", "exit_when_drained": true, "batch_max_age_ms": 500,
 "source": {"type": "file", "paths": [${paths%,}], "pace": 20}}
JSON
  "$bin/watch-agent/watch-agent" --config "$work/$dev.json" 2>"$work/$dev.log" &
  agent_pids+=($!)
  pids+=($!)
done
status() { curl -s "http://127.0.0.1:$metrics_port/status"; }
progress() {
  status | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("   batches %4d  rows uploaded %5d  pending rows %4d  buffered %7d B  quarantined %d" % (
    s["batches_committed"], s["rows_uploaded"], s["pending_rows"], s["bytes_buffered"],
    s["quarantined_batches"] + s["quarantined_rows"]))'
}
while kill -0 "${agent_pids[@]}" 2>/dev/null; do progress; sleep 1; done
for p in "${agent_pids[@]}"; do wait "$p"; done
for _ in $(seq 60); do
  [ "$(status | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending_rows"])')" = 0 ] && break
  sleep 0.5
done
progress
kill -TERM "$relay_pid"; wait "$relay_pid" || true

echo "== 5/5 read back, verify sample for sample, plot"
t0=$(head -2 "${watch_files[0]}" | tail -1 | cut -c1-10)
read -r from last < <(awk -F, 'FNR > 1 { s = substr($1, 1, length($1) - 9) + 0
  if (min == "" || s < min) min = s; if (s > max) max = s } END { print min, max }' \
  "${watch_files[@]}" "${phone_files[@]}")
to=$((last + 1))
ok=1
for dev in demo-watch demo-phone; do
  if [ "$dev" = demo-watch ]; then files=("${watch_files[@]}"); else files=("${phone_files[@]}"); fi
  expect=(); for f in "${files[@]}"; do expect+=(--expect "$f"); done
  "$bin/tools/sensor-query" --table accel-demo --partition-id "$partition" --from "$from" --to "$to" \
    --device-id "$dev" --csv "$out/$dev.csv" "${expect[@]}" --json >"$work/$dev.verify.json" \
    2>"$work/$dev.verify.log" || ok=0
  sed 's/^/   /' "$work/$dev.verify.log"
done
first_end=$(( t0 + 15 ))
"$bin/tools/sensor-query" --table accel-demo --partition-id "$partition" --from "$t0" --to "$first_end" \
  --device-id demo-watch --csv "$work/plot.csv" --svg "$out/demo-watch.svg" 2>/dev/null
echo "   plot: $out/demo-watch.svg"

echo "== live: 20 s at 50 Hz from the synthetic source, end-to-end latency"
"$bin/bench/latency_bench" 20 | tee "$work/latency.txt" | sed 's/^/   /'

python3 - "$work" "$ok" <<'PY'
import json, re, sys, glob
work, ok = sys.argv[1], sys.argv[2] == "1"
samples = rows = wu = missing = dup = mism = 0
for dev in ("demo-watch", "demo-phone"):
    v = json.load(open(f"{work}/{dev}.verify.json"))
    samples += v["samples_in"]; rows += v["rows"]; wu += v["write_units"]
    missing += v["missing"]; dup += v["duplicates"]; mism += v["mismatched"]
link_bytes = link_samples = 0
for dev in ("demo-watch", "demo-phone"):
    for m in re.finditer(r"written: (\d+) samples, (\d+) bytes", open(f"{work}/{dev}.log").read()):
        link_samples += int(m.group(1)); link_bytes += int(m.group(2))
lat = open(f"{work}/latency.txt").read()
m = re.search(r"p50 (\d+) ms.*p99 (\d+) ms", lat)
print("\n== summary")
print(f"   samples replayed      {samples} (2 devices, 1 user)")
print(f"   rows in DynamoDB      {rows} ({wu} write units)")
print(f"   link bytes/sample     {link_bytes / max(1, link_samples):.2f} (batch files incl. headers)")
print(f"   latency (live, 50 Hz) p50 {m.group(1)} ms, p99 {m.group(2)} ms" if m else "   latency: n/a")
print(f"   missing {missing}, duplicate {dup}, different {mism}")
verdict = ok and missing == 0 and dup == 0 and mism == 0 and samples > 0
print("   verdict: " + ("EXACT - every sample arrived exactly once" if verdict else "DIFFERENCES FOUND"))
sys.exit(0 if verdict else 1)
PY
