#!/usr/bin/env python3
"""End-to-end authentication and authorization: starts the built millrace
binary with a config that declares two users (writer: PutRecord on
streams named orders*, PutItem and GetItem on the DynamoDB table leases;
reader: Describe/List/Get only) and an account
root, then checks with boto3 and the AWS CLI that each can do exactly what
its policy allows and gets AWS's errors otherwise.

    tests/e2e/auth_test.py PATH_TO_MILLRACE
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import botocore.config
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"
CONFIG = """
account-id = "111122223333"
auth = "on"
[[accounts]]
id = "111122223333"
access-keys = [{ id = "AKIAROOTE2E000000001", secret = "root-secret" }]
[[users]]
name = "writer"
access-keys = [{ id = "AKIAWRITERE2E0000001", secret = "writer-secret" }]
[[users.policies]]
name = "write"
document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesis:PutRecord","kinesis:PutRecords","kinesis:DescribeStreamSummary"],"Resource":"arn:aws:kinesis:*:111122223333:stream/orders*"},{"Effect":"Allow","Action":["dynamodb:PutItem","dynamodb:GetItem"],"Resource":"arn:aws:dynamodb:*:111122223333:table/leases"}]}'
[[users]]
name = "reader"
access-keys = [{ id = "AKIAREADERE2E0000001", secret = "reader-secret" }]
[[users.policies]]
name = "read"
document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesis:Describe*","kinesis:List*","kinesis:Get*"],"Resource":"*"}]}'
"""


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")


def expect_error(code, fn, *args, fragment="", **kw):
    try:
        fn(*args, **kw)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"].get("Message", "")
        check(got == code, f"{fn.__name__}: got {got} ({msg}), want {code}")
        check(fragment in msg, f"{fn.__name__}: message {msg!r} lacks {fragment!r}")
        return
    raise SystemExit(f"FAIL: {fn.__name__} succeeded, want {code}")


def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="millrace-auth-e2e.")
    cfg = os.path.join(work, "millrace.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    log = open(os.path.join(work, "server.log"), "w")
    proc = subprocess.Popen([binary, "--config", cfg, "--listen", f"127.0.0.1:{port}",
                             "--data-dir", os.path.join(work, "data"), "--create-delay", "0s",
                             "--audit-log", os.path.join(work, "audit.jsonl")],
                            stdout=log, stderr=log, env=env)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(endpoint + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("FAIL: server did not become healthy")
        run(endpoint, work)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    with open(os.path.join(work, "server.log")) as f:
        check("auth=on" in f.read(), "start line names auth=on")
    with open(os.path.join(work, "audit.jsonl")) as f:
        events = [json.loads(line) for line in f]
    denied = [e for e in events if e.get("errorCode") == "AccessDeniedException" and e["eventName"] == "CreateStream"]
    check(len(denied) == 1 and denied[0]["userIdentity"]["userName"] == "reader", f"audit: reader's denied CreateStream {denied}")
    print("auth e2e: ok")


def client(endpoint, key, secret):
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def cli(endpoint, key, secret, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run(["aws", "--endpoint-url", endpoint, "kinesis", *args],
                          capture_output=True, text=True, env=env)


def run(endpoint, work):
    root = client(endpoint, "AKIAROOTE2E000000001", "root-secret")
    writer = client(endpoint, "AKIAWRITERE2E0000001", "writer-secret")
    reader = client(endpoint, "AKIAREADERE2E0000001", "reader-secret")
    root.create_stream(StreamName="orders", ShardCount=1)
    root.create_stream(StreamName="audit", ShardCount=1)

    # boto3: the writer writes to orders only; the reader reads only.
    seq = writer.put_record(StreamName="orders", PartitionKey="k", Data=b"hello")["SequenceNumber"]
    expect_error("AccessDeniedException", writer.put_record, StreamName="audit", PartitionKey="k", Data=b"x",
                 fragment="User: arn:aws:iam::111122223333:user/writer is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:111122223333:stream/audit because no identity-based policy allows the kinesis:PutRecord action")
    expect_error("AccessDeniedException", writer.list_streams)
    it = reader.get_shard_iterator(StreamName="orders", ShardId="shardId-000000000000",
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = reader.get_records(ShardIterator=it)["Records"]
    check([r["SequenceNumber"] for r in recs] == [seq], f"reader reads the writer's record: {recs}")
    expect_error("AccessDeniedException", reader.put_record, StreamName="orders", PartitionKey="k", Data=b"x")
    expect_error("AccessDeniedException", reader.create_stream, StreamName="orders2", ShardCount=1)

    # boto3 DynamoDB: the writer writes and reads the table leases only.
    ddb = lambda key, secret: boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}))
    root_ddb = ddb("AKIAROOTE2E000000001", "root-secret")
    writer_ddb = ddb("AKIAWRITERE2E0000001", "writer-secret")
    for name in ("leases", "other"):
        root_ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}])
    item = {"leaseKey": {"S": "shardId-000000000000"}, "leaseCounter": {"N": "1"}}
    writer_ddb.put_item(TableName="leases", Item=item)
    got = writer_ddb.get_item(TableName="leases", Key={"leaseKey": item["leaseKey"]}).get("Item")
    check(got == item, f"writer reads its item back: {got}")
    expect_error("AccessDeniedException", writer_ddb.put_item, TableName="other", Item=item,
                 fragment="User: arn:aws:iam::111122223333:user/writer is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:111122223333:table/other because no identity-based policy allows the dynamodb:PutItem action")
    expect_error("AccessDeniedException", writer_ddb.delete_item, TableName="leases", Key={"leaseKey": item["leaseKey"]},
                 fragment="dynamodb:DeleteItem on resource: arn:aws:dynamodb:us-east-1:111122223333:table/leases")

    # boto3: wrong secret, unknown key.
    expect_error("InvalidSignatureException", client(endpoint, "AKIAREADERE2E0000001", "wrong").list_streams,
                 fragment="The request signature we calculated does not match the signature you provided.")
    expect_error("UnrecognizedClientException", client(endpoint, "AKIANOBODY0000000000", "x").list_streams,
                 fragment="The security token included in the request is invalid.")

    # AWS CLI: the same decisions.
    r = cli(endpoint, "AKIAREADERE2E0000001", "reader-secret", "list-streams")
    check(r.returncode == 0 and "orders" in r.stdout, f"CLI reader list-streams: {r.stderr}")
    r = cli(endpoint, "AKIAREADERE2E0000001", "reader-secret", "put-record", "--stream-name", "orders",
            "--partition-key", "k", "--data", "x")
    check(r.returncode != 0 and "AccessDeniedException" in r.stderr, f"CLI reader put-record: {r.stderr}")
    r = cli(endpoint, "AKIAWRITERE2E0000001", "writer-secret", "put-record", "--stream-name", "orders",
            "--partition-key", "k", "--data", "x")
    check(r.returncode == 0 and "SequenceNumber" in r.stdout, f"CLI writer put-record: {r.stderr}")
    r = cli(endpoint, "AKIAWRITERE2E0000001", "wrong-secret", "describe-stream-summary", "--stream-name", "orders")
    check(r.returncode != 0 and "InvalidSignatureException" in r.stderr, f"CLI wrong secret: {r.stderr}")
    r = cli(endpoint, "AKIANOBODY0000000000", "x", "list-streams")
    check(r.returncode != 0 and "UnrecognizedClientException" in r.stderr, f"CLI unknown key: {r.stderr}")


if __name__ == "__main__":
    main()
