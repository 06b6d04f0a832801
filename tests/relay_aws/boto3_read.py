#!/usr/bin/env python3
"""Reads rows back with boto3 (an independent client) and prints one JSON line per item,
in DynamoDB JSON, ascending by t:

    boto3_read.py ENDPOINT REGION TABLE ID [KEY_FILE]

KEY_FILE is the launcher's {"access_key_id", "secret_access_key"} JSON (moto with auth on);
without it any key is used (dynalite, moto with auth off)."""
import json
import sys

import boto3


def main():
    endpoint, region, table, ident = sys.argv[1:5]
    key = {"access_key_id": "AKIDLOCALTEST", "secret_access_key": "local-test-secret"}
    if len(sys.argv) > 5:
        with open(sys.argv[5]) as f:
            key = json.load(f)
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region,
                       aws_access_key_id=key["access_key_id"],
                       aws_secret_access_key=key["secret_access_key"])
    pages = ddb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="id = :i",
        ExpressionAttributeValues={":i": {"S": ident}}, ConsistentRead=True)
    for page in pages:
        for item in page["Items"]:
            print(json.dumps(item, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
