#!/usr/bin/env python3
"""boto3's batch_writer writing N rows shaped like the relay's into a local DynamoDB, for
bench/relay_aws_bench.cc to print next to our client's figure:

    boto3_bench.py ENDPOINT REGION TABLE ID N PAYLOAD_BYTES

Prints one JSON line {"rows": N, "seconds": wall, "cpu_seconds": process CPU}. The payload is
the same deterministic bytes the C++ side sends (i * 7 + j) & 0xff."""
import json
import sys
import time

import boto3


def main():
    endpoint, region, table, ident, n, size = sys.argv[1:7]
    n, size = int(n), int(size)
    ddb = boto3.resource("dynamodb", endpoint_url=endpoint, region_name=region,
                         aws_access_key_id="AKIDLOCALTEST", aws_secret_access_key="local-test-secret")
    t = ddb.Table(table)
    items = []
    for i in range(n):
        items.append({"id": ident, "t": 1795500000 + i, "dev": "watch-1", "n": 50, "v": 1,
                      "d": bytes(((i * 7 + j) & 0xff) for j in range(size))})
    w0, c0 = time.monotonic(), time.process_time()
    with t.batch_writer() as bw:
        for it in items:
            bw.put_item(Item=it)
    print(json.dumps({"rows": n, "seconds": time.monotonic() - w0,
                      "cpu_seconds": time.process_time() - c0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
