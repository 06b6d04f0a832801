#!/usr/bin/env node
// Peer benchmarks in node: @smithy/signature-v4 (the AWS SDK for JavaScript v3 signer, with node's
// crypto through @smithy/hash-node) and aws4, on the sigv4_bench workload (bench/sigv4_compare.sh).
//
// usage: NODE_PATH=scripts/node/node_modules node node_sigv4.js WORKLOAD_DIR SIZE...
// -> one JSON line per (peer, size): {"peer", "size", "us"}
//        node node_sigv4.js --check WORKLOAD_DIR
// -> per peer {"peer", "check": {"headers", "authorization"}}: the 1 KiB request signed at
//    20231114T221320Z, so the driver can confirm our signer gives the same Authorization.
'use strict';
const fs = require('fs');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Hash } = require('@smithy/hash-node');
const aws4 = require('aws4');

const check = process.argv[2] === '--check';
const [dir, ...sizeArgs] = process.argv.slice(check ? 3 : 2);
const sizes = sizeArgs.map(Number);
const token = fs.readFileSync(`${dir}/token.txt`, 'utf8');
const creds = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE00',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: token,
};
const HOST = 'dynamodb.us-east-1.amazonaws.com';
const version = (p) => require(`${p}/package.json`).version;

// Median of 5 runs of n calls (n calibrated to ~250 ms of CPU time). `isAsync`: await each call (smithy's sign
// returns a promise); aws4 is synchronous and is timed without awaits.
async function measure(fn, isAsync, targetMs = 250, runs = 5) {
  const run = async (n) => {
    const t = process.cpuUsage();
    if (isAsync) {
      for (let i = 0; i < n; i++) await fn();
    } else {
      for (let i = 0; i < n; i++) fn();
    }
    const u = process.cpuUsage(t);
    return (u.user + u.system) / 1e3;  // ms of process CPU time (all threads, GC included)
  };
  let n = 1;
  let dt;
  for (;;) {
    dt = await run(n);
    if (dt > 50) break;
    n *= 4;
  }
  n = Math.max(1, Math.floor((n * targetMs) / dt));
  const per = [];
  for (let r = 0; r < runs; r++) per.push((await run(n)) * 1e3 / n);
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)];
}

async function checkMode(smithy) {
  const body = fs.readFileSync(`${dir}/body_1024.json`, 'utf8');
  const signed = await smithy.sign(smithyRequest(body), { signingDate: new Date(1700000000 * 1000) });
  console.log(JSON.stringify({
    peer: '@smithy/signature-v4',
    check: { headers: Object.entries(signed.headers), authorization: signed.headers.authorization },
  }));
  const opts = aws4Request(body);
  opts.headers['X-Amz-Date'] = '20231114T221320Z';
  aws4.sign(opts, creds);
  console.log(JSON.stringify({
    peer: 'aws4',
    check: { headers: Object.entries(opts.headers), authorization: opts.headers.Authorization },
  }));
}

function smithyRequest(body) {
  return {
    method: 'POST',
    protocol: 'https:',
    hostname: HOST,
    path: '/',
    query: {},
    headers: {
      host: HOST,
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.BatchWriteItem',
    },
    body,
  };
}

function aws4Request(body) {
  return {
    host: HOST,
    path: '/',
    service: 'dynamodb',
    region: 'us-east-1',
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': 'DynamoDB_20120810.BatchWriteItem',
    },
    body,
  };
}

async function main() {
  const smithy = new SignatureV4({
    credentials: creds,
    region: 'us-east-1',
    service: 'dynamodb',
    sha256: Hash.bind(null, 'sha256'),
  });
  if (check) return checkMode(smithy);
  for (const size of sizes) {
    const body = fs.readFileSync(`${dir}/body_${size}.json`, 'utf8');
    const us = await measure(() => smithy.sign(smithyRequest(body)), true);
    console.log(JSON.stringify({ peer: `@smithy/signature-v4 ${version('@smithy/signature-v4')}`, size, us }));
    // aws4.sign mutates its argument: a fresh request object per call, as a caller would have.
    const us4 = await measure(() => aws4.sign(aws4Request(body), creds), false);
    console.log(JSON.stringify({ peer: `aws4 ${version('aws4')}`, size, us: us4 }));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
