#!/usr/bin/env python3
"""sensor-replay and sensor-query end to end, against a real local DynamoDB (dynalite or moto).

    tools_e2e.py BUILD_DIR {dynalite,moto}

1. sensor-replay in its default mode (relay in-process) with --verify --json on EVERY data file
   (tests/data, and ../shared/data/accel/*/*.norm.csv when present): 0 missing/duplicate/different,
   the full JSON key set, plain progress lines when stderr is not a terminal, the temporary
   directory removed; the first run creates the table (--create-table).
2. boto3, independently of our code: every item's key, device, count per second, `b` (the batch
   sequence numbers the replay's documented plan gives), `v` = 1, size.
3. Idempotence (invariant 4): the same file again in default mode, as a batch file (accel-batch),
   and twice through one running phone-relay (--relay) -> identical items, 0 duplicates; the relay
   answers "duplicate" for every batch of the second run.
4. Differences make --verify exit 1: a deleted item (the relay does not write it again: it
   deduplicated the batches), foreign samples inside the replayed range.
5. --resolution, --create-table with --relay, no --verify (rows/avg_row_bytes from the source,
   comparison figures null), SIGTERM mid-replay (exit 1, temporary directory removed).
6. sensor-query: --svg (well-formed XML, three series, axes with units, legend, downsampled long
   range), epoch = ISO-8601 = ISO with offset, [from, to) edges and fractions, several devices
   without --device-id (exit 2 naming them), missing and bad --expect files (exit 1, one line).
Prints the time each part took.
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
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_e2e import ROOT, fail, read_csv, start, wait_line  # noqa: E402

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
SERVER = sys.argv[2] if len(sys.argv) > 2 else None
REPLAY = QUERY = BATCH = AGENT = RELAY = None
PARTITION = "us-east-1:tools-e2e"
TABLE = "accel-tools"
BATCH_SAMPLES = 1500  # tools/tool_common.h kReplayBatchSamples
REQUIRED_KEYS = {"samples_in", "samples_verified", "rows", "missing", "duplicates", "mismatched",
                 "bytes_per_sample_batch", "avg_row_bytes", "seconds"}
SVG = "{http://www.w3.org/2000/svg}"


def data_files():
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "*.norm.csv")))
    files += sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "accel", "*", "*.norm.csv")))
    return files


def slot(device):
    h = 0xcbf29ce484222325
    for c in device.encode():
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return 1 + h % 999999


class Ctx:
    pass


def run(argv, env, timeout=300, expect=None):
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    if expect is not None and r.returncode != expect:
        fail(f"{' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv))}: exit "
             f"{r.returncode}, wanted {expect}: {r.stderr[-3000:]}")
    return r


def last_json(r):
    lines = r.stdout.strip().splitlines()
    if not lines:
        fail(f"no JSON on stdout; stderr: {r.stderr[-2000:]}")
    return json.loads(lines[-1])


def replay(c, files, *extra, expect=0, env=None):
    r = run([REPLAY, "--table", TABLE, "--partition-id", PARTITION, "--json", *extra, *files],
            env or c.env, expect=expect)
    return r, last_json(r) if r.stdout.strip() else None


def check_clean_tmp(c, what):
    left = os.listdir(c.tmp)
    if left:
        fail(f"{what}: sensor-replay left {left} in TMPDIR")


def items_of(c, device=None):
    """Every item of the partition (optionally of one device), keyed by (device, second)."""
    out, kw = {}, {}
    while True:
        page = c.ddb.query(TableName=TABLE, KeyConditionExpression="id = :i", ConsistentRead=True,
                           ExpressionAttributeValues={":i": {"S": PARTITION}}, **kw)
        for it in page["Items"]:
            if device is None or it["d"]["S"] == device:
                key = (it["d"]["S"], int(math.floor(Decimal(it["t"]["N"]))))
                if key in out:
                    fail(f"two items for {key}")
                out[key] = it
        if "LastEvaluatedKey" not in page:
            return out
        kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def item_size(it):
    def num(text):
        digits = text.lstrip("-").replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1 if digits else 2
    n = 0
    for k, v in it.items():
        n += len(k)
        n += len(v.get("S", "")) + len(v.get("B", b""))
        n += num(v["N"]) if "N" in v else 0
        n += sum(num(x) for x in v.get("NS", []))
    return n


def expected_rows(samples, first_seq):
    """(second -> count, second -> batch seqs) by the documented plan: batch k = samples
    [k*1500, (k+1)*1500) numbered first_seq + k."""
    count, seqs = Counter(), defaultdict(set)
    for i, (t, *_rest) in enumerate(samples):
        s = t // 10**9
        count[s] += 1
        seqs[s].add(first_seq + i // BATCH_SAMPLES)
    return count, seqs


def check_items_boto(c, device, samples, first_seq, resolution="0.00006103515625", every=None):
    count, seqs = expected_rows(samples, first_seq)
    if every is None:
        items = items_of(c, device)
    else:
        items = {k: v for k, v in every.items() if k[0] == device}
    got = {s: int(it["n"]["N"]) for (_, s), it in items.items()}
    if got != dict(count):
        diff = sorted((s, count.get(s), got.get(s)) for s in set(count) | set(got)
                      if count.get(s) != got.get(s))
        fail(f"{device}: per-second counts differ from the source (second, source, table): {diff[:8]}")
    for (_, s), it in items.items():
        t = Decimal(it["t"]["N"])
        if t - s != Decimal(slot(device)) / 10**6:
            fail(f"{device}: item t={t} is not second {s} + slot {slot(device)}")
        if it["id"]["S"] != PARTITION or it["f"]["N"] != "1" or it["v"]["N"] != "1":
            fail(f"{device}: item {s}: unexpected id/f/v {it['id']} {it['f']} {it['v']}")
        if Decimal(it["r"]["N"]) != Decimal(resolution):
            fail(f"{device}: item {s}: resolution {it['r']['N']}, wanted {resolution}")
        if {int(x) for x in it["b"]["NS"]} != seqs[s]:
            fail(f"{device}: item {s}: b={it['b']['NS']}, the plan says {sorted(seqs[s])}")
        size = item_size(it)
        if size > 1024 * math.ceil(int(it["n"]["N"]) / 50):
            fail(f"{device}: item {s}: {size} bytes for {it['n']['N']} samples")
    return items


def part_replay_every_file(c):
    files = data_files()
    c.replayed = {}  # file -> JSON
    for i, f in enumerate(files):
        extra = ["--verify"] + (["--create-table"] if i == 0 else [])
        r, v = replay(c, [f], *extra)
        if i == 0 and "created table" not in r.stderr:
            fail(f"--create-table did not say it created {TABLE}: {r.stderr}")
        missing = REQUIRED_KEYS - set(v)
        if missing:
            fail(f"{f}: JSON lacks {sorted(missing)}: {v}")
        n = len(read_csv(f))
        if (v["missing"], v["duplicates"], v["mismatched"]) != (0, 0, 0) or \
                v["samples_verified"] != n or v["samples_in"] != n or not v["verified"]:
            fail(f"{f}: {v}")
        if not (1 < v["bytes_per_sample_batch"] < 16) or not (50 < v["avg_row_bytes"] < 1024):
            fail(f"{f}: implausible sizes {v}")
        progress = [l for l in r.stderr.splitlines() if l.startswith("progress: ")]
        if "\r" in r.stderr or not progress or f"{n}/{n} samples" not in progress[-1]:
            fail(f"{f}: stderr is not a pipe's plain progress lines: {r.stderr[-1000:]!r}")
        check_clean_tmp(c, f)
        c.replayed[f] = v
    # tests/data holds byte-for-byte copies of shared recordings: a copy is the same recording,
    # so it gets the same device (and its replay was a second, idempotent one).
    recordings = {tuple(s[0] for s in read_csv(f)) for f in files}
    devices = {v["device_id"] for v in c.replayed.values()}
    if len(devices) != len(recordings):
        fail(f"{len(recordings)} distinct recordings but {len(devices)} default device ids")
    return (f"{len(files)} files ({len(recordings)} distinct recordings), "
            f"{sum(v['samples_in'] for v in c.replayed.values())} samples")


def part_boto(c):
    total = 0
    every = items_of(c)
    for f, v in c.replayed.items():
        items = check_items_boto(c, v["device_id"], read_csv(f), v["first_sequence"], every=every)
        if len(items) != v["rows"]:
            fail(f"{f}: boto3 sees {len(items)} items, sensor-replay said {v['rows']}")
        total += len(items)
    return f"{total} items checked"


def part_idempotent_default(c):
    f = os.path.join(ROOT, "tests", "data", "s01_01_sw.norm.csv")
    dev = c.replayed[f]["device_id"]
    before = items_of(c, dev)
    # The same file by another path, and as a batch file: same device, identical items.
    link = os.path.join(c.work, "copy-of-s01.csv")
    shutil.copy(f, link)
    _, v = replay(c, [link], "--verify")
    batch = os.path.join(c.work, "s01.batch")
    run([BATCH, "encode", f, "-o", batch, "--device-id", "elsewhere", "--sequence", "9"], c.env,
        expect=0)
    _, vb = replay(c, [batch], "--verify")
    for name, x in (("copy", v), ("batch file", vb)):
        if x["device_id"] != dev or x["duplicates"] or x["missing"] or x["mismatched"]:
            fail(f"second replay ({name}): {x}, first device {dev}")
    after = items_of(c, dev)
    if after != before:
        diff = [k for k in set(before) | set(after) if before.get(k) != after.get(k)]
        fail(f"a second replay changed items {sorted(diff)[:5]}: {before.get(diff[0])} -> "
             f"{after.get(diff[0])}")
    return f"{len(after)} items identical after a copy and a batch file of the same recording"


def part_relay(c):
    """Two replays of the same multi-batch input through one running phone-relay."""
    keys = os.path.join(c.work, "keys")
    os.makedirs(keys, mode=0o700)
    c.relay_dev = "relay-dev"
    secret = os.path.join(c.work, "relay-dev.key")
    run([AGENT, "pair", "--secret-file", secret], c.env, expect=0)
    shutil.copy(secret, os.path.join(keys, "relay-dev.key"))
    os.chmod(os.path.join(keys, "relay-dev.key"), 0o600)
    cfg = {"state_dir": os.path.join(c.work, "relay"), "listen": "unix:" + os.path.join(c.work, "r.sock"),
           "paired_devices_dir": keys, "table": "accel-tools-relay", "partition_id": PARTITION,
           "metrics_listen": "127.0.0.1:0", "flush_timeout_ms": 2000}
    json.dump(cfg, open(os.path.join(c.work, "relay.json"), "w"))
    relay = start([RELAY, "--config", os.path.join(c.work, "relay.json")],
                  os.path.join(c.work, "relay.out"), os.path.join(c.work, "relay.err"), c.env)
    c.procs.append(relay)
    port = wait_line(os.path.join(c.work, "relay.out"), "listening", relay).split()[3]
    import urllib.request

    def status():
        return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status"))

    # Three watch recordings as one input: 3849 samples, 3 batches, seconds split between batches.
    files = [os.path.join(ROOT, "tests", "data", n) for n in
             ("s01_01_sw.norm.csv", "s02_03_sw.norm.csv", "s03_05_sw.norm.csv")]
    c.relay_files = files
    samples = [s for f in files for s in read_csv(f)]
    args = ["--relay", cfg["listen"], "--secret-file", secret, "--device-id", c.relay_dev,
            "--verify"]
    # The relay's table does not exist yet: --create-table with --relay creates it.
    global TABLE
    saved, TABLE = TABLE, "accel-tools-relay"
    try:
        r1, v1 = replay(c, files, *args, "--create-table")
        if "created table accel-tools-relay" not in r1.stderr:
            fail(f"--relay --create-table: {r1.stderr[-1500:]}")
        if v1["batches"] != 3 or v1["duplicates"] or v1["missing"] or v1["samples_verified"] != len(samples):
            fail(f"first --relay replay: {v1}")
        st1 = status()
        before = check_items_boto(c, c.relay_dev, samples, v1["first_sequence"])
        r2, v2 = replay(c, files, *args)
        st2 = status()
        if v2["duplicates"] or v2["missing"] or v2["mismatched"] or v2["first_sequence"] != v1["first_sequence"]:
            fail(f"second --relay replay: {v2}")
        if st2["batches_duplicate"] - st1["batches_duplicate"] != 3 or \
                st2["batches_committed"] != st1["batches_committed"]:
            fail(f"the relay did not deduplicate the second replay: {st1} -> {st2}")
        after = items_of(c, c.relay_dev)
        if after != before:
            fail("the second --relay replay changed items")
        # The same input in default mode under the same device: the same items (the fresh relay
        # writes what the running one wrote).
        _, v3 = replay(c, files, "--device-id", c.relay_dev, "--verify")
        if items_of(c, c.relay_dev) != before or v3["duplicates"]:
            fail(f"default mode after --relay changed items: {v3}")
        # 4a) Tamper: delete one item. A --relay replay does not write it again (the relay holds
        # the batches), so --verify must find it missing and exit 1.
        victim = sorted(before)[5]
        n = int(before[victim]["n"]["N"])
        c.ddb.delete_item(TableName=TABLE, Key={"id": before[victim]["id"], "t": before[victim]["t"]})
        r4, v4 = replay(c, files, *args, "--verify-wait", "6", expect=1)
        if v4["missing"] != n or v4["duplicates"] or f"missing at t_ns={victim[1]}" not in r4.stderr:
            fail(f"deleted item {victim} ({n} samples): {v4} {r4.stderr[-800:]}")
        # A default-mode replay writes the item again: the table heals.
        replay(c, files, "--device-id", c.relay_dev, "--verify")
        if items_of(c, c.relay_dev) != before:
            fail("a default-mode replay did not restore the deleted item")
    finally:
        TABLE = saved
    relay.send_signal(signal.SIGTERM)
    if relay.wait(timeout=30) != 0:
        fail("phone-relay did not stop cleanly")
    return (f"2 x 3 batches through one relay: {st2['batches_duplicate'] - st1['batches_duplicate']} "
            f"answered duplicate, {len(after)} items identical; deleted item -> exit 1, then healed")


def part_differences(c):
    # Foreign samples inside the replayed range: a recording with a missing second, and an item
    # of the same device in that second written beforehand.
    src = read_csv(os.path.join(ROOT, "tests", "data", "s02_03_sw.norm.csv"))
    s0 = src[0][0] // 10**9
    gap = [s for s in src if s[0] // 10**9 != s0 + 2]
    path = os.path.join(c.work, "gap.csv")
    with open(path, "w") as out:
        out.write("t_ns,x_g,y_g,z_g\n")
        for t, x, y, z in gap:
            out.write(f"{t},{x!r},{y!r},{z!r}\n")
    dev = "gap-dev"
    donor = next(it for (d, s), it in items_of(c).items() if s == s0 + 2 and d == c.replayed[
        os.path.join(ROOT, "tests", "data", "s02_03_sw.norm.csv")]["device_id"])
    foreign = dict(donor, d={"S": dev}, t={"N": f"{s0 + 2}.{slot(dev):06d}"})
    c.ddb.put_item(TableName=TABLE, Item=foreign)
    r, v = replay(c, [path], "--device-id", dev, "--verify", expect=1)
    n = int(donor["n"]["N"])
    if v["duplicates"] != n or v["missing"] or v["samples_verified"] != len(gap) or \
            "unexpected sample" not in r.stderr:
        fail(f"foreign item of {n} samples in the range: {v} {r.stderr[-800:]}")
    check_clean_tmp(c, "verify failure")
    return f"foreign item ({n} samples) -> exit 1, duplicates {v['duplicates']}"


def part_options(c):
    f = os.path.join(ROOT, "tests", "data", "s04_07_sw.norm.csv")
    samples = read_csv(f)
    # --resolution: stored at 1/1024 g, verified at that resolution.
    _, v = replay(c, [f], "--device-id", "res-dev", "--resolution", "1/1024", "--verify")
    if v["missing"] or v["mismatched"] or v["duplicates"]:
        fail(f"--resolution 1/1024: {v}")
    check_items_boto(c, "res-dev", samples, v["first_sequence"], resolution="0.0009765625")
    # Without --verify: row figures computed from the source (equal to the read-back ones), the
    # comparison figures null rather than 0.
    _, nv = replay(c, [f], "--device-id", "res-dev", "--resolution", "1/1024")
    if REQUIRED_KEYS - set(nv) or nv["verified"] or nv["rows_basis"] != "source":
        fail(f"no --verify: {nv}")
    if any(nv[k] is not None for k in ("samples_verified", "missing", "duplicates", "mismatched")):
        fail(f"no --verify must report null comparison figures: {nv}")
    if nv["rows"] != v["rows"] or abs(nv["avg_row_bytes"] - v["avg_row_bytes"]) > 1e-9:
        fail(f"computed rows/avg_row_bytes {nv['rows']}/{nv['avg_row_bytes']} differ from the "
             f"table's {v['rows']}/{v['avg_row_bytes']}")
    # SIGTERM in the middle of a paced replay: exit 1 with a reason, nothing left in TMPDIR.
    p = subprocess.Popen([REPLAY, "--table", TABLE, "--partition-id", PARTITION, "--pace", "1",
                          "--device-id", "paced-dev", f], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=c.env)
    deadline = time.time() + 30
    line = ""
    while time.time() < deadline and not line.startswith("progress:"):
        line = p.stderr.readline()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    if p.returncode != 1 or "interrupted" not in err:
        fail(f"SIGTERM: exit {p.returncode}: {err[-800:]}")
    check_clean_tmp(c, "SIGTERM")
    return f"--resolution ok, no --verify rows {nv['rows']} avg {nv['avg_row_bytes']:.1f} B, SIGTERM ok"


def part_query(c):
    f = os.path.join(ROOT, "tests", "data", "s01_01_sw.norm.csv")
    dev = c.replayed[f]["device_id"]
    src = read_csv(f)
    s0 = src[0][0] // 10**9
    out = lambda name: os.path.join(c.work, name)  # noqa: E731
    base = [QUERY, "--table", TABLE, "--partition-id", PARTITION, "--device-id", dev]

    def query(frm, to, name, *extra, expect=0):
        r = run(base + ["--from", str(frm), "--to", str(to), "--csv", out(name), "--json", *extra],
                c.env, expect=expect)
        return r, (last_json(r) if expect == 0 else None)

    def rows_of(name):
        return [tuple(int(x) if i == 0 else x for i, x in enumerate(l.strip().split(",")))
                for l in open(out(name)).readlines()[1:]]

    # Epoch, ISO-8601 UTC and ISO-8601 with an offset: the same rows, byte for byte.
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s0 + 1))
    iso_to = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s0 + 4))
    plus2 = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s0 + 1 + 7200)) + "+02:00"
    plus2_to = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s0 + 4 + 7200)) + "+02:00"
    query(s0 + 1, s0 + 4, "e.csv")
    query(iso + "Z", iso_to + "Z", "i.csv")
    query(plus2, plus2_to, "o.csv")
    if not (open(out("e.csv")).read() == open(out("i.csv")).read() == open(out("o.csv")).read()):
        fail("epoch and ISO-8601 ranges gave different rows")
    # [from, to): seconds S and S+1 apart add up to [S, S+2), nothing twice, nothing outside.
    _, a = query(s0 + 1, s0 + 2, "a.csv")
    _, b = query(s0 + 2, s0 + 3, "b.csv")
    _, ab = query(s0 + 1, s0 + 3, "ab.csv")
    want = [s for s in src if s0 + 1 <= s[0] // 10**9 < s0 + 3]
    got_a, got_b, got_ab = rows_of("a.csv"), rows_of("b.csv"), rows_of("ab.csv")
    if got_a + got_b != got_ab or [r[0] for r in got_ab] != [s[0] for s in want]:
        fail(f"[from, to) edges: {len(got_a)} + {len(got_b)} rows vs {len(got_ab)}, source {len(want)}")
    if a["rows"] != 1 or b["rows"] != 1 or ab["rows"] != 2:
        fail(f"row counts for one-second ranges: {a} {b} {ab}")
    # Fractions: [S+1.25, S+2.5) holds exactly the source samples in it.
    lo, hi = (s0 + 1) * 10**9 + 250000000, (s0 + 2) * 10**9 + 500000000
    query(f"{s0 + 1}.25", f"{s0 + 2}.5", "frac.csv")
    iso_frac = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s0 + 1)) + ".25Z"
    query(iso_frac, f"{s0 + 2}.5", "frac2.csv")
    want = [s[0] for s in src if lo <= s[0] < hi]
    if [r[0] for r in rows_of("frac.csv")] != want or open(out("frac.csv")).read() != open(out("frac2.csv")).read():
        fail(f"fractional range: {len(rows_of('frac.csv'))} samples, source {len(want)}")
    # Several devices in the range without --device-id: exit 2, naming them.
    sp = c.replayed[os.path.join(ROOT, "tests", "data", "s01_01_sp.norm.csv")]["device_id"]
    r = run([QUERY, "--table", TABLE, "--partition-id", PARTITION, "--from", str(s0), "--to",
             str(s0 + 5), "--csv", out("mixed.csv")], c.env, expect=2)
    if dev not in r.stderr or sp not in r.stderr or "--device-id" not in r.stderr or \
            len(r.stderr.strip().splitlines()) != 2:
        fail(f"several devices: {r.stderr}")
    # --expect: a missing file and a bad file are one-line errors with exit 1.
    r = run(base + ["--from", str(s0), "--to", str(s0 + 20), "--csv", out("x.csv"), "--expect",
                    out("nope.csv")], c.env, expect=1)
    if len(r.stderr.strip().splitlines()) != 1 or "nope.csv" not in r.stderr:
        fail(f"missing --expect file: {r.stderr}")
    with open(out("bad.csv"), "w") as bad:
        bad.write("t_ns,x_g,y_g,z_g\n1,0,0,0\n2,0,zero,0\n")
    r = run(base + ["--from", str(s0), "--to", str(s0 + 20), "--csv", out("x.csv"), "--expect",
                    out("bad.csv")], c.env, expect=1)
    if len(r.stderr.strip().splitlines()) != 1 or "bad.csv:3" not in r.stderr:
        fail(f"bad --expect file: {r.stderr}")
    # --expect with the right file: exact.
    _, v = query(s0, src[-1][0] // 10**9 + 1, "all.csv", "--expect", f)
    if (v["missing"], v["duplicates"], v["mismatched"], v["samples_verified"]) != (0, 0, 0, len(src)):
        fail(f"--expect {f}: {v}")

    # --svg: a few seconds (every sample drawn) and the relay device's ~21 minutes (downsampled).
    def svg_check(name, nsamples, unit, runs):
        root = ET.parse(out(name)).getroot()  # well-formed XML or an exception
        if root.tag != SVG + "svg":
            fail(f"{name}: root {root.tag}")
        lines = root.findall(f".//{SVG}path")
        if len(lines) != 3 or len({l.get("stroke") for l in lines}) != 3:
            fail(f"{name}: {len(lines)} series paths")
        texts = [t.text or "" for t in root.iter(SVG + "text")]
        if "acceleration (g)" not in texts or not any(t.startswith("time since ") and
                                                      t.endswith(f"Z ({unit})") for t in texts):
            fail(f"{name}: axis labels with units missing: {texts[-12:]}")
        for leg in ("x (g)", "y (g)", "z (g)"):
            if leg not in texts:
                fail(f"{name}: legend entry {leg} missing")
        npts = [len(l.get("d").split()) for l in lines]
        if [l.get("d").count("M") for l in lines] != [runs] * 3:
            fail(f"{name}: runs per series {[l.get('d').count('M') for l in lines]}, wanted {runs}")
        width = float(root.get("width"))
        if nsamples <= 2 * width * 0.9:
            if npts != [nsamples] * 3:
                fail(f"{name}: {npts} points for {nsamples} samples")
        elif max(npts) > 2 * width:
            fail(f"{name}: {npts} points for {nsamples} samples: not downsampled")
        return npts
    query(s0, s0 + 5, "short.csv", "--svg", out("short.svg"))
    short = svg_check("short.svg", len(rows_of("short.csv")), "s", 1)
    rsrc = [s for f2 in c.relay_files for s in read_csv(f2)]
    r = run([QUERY, "--table", "accel-tools-relay", "--partition-id", PARTITION, "--device-id",
             c.relay_dev, "--from", str(rsrc[0][0] // 10**9), "--to", str(rsrc[-1][0] // 10**9 + 1),
             "--csv", out("long.csv"), "--svg", out("long.svg")], c.env, expect=0)
    long_pts = svg_check("long.svg", len(rsrc), "min", 3)  # three recordings
    return (f"ISO = epoch, edges and fractions exact, --svg {short[0]} points for a 5 s range, "
            f"{long_pts[0]} for {len(rsrc)} samples over "
            f"{(rsrc[-1][0] - rsrc[0][0]) / 6e10:.0f} min")


def main():
    global REPLAY, QUERY, BATCH, AGENT, RELAY
    REPLAY = os.path.join(BUILD, "tools", "sensor-replay")
    QUERY = os.path.join(BUILD, "tools", "sensor-query")
    BATCH = os.path.join(BUILD, "tools", "accel-batch")
    AGENT = os.path.join(BUILD, "watch-agent", "watch-agent")
    RELAY = os.path.join(BUILD, "phone-relay", "phone-relay")
    c = Ctx()
    c.work = tempfile.mkdtemp(prefix="accel-tools-e2e-")
    c.procs = []
    try:
        if SERVER == "moto":
            srv = start([sys.executable, os.path.join(ROOT, "tests/fixtures/localaws.py"), "moto",
                         "--auth-user-file", os.path.join(c.work, "creds.json")],
                        os.path.join(c.work, "srv.out"), os.path.join(c.work, "srv.err"))
        else:
            srv = start(["node", os.path.join(ROOT, "tests/fixtures/dynalite_server.js")],
                        os.path.join(c.work, "srv.out"), os.path.join(c.work, "srv.err"))
        c.procs.append(srv)
        endpoint = wait_line(os.path.join(c.work, "srv.out"), "READY", srv).split()[1]
        if SERVER == "moto":
            creds = json.load(open(os.path.join(c.work, "creds.json")))
            key, secret = creds["access_key_id"], creds["secret_access_key"]
        else:
            key, secret = "AKIDTOOLSE2E", "tools-e2e-secret"
        c.tmp = os.path.join(c.work, "tmp")
        os.makedirs(c.tmp)
        c.env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1",
                     AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, TMPDIR=c.tmp)
        for k in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CA_BUNDLE"):
            c.env.pop(k, None)
        import boto3
        c.ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id=key, aws_secret_access_key=secret)
        t_all = time.time()
        for part in (part_replay_every_file, part_boto, part_idempotent_default, part_relay,
                     part_differences, part_options, part_query):
            t = time.time()
            what = part(c)
            print(f"ok {SERVER} {part.__name__[5:]}: {what} ({time.time() - t:.1f} s)", flush=True)
        print(f"ok {SERVER}: all parts in {time.time() - t_all:.1f} s", flush=True)
    finally:
        for p in c.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(c.work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in ("moto", "dynalite"):
        print("usage: tools_e2e.py BUILD_DIR {dynalite,moto}", file=sys.stderr)
        sys.exit(2)
    main()
