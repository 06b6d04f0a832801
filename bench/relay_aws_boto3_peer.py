#!/usr/bin/env python3
"""The boto3 side of bench/relay_aws_bench.cc: uploads the very items the relay's uploader sends
(one DynamoDB-JSON item per line, written by the bench from its SQLite store) with boto3's
Table.batch_writer, the idiomatic way to bulk-write with boto3 (25 items per BatchWriteItem, one
request at a time, UnprocessedItems re-sent).

    relay_aws_boto3_peer.py ENDPOINT REGION TABLE ITEMS_FILE

Untimed: importing boto3, reading and deserialising the items, creating the resource. Then it
prints `START` (the bench samples the server's CPU), uploads, and prints one line
`END {"rows": n, "seconds": wall, "cpu_seconds": this process's CPU}`."""
import base64
import json
import sys
import time

import boto3
from boto3.dynamodb.types import TypeDeserializer


def wire_to_python(de, value):
    """DynamoDB JSON as on the wire (binary as base64 text) to boto3's Python types."""
    if "B" in value:
        value = {"B": base64.b64decode(value["B"])}
    return de.deserialize(value)


def main():
    endpoint, region, table, items_file = sys.argv[1:5]
    de = TypeDeserializer()
    with open(items_file) as f:
        items = [{k: wire_to_python(de, v) for k, v in json.loads(line).items()}
                 for line in f if line.strip()]
    ddb = boto3.resource("dynamodb", endpoint_url=endpoint, region_name=region,
                         aws_access_key_id="AKIDLOCALTEST", aws_secret_access_key="local-test-secret")
    t = ddb.Table(table)
    print("START", flush=True)
    w0, c0 = time.monotonic(), time.process_time()
    with t.batch_writer() as bw:
        for it in items:
            bw.put_item(Item=it)
    print("END " + json.dumps({"rows": len(items), "seconds": time.monotonic() - w0,
                               "cpu_seconds": time.process_time() - c0}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
