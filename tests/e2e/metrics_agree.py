#!/usr/bin/env python3
"""Three views of the same traffic must agree exactly.

Drives the server at E2E_ENDPOINT with `millrace bench` (E2E_MILLRACE) and
compares, per stream and per shard (enhanced monitoring on), what the bench
counted from the put and GetRecords responses with GET /metrics and with
CloudWatch GetMetricStatistics (Sum over one-minute periods) through the
AWS CLI:

  1. a run under the default throughput limits, read back: IncomingRecords,
     IncomingBytes (data plus partition key), GetRecords.Records/.Bytes and
     the shard-level Incoming*/Outgoing* series;
  2. a run into one shard at full speed, which the limits throttle: the
     throttled records count in WriteProvisionedThroughputExceeded (stream
     and shard) and not in IncomingRecords.

E2E_METRICS_SECONDS sets the first run's length (default 3 s); a
run over 60 s crosses a minute boundary, and the per-minute sums are
printed.
"""
import datetime
import json
import os
import subprocess
import sys
import time
import urllib.request

ENDPOINT = os.environ["E2E_ENDPOINT"]
MILLRACE = os.environ["E2E_MILLRACE"]
SECONDS = int(os.environ.get("E2E_METRICS_SECONDS", "3"))

failures = []


def aws(*args):
    out = subprocess.run(["aws", "--endpoint-url", ENDPOINT, "--output", "json", *args],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out) if out.strip() else None


def create_stream(name, shards):
    aws("kinesis", "create-stream", "--stream-name", name, "--shard-count", str(shards))
    aws("kinesis", "wait", "stream-exists", "--stream-name", name)
    for _ in range(100):
        d = aws("kinesis", "describe-stream-summary", "--stream-name", name)
        if d["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.1)
    aws("kinesis", "enable-enhanced-monitoring", "--stream-name", name, "--shard-level-metrics", "ALL")


def bench(*args):
    p = subprocess.run([MILLRACE, "bench", "--endpoint", ENDPOINT, "--json", *args],
                       capture_output=True, text=True, timeout=SECONDS + 120)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"millrace bench {' '.join(args)}: exit status {p.returncode}")
    return json.loads(p.stdout)


def scrape():
    """GET /metrics as {(name, frozenset(labels)): value}."""
    text = urllib.request.urlopen(ENDPOINT + "/metrics", timeout=10).read().decode()
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, labels = head, {}
        if "{" in head:
            name, rest = head.split("{", 1)
            for part in rest.rstrip("}").split('",'):
                if part:
                    k, v = part.split("=", 1)
                    labels[k] = v.strip('"')
        series[(name, frozenset(labels.items()))] = float(value)
    return series


def prom(series, name, **labels):
    want = set(labels.items())
    hits = [v for (n, ls), v in series.items() if n == name and want <= set(ls)]
    if len(hits) != 1:
        failures.append(f"/metrics: {len(hits)} series {name}{labels}, want 1")
        return None
    return int(hits[0])


def cloudwatch(metric, start, dims):
    """Sum of the one-minute Sums from start to two minutes from now, and
    the per-minute points."""
    args = ["cloudwatch", "get-metric-statistics", "--namespace", "AWS/Kinesis", "--metric-name", metric,
            "--start-time", start.isoformat(),
            "--end-time", (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2)).isoformat(),
            "--period", "60", "--statistics", "Sum", "--dimensions"]
    args += [f"Name={k},Value={v}" for k, v in dims]
    points = sorted(aws(*args)["Datapoints"], key=lambda p: p["Timestamp"])
    return int(sum(p["Sum"] for p in points)), [(p["Timestamp"], int(p["Sum"])) for p in points]


def agree(what, **views):
    vals = set(views.values())
    line = f"{what}: " + ", ".join(f"{k}={v}" for k, v in views.items())
    if len(vals) != 1 or None in vals:
        failures.append("disagree: " + line)
        print("  DISAGREE " + line)
    else:
        print("  agree    " + line)


def minute(t):
    """HH:MM of a timestamp as the AWS CLI prints it (epoch seconds or ISO)."""
    if isinstance(t, (int, float)):
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M")
    return str(t)[11:16]


def now_minute():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.replace(second=0, microsecond=0) - datetime.timedelta(minutes=1)


def check_read_run():
    stream = f"e2e-agree-{int(time.time())}"
    create_stream(stream, 4)
    start = now_minute()
    # About 2,000 records/s over 4 shards of 1,000 records/s each.
    r = bench("--stream", stream, "--duration", f"{SECONDS}s", "--rate", "0.2", "--size", "100",
              "--batch", "50", "--workers", "2")
    w, rd = r["write"], r["read"]
    print(f"run 1: {stream}: wrote {w['records']} records ({w['bytes']} data + {w['key_bytes']} key bytes), "
          f"read {rd['records']}, verified {rd['verified']}, errors {r['errors']}")
    if w["records"] == 0 or rd["verified"] != w["records"]:
        failures.append(f"run 1: {w['records']} records written, {rd['verified']} verified")
    m = scrape()
    sdim = [("StreamName", stream)]
    minutes = {}
    for metric, promname, bench_value in [
        ("IncomingRecords", "millrace_kinesis_incoming_records_total", w["records"]),
        ("IncomingBytes", "millrace_kinesis_incoming_bytes_total", w["bytes"] + w["key_bytes"]),
        ("GetRecords.Records", "millrace_kinesis_get_records_records_total", rd["records"]),
        ("GetRecords.Bytes", "millrace_kinesis_get_records_bytes_total", rd["bytes"] + rd["key_bytes"]),
        ("WriteProvisionedThroughputExceeded", "millrace_kinesis_write_provisioned_throughput_exceeded_total",
         r["errors"].get("ProvisionedThroughputExceededException", 0)),
    ]:
        total, points = cloudwatch(metric, start, sdim)
        minutes[metric] = points
        agree(f"{stream} {metric}", bench=bench_value, metrics=prom(m, promname, stream=stream), cloudwatch=total)
    if len(w["shards"]) != 4:
        failures.append(f"run 1: the bench saw {len(w['shards'])} shards written, want 4")
    for shard in sorted(w["shards"]):
        ws, rs = w["shards"][shard], rd["shards"].get(shard, {"records": -1, "bytes": 0, "key_bytes": 0})
        dims = sdim + [("ShardId", shard)]
        for metric, promname, bench_value in [
            ("IncomingRecords", "millrace_kinesis_shard_incoming_records_total", ws["records"]),
            ("IncomingBytes", "millrace_kinesis_shard_incoming_bytes_total", ws["bytes"] + ws["key_bytes"]),
            ("OutgoingRecords", "millrace_kinesis_shard_outgoing_records_total", rs["records"]),
            ("OutgoingBytes", "millrace_kinesis_shard_outgoing_bytes_total", rs["bytes"] + rs["key_bytes"]),
        ]:
            total, _ = cloudwatch(metric, start, dims)
            agree(f"{shard} {metric}", bench=bench_value,
                  metrics=prom(m, promname, stream=stream, shard=shard), cloudwatch=total)
    for metric, points in minutes.items():
        if len(points) > 1:
            print(f"  per minute {metric}: " + ", ".join(f"{minute(t)} {v}" for t, v in points) +
                  f" (sum {sum(v for _, v in points)})")


def check_throttled_run():
    stream = f"e2e-agree-throttled-{int(time.time())}"
    create_stream(stream, 1)
    start = now_minute()
    # One shard takes 1,000 records/s; 5,000 records/s offered in
    # 500-record calls are throttled within the first seconds.
    r = bench("--stream", stream, "--duration", "2s", "--rate", "0.5", "--size", "100", "--batch", "500",
              "--workers", "2", "--read=false")
    w = r["write"]
    throttled = r["errors"].get("ProvisionedThroughputExceededException", 0)
    print(f"run 2: {stream}: stored {w['records']} records, throttled {throttled}, errors {r['errors']}")
    if throttled == 0 or w["records"] == 0:
        failures.append(f"run 2: {w['records']} stored and {throttled} throttled; want both above 0")
    if w["failed_records"] != throttled:
        failures.append(f"run 2: {w['failed_records']} failed records, {throttled} of them throttled")
    m = scrape()
    shard = "shardId-000000000000"
    for metric, promname, bench_value in [
        ("IncomingRecords", "millrace_kinesis_incoming_records_total", w["records"]),
        ("IncomingBytes", "millrace_kinesis_incoming_bytes_total", w["bytes"] + w["key_bytes"]),
        ("WriteProvisionedThroughputExceeded", "millrace_kinesis_write_provisioned_throughput_exceeded_total", throttled),
        ("PutRecords.ThrottledRecords", "millrace_kinesis_put_records_throttled_records_total", throttled),
    ]:
        total, _ = cloudwatch(metric, start, [("StreamName", stream)])
        agree(f"{stream} {metric}", bench=bench_value, metrics=prom(m, promname, stream=stream), cloudwatch=total)
    for metric, promname, bench_value in [
        ("IncomingRecords", "millrace_kinesis_shard_incoming_records_total", w["shards"].get(shard, {}).get("records")),
        ("WriteProvisionedThroughputExceeded", "millrace_kinesis_shard_write_provisioned_throughput_exceeded_total", throttled),
    ]:
        total, _ = cloudwatch(metric, start, [("StreamName", stream), ("ShardId", shard)])
        agree(f"{shard} {metric}", bench=bench_value,
              metrics=prom(m, promname, stream=stream, shard=shard), cloudwatch=total)


check_read_run()
check_throttled_run()
if failures:
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    sys.exit(1)
print("metrics agree: bench, /metrics and CloudWatch")
