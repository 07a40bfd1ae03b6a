#!/usr/bin/env python3
"""boto3's Firehose client against a running Millrace at $E2E_ENDPOINT whose
Firehose writes to the S3 server at $E2E_S3_ENDPOINT (keys S3RVER).

    firehose_test.py flow           dynamic partitioning with jq, errors, a Kinesis source
    firehose_test.py write STATE    put records into a 900-second buffer before a restart
    firehose_test.py verify STATE   after the restart: every acknowledged record reaches S3

Any failure exits non-zero naming the step.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["E2E_ENDPOINT"]
S3_ENDPOINT = os.environ["E2E_S3_ENDPOINT"]
STEP = "start"
ROLE = "arn:aws:iam::123456789012:role/firehose"


def step(name):
    global STEP
    STEP = name
    print(f"  -- firehose boto3: {name}", flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def clients():
    cfg = Config(retries={"max_attempts": 1})
    fh = boto3.client("firehose", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg,
                      aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret")
    kin = boto3.client("kinesis", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg,
                       aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret")
    s3 = boto3.client("s3", endpoint_url=S3_ENDPOINT, region_name="us-east-1", config=cfg,
                      aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
    return fh, kin, s3


def wait_active(fh, name):
    for _ in range(200):
        d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        if d["DeliveryStreamStatus"] == "ACTIVE":
            return d
        time.sleep(0.05)
    raise AssertionError(f"{name} is not ACTIVE")


def error_code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None, None


def objects(s3, bucket, prefix=""):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def lines_under(s3, bucket, prefix, want, timeout=30):
    deadline = time.time() + timeout
    while True:
        got = {}
        for key, body in objects(s3, bucket, prefix).items():
            for line in body.decode().splitlines():
                got.setdefault(line, key)
        if want <= set(got) or time.time() > deadline:
            return got
        time.sleep(0.2)


def flow():
    fh, kin, s3 = clients()
    bucket = f"e2e-boto3-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)

    step("create a delivery stream with dynamic partitioning (jq)")
    fh.create_delivery_stream(
        DeliveryStreamName="e2e-dp",
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE,
            "Prefix": "customer=!{partitionKeyFromQuery:customer}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [
                {"Type": "MetadataExtraction", "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer: .customer}"},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
                {"Type": "AppendDelimiterToRecord"}]},
        })
    d = wait_active(fh, "e2e-dp")
    check(d["VersionId"] == "1", f"VersionId {d['VersionId']}")

    step("put_record_batch: two customers and one record that is not JSON")
    recs = [{"Data": json.dumps({"customer": c, "n": i}).encode()} for i, c in enumerate(["a", "b", "a"])]
    recs.append({"Data": b"not json"})
    out = fh.put_record_batch(DeliveryStreamName="e2e-dp", Records=recs)
    check(out["FailedPutCount"] == 0 and len(out["RequestResponses"]) == 4, f"put_record_batch {out}")
    want_a = {'{"customer": "a", "n": 0}', '{"customer": "a", "n": 2}'}
    got = lines_under(s3, bucket, "customer=a/", want_a)
    check(want_a <= set(got), f"customer=a/ holds {sorted(got)}")
    got = lines_under(s3, bucket, "customer=b/", {'{"customer": "b", "n": 1}'})
    check(len(got) == 1, f"customer=b/ holds {sorted(got)}")
    errs = lines_under(s3, bucket, "errors/processing-failed/", set(), timeout=0)
    deadline = time.time() + 30
    while not errs and time.time() < deadline:
        time.sleep(0.2)
        errs = lines_under(s3, bucket, "errors/processing-failed/", set(), timeout=0)
    check(len(errs) == 1, f"processing-failed holds {sorted(errs)}")
    rec = json.loads(next(iter(errs)))
    check(rec["errorCode"] and rec["rawData"] == "bm90IGpzb24=", f"error record {rec}")

    step("errors: a batch of 501, a stale version, dynamic partitioning switched off")
    code, _ = error_code(fh.put_record_batch, DeliveryStreamName="e2e-dp", Records=[{"Data": b"x"}] * 501)
    check(code == "ValidationException", f"501 records: {code}")
    code, _ = error_code(fh.update_destination, DeliveryStreamName="e2e-dp", CurrentDeliveryStreamVersionId="5",
                         DestinationId="destinationId-000000000001", ExtendedS3DestinationUpdate={"Prefix": "x/"})
    check(code == "ConcurrentModificationException", f"stale version: {code}")
    code, msg = error_code(fh.update_destination, DeliveryStreamName="e2e-dp", CurrentDeliveryStreamVersionId="1",
                           DestinationId="destinationId-000000000001",
                           ExtendedS3DestinationUpdate={"DynamicPartitioningConfiguration": {"Enabled": False}})
    check(code == "InvalidArgumentException", f"disable dynamic partitioning: {code} {msg}")
    code, msg = error_code(fh.create_delivery_stream, DeliveryStreamName="e2e-redshift",
                           RedshiftDestinationConfiguration={
                               "RoleARN": ROLE, "ClusterJDBCURL": "jdbc:redshift://h:5439/db",
                               "SecretsManagerConfiguration": {"Enabled": True, "RoleARN": ROLE,
                                                               "SecretARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift"},
                               "CopyCommand": {"DataTableName": "t"},
                               "S3Configuration": {"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE}})
    check(code == "InvalidArgumentException" and "SecretsManagerConfiguration" in msg and "not supported" in msg,
          f"Redshift with Secrets Manager: {code} {msg}")

    step("a Kinesis stream as the source; Direct PUT refused")
    kin.create_stream(StreamName="e2e-fh-src", ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName="e2e-fh-src", WaiterConfig={"Delay": 1})
    arn = kin.describe_stream_summary(StreamName="e2e-fh-src")["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(
        DeliveryStreamName="e2e-ks", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE, "Prefix": "from-kinesis/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}})
    wait_active(fh, "e2e-ks")
    code, msg = error_code(fh.put_record, DeliveryStreamName="e2e-ks", Record={"Data": b"x"})
    check(code == "InvalidArgumentException" and "KinesisStreamAsSource" in msg, f"Direct PUT to a Kinesis source: {code} {msg}")
    kin.put_records(StreamName="e2e-fh-src", Records=[{"Data": f"k{i}".encode(), "PartitionKey": str(i)} for i in range(10)])
    want = {f"k{i}" for i in range(10)}
    got = lines_under(s3, bucket, "from-kinesis/", want)
    check(want <= set(got), f"from-kinesis/ holds {sorted(got)}")

    for name in ("e2e-dp", "e2e-ks"):
        fh.delete_delivery_stream(DeliveryStreamName=name)
    kin.delete_stream(StreamName="e2e-fh-src")


def write(state):
    fh, _, s3 = clients()
    bucket = f"e2e-restart-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    step("a delivery stream with a 900-second buffer")
    fh.create_delivery_stream(
        DeliveryStreamName="e2e-restart",
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE,
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}})
    wait_active(fh, "e2e-restart")
    step("put 1,000 records, acknowledged but buffered")
    acked = []
    for b in range(2):
        recs = [{"Data": f"restart-{b}-{i}".encode()} for i in range(500)]
        out = fh.put_record_batch(DeliveryStreamName="e2e-restart", Records=recs)
        acked += [r["Data"].decode() for r, resp in zip(recs, out["RequestResponses"]) if "RecordId" in resp]
    check(len(acked) == 1000, f"{len(acked)} acknowledged")
    check(objects(s3, bucket) == {}, "records were delivered before the buffer filled")
    with open(state, "w") as f:
        json.dump({"bucket": bucket, "acked": acked}, f)


def verify(state):
    fh, _, s3 = clients()
    with open(state) as f:
        st = json.load(f)
    step("after the restart: lower the interval to 0 and find every acknowledged record in S3")
    d = wait_active(fh, "e2e-restart")
    fh.update_destination(DeliveryStreamName="e2e-restart", CurrentDeliveryStreamVersionId=d["VersionId"],
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    want = set(st["acked"])
    got = lines_under(s3, st["bucket"], "", want)
    check(want <= set(got), f"{len(want - set(got))} acknowledged records missing after the restart")
    fh.delete_delivery_stream(DeliveryStreamName="e2e-restart")


def main():
    try:
        if sys.argv[1] == "flow":
            flow()
        elif sys.argv[1] == "write":
            write(sys.argv[2])
        elif sys.argv[1] == "verify":
            verify(sys.argv[2])
        else:
            raise SystemExit(__doc__)
    except Exception as e:
        print(f"FAIL (firehose boto3) at step '{STEP}': {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
