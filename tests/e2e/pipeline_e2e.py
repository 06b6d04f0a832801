#!/usr/bin/env python3
"""End-to-end proof on real data, as separate processes, against a real local DynamoDB.

    pipeline_e2e.py BUILD_DIR {moto,dynalite,dynalite-faults}

dynalite-faults puts the fault-injecting proxy (tests/fixtures/fault_proxy.py) between the relay and
dynalite, over HTTPS with its own CA (AWS_CA_BUNDLE: TLS verification stays on), faulting 30% of the
requests (5xx, throttling, resets before and after the write, slow answers, partial UnprocessedItems);
the table must still end exact, and the proxy's log must show backoff, not a hot loop.

For each data folder (tests/data, and every folder of ../shared/data/accel when present) one
watch-agent process replays all its files as one device into one phone-relay process. Then:
  * sensor-query --expect, per file, must find 0 missing, 0 duplicate, 0 different samples;
  * boto3, independently of our code: every item's key (id = the partition, floor(t) = a second
    of the source), its device, its sample count equal to the source's count in that second,
    and the item size (one write unit when the second holds <= 50 samples).
Exit 0 when everything holds; a failure says which file, second or item.
"""
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Set from the command line in __main__; relay_kill_e2e.py imports the helpers below only.
BUILD = SERVER = AGENT = RELAY = QUERY = None
PARTITION = "us-east-1:e2e-user"
TABLE = "accel-e2e"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def start(cmd, out_path, err_path, env=None):
    return subprocess.Popen(cmd, stdout=open(out_path, "w"), stderr=open(err_path, "w"),
                            stdin=subprocess.PIPE, env=env, start_new_session=True)


def wait_line(path, prefix, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            for line in open(path):
                if line.startswith(prefix):
                    return line.strip()
        if proc.poll() is not None:
            fail(f"{proc.args[0]} exited with {proc.returncode} before printing '{prefix}'")
        time.sleep(0.05)
    fail(f"no '{prefix}' line from {proc.args} within {timeout} s")


def data_folders():
    # One device per kind of recording: the watch and the phone files are the same runs, so a
    # per-file check needs them on separate devices.
    data = os.path.join(ROOT, "tests", "data")
    folders = {"tests-data-sw": sorted(glob.glob(os.path.join(data, "*_sw.norm.csv"))),
               "tests-data-sp": sorted(glob.glob(os.path.join(data, "*_sp.norm.csv")))}
    shared = os.path.join(ROOT, "..", "shared", "data", "accel")
    for d in sorted(glob.glob(os.path.join(shared, "*"))):
        files = sorted(glob.glob(os.path.join(d, "*.norm.csv")))
        if files:
            folders[os.path.basename(d)] = files
    return folders


def read_csv(path):
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            t, x, y, z = line.strip().split(",")
            rows.append((int(t), float(x), float(y), float(z)))
    return rows


def main():
    work = tempfile.mkdtemp(prefix="accel-e2e-")
    procs = []
    try:
        env = dict(os.environ)
        if SERVER == "moto":
            srv = start([sys.executable, os.path.join(ROOT, "tests/fixtures/localaws.py"), "moto",
                         "--auth-user-file", os.path.join(work, "creds.json")],
                        os.path.join(work, "srv.out"), os.path.join(work, "srv.err"))
        else:
            srv = start(["node", os.path.join(ROOT, "tests/fixtures/dynalite_server.js")],
                        os.path.join(work, "srv.out"), os.path.join(work, "srv.err"))
        procs.append(srv)
        endpoint = wait_line(os.path.join(work, "srv.out"), "READY", srv).split()[1]
        relay_endpoint = endpoint
        if SERVER == "dynalite-faults":
            os.makedirs(os.path.join(work, "tls"), mode=0o700)
            proxy = start([sys.executable, os.path.join(ROOT, "tests/fixtures/fault_proxy.py"),
                           "--upstream", endpoint, "--seed", "20261124", "--rate", "0.3",
                           "--faults", "partial,reset_after,reset_before,throttle,http500,slow",
                           "--log", os.path.join(work, "proxy.log"), "--tls-dir",
                           os.path.join(work, "tls")],
                          os.path.join(work, "proxy.out"), os.path.join(work, "proxy.err"))
            procs.append(proxy)
            relay_endpoint = wait_line(os.path.join(work, "proxy.out"), "READY", proxy).split()[1]
        if SERVER == "moto":
            creds = json.load(open(os.path.join(work, "creds.json")))
            key, secret = creds["access_key_id"], creds["secret_access_key"]
        else:
            key, secret = "AKIDE2ELOCAL", "e2e-local-secret"
        env.update(AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID=key,
                   AWS_SECRET_ACCESS_KEY=secret)
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        relay_env = dict(env, AWS_ENDPOINT_URL=relay_endpoint)
        if relay_endpoint.startswith("https://"):
            relay_env["AWS_CA_BUNDLE"] = os.path.join(work, "tls", "cert.pem")

        folders = data_folders()
        if SERVER == "dynalite-faults":
            # A clean clone has only tests/data (~90 rows, ~10 requests): ten more pairs of devices
            # replaying the same files make enough requests for 30% faults to prove something.
            for i in range(1, 11):
                folders[f"copy{i}-sw"] = folders["tests-data-sw"]
                folders[f"copy{i}-sp"] = folders["tests-data-sp"]
        keys = os.path.join(work, "keys")
        os.makedirs(keys, mode=0o700)
        for dev in folders:
            subprocess.run([AGENT, "pair", "--secret-file", os.path.join(work, dev + ".key")],
                           check=True, capture_output=True)
            shutil.copy(os.path.join(work, dev + ".key"), os.path.join(keys, dev + ".key"))
            os.chmod(os.path.join(keys, dev + ".key"), 0o600)
        relay_cfg = {"state_dir": os.path.join(work, "relay"),
                     "listen": "unix:" + os.path.join(work, "relay.sock"),
                     "paired_devices_dir": keys, "table": TABLE, "partition_id": PARTITION,
                     "create_table": True, "metrics_listen": "127.0.0.1:0",
                     "flush_timeout_ms": 300}
        json.dump(relay_cfg, open(os.path.join(work, "relay.json"), "w"))
        relay = start([RELAY, "--config", os.path.join(work, "relay.json")],
                      os.path.join(work, "relay.out"), os.path.join(work, "relay.err"), relay_env)
        procs.append(relay)
        metrics_port = wait_line(os.path.join(work, "relay.out"), "listening", relay).split()[3]

        agents = []
        for dev, files in folders.items():
            cfg = {"device_id": dev, "state_dir": os.path.join(work, dev),
                   "relay": relay_cfg["listen"], "pairing_secret_file": os.path.join(work, dev + ".key"),
                   "exit_when_drained": True, "batch_max_age_ms": 200,
                   "source": {"type": "file", "paths": files}}
            json.dump(cfg, open(os.path.join(work, dev + ".json"), "w"))
            agents.append((dev, start([AGENT, "--config", os.path.join(work, dev + ".json")],
                                      os.path.join(work, dev + ".out"),
                                      os.path.join(work, dev + ".err"), env)))
        for dev, a in agents:
            try:
                code = a.wait(timeout=300)
            except subprocess.TimeoutExpired:
                fail(f"agent {dev} did not drain in 300 s")
            if code != 0:
                fail(f"agent {dev} exited {code}: {open(os.path.join(work, dev + '.err')).read()[-2000:]}")
        import urllib.request
        deadline = time.time() + 120
        while True:
            st = json.load(urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/status"))
            if st["pending_rows"] == 0:
                break
            if time.time() > deadline:
                fail(f"relay still has {st['pending_rows']} pending rows: {st}")
            time.sleep(0.2)
        if st["quarantined_batches"] or st["quarantined_rows"]:
            fail(f"relay quarantined something: {st}")
        # sensor-replay --relay: a developer sending into this running relay.
        subprocess.run([AGENT, "pair", "--secret-file", os.path.join(work, "dev.key")], check=True,
                       capture_output=True)
        shutil.copy(os.path.join(work, "dev.key"), os.path.join(keys, "replay-dev.key"))
        os.chmod(os.path.join(keys, "replay-dev.key"), 0o600)
        one = folders["tests-data-sw"][0]
        r = subprocess.run([os.path.join(BUILD, "tools", "sensor-replay"), "--relay",
                            relay_cfg["listen"], "--secret-file", os.path.join(work, "dev.key"),
                            "--device-id", "replay-dev", "--table", TABLE, "--partition-id",
                            PARTITION, "--verify", "--json", one],
                           capture_output=True, text=True, env=env, timeout=300)
        if r.returncode != 0:
            fail(f"sensor-replay --relay: exit {r.returncode}: {r.stderr[-2000:]}")
        v = json.loads(r.stdout.strip().splitlines()[-1])
        if v["missing"] or v["duplicates"] or v["mismatched"] or v["samples_verified"] != len(read_csv(one)):
            fail(f"sensor-replay --relay: {v}")
        folders_for_boto = dict(folders, **{"replay-dev": [one]})

        relay.send_signal(signal.SIGTERM)
        if relay.wait(timeout=30) != 0:
            fail("relay did not stop cleanly")

        if SERVER == "dynalite-faults":
            log = [json.loads(l) for l in open(os.path.join(work, "proxy.log"))]
            faults = Counter(e["fault"] for e in log)
            targets = Counter(e["target"].split(".")[-1] for e in log)
            if sum(v for k, v in faults.items() if k != "none") < 10 or not faults["partial"]:
                fail(f"the proxy injected too few faults to prove anything: {faults} {targets}")
            attempts = {}
            for e in log:
                attempts.setdefault(e["body"], []).append(e["mono"])
            gaps = [b - a for ts in attempts.values() for a, b in zip(ts, ts[1:])]
            worst = max(len(ts) for ts in attempts.values())
            gaps.sort()
            if worst > 15:
                fail(f"one request was attempted {worst} times: a hot loop")
            if gaps and gaps[len(gaps) // 2] < 0.005:
                fail(f"median retry gap {gaps[len(gaps) // 2] * 1000:.1f} ms: no backoff")
            print(f"proxy: {len(log)} requests {dict(targets)}, faults {dict(faults)}, retries {len(gaps)}, "
                  f"median retry gap {gaps[len(gaps) // 2] * 1000 if gaps else 0:.0f} ms, "
                  f"most attempts of one body {worst}", flush=True)

        # 1) Our read-back, per file.
        total = 0
        for dev, files in folders.items():
            for f in files:
                samples = read_csv(f)
                lo = min(s[0] for s in samples) // 10**9
                hi = max(s[0] for s in samples) // 10**9 + 1
                r = subprocess.run([QUERY, "--table", TABLE, "--partition-id", PARTITION, "--from",
                                    str(lo), "--to", str(hi), "--device-id", dev, "--csv",
                                    os.path.join(work, "q.csv"), "--expect", f, "--json"],
                                   capture_output=True, text=True, env=env, timeout=120)
                if r.returncode != 0:
                    fail(f"{f}: sensor-query exit {r.returncode}: {r.stderr.strip()}")
                v = json.loads(r.stdout.strip().splitlines()[-1])
                if (v["missing"], v["duplicates"], v["mismatched"]) != (0, 0, 0) or \
                        v["samples_verified"] != len(samples):
                    fail(f"{f}: {v}")
                total += len(samples)

        # 2) boto3, independently of our code.
        import boto3
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=key, aws_secret_access_key=secret)
        items, kw = [], {}
        while True:
            page = ddb.query(TableName=TABLE, KeyConditionExpression="id = :i",
                             ExpressionAttributeValues={":i": {"S": PARTITION}}, **kw)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        expected = Counter()
        for dev, files in folders_for_boto.items():
            for f in files:
                for t, *_ in read_csv(f):
                    expected[(dev, t // 10**9)] += 1
        seen = Counter()
        sizes = []
        for it in items:
            dev, t = it["d"]["S"], Decimal(it["t"]["N"])
            second = int(math.floor(t))
            if it["id"]["S"] != PARTITION:
                fail(f"item with foreign partition {it['id']}")
            if (dev, second) in seen:
                fail(f"two items for device {dev} second {second}")
            seen[(dev, second)] = int(it["n"]["N"])
            size = sum(len(k) for k in it) + sum(
                len(v.get("S", "")) + (len(v["B"]) if "B" in v else 0) +
                (len(v["N"]) // 2 + 1 if "N" in v else 0) +
                sum(len(x) // 2 + 1 for x in v.get("NS", [])) for v in it.values())
            sizes.append((size, int(it["n"]["N"])))
        if seen != expected:
            diff = [(k, expected.get(k), seen.get(k)) for k in set(expected) | set(seen)
                    if expected.get(k) != seen.get(k)]
            fail(f"per-second counts differ from the source (key, source, table): {sorted(diff)[:10]}")
        per50 = [s for s, n in sizes if n <= 50]
        too_big = [(s, n) for s, n in sizes if s > 1024 * math.ceil(n / 50)]
        if too_big:
            fail(f"items above one write unit per 50 samples: {too_big[:5]}")
        sizes.sort()
        print(f"ok: {SERVER}: {len(folders)} devices, {total} samples, {len(items)} items; "
              f"item bytes p50 {sizes[len(sizes) // 2][0]} max {sizes[-1][0]} "
              f"(items with <= 50 samples: {len(per50)}, all <= 1024 B)", flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in ("moto", "dynalite", "dynalite-faults"):
        print("usage: pipeline_e2e.py BUILD_DIR {moto,dynalite,dynalite-faults}", file=sys.stderr)
        sys.exit(2)
    BUILD = os.path.abspath(sys.argv[1])
    SERVER = sys.argv[2]
    AGENT = os.path.join(BUILD, "watch-agent", "watch-agent")
    RELAY = os.path.join(BUILD, "phone-relay", "phone-relay")
    QUERY = os.path.join(BUILD, "tools", "sensor-query")
    main()
