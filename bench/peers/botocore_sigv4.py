#!/usr/bin/env python3
"""Peer benchmark: botocore's SigV4Auth on the sigv4_bench workload (bench/sigv4_compare.sh).

usage: botocore_sigv4.py WORKLOAD_DIR SIZE...   -> one JSON line per size: {"peer", "size", "us"}
       botocore_sigv4.py --check WORKLOAD_DIR    -> {"peer", "check": {"headers", "authorization"}}
Each iteration builds the AWSRequest and calls add_auth, as a botocore client does per request.
Times are process CPU time (the machine is shared; CPU time is what load does not inflate).
--check signs the 1 KiB request at 20231114T221320Z and prints the final headers, so the driver can
confirm that our signer produces the same Authorization for the same request.
"""
import datetime
import json
import statistics
import sys
import time

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

URL = "https://dynamodb.us-east-1.amazonaws.com/"
HEADERS = {"Content-Type": "application/x-amz-json-1.0",
           "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem"}


def measure(fn, target_s=0.25, runs=5):
    n = 1
    while True:  # calibrate
        t = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t
        if dt > 0.05:
            break
        n *= 4
    n = max(1, int(n * target_s / dt))
    per = []
    for _ in range(runs):
        t = time.process_time()
        for _ in range(n):
            fn()
        per.append((time.process_time() - t) / n * 1e6)
    return statistics.median(per)


def main():
    check = sys.argv[1] == "--check"
    args = sys.argv[2:] if check else sys.argv[1:]
    d, sizes = args[0], ([1024] if check else [int(s) for s in args[1:]])
    token = open(f"{d}/token.txt").read()
    creds = Credentials("ASIAEXAMPLEEXAMPLE00", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    auth = SigV4Auth(creds, "dynamodb", "us-east-1")
    if check:
        when = datetime.datetime(2023, 11, 14, 22, 13, 20)
        botocore.auth.get_current_datetime = lambda remove_tzinfo=True: (
            when if remove_tzinfo else when.replace(tzinfo=datetime.timezone.utc))
        body = open(f"{d}/body_1024.json", "rb").read()
        req = AWSRequest(method="POST", url=URL, data=body, headers=dict(HEADERS))
        auth.add_auth(req)
        print(json.dumps({"peer": "botocore", "check": {
            "headers": [[k, v] for k, v in req.headers.items()],
            "authorization": req.headers["Authorization"]}}))
        return
    for size in sizes:
        body = open(f"{d}/body_{size}.json", "rb").read()

        def one():
            req = AWSRequest(method="POST", url=URL, data=body, headers=dict(HEADERS))
            auth.add_auth(req)

        print(json.dumps({"peer": f"botocore SigV4Auth {botocore.__version__}", "size": size,
                          "us": measure(one)}), flush=True)


if __name__ == "__main__":
    main()
