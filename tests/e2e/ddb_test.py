#!/usr/bin/env python3
"""boto3's DynamoDB client against a running Millrace at $E2E_ENDPOINT.

    ddb_test.py flow           tables, items, expressions, legacy conditions, Query, Scan, transactions
    ddb_test.py write STATE    create a lease table and save what was written
    ddb_test.py verify STATE   after a restart: the leases are there and still conditional

Any failure exits non-zero naming the step.
"""

import json
import os
import sys
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["E2E_ENDPOINT"]
STEP = "start"


def step(name):
    global STEP
    STEP = name
    print(f"  -- dynamodb: {name}", flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def kwargs():
    return dict(
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def error(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("call succeeded, an error was expected")


def lease_table(c, name):
    c.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
    )
    c.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})


def flow():
    c = boto3.client("dynamodb", **kwargs())
    r = boto3.resource("dynamodb", **kwargs())

    step("create table with a GSI, wait for ACTIVE")
    c.create_table(
        TableName="e2e-orders",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[{
            "IndexName": "byOwner",
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    c.get_waiter("table_exists").wait(TableName="e2e-orders", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    d = c.describe_table(TableName="e2e-orders")["Table"]
    check(d["TableStatus"] == "ACTIVE", d["TableStatus"])
    check(d["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", d.get("BillingModeSummary"))
    check(d["TableArn"].endswith(":table/e2e-orders"), d["TableArn"])
    code, _ = error(c.create_table, TableName="e2e-orders", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    check(code == "ResourceInUseException", code)

    step("resource API: put, get with Decimal numbers, all types")
    t = r.Table("e2e-orders")
    for i, owner in enumerate(["ann", "bob", "ann", "cid", "ann"]):
        t.put_item(Item={"pk": "order", "sk": Decimal(i) - Decimal("1.5"), "owner": owner,
                         "tags": {"a", "b"}, "nums": {Decimal(1), Decimal(2)}, "blob": b"\x00\xff",
                         "doc": {"list": [Decimal(1), "x", True, None], "flag": False}})
    got = t.get_item(Key={"pk": "order", "sk": Decimal("-0.5")})["Item"]
    check(got["owner"] == "bob" and got["tags"] == {"a", "b"} and got["doc"]["list"][3] is None, got)
    check(bytes(got["blob"].value) == b"\x00\xff", got["blob"])

    step("query: key condition, order, index, paging")
    items = t.query(KeyConditionExpression=Key("pk").eq("order") & Key("sk").gte(Decimal(0)))["Items"]
    check([i["sk"] for i in items] == [Decimal("0.5"), Decimal("1.5"), Decimal("2.5")], items)
    items = t.query(IndexName="byOwner", KeyConditionExpression=Key("owner").eq("ann"), ScanIndexForward=False)["Items"]
    check([i["sk"] for i in items] == [Decimal("2.5"), Decimal("0.5"), Decimal("-1.5")], items)
    pages = list(c.get_paginator("query").paginate(
        TableName="e2e-orders", KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "order"}}, PaginationConfig={"PageSize": 2}))
    check(sum(len(p["Items"]) for p in pages) == 5 and len(pages) >= 3, [len(p["Items"]) for p in pages])

    step("scan: filter, parallel segments")
    items = t.scan(FilterExpression=Attr("owner").eq("ann"))["Items"]
    check(len(items) == 3, items)
    seen = []
    for seg in range(4):
        seen += [i["sk"]["N"] for i in c.scan(TableName="e2e-orders", Segment=seg, TotalSegments=4)["Items"]]
    check(sorted(seen) == sorted(["-1.5", "-0.5", "0.5", "1.5", "2.5"]), seen)

    step("update expressions and ReturnValues")
    out = t.update_item(
        Key={"pk": "order", "sk": Decimal("-1.5")},
        UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one, doc.#l = list_append(doc.#l, :more) ADD tags :t REMOVE #b",
        ConditionExpression="attribute_exists(pk) AND #o = :ann",
        ExpressionAttributeNames={"#c": "count", "#l": "list", "#o": "owner", "#b": "blob"},
        ExpressionAttributeValues={":zero": 0, ":one": 1, ":more": ["y"], ":t": {"c"}, ":ann": "ann"},
        ReturnValues="ALL_NEW")["Attributes"]
    check(out["count"] == 1 and out["tags"] == {"a", "b", "c"} and out["doc"]["list"][-1] == "y" and "blob" not in out, out)
    code, msg = error(t.update_item, Key={"pk": "order", "sk": Decimal("-1.5")}, UpdateExpression="SET a = :v",
                      ConditionExpression="#o = :bob", ExpressionAttributeNames={"#o": "owner"},
                      ExpressionAttributeValues={":v": 1, ":bob": "bob"})
    check(code == "ConditionalCheckFailedException" and msg == "The conditional request failed", (code, msg))
    code, msg = error(c.update_item, TableName="e2e-orders", Key={"pk": {"S": "order"}, "sk": {"N": "0.5"}},
                      UpdateExpression="SET a = :v", ExpressionAttributeValues={":v": {"N": "1"}, ":unused": {"N": "2"}})
    check(code == "ValidationException" and "unused in expressions: keys: {:unused}" in msg, (code, msg))
    code, msg = error(c.update_item, TableName="e2e-orders", Key={"pk": {"S": "order"}, "sk": {"N": "0.5"}},
                      UpdateExpression="SET a = ", ExpressionAttributeValues={":v": {"N": "1"}})
    check(code == "ValidationException" and msg.startswith("Invalid UpdateExpression: Syntax error"), (code, msg))

    step("legacy Expected / AttributeUpdates (the KCL's lease protocol)")
    lease_table(c, "e2e-leases")
    c.put_item(TableName="e2e-leases", Item={"leaseKey": {"S": "shardId-000000000000"}, "leaseCounter": {"N": "0"}},
               Expected={"leaseKey": {"Exists": False}})
    code, _ = error(c.put_item, TableName="e2e-leases", Item={"leaseKey": {"S": "shardId-000000000000"}},
                    Expected={"leaseKey": {"Exists": False}})
    check(code == "ConditionalCheckFailedException", code)
    c.update_item(TableName="e2e-leases", Key={"leaseKey": {"S": "shardId-000000000000"}},
                  Expected={"leaseCounter": {"Value": {"N": "0"}}},
                  AttributeUpdates={"leaseOwner": {"Value": {"S": "w1"}, "Action": "PUT"},
                                    "leaseCounter": {"Value": {"N": "1"}, "Action": "PUT"},
                                    "ownerSwitchesSinceCheckpoint": {"Value": {"N": "1"}, "Action": "ADD"}})
    code, _ = error(c.update_item, TableName="e2e-leases", Key={"leaseKey": {"S": "shardId-000000000000"}},
                    Expected={"leaseCounter": {"Value": {"N": "0"}}},
                    AttributeUpdates={"leaseOwner": {"Value": {"S": "w2"}, "Action": "PUT"}})
    check(code == "ConditionalCheckFailedException", code)

    step("TransactWriteItems: all or nothing")
    try:
        c.transact_write_items(TransactItems=[
            {"Put": {"TableName": "e2e-leases", "Item": {"leaseKey": {"S": "new"}}}},
            {"ConditionCheck": {"TableName": "e2e-leases", "Key": {"leaseKey": {"S": "shardId-000000000000"}},
                                "ConditionExpression": "leaseOwner = :w", "ExpressionAttributeValues": {":w": {"S": "w2"}}}},
        ])
        raise AssertionError("transaction with a failing check succeeded")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "TransactionCanceledException", e.response["Error"])
    check("Item" not in c.get_item(TableName="e2e-leases", Key={"leaseKey": {"S": "new"}}), "cancelled put was written")

    step("delete tables")
    for name in ["e2e-orders", "e2e-leases"]:
        c.delete_table(TableName=name)
        c.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    check(c.list_tables()["TableNames"] == [], c.list_tables())


def write(state):
    c = boto3.client("dynamodb", **kwargs())
    step("write leases for the restart check")
    lease_table(c, "e2e-durable")
    written = {}
    for i in range(20):
        key = f"shardId-{i:012d}"
        c.put_item(TableName="e2e-durable", Item={"leaseKey": {"S": key}, "leaseCounter": {"N": str(i)}},
                   Expected={"leaseKey": {"Exists": False}})
        written[key] = str(i)
    with open(state, "w") as f:
        json.dump(written, f)


def verify(state):
    c = boto3.client("dynamodb", **kwargs())
    with open(state) as f:
        written = json.load(f)
    step("every lease is still there after the restart")
    items = []
    for page in c.get_paginator("scan").paginate(TableName="e2e-durable", PaginationConfig={"PageSize": 7}):
        items += page["Items"]
    got = {i["leaseKey"]["S"]: i["leaseCounter"]["N"] for i in items}
    check(got == written, f"after restart: {got}")
    step("conditions still hold after the restart")
    code, _ = error(c.put_item, TableName="e2e-durable", Item={"leaseKey": {"S": "shardId-000000000000"}},
                    Expected={"leaseKey": {"Exists": False}})
    check(code == "ConditionalCheckFailedException", code)
    c.delete_table(TableName="e2e-durable")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "flow"
    try:
        if mode == "flow":
            flow()
        elif mode == "write":
            write(sys.argv[2])
        elif mode == "verify":
            verify(sys.argv[2])
        else:
            raise SystemExit(f"unknown mode {mode}")
    except Exception as e:  # report the step and fail
        print(f"FAIL at dynamodb step '{STEP}': {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
