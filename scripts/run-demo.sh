#!/usr/bin/env bash
# The demo proper (scripts/demo.sh installs and builds first): the real recordings in tests/data/ go
# through watch-agent -> link -> phone-relay -> a local DynamoDB (moto_server with SigV4 checking on)
# as separate processes, are read back and compared sample for sample, plotted, and a short live run
# at 50 Hz measures end-to-end latency. Everything runs on loopback; everything it starts is stopped.
#
#   scripts/run-demo.sh            (ACCEL_BUILD_DIR=... to use another build; DEMO_KEEP=1 keeps the work dir)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ACCEL_BUILD_DIR:-$root/build}"
out="$root/demo-out"
mkdir -p "$out"
work="$(mktemp -d /tmp/accelpipe-demo.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${DEMO_KEEP:-}" ]; then echo "demo: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

for b in watch-agent/watch-agent phone-relay/phone-relay tools/sensor-query bench/latency_bench; do
  [ -x "$bin/$b" ] || { echo "demo: $bin/$b is missing; run scripts/demo.sh (it builds first)" >&2; exit 2; }
done

wait_line() {  # wait_line FILE PATTERN SECONDS PID: a start-up line, or a clear failure
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    if ! kill -0 "$4" 2>/dev/null; then
      echo "demo: process $4 exited before printing '$2'; its log:" >&2
      tail -20 "${1%.out}.log" >&2 2>/dev/null || true
      exit 1
    fi
    [ $SECONDS -lt $deadline ] || { echo "demo: no '$2' in $1 within $3 s" >&2; exit 1; }
    sleep 0.1
  done
}
json_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "== 1/5 local AWS stand-in: moto_server on loopback, SigV4 checking on"
python3 "$root/tests/fixtures/localaws.py" moto --auth-user-file "$work/creds.json" \
  >"$work/moto.out" 2>"$work/moto.log" </dev/null &
pids+=($!)
wait_line "$work/moto.out" READY 60 $!
export AWS_ENDPOINT_URL="$(awk '/READY/{print $2}' "$work/moto.out")"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID="$(json_get "$work/creds.json" access_key_id)"
export AWS_SECRET_ACCESS_KEY="$(json_get "$work/creds.json" secret_access_key)"
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_DYNAMODB AWS_PROFILE
echo "   $AWS_ENDPOINT_URL (IAM user key ${AWS_ACCESS_KEY_ID:0:8}...)"

echo "== 2/5 pairing two devices of one user: a watch and a phone"
mkdir -p "$work/keys" && chmod 700 "$work/keys"
for dev in demo-watch demo-phone; do
  "$bin/watch-agent/watch-agent" pair --secret-file "$work/$dev.key" >/dev/null
  install -m 600 "$work/$dev.key" "$work/keys/$dev.key"
done

echo "== 3/5 phone-relay"
partition="us-east-1:demo-user"
table="accel-demo"
cat >"$work/relay.json" <<JSON
{"state_dir": "$work/relay", "listen": "unix:$work/relay.sock", "paired_devices_dir": "$work/keys",
 "table": "$table", "partition_id": "$partition", "create_table": true,
 "metrics_listen": "127.0.0.1:0", "flush_timeout_ms": 1000}
JSON
"$bin/phone-relay/phone-relay" --config "$work/relay.json" >"$work/relay.out" 2>"$work/relay.log" &
relay_pid=$!
pids+=($relay_pid)
wait_line "$work/relay.out" listening 60 $relay_pid
metrics_port="$(awk '/listening/{print $4}' "$work/relay.out")"
echo "   link unix:$work/relay.sock, metrics http://127.0.0.1:$metrics_port/metrics"

status_field() {
  python3 -c 'import json,sys,urllib.request
s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/status" % sys.argv[1], timeout=5))
print(s[sys.argv[2]])' "$metrics_port" "$1"
}
progress() {
  python3 -c 'import json,sys,urllib.request
s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/status" % sys.argv[1], timeout=5))
print("   batches %4d  rows uploaded %5d  pending rows %4d  buffered %8d B  quarantined %d" % (
    s["batches_committed"], s["rows_uploaded"], s["pending_rows"], s["bytes_buffered"],
    s["quarantined_batches"] + s["quarantined_rows"]), flush=True)' "$metrics_port"
}

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
while kill -0 "${agent_pids[@]}" 2>/dev/null; do progress; sleep 1; done
for i in "${!agent_pids[@]}"; do
  wait "${agent_pids[$i]}" || { echo "demo: watch agent $i failed:" >&2; tail -5 "$work"/demo-*.log >&2; exit 1; }
done
deadline=$((SECONDS + 120))
until [ "$(status_field pending_rows)" = 0 ]; do
  [ $SECONDS -lt $deadline ] || { echo "demo: rows still pending after 120 s" >&2; progress; exit 1; }
  sleep 0.5
done
progress
kill -TERM "$relay_pid"
wait "$relay_pid" || { echo "demo: phone-relay did not stop cleanly" >&2; exit 1; }

echo "== 5/5 read back, verify sample for sample, plot"
read -r from last < <(awk -F, 'FNR > 1 { s = substr($1, 1, length($1) - 9) + 0
  if (min == "" || s < min) min = s; if (s > max) max = s } END { print min, max }' \
  "${watch_files[@]}" "${phone_files[@]}")
to=$((last + 1))
ok=1
for dev in demo-watch demo-phone; do
  if [ "$dev" = demo-watch ]; then files=("${watch_files[@]}"); else files=("${phone_files[@]}"); fi
  expect=(); for f in "${files[@]}"; do expect+=(--expect "$f"); done
  "$bin/tools/sensor-query" --table "$table" --partition-id "$partition" --from "$from" --to "$to" \
    --device-id "$dev" --csv "$out/$dev.csv" "${expect[@]}" --json >"$work/$dev.verify.json" \
    2>"$work/$dev.verify.log" || ok=0
  sed 's/^/   /' "$work/$dev.verify.log"
done
t0="$(head -2 "${watch_files[0]}" | tail -1 | cut -c1-10)"
"$bin/tools/sensor-query" --table "$table" --partition-id "$partition" --from "$t0" --to $((t0 + 15)) \
  --device-id demo-watch --csv "$work/plot.csv" --svg "$out/demo-watch.svg" >/dev/null 2>"$work/plot.log" ||
  { echo "demo: plotting failed:" >&2; cat "$work/plot.log" >&2; ok=0; }
echo "   read back: $out/demo-watch.csv, $out/demo-phone.csv; plot of the first 15 s: $out/demo-watch.svg"

echo "== live: 20 s at 50 Hz from the synthetic source, end-to-end latency"
"$bin/bench/latency_bench" 20 >"$work/latency.txt" 2>"$work/latency.log" || true
sed 's/^/   /' "$work/latency.txt"

python3 - "$work" "$ok" "$((${#watch_files[@]} + ${#phone_files[@]}))" <<'PY'
import json, re, sys
work, ok, nfiles = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
samples = rows = wu = missing = dup = mism = 0
for dev in ("demo-watch", "demo-phone"):
    try:
        v = json.load(open(f"{work}/{dev}.verify.json"))
    except (OSError, ValueError):
        ok = False
        continue
    samples += v["samples_in"]; rows += v["rows"]; wu += v["write_units"]
    missing += v["missing"]; dup += v["duplicates"]; mism += v["mismatched"]
link_bytes = link_samples = 0
for dev in ("demo-watch", "demo-phone"):
    for m in re.finditer(r"written: (\d+) samples, (\d+) bytes", open(f"{work}/{dev}.log").read()):
        link_samples += int(m.group(1)); link_bytes += int(m.group(2))
lat = open(f"{work}/latency.txt").read()
m = re.search(r"p50 (\d+) ms.*?p99 (\d+) ms", lat, re.S)
print("\n== summary")
print(f"   samples replayed      {samples} (2 devices of 1 user, {nfiles} files)")
print(f"   rows in DynamoDB      {rows} ({wu} write units)")
print(f"   link bytes/sample     {link_bytes / max(1, link_samples):.2f} (batch files incl. headers)")
print(f"   latency (live, 50 Hz) p50 {m.group(1)} ms, p99 {m.group(2)} ms" if m else "   latency: not measured (see the live run above)")
print(f"   missing {missing}, duplicate {dup}, different {mism}")
verdict = ok and missing == 0 and dup == 0 and mism == 0 and samples > 0
print("   verdict: " + ("EXACT - every sample arrived exactly once" if verdict else "DIFFERENCES FOUND"))
sys.exit(0 if verdict else 1)
PY
