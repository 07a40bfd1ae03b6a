// Cross-checks Millrace's aggregation package against the awslabs KPL
// aggregation module (npm aws-kinesis-agg, pinned in package.json):
//
//  1. every aggregate in aggregation/testdata/interop/go-aggregates.json
//     (written by the Go package) is deaggregated here, MD5 checked, and
//     must yield the same partition keys, explicit hash keys and data;
//  2. the same kinds of record sets are aggregated here and written, with
//     their user records, to the file named by the first argument (default
//     aggregation/testdata/interop/kpl-agg-aggregates.json), which the Go
//     test TestKPLAggAggregates decodes.
//
// Usage: node check.js [out.json]   (after npm ci in this directory)
'use strict';

const fs = require('fs');
const path = require('path');
const agg = require('aws-kinesis-agg');

const root = path.resolve(__dirname, '..', '..');
const interop = path.join(root, 'aggregation', 'testdata', 'interop');
const out = process.argv[2] || path.join(interop, 'kpl-agg-aggregates.json');

let failures = 0;
let passed = 0;
function fail(msg) {
  failures++;
  console.error('FAIL ' + msg);
}

// 1. Deaggregate what Go wrote.
const goAggs = JSON.parse(fs.readFileSync(path.join(interop, 'go-aggregates.json'), 'utf8'));
for (const f of goAggs) {
  const kinesisRecord = { partitionKey: 'a', sequenceNumber: '49590338271490256608559692538361571095921575989136588898', data: f.data };
  agg.deaggregateSync(kinesisRecord, true, (err, users) => {
    if (err) {
      fail(`${f.name}: aws-kinesis-agg could not deaggregate: ${err}`);
      return;
    }
    if (users.length !== f.records.length) {
      fail(`${f.name}: ${users.length} user records, want ${f.records.length}`);
      return;
    }
    let ok = true;
    users.forEach((u, i) => {
      const want = f.records[i];
      // The module reads an absent explicit_hash_key_index as index 0 when
      // the table is not empty, so only records that have an explicit hash
      // key are compared on it.
      const ehkOK = want.explicitHashKey ? u.explicitPartitionKey === want.explicitHashKey : true;
      if (u.partitionKey !== want.partitionKey || !ehkOK || u.data !== want.data || u.subSequenceNumber !== i) {
        ok = false;
        fail(`${f.name}: user record ${i} = ${JSON.stringify({ pk: u.partitionKey, ehk: u.explicitPartitionKey, sub: u.subSequenceNumber })}, want ${JSON.stringify({ pk: want.partitionKey, ehk: want.explicitHashKey })}`);
      }
    });
    if (ok) {
      passed++;
      console.log(`ok   deaggregated Go aggregate "${f.name}" (${users.length} user records)`);
    }
  });
}

// 2. Aggregate here for the Go side to decode.
//
// The module builds its key tables with Object.keys of a plain object, and
// JavaScript lists integer-like keys ("0" .. "4294967294") first, so a
// table holding such a key next to others is written out of step with the
// indexes the records were given. Keys here are therefore never
// integer-like (a hash key of "0", legal on Kinesis, would be decoded
// wrongly by any reader, ours or the KCL).
function recordSets() {
  const many = [];
  for (let i = 0; i < 200; i++) {
    const r = { partitionKey: 'key-' + (i % 13), data: Buffer.alloc(i + 1, i & 0xff) };
    if (i % 4 === 0) r.explicitHashKey = String((BigInt(i) + 1n) * 1000003n * 2n ** 100n % (2n ** 128n));
    many.push(r);
  }
  return [
    ['two', [{ partitionKey: 'p1', data: Buffer.from('hello') }, { partitionKey: 'p2', data: Buffer.from('world') }]],
    ['ehk', [
      { partitionKey: 'ключ', explicitHashKey: '340282366920938463463374607431768211455', data: Buffer.from([0, 1, 2]) },
      { partitionKey: 'ключ', explicitHashKey: '85070591730234615865843651857942052864', data: Buffer.from('x') },
    ]],
    ['many', many],
  ];
}

const written = [];
for (const [name, records] of recordSets()) {
  const encoded = [];
  const aggregator = new agg.RecordAggregator();
  aggregator.aggregateRecords(records, true, (err, rec) => {
    if (err) fail(`${name}: aws-kinesis-agg could not aggregate: ${err}`);
    else encoded.push(rec);
  });
  if (encoded.length !== 1) {
    fail(`${name}: aggregated into ${encoded.length} records, want 1`);
    continue;
  }
  written.push({
    name,
    data: encoded[0].data.toString('base64'),
    records: records.map((r) => {
      const f = { partitionKey: r.partitionKey, data: r.data.toString('base64') };
      if (r.explicitHashKey) f.explicitHashKey = r.explicitHashKey;
      return f;
    }),
  });
  passed++;
  console.log(`ok   aggregated "${name}" (${records.length} user records) for the Go decoder`);
}
fs.writeFileSync(out, JSON.stringify(written, null, 1) + '\n');
console.log(`wrote ${out}`);

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
