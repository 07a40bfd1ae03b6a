// KPL aggregated records: the magic 0xF3899AC2, a protobuf
// AggregatedRecord, then the MD5 of the protobuf (16 bytes).
//
//   message AggregatedRecord {
//     repeated string partition_key_table     = 1;
//     repeated string explicit_hash_key_table = 2;
//     repeated Record records                 = 3;
//   }
//   message Record {
//     required uint64 partition_key_index     = 1;
//     optional uint64 explicit_hash_key_index = 2;
//     required bytes  data                    = 3;
//     repeated Tag    tags                    = 4;
//   }
import { md5 } from './md5.js';

const MAGIC = [0xf3, 0x89, 0x9a, 0xc2];
const text = new TextDecoder();

// fields decodes one protobuf message into [field, wireType, value]
// triples (value: a Number for varints, a Uint8Array for bytes); it
// throws on malformed input.
function fields(b) {
  const out = [];
  let i = 0;
  const varint = () => {
    let v = 0, mul = 1;
    for (let n = 0; n < 10; n++) {
      if (i >= b.length) throw new Error('truncated varint');
      const x = b[i++];
      v += (x & 0x7f) * mul;
      mul *= 128;
      if (!(x & 0x80)) return v;
    }
    throw new Error('varint too long');
  };
  while (i < b.length) {
    const key = varint();
    const field = Math.floor(key / 8), wt = key % 8;
    if (wt === 0) out.push([field, wt, varint()]);
    else if (wt === 2) {
      const n = varint();
      if (i + n > b.length) throw new Error('truncated field');
      out.push([field, wt, b.subarray(i, i + n)]);
      i += n;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else throw new Error(`wire type ${wt}`);
    if (i > b.length) throw new Error('truncated field');
  }
  return out;
}

// deaggregate returns the user records of an aggregate
// ({partitionKey, explicitHashKey, data}), or null when data is not one
// (no magic, a bad MD5 or a malformed message: KCL reads such a record as
// it is).
export function deaggregate(data) {
  if (data.length < 4 + 16 || MAGIC.some((m, i) => data[i] !== m)) return null;
  const msg = data.subarray(4, data.length - 16);
  const sum = md5(msg);
  const trailer = data.subarray(data.length - 16);
  if (sum.some((x, i) => x !== trailer[i])) return null;
  try {
    const pks = [], ehks = [], recs = [];
    for (const [f, wt, v] of fields(msg)) {
      if (wt !== 2) continue;
      if (f === 1) pks.push(text.decode(v));
      else if (f === 2) ehks.push(text.decode(v));
      else if (f === 3) {
        const r = { pk: null, ehk: null, data: new Uint8Array() };
        for (const [g, gwt, w] of fields(v)) {
          if (g === 1 && gwt === 0) r.pk = w;
          else if (g === 2 && gwt === 0) r.ehk = w;
          else if (g === 3 && gwt === 2) r.data = w;
        }
        recs.push(r);
      }
    }
    return recs.map((r) => {
      if (r.pk == null || r.pk >= pks.length) throw new Error('partition key index out of range');
      if (r.ehk != null && r.ehk >= ehks.length) throw new Error('explicit hash key index out of range');
      return { partitionKey: pks[r.pk], explicitHashKey: r.ehk == null ? null : ehks[r.ehk], data: r.data };
    });
  } catch {
    return null;
  }
}
