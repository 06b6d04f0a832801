#!/usr/bin/env python3
"""Kill -9 the phone relay at seeded random moments while it receives and uploads.

    relay_kill_e2e.py BUILD_DIR [SEED]

A watch-agent process replays the watch recordings in tests/data (paced, so data keeps arriving
during the whole run) into a phone-relay process that uploads to dynalite. The relay is SIGKILLed
50 times and restarted on the same state directory. At the end the table must hold every source
sample exactly once: checked per file with sensor-query --expect, and per second with boto3.
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_e2e import ROOT, fail, read_csv, start, wait_line  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())
AGENT = os.path.join(BUILD, "watch-agent", "watch-agent")
RELAY = os.path.join(BUILD, "phone-relay", "phone-relay")
QUERY = os.path.join(BUILD, "tools", "sensor-query")
PARTITION, TABLE, DEVICE = "us-east-1:kill-user", "accel-kill", "kill-watch"


def main():
    print(f"seed {SEED}", flush=True)
    rng = random.Random(SEED)
    work = tempfile.mkdtemp(prefix="accel-relay-kill-")
    procs = []
    try:
        srv = start(["node", os.path.join(ROOT, "tests/fixtures/dynalite_server.js")],
                    os.path.join(work, "srv.out"), os.path.join(work, "srv.err"))
        procs.append(srv)
        endpoint = wait_line(os.path.join(work, "srv.out"), "READY", srv).split()[1]
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="AKIDKILLTEST", AWS_SECRET_ACCESS_KEY="kill-test-secret")
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        keys = os.path.join(work, "keys")
        os.makedirs(keys, mode=0o700)
        subprocess.run([AGENT, "pair", "--secret-file", os.path.join(work, "w.key")], check=True,
                       capture_output=True)
        shutil.copy(os.path.join(work, "w.key"), os.path.join(keys, DEVICE + ".key"))
        os.chmod(os.path.join(keys, DEVICE + ".key"), 0o600)
        sock = "unix:" + os.path.join(work, "relay.sock")
        cfg = {"state_dir": os.path.join(work, "relay"), "listen": sock, "paired_devices_dir": keys,
               "table": TABLE, "partition_id": PARTITION, "create_table": True,
               "metrics_listen": "127.0.0.1:0", "flush_timeout_ms": 300, "upload_concurrency": 2}
        json.dump(cfg, open(os.path.join(work, "relay.json"), "w"))

        def start_relay(n):
            out = os.path.join(work, f"relay{n}.out")
            p = start([RELAY, "--config", os.path.join(work, "relay.json")], out,
                      os.path.join(work, "relay.err"), env)
            line = wait_line(out, "listening", p)
            return p, line.split()[3]

        files = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "*_sw.norm.csv")))
        agent_cfg = {"device_id": DEVICE, "state_dir": os.path.join(work, "agent"), "relay": sock,
                     "pairing_secret_file": os.path.join(work, "w.key"), "exit_when_drained": True,
                     "batch_max_age_ms": 100, "backoff_initial_ms": 10, "backoff_max_ms": 200,
                     "io_timeout_ms": 2000, "source": {"type": "file", "paths": files, "pace": 8}}
        json.dump(agent_cfg, open(os.path.join(work, "agent.json"), "w"))
        relay, port = start_relay(0)
        agent = start([AGENT, "--config", os.path.join(work, "agent.json")],
                      os.path.join(work, "agent.out"), os.path.join(work, "agent.err"), env)
        procs.append(agent)
        for i in range(50):
            time.sleep(rng.uniform(0.02, 0.25))  # when to strike, not a wait for anything
            relay.kill()
            relay.wait()
            relay, port = start_relay(i + 1)
        procs.append(relay)
        if agent.wait(timeout=300) != 0:
            fail("agent failed: " + open(os.path.join(work, "agent.err")).read()[-2000:])
        deadline = time.time() + 120
        while True:
            st = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status"))
            if st["pending_rows"] == 0:
                break
            if time.time() > deadline:
                fail(f"relay still has pending rows: {st}")
            time.sleep(0.2)
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=30)

        total = 0
        expected = Counter()
        for f in files:
            samples = read_csv(f)
            total += len(samples)
            for t, *_ in samples:
                expected[t // 10**9] += 1
            lo, hi = samples[0][0] // 10**9, samples[-1][0] // 10**9 + 1
            r = subprocess.run([QUERY, "--table", TABLE, "--partition-id", PARTITION, "--from",
                                str(lo), "--to", str(hi), "--device-id", DEVICE, "--csv",
                                os.path.join(work, "q.csv"), "--expect", f, "--json"],
                               capture_output=True, text=True, env=env, timeout=120)
            if r.returncode != 0:
                fail(f"{f}: {r.stderr.strip()}")
        import boto3
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="a", aws_secret_access_key="b")
        seen = Counter()
        kw = {}
        while True:
            page = ddb.query(TableName=TABLE, KeyConditionExpression="id = :i",
                             ExpressionAttributeValues={":i": {"S": PARTITION}}, **kw)
            for it in page["Items"]:
                seen[int(float(it["t"]["N"]))] += int(it["n"]["N"])
            if "LastEvaluatedKey" not in page:
                break
            kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        if seen != expected:
            bad = sorted(k for k in set(seen) | set(expected) if seen[k] != expected[k])
            fail(f"per-second counts differ at seconds {bad[:10]}")
        restarts = sum(1 for n in os.listdir(work) if n.startswith("relay") and n.endswith(".out"))
        print(f"ok: 50 relay SIGKILLs ({restarts} starts), {total} samples exactly once in "
              f"{sum(1 for _ in seen)} rows", flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
