#!/usr/bin/env python3
"""boto3's kinesisanalyticsv2 client against a running Millrace at
$E2E_ENDPOINT, with Firehose writing to the S3 server at $E2E_S3_ENDPOINT
(keys S3RVER).

    analytics_test.py flow    a SQL application of two chained pumps (one filters the source,
                              one counts what it keeps per page and one-second window) whose
                              windows go to a Kinesis stream, a Firehose delivery stream (read
                              back from S3) and a Lambda function (an HTTP endpoint answering
                              KDA's output contract); each gets every window once and the
                              counts match the records put; bad outputs and bad code are refused;
                              a reference data source from S3 is added and deleted; tags are
                              added, listed and removed, and refused past AWS's limits; then a
                              second application splits its source into orders and shipments
                              with two pumps and a third joins them (KDA SQL's JOIN ... OVER
                              (RANGE INTERVAL ... PRECEDING)) into a stream: exactly the pairs
                              the records' arrival times make

Any failure exits non-zero naming the step.
"""

import base64
import csv
import http.server
import io
import json
import os
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["E2E_ENDPOINT"]
S3_ENDPOINT = os.environ["E2E_S3_ENDPOINT"]
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/analytics"
STEP = "start"

CODE = '''CREATE OR REPLACE STREAM "KEPT" (page VARCHAR(8), ms INTEGER);
CREATE OR REPLACE PUMP "FILTER" AS INSERT INTO "KEPT"
  SELECT STREAM "page", "ms" FROM "SOURCE_SQL_STREAM_001" WHERE "ms" >= 0;
CREATE OR REPLACE STREAM "DEST" (page VARCHAR(8), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "COUNT" AS INSERT INTO "DEST"
  SELECT STREAM "page", UNIX_MILLIS(STEP("KEPT".ROWTIME BY INTERVAL '1' SECOND)), COUNT(*)
  FROM "KEPT" GROUP BY "page", STEP("KEPT".ROWTIME BY INTERVAL '1' SECOND);
CREATE OR REPLACE STREAM "TO_FIREHOSE" (page VARCHAR(8), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "COPY1" AS INSERT INTO "TO_FIREHOSE" SELECT STREAM "page", "ws", "n" FROM "DEST";
CREATE OR REPLACE STREAM "TO_LAMBDA" (page VARCHAR(8), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "COPY2" AS INSERT INTO "TO_LAMBDA" SELECT STREAM "page", "ws", "n" FROM "DEST";'''

# Orders and shipments arrive on one stream; two pumps split them and a
# third joins each shipment with the orders of its id that arrived in the
# 30 seconds before it.
JOIN_CODE = '''CREATE OR REPLACE STREAM "ORDERS" (id INTEGER, at TIMESTAMP);
CREATE OR REPLACE PUMP "O" AS INSERT INTO "ORDERS"
  SELECT STREAM "id", ROWTIME FROM "SOURCE_SQL_STREAM_001" WHERE "kind" = 'order';
CREATE OR REPLACE STREAM "SHIPS" (id INTEGER, at TIMESTAMP);
CREATE OR REPLACE PUMP "S" AS INSERT INTO "SHIPS"
  SELECT STREAM "id", ROWTIME FROM "SOURCE_SQL_STREAM_001" WHERE "kind" = 'ship';
CREATE OR REPLACE STREAM "SHIPPED" (id INTEGER, waited BIGINT);
CREATE OR REPLACE PUMP "J" AS INSERT INTO "SHIPPED"
  SELECT STREAM s."id", UNIX_MILLIS(s."at") - UNIX_MILLIS(o."at")
  FROM "SHIPS" AS s JOIN "ORDERS" OVER (RANGE INTERVAL '30' SECOND PRECEDING) AS o ON s."id" = o."id";'''


def step(name):
    global STEP
    STEP = name
    print(f"  -- analytics boto3: {name}", flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def client(service, endpoint=ENDPOINT, key="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}, read_timeout=60))


def code_of(err):
    return err.response["Error"]["Code"]


def read_stream(k, name):
    out = []
    for sh in k.list_shards(StreamName=name)["Shards"]:
        it = k.get_shard_iterator(StreamName=name, ShardId=sh["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            r = k.get_records(ShardIterator=it)
            out.extend(r["Records"])
            if not r["Records"]:
                break
            it = r.get("NextShardIterator")
    return out


def add(got, where, key, n):
    check(key not in got, f"{where}: window {key} delivered twice")
    got[key] = n


def flow():
    suffix = str(os.getpid())
    src, dest, fh_name, bucket = f"kda-in-{suffix}", f"kda-out-{suffix}", f"kda-fh-{suffix}", f"kda-{suffix}"
    app = f"kda-app-{suffix}"
    k, kda, fh, lam = client("kinesis"), client("kinesisanalyticsv2"), client("firehose"), client("lambda")
    s3 = client("s3", endpoint=S3_ENDPOINT, key="S3RVER", secret="S3RVER")
    arn = lambda name: f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"

    step("streams, a delivery stream to S3 and an HTTP endpoint function")
    for name in (src, dest):
        k.create_stream(StreamName=name, ShardCount=2)
    for name in (src, dest):
        k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
    s3.create_bucket(Bucket=bucket)
    fh_arn = fh.create_delivery_stream(DeliveryStreamName=fh_name, ExtendedS3DestinationConfiguration={
        "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})["DeliveryStreamARN"]

    lambda_got, lambda_bad = {}, []
    lock = threading.Lock()

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = []
            with lock:
                if not event.get("invocationId") or not event.get("applicationArn", "").endswith(f":application/{app}"):
                    lambda_bad.append(event)
                for rec in event["records"]:
                    row = json.loads(base64.b64decode(rec["data"]))
                    key = f'{row["page"]}@{row["ws"]}'
                    if key in lambda_got:
                        lambda_bad.append(f"window {key} delivered twice")
                    lambda_got[key] = row["n"]
                    answer.append({"recordId": rec["recordId"], "result": "Ok"})
            body = json.dumps({"records": answer}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        fn_arn = lam.create_function(FunctionName=f"kda-sink-{suffix}", Runtime="provided.al2023", Role=ROLE,
                                     Handler=f"http://127.0.0.1:{httpd.server_address[1]}/", Code={})["FunctionArn"]

        step("put 60 records")
        want = {}
        for i in range(60):
            r = k.put_record(StreamName=src, PartitionKey=f"k{i}", Data=json.dumps({"page": f"p{i % 3}", "ms": i}).encode())
        for r in read_stream(k, src):
            ms = int(r["ApproximateArrivalTimestamp"].timestamp() * 1000)
            key = f'{json.loads(r["Data"])["page"]}@{ms - ms % 1000}'
            want[key] = want.get(key, 0) + 1
        check(sum(want.values()) == 60, want)

        step("create_application: outputs to a stream, a delivery stream and a function")
        schema = {"RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
                  "RecordColumns": [{"Name": "page", "Mapping": "$.page", "SqlType": "VARCHAR(8)"},
                                    {"Name": "ms", "Mapping": "$.ms", "SqlType": "INTEGER"}]}
        config = {
            "ApplicationCodeConfiguration": {"CodeContentType": "PLAINTEXT", "CodeContent": {"TextContent": CODE}},
            "SqlApplicationConfiguration": {
                "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputSchema": schema, "KinesisStreamsInput": {"ResourceARN": arn(src)}}],
                "Outputs": [
                    {"Name": "DEST", "DestinationSchema": {"RecordFormatType": "JSON"}, "KinesisStreamsOutput": {"ResourceARN": arn(dest)}},
                    {"Name": "TO_FIREHOSE", "DestinationSchema": {"RecordFormatType": "CSV"}, "KinesisFirehoseOutput": {"ResourceARN": fh_arn}},
                    {"Name": "TO_LAMBDA", "DestinationSchema": {"RecordFormatType": "JSON"}, "LambdaOutput": {"ResourceARN": fn_arn}},
                ]}}
        created = kda.create_application(ApplicationName=app, RuntimeEnvironment="SQL-1_0", ServiceExecutionRole=ROLE,
                                         ApplicationConfiguration=config, Tags=[{"Key": "team", "Value": "data"}])["ApplicationDetail"]
        check(created["ApplicationStatus"] == "READY", created)
        outs = {o["Name"]: o for o in created["ApplicationConfigurationDescription"]["SqlApplicationConfigurationDescription"]["OutputDescriptions"]}
        check(outs["TO_FIREHOSE"]["KinesisFirehoseOutputDescription"]["ResourceARN"] == fh_arn, outs)
        check(outs["TO_LAMBDA"]["LambdaOutputDescription"]["ResourceARN"] == fn_arn, outs)
        check(outs["TO_FIREHOSE"]["DestinationSchema"]["RecordFormatType"] == "CSV", outs)

        step("refused: a LambdaOutput naming a stream, two destinations, a pump reading a stream a later pump writes")
        for bad, text in (
            ({"Name": "X", "DestinationSchema": {"RecordFormatType": "JSON"}, "LambdaOutput": {"ResourceARN": arn(dest)}}, "not the ARN of a Lambda function"),
            ({"Name": "X", "DestinationSchema": {"RecordFormatType": "JSON"}, "LambdaOutput": {"ResourceARN": fn_arn},
              "KinesisFirehoseOutput": {"ResourceARN": fh_arn}}, "exactly one destination"),
        ):
            try:
                kda.add_application_output(ApplicationName=app, CurrentApplicationVersionId=1, Output=bad)
                raise AssertionError(f"accepted {bad}")
            except ClientError as e:
                check(code_of(e) == "InvalidArgumentException" and text in str(e), e)
        reordered = '''CREATE OR REPLACE STREAM "B" (n BIGINT);
CREATE OR REPLACE PUMP "P2" AS INSERT INTO "B" SELECT STREAM COUNT(*) FROM "A" GROUP BY STEP("A".ROWTIME BY INTERVAL '1' SECOND);
CREATE OR REPLACE STREAM "A" (page VARCHAR(8));
CREATE OR REPLACE PUMP "P1" AS INSERT INTO "A" SELECT STREAM "page" FROM "SOURCE_SQL_STREAM_001";'''
        try:
            kda.update_application(ApplicationName=app, CurrentApplicationVersionId=1, ApplicationConfigurationUpdate={
                "ApplicationCodeConfigurationUpdate": {"CodeContentUpdate": {"TextContentUpdate": reordered}}})
            raise AssertionError("accepted a pump reading a stream a later pump writes")
        except ClientError as e:
            check(code_of(e) == "CodeValidationException" and "later query writes" in str(e), e)

        step("start_application from TRIM_HORIZON")
        kda.start_application(ApplicationName=app, RunConfiguration={"SqlRunConfigurations": [
            {"InputId": "1.1", "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"}}]})

        step("every window once in the stream, in S3 through Firehose and at the function")
        deadline = time.time() + 90
        while True:
            stream_got, s3_got = {}, {}
            for r in read_stream(k, dest):
                row = json.loads(r["Data"])
                add(stream_got, "stream", f'{row["page"]}@{row["ws"]}', row["n"])
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for o in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
                    for row in csv.reader(io.StringIO(body)):
                        add(s3_got, "firehose", f"{row[0]}@{row[1]}", int(row[2]))
            with lock:
                lam_got, bad = dict(lambda_got), list(lambda_bad)
            check(not bad, bad)
            if all(len(g) >= len(want) for g in (stream_got, s3_got, lam_got)) or time.time() > deadline:
                break
            time.sleep(0.5)
        for where, got in (("stream", stream_got), ("firehose", s3_got), ("lambda", lam_got)):
            check(got == want, f"{where}: {got}, want {want}")

        step("stop, delete")
        kda.stop_application(ApplicationName=app)
        d = kda.describe_application(ApplicationName=app)["ApplicationDetail"]
        check(d["ApplicationStatus"] == "READY", d["ApplicationStatus"])

        step("add_application_reference_data_source from an S3 object, refused with a bad BucketARN, then deleted")
        s3.put_object(Bucket=bucket, Key="ref/pages.csv", Body=b"p0,Home\np1,About\n")
        ref_schema = {"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters": {
            "RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}}},
            "RecordColumns": [{"Name": "page", "SqlType": "VARCHAR(8)"}, {"Name": "title", "SqlType": "VARCHAR(16)"}]}
        version = d["ApplicationVersionId"]
        try:
            kda.add_application_reference_data_source(ApplicationName=app, CurrentApplicationVersionId=version, ReferenceDataSource={
                "TableName": "PAGES", "S3ReferenceDataSource": {"BucketARN": f"arn:aws:s3:::{bucket}/ref", "FileKey": "ref/pages.csv"},
                "ReferenceSchema": ref_schema})
            raise AssertionError("accepted a BucketARN with a key in it")
        except ClientError as e:
            check(code_of(e) == "InvalidArgumentException", e)
        out = kda.add_application_reference_data_source(ApplicationName=app, CurrentApplicationVersionId=version, ReferenceDataSource={
            "TableName": "PAGES", "S3ReferenceDataSource": {"BucketARN": f"arn:aws:s3:::{bucket}", "FileKey": "ref/pages.csv"},
            "ReferenceSchema": ref_schema})
        check(out["ApplicationVersionId"] == version + 1, out)
        refs = out["ReferenceDataSourceDescriptions"]
        check(len(refs) == 1 and refs[0]["TableName"] == "PAGES"
              and refs[0]["S3ReferenceDataSourceDescription"]["FileKey"] == "ref/pages.csv", refs)
        d = kda.describe_application(ApplicationName=app)["ApplicationDetail"]
        described = d["ApplicationConfigurationDescription"]["SqlApplicationConfigurationDescription"]["ReferenceDataSourceDescriptions"]
        check([r["TableName"] for r in described] == ["PAGES"], described)
        kda.delete_application_reference_data_source(ApplicationName=app, CurrentApplicationVersionId=version + 1,
                                                     ReferenceId=refs[0]["ReferenceId"])
        d = kda.describe_application(ApplicationName=app)["ApplicationDetail"]
        check(d["ApplicationVersionId"] == version + 2, d["ApplicationVersionId"])
        check(not d["ApplicationConfigurationDescription"]["SqlApplicationConfigurationDescription"].get("ReferenceDataSourceDescriptions"), d)

        step("tags: given at create, tag_resource, untag_resource, list_tags_for_resource; 51 tags and aws: refused")
        app_arn = d["ApplicationARN"]
        tags = lambda: {t["Key"]: t.get("Value") for t in kda.list_tags_for_resource(ResourceARN=app_arn)["Tags"]}
        check(tags() == {"team": "data"}, tags())
        kda.tag_resource(ResourceARN=app_arn, Tags=[{"Key": "team", "Value": "streams"}, {"Key": "env", "Value": "e2e"}])
        kda.untag_resource(ResourceARN=app_arn, TagKeys=["env"])
        check(tags() == {"team": "streams"}, tags())
        for tags_in, want in (([{"Key": f"k{i}", "Value": "v"} for i in range(50)], "TooManyTagsException"),
                              ([{"Key": "aws:owner", "Value": "v"}], "InvalidArgumentException")):
            try:
                kda.tag_resource(ResourceARN=app_arn, Tags=tags_in)
                raise AssertionError(f"tag_resource accepted what should be {want}")
            except ClientError as e:
                check(code_of(e) == want, e)
        try:
            kda.list_tags_for_resource(ResourceARN=app_arn + "-gone")
            raise AssertionError("listed the tags of an application that does not exist")
        except ClientError as e:
            check(code_of(e) == "ResourceNotFoundException", e)
        check(tags() == {"team": "streams"}, tags())
        kda.delete_application(ApplicationName=app, CreateTimestamp=d["CreateTimestamp"])
        lam.delete_function(FunctionName=f"kda-sink-{suffix}")
        fh.delete_delivery_stream(DeliveryStreamName=fh_name)
        for name in (src, dest):
            k.delete_stream(StreamName=name)
    finally:
        httpd.shutdown()
    join_flow(k, kda, arn, suffix)
    step("ok")


def join_flow(k, kda, arn, suffix):
    src, dest, app = f"kda-join-in-{suffix}", f"kda-join-out-{suffix}", f"kda-join-{suffix}"
    step("a join of two in-application streams: put orders 1-6, shipments 2, 4 and 9, then order 9")
    for name in (src, dest):
        k.create_stream(StreamName=name, ShardCount=1)
    for name in (src, dest):
        k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
    # One shard keeps the arrival order: order 9 arrives after its
    # shipment, so it is not in the 30 seconds before it.
    for kind, ids in (("order", range(1, 7)), ("ship", (2, 4, 9)), ("order", (9,))):
        for i in ids:
            k.put_record(StreamName=src, PartitionKey=str(i), Data=json.dumps({"kind": kind, "id": i}).encode())
    events = [(json.loads(r["Data"]), int(r["ApproximateArrivalTimestamp"].timestamp() * 1000)) for r in read_stream(k, src)]
    check(len(events) == 10, events)
    want = sorted((s["id"], s_at - o_at) for s, s_at in events for o, o_at in events
                  if s["kind"] == "ship" and o["kind"] == "order" and s["id"] == o["id"] and 0 <= s_at - o_at <= 30_000)
    check([i for i, _ in want] == [2, 4], want)

    step("create_application with the join, start_application from TRIM_HORIZON")
    schema = {"RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
              "RecordColumns": [{"Name": "kind", "Mapping": "$.kind", "SqlType": "VARCHAR(8)"},
                                {"Name": "id", "Mapping": "$.id", "SqlType": "INTEGER"}]}
    kda.create_application(ApplicationName=app, RuntimeEnvironment="SQL-1_0", ServiceExecutionRole=ROLE, ApplicationConfiguration={
        "ApplicationCodeConfiguration": {"CodeContentType": "PLAINTEXT", "CodeContent": {"TextContent": JOIN_CODE}},
        "SqlApplicationConfiguration": {
            "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputSchema": schema, "KinesisStreamsInput": {"ResourceARN": arn(src)}}],
            "Outputs": [{"Name": "SHIPPED", "DestinationSchema": {"RecordFormatType": "JSON"}, "KinesisStreamsOutput": {"ResourceARN": arn(dest)}}]}})
    kda.start_application(ApplicationName=app, RunConfiguration={"SqlRunConfigurations": [
        {"InputId": "1.1", "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"}}]})

    step("the output stream holds exactly the joined pairs, each once")
    deadline = time.time() + 60
    while True:
        recs = read_stream(k, dest)
        got = sorted((row["id"], row["waited"]) for row in (json.loads(r["Data"]) for r in recs))
        if len(got) >= len(want) or time.time() > deadline:
            break
        time.sleep(0.5)
    check(got == want, f"joined {got}, want {want}")
    check(len({r["PartitionKey"] for r in recs}) == len(recs), f"a joined row written twice: {recs}")

    step("the join's application stopped and deleted")
    kda.stop_application(ApplicationName=app)
    d = kda.describe_application(ApplicationName=app)["ApplicationDetail"]
    kda.delete_application(ApplicationName=app, CreateTimestamp=d["CreateTimestamp"])
    for name in (src, dest):
        k.delete_stream(StreamName=name)


def main():
    if sys.argv[1:] != ["flow"]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        flow()
    except Exception as e:  # noqa: BLE001 - the step names the failure
        print(f"FAIL (analytics boto3, step {STEP}): {e!r}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
