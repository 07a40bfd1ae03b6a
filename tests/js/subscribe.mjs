// The AWS SDK for JavaScript v3 subscribes to a Millrace shard over TLS and
// HTTP/2 (SubscribeToShard needs HTTP/2 in this SDK): stored and pushed
// records arrive in order, the last ContinuationSequenceNumber is the last
// record's, and a subscription started after it resumes without loss or
// duplicates. Exits non-zero on any failure.
//
//   E2E_TLS_ENDPOINT=https://127.0.0.1:PORT E2E_TLS_CA=cert.pem node subscribe.mjs
//
// E2E_TLS_CA is the certificate `millrace cert` wrote; it is handed to the
// HTTP/2 handler (NODE_EXTRA_CA_CERTS=cert.pem works as well).
import { readFileSync } from "node:fs";
import {
  KinesisClient,
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  PutRecordCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
  waitUntilStreamExists,
} from "@aws-sdk/client-kinesis";
import { NodeHttp2Handler } from "@smithy/node-http-handler";

const endpoint = process.env.E2E_TLS_ENDPOINT;
if (!endpoint || !endpoint.startsWith("https://")) {
  console.error("E2E_TLS_ENDPOINT must be the server's https:// endpoint");
  process.exit(2);
}
const nodeHttp2ConnectOptions = process.env.E2E_TLS_CA ? { ca: readFileSync(process.env.E2E_TLS_CA) } : undefined;

let step = "start";
const fail = (msg) => {
  console.error(`FAIL (js, ${step}): ${msg}`);
  process.exit(1);
};
const check = (cond, msg) => {
  if (!cond) fail(msg);
};
const timer = setTimeout(() => fail("no progress within 60 s"), 60_000);
const log = (name) => {
  step = name;
  console.log(`  -- js: ${name}`);
};

const client = new KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  maxAttempts: 1,
  requestHandler: new NodeHttp2Handler({ nodeHttp2ConnectOptions }),
});

const shard = "shardId-000000000000";
const stream = `e2e-js-${process.pid}`;

async function put(i) {
  await client.send(new PutRecordCommand({ StreamName: stream, PartitionKey: "pk", Data: Buffer.from(`js-${i}`) }));
}

async function activeConsumer(streamARN, name) {
  const { Consumer } = await client.send(new RegisterStreamConsumerCommand({ StreamARN: streamARN, ConsumerName: name }));
  for (let i = 0; i < 100; i++) {
    const { ConsumerDescription: d } = await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer.ConsumerARN }));
    if (d.ConsumerStatus === "ACTIVE") return Consumer.ConsumerARN;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`consumer ${name} never became ACTIVE`);
}

// read subscribes and reads until n records arrived; after the first
// `before` records it calls during() (writes made while subscribed).
async function read(consumerARN, position, n, before, during) {
  const abort = new AbortController();
  const out = await client.send(new SubscribeToShardCommand({ ConsumerARN: consumerARN, ShardId: shard, StartingPosition: position }), {
    abortSignal: abort.signal,
  });
  check(out.$metadata.httpStatusCode === 200, `status ${out.$metadata.httpStatusCode}`);
  const records = [];
  let cont;
  let writes;
  try {
    for await (const ev of out.EventStream) {
      const e = ev.SubscribeToShardEvent;
      check(e, `unexpected event ${JSON.stringify(Object.keys(ev))}`);
      check(e.ContinuationSequenceNumber, "event without ContinuationSequenceNumber on an open shard");
      check(typeof e.MillisBehindLatest === "number", "event without MillisBehindLatest");
      records.push(...e.Records);
      cont = e.ContinuationSequenceNumber;
      if (!writes && records.length >= before && during) writes = during();
      if (records.length >= n) break;
    }
  } finally {
    abort.abort();
  }
  if (writes) await writes;
  check(records.length === n, `${records.length} records before the stream ended, want ${n}`);
  return { records, cont };
}

try {
  log(`create ${stream}, register consumers`);
  await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  await waitUntilStreamExists({ client, maxWaitTime: 30, minDelay: 1 }, { StreamName: stream });
  const { StreamDescriptionSummary: summary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  const reader = await activeConsumer(summary.StreamARN, "reader");
  const resumer = await activeConsumer(summary.StreamARN, "resumer");
  for (let i = 0; i < 3; i++) await put(i);

  log("SubscribeToShard over TLS/HTTP2: stored and pushed records in order");
  const first = await read(reader, { Type: "TRIM_HORIZON" }, 6, 3, async () => {
    for (let i = 3; i < 6; i++) await put(i);
  });
  const data = first.records.map((r) => Buffer.from(r.Data).toString());
  check(JSON.stringify(data) === JSON.stringify(["js-0", "js-1", "js-2", "js-3", "js-4", "js-5"]), `records ${data}`);
  const seqs = first.records.map((r) => BigInt(r.SequenceNumber));
  check(seqs.every((s, i) => i === 0 || seqs[i - 1] < s), "sequence numbers out of order");
  check(first.cont === first.records[5].SequenceNumber, `continuation ${first.cont}, want ${first.records[5].SequenceNumber}`);

  log("resume AFTER_SEQUENCE_NUMBER the continuation");
  await put(6);
  const rest = await read(resumer, { Type: "AFTER_SEQUENCE_NUMBER", SequenceNumber: first.cont }, 1, 1);
  check(Buffer.from(rest.records[0].Data).toString() === "js-6", `resumed at ${Buffer.from(rest.records[0].Data)}, want js-6`);

  log("delete the stream and its consumers");
  await client.send(new DeleteStreamCommand({ StreamName: stream, EnforceConsumerDeletion: true }));
} catch (e) {
  fail(`${e.name}: ${e.message}`);
}
client.destroy();
clearTimeout(timer);
console.log("  -- js: SubscribeToShard over TLS/HTTP2 passed");
