// Reads the Parquet files that Millrace's Firehose format conversion writes
// (internal/firehose/format/testdata/interop/*.parquet, kept current by the
// Go test TestInteropFixtures) with hyparquet, an independent JavaScript
// Parquet reader pinned in package.json, and compares every row with the
// expected rows beside each file (*.json).
//
// Usage: node check.mjs [DIR]   (after npm ci in this directory)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parquetReadObjects, parquetMetadata } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const here = path.dirname(fileURLToPath(import.meta.url));
// A directory given as the argument is read instead (the end-to-end test
// checks an object Firehose delivered to S3 this way).
const dir = process.argv[2]
  ? path.resolve(process.argv[2])
  : path.resolve(here, '..', '..', 'internal', 'firehose', 'format', 'testdata', 'interop');

// canonical is the form the Go test writes expected rows in: bigint as a
// decimal string, timestamps and dates as ISO 8601, maps as objects.
function canonical(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Map) return canonical(Object.fromEntries(v));
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  return v;
}

function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = sorted(v[k]);
    return out;
  }
  return v;
}

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.parquet')).sort();
if (files.length === 0) {
  console.error(`FAIL no Parquet fixtures in ${dir}`);
  process.exit(1);
}
let failures = 0;
for (const f of files) {
  const buf = fs.readFileSync(path.join(dir, f));
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const want = JSON.parse(fs.readFileSync(path.join(dir, f.replace(/\.parquet$/, '.json')), 'utf8'));
  let rows;
  try {
    const md = parquetMetadata(file);
    rows = await parquetReadObjects({ file, metadata: md, compressors });
  } catch (err) {
    console.error(`FAIL ${f}: hyparquet could not read it: ${err}`);
    failures++;
    continue;
  }
  const got = JSON.stringify(sorted(rows.map(canonical)));
  const exp = JSON.stringify(sorted(want));
  if (got !== exp) {
    console.error(`FAIL ${f}: rows differ\n  hyparquet: ${got}\n  expected:  ${exp}`);
    failures++;
  } else {
    console.log(`ok   ${f}: ${rows.length} rows`);
  }
}
if (failures > 0) {
  console.error(`${failures} of ${files.length} files failed`);
  process.exit(1);
}
console.log(`all ${files.length} Parquet files read by hyparquet match`);
