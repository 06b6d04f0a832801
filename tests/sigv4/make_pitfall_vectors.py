#!/usr/bin/env python3
"""Regenerates pitfall_vectors.json: requests aimed at each item of tests/sigv4/reference/PITFALLS.md, with the
expected canonical request / string to sign / signature / Authorization taken from the botocore oracle
(tests/sigv4/reference/botocore_sign.py). The test (pitfall_test.cc) signs the same inputs with our signer.

  tests/sigv4/make_pitfall_vectors.py > tests/sigv4/pitfall_vectors.json
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "reference", "botocore_sign.py")
BASE = {
    "method": "GET", "url": "https://example.amazonaws.com/", "headers": [], "body": "",
    "region": "us-east-1", "service": "service", "access_key": "AKIDEXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "amz_date": "20150830T123600Z",
}
DDB = {"region": "us-east-1", "service": "dynamodb", "method": "POST",
       "url": "https://dynamodb.us-east-1.amazonaws.com/",
       "headers": [["Content-Type", "application/x-amz-json-1.0"],
                   ["X-Amz-Target", "DynamoDB_20120810.BatchWriteItem"]],
       "body": "{\"RequestItems\":{}}"}

V = []  # (pitfall number, name, overrides)


def v(pitfall, name, **kw):
    V.append((pitfall, name, kw))


# 1. Character set of the path.
for ch, tag in [("=", "equals"), ("@", "at"), (":", "colon"), ("*", "star"), ("+", "plus"),
                ("$", "dollar"), ("&", "ampersand"), (",", "comma"), (";", "semicolon"),
                ("!", "bang"), ("'", "quote"), ("(", "paren"), ("~", "tilde")]:
    v(1, "path-" + tag, url=f"https://example.amazonaws.com/asset{ch}id/x")
v(1, "path-utf8", url="https://example.amazonaws.com/\u00e4/\u1234/\U0001F37A")
v(1, "path-s3-encoded-reserved", signer="s3v4", service="s3",
  url="https://bucket.s3.amazonaws.com/asset_id%3Dmy-asset/%2A_test/some%40email.com/a%2Bb")
# 2. Double encoding (non-S3) vs single (S3).
v(2, "double-encode-space", url="https://example.amazonaws.com/a%20b/c")
v(2, "double-encode-utf8", url="https://example.amazonaws.com/path/%C3%A4")
v(2, "double-encode-colon", url="https://example.amazonaws.com/identities/us-east-1%3Aabc")
v(2, "double-encode-percent-literal", url="https://example.amazonaws.com/100%25/%3Fa%3Db%20c")
v(2, "s3-single-encode-space", signer="s3v4", service="s3",
  url="https://bucket.s3.amazonaws.com/a%20b/c")
v(2, "s3-single-encode-query-chars", signer="s3v4", service="s3",
  url="https://bucket.s3.amazonaws.com/%3Fa%3Db%20c")
v(2, "s3-no-normalisation", signer="s3v4", service="s3",
  url="https://bucket.s3.amazonaws.com/my-object//example//photo.user")
v(2, "s3-no-dot-removal", signer="s3v4", service="s3", url="https://bucket.s3.amazonaws.com/a/./b/../c")
v(2, "normalise-dots-and-slashes", url="https://example.amazonaws.com//example//a/./b/../../c/")
v(2, "normalise-all-gone", url="https://example.amazonaws.com/example1/example2/../..")
v(2, "normalise-dot-trailing", url="https://example.amazonaws.com/foo/.")
v(2, "normalise-too-many-dotdot", url="https://example.amazonaws.com/../../a")
v(2, "unnormalised-v4", normalize_path=False, url="https://example.amazonaws.com//a/./b/../c%20d")
# 3. Empty / missing query values.
v(3, "query-acl", url="https://example.amazonaws.com/?acl")
v(3, "query-empty-value", url="https://example.amazonaws.com/?a=")
v(3, "query-mixed-empty", url="https://example.amazonaws.com/?x=a+b&y=&z")
v(3, "query-uploads", method="POST", url="https://example.amazonaws.com/key?uploads")
v(3, "query-param-empty-then-key", url="https://example.amazonaws.com/?param=&p2")
v(3, "query-key-then-key", url="https://example.amazonaws.com/?param&p2")
v(3, "query-empty-key", url="https://example.amazonaws.com/?=v")
# 4. Query encoding and sort order.
v(4, "query-sort-after-encoding", url="https://example.amazonaws.com/?a=1&\U0001F37A=2")
v(4, "query-key-prefix", url="https://example.amazonaws.com/?key-with-postfix=1&key=2")
v(4, "query-values-reserved", url="https://example.amazonaws.com/?q=a b/c:d*e&r=!'()")
v(4, "query-plus-literal", url="https://example.amazonaws.com/?a=b+c&d=%2B")
v(4, "query-equals-in-value", url="https://example.amazonaws.com/?a=b=c&d=%3D")
v(4, "query-repeated-key-value-order", url="https://example.amazonaws.com/?k=b&k=a&k=A&K=z")
v(4, "query-encoded-ampersand-percent", url="https://example.amazonaws.com/?a%26b=c%25d&e=%7E")
v(4, "query-case-order", url="https://example.amazonaws.com/?b=1&B=2&a=3&A=4&_=5&-=6&~=7&.=8")
# 5. Header whitespace.
v(5, "header-three-spaces", headers=[["My-Header", "a   b   c"]])
v(5, "header-quoted-runs", headers=[["My-Header", '"a   b   c"']])
v(5, "header-tabs-and-ends", headers=[["My-Header", " \t a \t\t b \t "]])
v(5, "header-empty-value", headers=[["My-Header", ""], ["Other", "   "]])
# 6. Repeated headers.
v(6, "header-repeated-order", headers=[["My-Header", "value2"], ["my-header", "value1 "],
                                        ["MY-HEADER", "  value0"]])
v(6, "header-repeated-with-comma", headers=[["X-Multi", "bar, baz"], ["X-Multi", "qux"]])
# 7. Headers an HTTP stack owns are not signed; content-type with charset kept verbatim.
v(7, "unsigned-hop-headers", method="POST", body="x=1",
  headers=[["User-Agent", "curl/8"], ["Expect", "100-continue"], ["Connection", "keep-alive"],
           ["Transfer-Encoding", "chunked"], ["X-Amzn-Trace-Id", "Root=1"],
           ["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"],
           ["Content-Length", "3"]])
v(7, "dynamodb-batchwriteitem", **DDB)
# 8. Host and ports.
v(8, "host-port-8443", url="https://example.amazonaws.com:8443/")
v(8, "host-port-443-dropped", url="https://example.amazonaws.com:443/")
v(8, "host-http-80-dropped", url="http://example.amazonaws.com:80/")
v(8, "host-http-8080", url="http://example.amazonaws.com:8080/")
v(8, "host-https-80-kept", url="https://example.amazonaws.com:80/")
v(8, "host-uppercase", url="https://EXAMPLE.AmazonAWS.com/")
v(8, "host-ipv6", url="http://[::1]:8000/")
v(8, "host-loopback", url="http://127.0.0.1:4566/", **{k: DDB[k] for k in ("method", "headers", "body", "service")})
v(8, "host-header-given", url="https://example.amazonaws.com/", headers=[["Host", "example.amazonaws.com"]])
# 9. Session tokens are signed.
v(9, "token-signed", session_token="AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZ+/=")
v(9, "token-long-dynamodb", session_token="IQoJb3JpZ2luX2VjE" + "A" * 880 + "/+=", **DDB)
# 10. Dates: one UTC timestamp for X-Amz-Date and the scope, across midnight / year / leap day.
for d in ["20231231T235959Z", "20240101T000000Z", "20240228T235959Z", "20240229T000000Z",
          "20240229T235959Z", "20240301T000000Z", "19700101T000000Z", "20991231T235959Z"]:
    v(10, "date-" + d, amz_date=d)
# Payload hash variants.
v(0, "unsigned-payload", unsigned_payload=True, method="PUT", body="abc")
v(0, "add-content-sha256", add_content_sha256=True, method="PUT", body="abc")
v(0, "caller-content-sha256-header", method="PUT", body="abc",
  headers=[["X-Amz-Content-Sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]])
v(0, "binary-body", method="PUT", body_base64="AAECA/8A/v3+")


def main():
    reqs = []
    for _, _, kw in V:
        r = dict(BASE)
        r.update(kw)
        reqs.append(r)
    out = subprocess.run([sys.executable, ORACLE], input=json.dumps(reqs).encode(),
                         capture_output=True, check=True).stdout
    results = json.loads(out)
    vectors = []
    for (pitfall, name, _), req, res in zip(V, reqs, results):
        vectors.append({"pitfall": pitfall, "name": name, "request": req, "expect": {
            k: res[k] for k in ("canonical_request", "string_to_sign", "signature", "authorization")}})
    json.dump({"generated_by": "tests/sigv4/make_pitfall_vectors.py with botocore " +
               results[0]["botocore_version"], "vectors": vectors},
              sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
