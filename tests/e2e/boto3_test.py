#!/usr/bin/env python3
"""boto3 against a running Millrace at $E2E_ENDPOINT.

    boto3_test.py flow           the Kinesis life cycle, paginators, waiters, errors
    boto3_test.py write STATE    write records and save what was acknowledged
    boto3_test.py verify STATE   after a restart: every saved record is there

run.sh sets the endpoint and fake credentials and restarts the server
between write and verify. Any failure exits non-zero naming the step.
"""

import base64
import datetime
import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["E2E_ENDPOINT"]
STEP = "start"


def step(name):
    global STEP
    STEP = name
    print(f"  -- boto3: {name}", flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def client():
    return boto3.client(
        "kinesis",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def error_code(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", "")
    return None, None


WAIT = {"Delay": 1, "MaxAttempts": 30}


def get_records(k, **kwargs):
    """GetRecords, waiting out the per-shard read limit (5 calls/s) the way
    Kinesis clients do: the server enforces it by default."""
    for _ in range(20):
        try:
            return k.get_records(**kwargs)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ProvisionedThroughputExceededException":
                raise
            time.sleep(0.25)
    raise AssertionError("GetRecords throttled for 5 s")


def read_shard(k, stream, shard, **iterator_args):
    args = {"ShardIteratorType": "TRIM_HORIZON"}
    args.update(iterator_args)
    it = k.get_shard_iterator(StreamName=stream, ShardId=shard, **args)["ShardIterator"]
    out = []
    for _ in range(1000):
        r = get_records(k, ShardIterator=it)
        out.extend(r["Records"])
        if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
            return out
        it = r.get("NextShardIterator")
        if not it:
            return out
    raise AssertionError("GetRecords never caught up")


def flow():
    k = client()
    stream = f"e2e-boto3-{os.getpid()}"

    step(f"create_stream {stream} (3 shards) + stream_exists waiter")
    k.create_stream(StreamName=stream, ShardCount=3)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig=WAIT)
    d = k.describe_stream(StreamName=stream)["StreamDescription"]
    check(d["StreamStatus"] == "ACTIVE", f"status {d['StreamStatus']}")
    ranges = [(s["HashKeyRange"]["StartingHashKey"], s["HashKeyRange"]["EndingHashKey"]) for s in d["Shards"]]
    check(
        ranges
        == [
            ("0", "113427455640312821154458202477256070484"),
            ("113427455640312821154458202477256070485", "226854911280625642308916404954512140969"),
            ("226854911280625642308916404954512140970", "340282366920938463463374607431768211455"),
        ],
        f"hash ranges {ranges}",
    )
    check("StreamId" not in k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"], "StreamId returned")

    step("ON_DEMAND stream has 4 shards")
    od = stream + "-od"
    k.create_stream(StreamName=od, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    k.get_waiter("stream_exists").wait(StreamName=od, WaiterConfig=WAIT)
    s = k.describe_stream_summary(StreamName=od)["StreamDescriptionSummary"]
    check(s["OpenShardCount"] == 4 and s["StreamModeDetails"]["StreamMode"] == "ON_DEMAND", f"on-demand summary {s}")

    step("paginators: list_streams, describe_stream, list_shards")
    names = []
    for page in k.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1}):
        check(len(page["StreamNames"]) <= 1, f"list_streams page of {len(page['StreamNames'])}")
        names.extend(page["StreamNames"])
    check(stream in names and od in names and len(names) == len(set(names)), f"list_streams pages {names}")
    shards = []
    for page in k.get_paginator("describe_stream").paginate(StreamName=stream, PaginationConfig={"PageSize": 1}):
        shards.extend(s["ShardId"] for s in page["StreamDescription"]["Shards"])
    check(shards == [f"shardId-{i:012d}" for i in range(3)], f"describe_stream pages {shards}")
    shards = []
    for page in k.get_paginator("list_shards").paginate(StreamName=stream):
        check("NextToken" not in page, "list_shards returned a NextToken with every shard on the page")
        shards.extend(s["ShardId"] for s in page["Shards"])
    check(shards == [f"shardId-{i:012d}" for i in range(3)], f"list_shards paginator {shards}")
    # AWS rejects NextToken together with StreamName, so botocore's
    # list_shards paginator fails from its second page (botocore#2009);
    # a client pages with NextToken alone.
    code, msg = error_code(lambda: list(k.get_paginator("list_shards").paginate(StreamName=stream, PaginationConfig={"PageSize": 2})))
    check(code == "InvalidArgumentException" and "cannot be provided together" in msg, f"paginator second page: {code} {msg}")
    shards, token, pages = [], None, 0
    while True:
        page = k.list_shards(NextToken=token, MaxResults=2) if token else k.list_shards(StreamName=stream, MaxResults=2)
        pages += 1
        shards.extend(s["ShardId"] for s in page["Shards"])
        token = page.get("NextToken")
        if not token or pages > 5:
            break
    check(shards == [f"shardId-{i:012d}" for i in range(3)] and pages == 2, f"list_shards by NextToken: {pages} pages {shards}")
    f = k.list_shards(StreamName=stream, ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000001"})
    check([s["ShardId"] for s in f["Shards"]] == ["shardId-000000000002"], f"AFTER_SHARD_ID {f['Shards']}")
    ts = datetime.datetime.now(datetime.timezone.utc)
    f = k.list_shards(StreamName=stream, ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": ts})
    check(len(f["Shards"]) == 3, f"AT_TIMESTAMP {len(f['Shards'])} shards")

    step("put_record / put_records: routing and results in request order")
    r = k.put_record(StreamName=stream, PartitionKey="a", Data=b"\x00binary\xff", ExplicitHashKey="0")
    check(r["ShardId"] == "shardId-000000000000", f"explicit hash 0 went to {r['ShardId']}")
    first_seq = r["SequenceNumber"]
    entries = [{"PartitionKey": f"pk-{i}", "Data": f"rec-{i}".encode(), "ExplicitHashKey": "0"} for i in range(10)]
    pr = k.put_records(StreamName=stream, Records=entries)
    check(pr.get("FailedRecordCount", 0) == 0 and len(pr["Records"]) == 10, f"put_records {pr}")
    seqs = [x["SequenceNumber"] for x in pr["Records"]]
    check(all(int(a) < int(b) for a, b in zip([first_seq] + seqs, seqs)), "sequence numbers not increasing")
    code, _ = error_code(k.put_records, StreamName=stream, Records=[{"PartitionKey": "k", "Data": b"x"}] * 501)
    check(code == "ValidationException", f"501 records: {code}")

    step("get_shard_iterator: all five types")
    recs = read_shard(k, stream, "shardId-000000000000")
    check([x["SequenceNumber"] for x in recs] == [first_seq] + seqs, "TRIM_HORIZON order")
    check(recs[0]["Data"] == b"\x00binary\xff" and recs[3]["Data"] == b"rec-2", "data round trip")
    check(isinstance(recs[0]["ApproximateArrivalTimestamp"], datetime.datetime), "arrival timestamp type")
    at = read_shard(k, stream, "shardId-000000000000", ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[4])
    check([x["SequenceNumber"] for x in at] == seqs[4:], "AT_SEQUENCE_NUMBER")
    after = read_shard(k, stream, "shardId-000000000000", ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[4])
    check([x["SequenceNumber"] for x in after] == seqs[5:], "AFTER_SEQUENCE_NUMBER")
    # botocore sends whole seconds: a minute ago covers every record.
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    ts_recs = read_shard(k, stream, "shardId-000000000000", ShardIteratorType="AT_TIMESTAMP", Timestamp=old)
    check(len(ts_recs) == 11, f"AT_TIMESTAMP a minute ago: {len(ts_recs)} records")
    latest = k.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="LATEST")["ShardIterator"]
    g = get_records(k, ShardIterator=latest)
    check(g["Records"] == [] and g["NextShardIterator"], "LATEST before put")
    k.put_record(StreamName=stream, PartitionKey="late", Data=b"late", ExplicitHashKey="0")
    g = get_records(k, ShardIterator=g["NextShardIterator"])
    check([x["Data"] for x in g["Records"]] == [b"late"], f"LATEST after put {g['Records']}")
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    code, _ = error_code(
        k.get_shard_iterator, StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="AT_TIMESTAMP", Timestamp=future
    )
    check(code == "InvalidArgumentException", f"future timestamp: {code}")
    code, _ = error_code(k.get_records, ShardIterator="not-an-iterator")
    check(code == "InvalidArgumentException", f"garbage iterator: {code}")
    # An iterator that picked up a line break on its way (read from a file,
    # pasted from a terminal) is refused as AWS refuses it; as issued, it reads.
    it = k.get_shard_iterator(StreamName=stream, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for bad in (it + "\n", it + "\r\n", "\n" + it):
        code, msg = error_code(k.get_records, ShardIterator=bad)
        check(code == "InvalidArgumentException" and msg == "Invalid ShardIterator.", f"iterator {bad!r}: {code} {msg}")
    check(get_records(k, ShardIterator=it)["Records"], "the iterator as issued, after the refusals")

    step("tags: stream and resource APIs")
    arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    check(arn == f"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}", f"ARN {arn}")
    k.add_tags_to_stream(StreamName=stream, Tags={"a": "1", "b": "2"})
    k.tag_resource(ResourceARN=arn, Tags={"c": "3"})
    tags = {t["Key"]: t["Value"] for t in k.list_tags_for_stream(StreamName=stream)["Tags"]}
    check(tags == {"a": "1", "b": "2", "c": "3"}, f"tags {tags}")
    k.remove_tags_from_stream(StreamName=stream, TagKeys=["a"])
    k.untag_resource(ResourceARN=arn, TagKeys=["b"])
    tags = {t["Key"]: t["Value"] for t in k.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    check(tags == {"c": "3"}, f"tags after removal {tags}")

    step("retention, limits, monitoring, max record size, resource policy")
    k.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=100)
    code, msg = error_code(k.increase_stream_retention_period, StreamName=stream, RetentionPeriodHours=50)
    check(code == "InvalidArgumentException" and "can not be shorter" in msg, f"retention decrease via increase: {code} {msg}")
    k.decrease_stream_retention_period(StreamName=stream, RetentionPeriodHours=24)
    check(k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["RetentionPeriodHours"] == 24, "retention 24")
    lim = k.describe_limits()
    check(lim["OpenShardCount"] >= 7 and lim["ShardLimit"] >= lim["OpenShardCount"] and lim["OnDemandStreamCount"] >= 1, f"limits {lim}")
    em = k.enable_enhanced_monitoring(StreamName=stream, ShardLevelMetrics=["IncomingBytes"])
    check(em["DesiredShardLevelMetrics"] == ["IncomingBytes"], f"enable monitoring {em}")
    k.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=2048)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig=WAIT)
    big = b"x" * (1536 * 1024)
    k.put_record(StreamName=stream, PartitionKey="big", Data=big)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kinesis:GetRecords", "Resource": arn}]})
    k.put_resource_policy(ResourceARN=arn, Policy=policy)
    check(json.loads(k.get_resource_policy(ResourceARN=arn)["Policy"]) == json.loads(policy), "policy round trip")
    k.delete_resource_policy(ResourceARN=arn)

    step("errors")
    code, msg = error_code(k.describe_stream, StreamName="no-such-stream")
    check(code == "ResourceNotFoundException" and "no-such-stream" in msg, f"missing stream: {code} {msg}")
    code, _ = error_code(k.create_stream, StreamName=stream, ShardCount=1)
    check(code == "ResourceInUseException", f"duplicate stream: {code}")
    code, msg = error_code(k.create_stream, StreamName="bad name!", ShardCount=1)
    check(code == "ValidationException" and "streamName" in msg, f"invalid name: {code} {msg}")
    code, msg = error_code(k.split_shard, StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey="1")
    check(code == "InvalidArgumentException" and "is not both greater than one plus the shard's StartingHashKey" in msg,
          f"split_shard at hash key 1: {code} {msg}")

    step("delete_stream + stream_not_exists waiter")
    k.delete_stream(StreamName=stream)
    k.delete_stream(StreamName=od)
    k.get_waiter("stream_not_exists").wait(StreamName=stream, WaiterConfig=WAIT)
    k.get_waiter("stream_not_exists").wait(StreamName=od, WaiterConfig=WAIT)
    check(stream not in k.list_streams()["StreamNames"], "deleted stream still listed")

    subscribe_flow()


def read_events(es, n, what):
    """Reads SubscribeToShard events until n records arrived; returns the
    records and the last ContinuationSequenceNumber."""
    recs, cont = [], None
    for ev in es:
        check(list(ev) == ["SubscribeToShardEvent"], f"{what}: unexpected event {list(ev)}")
        e = ev["SubscribeToShardEvent"]
        check(e.get("ContinuationSequenceNumber"), f"{what}: event without ContinuationSequenceNumber on an open shard")
        check("MillisBehindLatest" in e, f"{what}: event without MillisBehindLatest")
        recs.extend(e["Records"])
        cont = e["ContinuationSequenceNumber"]
        if len(recs) >= n:
            break
    check(len(recs) == n, f"{what}: {len(recs)} records before the stream ended, want {n}")
    return recs, cont


def subscribe_flow():
    k = client()
    stream = f"e2e-efo-{os.getpid()}"
    step(f"subscribe_to_shard: create {stream}, register consumers")
    k.create_stream(StreamName=stream, ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig=WAIT)
    arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    consumers = []
    for name in ("reader", "resumer"):
        c = k.register_stream_consumer(StreamARN=arn, ConsumerName=name)["Consumer"]
        for _ in range(100):
            if k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE":
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"consumer {name} never became ACTIVE")
        consumers.append(c["ConsumerARN"])
    for i in range(5):
        k.put_record(StreamName=stream, PartitionKey="pk", Data=f"efo-{i}".encode())

    step("subscribe_to_shard: initial response, stored and pushed records in order")
    r = k.subscribe_to_shard(ConsumerARN=consumers[0], ShardId="shardId-000000000000",
                             StartingPosition={"Type": "TRIM_HORIZON"})
    # botocore reads the initial-response event inside the call and fails
    # it without one; the stream then yields only SubscribeToShardEvents.
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 200, f"status {r['ResponseMetadata']}")
    check(r["ResponseMetadata"]["HTTPHeaders"].get("content-type") == "application/vnd.amazon.eventstream",
          f"content type {r['ResponseMetadata']['HTTPHeaders'].get('content-type')}")
    es = r["EventStream"]
    first, _ = read_events(es, 5, "stored records")
    # Records written while subscribed are pushed on the open stream.
    for i in range(5, 10):
        k.put_record(StreamName=stream, PartitionKey="pk", Data=f"efo-{i}".encode())
    live, cont = read_events(es, 5, "pushed records")
    es.close()
    got = first + live
    check([x["Data"] for x in got] == [f"efo-{i}".encode() for i in range(10)], f"records {[x['Data'] for x in got]}")
    seqs = [int(x["SequenceNumber"]) for x in got]
    check(seqs == sorted(seqs) and len(set(seqs)) == 10, "sequence numbers out of order")
    check(cont == got[-1]["SequenceNumber"], f"ContinuationSequenceNumber {cont}, want the last record's {got[-1]['SequenceNumber']}")

    step("subscribe_to_shard: resume AFTER_SEQUENCE_NUMBER the continuation, no loss or duplicates")
    k.put_record(StreamName=stream, PartitionKey="pk", Data=b"efo-10")
    r = k.subscribe_to_shard(ConsumerARN=consumers[1], ShardId="shardId-000000000000",
                             StartingPosition={"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cont})
    rest, _ = read_events(r["EventStream"], 1, "resumed records")
    r["EventStream"].close()
    check(rest[0]["Data"] == b"efo-10", f"resumed at {rest[0]['Data']}, want efo-10")

    step("subscribe_to_shard: errors before the stream are API errors")
    code, _ = error_code(k.subscribe_to_shard, ConsumerARN=consumers[0], ShardId="shardId-000000000009",
                         StartingPosition={"Type": "LATEST"})
    check(code == "ResourceNotFoundException", f"unknown shard: {code}")
    code, _ = error_code(k.delete_stream, StreamName=stream)
    check(code == "ResourceInUseException", f"delete_stream with consumers: {code}")
    k.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
    k.get_waiter("stream_not_exists").wait(StreamName=stream, WaiterConfig=WAIT)


DURABLE = "e2e-durable"


def write(state_path):
    k = client()
    step(f"create {DURABLE} (2 shards) and write 320 records")
    k.create_stream(StreamName=DURABLE, ShardCount=2)
    k.get_waiter("stream_exists").wait(StreamName=DURABLE, WaiterConfig=WAIT)
    k.add_tags_to_stream(StreamName=DURABLE, Tags={"durable": "yes"})
    acked = []
    for batch in range(3):
        entries = [{"PartitionKey": f"p{batch}-{i}", "Data": os.urandom(64)} for i in range(100)]
        r = k.put_records(StreamName=DURABLE, Records=entries)
        check(r.get("FailedRecordCount", 0) == 0, f"batch {batch} had failures")
        for e, res in zip(entries, r["Records"]):
            acked.append({"shard": res["ShardId"], "seq": res["SequenceNumber"], "pk": e["PartitionKey"], "data": base64.b64encode(e["Data"]).decode()})
    for i in range(20):
        data = f"single-{i}".encode()
        res = k.put_record(StreamName=DURABLE, PartitionKey=f"s{i}", Data=data)
        acked.append({"shard": res["ShardId"], "seq": res["SequenceNumber"], "pk": f"s{i}", "data": base64.b64encode(data).decode()})
    created = k.describe_stream_summary(StreamName=DURABLE)["StreamDescriptionSummary"]["StreamCreationTimestamp"]
    with open(state_path, "w") as f:
        json.dump({"records": acked, "created": created.timestamp()}, f)
    print(f"  -- boto3: {len(acked)} records acknowledged", flush=True)


def verify(state_path):
    with open(state_path) as f:
        state = json.load(f)
    k = client()
    step(f"{DURABLE} after restart")
    s = k.describe_stream_summary(StreamName=DURABLE)["StreamDescriptionSummary"]
    check(s["StreamStatus"] == "ACTIVE" and s["OpenShardCount"] == 2, f"summary after restart {s}")
    check(abs(s["StreamCreationTimestamp"].timestamp() - state["created"]) < 0.001, "creation timestamp changed")
    tags = {t["Key"]: t["Value"] for t in k.list_tags_for_stream(StreamName=DURABLE)["Tags"]}
    check(tags == {"durable": "yes"}, f"tags after restart {tags}")
    by_shard = {}
    for r in state["records"]:
        by_shard.setdefault(r["shard"], []).append(r)
    total = 0
    for shard, want in by_shard.items():
        got = read_shard(k, DURABLE, shard)
        check(len(got) == len(want), f"{shard}: {len(got)} records after restart, {len(want)} acknowledged")
        for g, w in zip(got, want):
            check(g["SequenceNumber"] == w["seq"], f"{shard}: sequence {g['SequenceNumber']}, want {w['seq']}")
            check(g["PartitionKey"] == w["pk"] and g["Data"] == base64.b64decode(w["data"]), f"{shard}: record {w['seq']} differs")
        total += len(got)
    print(f"  -- boto3: all {total} records present with the same sequence numbers", flush=True)
    step("new writes after restart continue the sequence")
    last = max(int(r["seq"]) for r in by_shard.get("shardId-000000000000", []))
    res = k.put_record(StreamName=DURABLE, PartitionKey="after", Data=b"after", ExplicitHashKey="0")
    check(int(res["SequenceNumber"]) > last, "sequence number after restart not above the old ones")
    k.delete_stream(StreamName=DURABLE)
    k.get_waiter("stream_not_exists").wait(StreamName=DURABLE, WaiterConfig=WAIT)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("flow", "write", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if sys.argv[1] == "flow":
            flow()
        elif sys.argv[1] == "write":
            write(sys.argv[2])
        else:
            verify(sys.argv[2])
    except AssertionError as e:
        print(f"FAIL (boto3, {STEP}): {e}", file=sys.stderr)
        return 1
    except Exception as e:  # an unexpected client error fails the step too
        print(f"FAIL (boto3, {STEP}): {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"  -- boto3: {sys.argv[1]} passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
