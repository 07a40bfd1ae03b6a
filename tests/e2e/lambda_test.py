#!/usr/bin/env python3
"""boto3's Lambda client against a running Millrace at $E2E_ENDPOINT, with
the aws-lambda-go function zip at $E2E_LAMBDA_ZIP (built by run.sh).

    lambda_test.py flow    create, invoke (each type, errors, timeout), list pages, throttling,
                           an HTTP endpoint function, an event source mapping whose poison
                           record lands in an on-failure stream, a mapping on an enhanced
                           fan-out consumer, remote functions on a second server
                           ($E2E_MILLRACE serve) that run this server's function, delete

Any failure exits non-zero naming the step.
"""

import base64
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

ENDPOINT = os.environ["E2E_ENDPOINT"]
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
STEP = "start"


def step(name):
    global STEP
    STEP = name
    print(f"  -- lambda boto3: {name}", flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def client():
    return boto3.client(
        "lambda",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


def invoke(c, name, event, **kw):
    out = c.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kw)
    return out, out["Payload"].read()


def kinesis_client():
    return boto3.client(
        "kinesis",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        config=Config(retries={"max_attempts": 1}),
    )


def wait(cond, what, seconds=60):
    deadline = time.time() + seconds
    while not cond():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def mapping_flow(c, code, prefix):
    """A mapping reads a stream into the aws-lambda-go function; a poison
    record is bisected out, lands in the on-failure stream, and the rest of
    the shard moves on."""
    k = kinesis_client()
    src, dlq, fn = f"{prefix}-src", f"{prefix}-dlq", f"{prefix}-esm"
    for name in (src, dlq):
        k.create_stream(StreamName=name, ShardCount=1)
        k.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
    src_arn = k.describe_stream_summary(StreamName=src)["StreamDescriptionSummary"]["StreamARN"]
    dlq_arn = k.describe_stream_summary(StreamName=dlq)["StreamDescriptionSummary"]["StreamARN"]
    log = os.path.join(tempfile.mkdtemp(), "esm.log")
    c.create_function(FunctionName=fn, Runtime="provided.al2023", Role=ROLE, Handler="bootstrap",
                      Code={"ZipFile": code}, Timeout=30, Environment={"Variables": {"ESM_LOG": log}})

    step("create_event_source_mapping: validation")
    try:
        c.create_event_source_mapping(FunctionName=fn, EventSourceArn=src_arn, StartingPosition="LATEST",
                                      MaximumRecordAgeInSeconds=30)
        raise AssertionError("MaximumRecordAgeInSeconds=30 was accepted")
    except c.exceptions.InvalidParameterValueException as e:
        check("MaximumRecordAgeInSeconds" in str(e), e)
    try:
        c.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
        raise AssertionError("an unknown mapping was found")
    except c.exceptions.ResourceNotFoundException:
        pass

    step("create_event_source_mapping: a poison record goes to the on-failure stream")
    data = [f"r{i}" for i in range(12)]
    data[5] = "poison"
    out = k.put_records(StreamName=src, Records=[{"PartitionKey": "pk", "Data": d.encode()} for d in data])
    poison_seq = out["Records"][5]["SequenceNumber"]
    m = c.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=src_arn, StartingPosition="TRIM_HORIZON", BatchSize=12,
        BisectBatchOnFunctionError=True, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}})
    check(m["State"] == "Creating" and m["BatchSize"] == 12 and m["MaximumRetryAttempts"] == 0, m)
    check(m["DestinationConfig"]["OnFailure"]["Destination"] == dlq_arn, m)
    k.put_record(StreamName=src, PartitionKey="pk", Data=b"after")

    def processed():
        if not os.path.exists(log):
            return set()
        return {line.split(" ", 2)[2] for line in open(log).read().splitlines()}

    want = (set(data) - {"poison"}) | {"after"}
    wait(lambda: want <= processed(), "every good record")
    check("poison" not in processed(), "the poison record was processed")
    it = k.get_shard_iterator(StreamName=dlq, ShardId="shardId-000000000000",
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = []

    def failure_record():
        nonlocal it
        r = k.get_records(ShardIterator=it)
        got.extend(r["Records"])
        it = r["NextShardIterator"]
        return got

    wait(failure_record, "the on-failure record")
    rec = json.loads(got[0]["Data"])
    info = rec["KinesisBatchInfo"]
    check(info["startSequenceNumber"] == poison_seq and info["endSequenceNumber"] == poison_seq, rec)
    check(info["batchSize"] == 1 and info["streamArn"] == src_arn and info["shardId"] == "shardId-000000000000", rec)
    check(rec["requestContext"]["condition"] == "RetryAttemptsExhausted", rec)

    step("list, update, delete_event_source_mapping")
    ms = c.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]
    check([x["UUID"] for x in ms] == [m["UUID"]], ms)
    u = c.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    check(u["State"] == "Disabling", u)
    wait(lambda: c.get_event_source_mapping(UUID=m["UUID"])["State"] == "Disabled", "Disabled")
    d = c.delete_event_source_mapping(UUID=m["UUID"])
    check(d["State"] == "Deleting", d)

    def gone():
        try:
            c.get_event_source_mapping(UUID=m["UUID"])
            return False
        except c.exceptions.ResourceNotFoundException:
            return True

    wait(gone, "the mapping to go")
    c.delete_function(FunctionName=fn)
    for name in (src, dlq):
        k.delete_stream(StreamName=name)


def consumer_flow(c, code, prefix):
    """A mapping whose EventSourceArn is an enhanced fan-out consumer reads
    the stream through the consumer's subscription: every record reaches
    the aws-lambda-go function once, in order."""
    k = kinesis_client()
    stream, fn = f"{prefix}-efo", f"{prefix}-efo"
    step("register_stream_consumer and create_event_source_mapping on the consumer")
    k.create_stream(StreamName=stream, ShardCount=2)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
    stream_arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    consumer_arn = k.register_stream_consumer(StreamARN=stream_arn, ConsumerName="lambda")["Consumer"]["ConsumerARN"]
    wait(lambda: k.describe_stream_consumer(ConsumerARN=consumer_arn)["ConsumerDescription"]["ConsumerStatus"]
         == "ACTIVE", "the consumer to be ACTIVE")
    d = tempfile.mkdtemp()
    log, sources = os.path.join(d, "esm.log"), os.path.join(d, "sources")
    c.create_function(FunctionName=fn, Runtime="provided.al2023", Role=ROLE, Handler="bootstrap",
                      Code={"ZipFile": code}, Timeout=30,
                      Environment={"Variables": {"ESM_LOG": log, "ESM_SOURCES": sources}})

    def put(tag, n):
        out = k.put_records(StreamName=stream, Records=[
            {"PartitionKey": f"key-{i % 7}", "Data": f"{tag}-{i}".encode()} for i in range(n)])
        check(out["FailedRecordCount"] == 0, out)
        return [f"{tag}-{i}" for i in range(n)]

    sent = put("before", 40)
    m = c.create_event_source_mapping(FunctionName=fn, EventSourceArn=consumer_arn,
                                      StartingPosition="TRIM_HORIZON", BatchSize=6)
    check(m["EventSourceArn"] == consumer_arn, m)
    wait(lambda: c.get_event_source_mapping(UUID=m["UUID"])["State"] == "Enabled", "Enabled")
    sent += put("after", 40)

    def lines():
        if not os.path.exists(log):
            return []
        return [line.split(" ", 2) for line in open(log).read().splitlines()]

    wait(lambda: len(lines()) >= len(sent), f"{len(sent)} records")
    got = lines()
    check(sorted(x[2] for x in got) == sorted(sent), f"records delivered: {len(got)}, want each of {len(sent)} once")
    last = {}
    for event_id, key, _ in got:
        shard, seq = event_id.split(":", 1)
        check(key not in last or int(last[key]) < int(seq), f"key {key}: {seq} arrived after {last.get(key)}")
        last[key] = seq
    check(set(open(sources).read().split()) == {stream_arn}, "eventSourceARN is not the stream's")
    ms = c.list_event_source_mappings(EventSourceArn=consumer_arn)["EventSourceMappings"]
    check([x["UUID"] for x in ms] == [m["UUID"]], ms)

    step("delete the consumer's mapping, the consumer, the stream")
    c.delete_event_source_mapping(UUID=m["UUID"])

    def gone():
        try:
            c.get_event_source_mapping(UUID=m["UUID"])
            return False
        except c.exceptions.ResourceNotFoundException:
            return True

    wait(gone, "the mapping to go")
    k.deregister_stream_consumer(ConsumerARN=consumer_arn)

    def consumer_gone():
        try:
            k.describe_stream_consumer(ConsumerARN=consumer_arn)
            return False
        except k.exceptions.ResourceNotFoundException:
            return True

    wait(consumer_gone, "the consumer to go")
    c.delete_function(FunctionName=fn)
    k.delete_stream(StreamName=stream)


def remote_flow(c, code, prefix):
    """Remote functions: a second server holds functions whose Handler is
    lambda+http://<this server>/NAME; invoking them there runs this
    server's aws-lambda-go function and brings its answer back."""
    step("a second server ($E2E_MILLRACE serve) with this environment's credentials")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tempfile.mkdtemp()
    logf = open(os.path.join(d, "second.log"), "w")
    second = subprocess.Popen([os.environ["E2E_MILLRACE"], "serve", "--listen", f"127.0.0.1:{port}",
                               "--data-dir", os.path.join(d, "data")], stdout=logf, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def healthy():
            check(second.poll() is None, f"the second server exited: {open(logf.name).read()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait(healthy, "the second server to listen", 15)
        far = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                           aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                           config=Config(retries={"max_attempts": 1}, read_timeout=60))
        wait(lambda: far.list_functions() is not None, "the second server's Lambda API", 15)
        target, remote = f"{prefix}-target", f"{prefix}-remote"
        step("create_function: the target here, the remote function there")
        c.create_function(FunctionName=target, Runtime="provided.al2023", Role=ROLE, Handler="bootstrap",
                          Code={"ZipFile": code}, Timeout=10, MemorySize=192)
        handler = f"lambda+{ENDPOINT}/{target}"
        cfg = far.create_function(FunctionName=remote, Runtime="provided.al2023", Role=ROLE, Handler=handler,
                                  Code={}, Timeout=10)
        check(cfg["Handler"] == handler and cfg["State"] == "Active", cfg)

        step("invoke the remote function: this server's function answers")
        cc = base64.b64encode(json.dumps({"custom": {"k": "remote"}}).encode()).decode()
        out, body = invoke(far, remote, {"action": "echo", "message": "far"}, ClientContext=cc, LogType="Tail")
        r = json.loads(body)
        check(out["StatusCode"] == 200 and "FunctionError" not in out, (out, body))
        check(r["message"] == "far" and r["function"] == target and r["memory"] == 192, r)
        check(r["clientCustom"] == "remote", r)
        tail = base64.b64decode(out["LogResult"]).decode()
        check(f"Invoke {target} at {ENDPOINT}" in tail and "REPORT RequestId: " in tail, tail)

        step("invoke the remote function: its error and its panic come back as they are")
        out, body = invoke(far, remote, {"action": "fail", "message": "far failure"})
        check(out.get("FunctionError") == "Unhandled" and json.loads(body)["errorMessage"] == "far failure",
              (out, body))
        out, body = invoke(far, remote, {"action": "panic", "message": "far panic"})
        check(out.get("FunctionError") == "Unhandled" and b"far panic" in body, (out, body))

        step("a remote function whose target is missing: Function.RemoteError")
        far.create_function(FunctionName=f"{remote}-missing", Runtime="provided.al2023", Role=ROLE,
                            Handler=f"lambda+{ENDPOINT}/{prefix}-nosuch", Code={})
        out, body = invoke(far, f"{remote}-missing", {})
        err = json.loads(body)
        check(out.get("FunctionError") == "Unhandled" and err["errorType"] == "Function.RemoteError", (out, body))
        check("ResourceNotFoundException" in err["errorMessage"], err)

        step("a remote Handler with a bad query is refused")
        try:
            far.create_function(FunctionName=f"{remote}-bad", Runtime="provided.al2023", Role=ROLE,
                                Handler=f"lambda+{ENDPOINT}/{target}?profile=x", Code={})
            raise AssertionError("a remote Handler with ?profile= was accepted")
        except far.exceptions.InvalidParameterValueException as e:
            check("region" in str(e), e)

        for n in (remote, f"{remote}-missing"):
            far.delete_function(FunctionName=n)
        c.delete_function(FunctionName=target)
    finally:
        second.terminate()
        second.wait(30)
        logf.close()


def flow():
    c = client()
    with open(os.environ["E2E_LAMBDA_ZIP"], "rb") as f:
        code = f.read()
    prefix = f"e2e-boto3-{os.getpid()}"
    names = [f"{prefix}-{i}" for i in range(3)]

    step("create_function x3")
    for n in names:
        cfg = c.create_function(FunctionName=n, Runtime="provided.al2023", Role=ROLE, Handler="bootstrap",
                                Code={"ZipFile": code}, Timeout=1, MemorySize=256)
        check(cfg["State"] == "Active" and cfg["MemorySize"] == 256, cfg)

    step("errors are typed exceptions")
    try:
        c.get_function(FunctionName=f"{prefix}-missing")
        check(False, "get_function of a missing function succeeded")
    except c.exceptions.ResourceNotFoundException as e:
        check(e.response["Error"]["Message"] ==
              f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{prefix}-missing", e.response)
    try:
        c.create_function(FunctionName=names[0], Runtime="provided.al2023", Role=ROLE, Code={"ZipFile": code})
        check(False, "a second create_function succeeded")
    except c.exceptions.ResourceConflictException:
        pass
    try:
        c.create_function(FunctionName=f"{prefix}-py", Runtime="python3.12", Role=ROLE, Handler="x.y",
                          Code={"ZipFile": code})
        check(False, "a python3.12 function was created")
    except c.exceptions.InvalidParameterValueException:
        pass

    step("event invoke config: put, update, get, list, delete")
    ec = c.put_function_event_invoke_config(FunctionName=names[2], MaximumRetryAttempts=1)
    check(ec["MaximumRetryAttempts"] == 1 and ec["FunctionArn"].endswith(f":{names[2]}:$LATEST"), ec)
    ec = c.update_function_event_invoke_config(FunctionName=names[2], MaximumEventAgeInSeconds=600)
    check(ec["MaximumRetryAttempts"] == 1 and ec["MaximumEventAgeInSeconds"] == 600, ec)
    ec = c.get_function_event_invoke_config(FunctionName=names[2])
    check(ec["MaximumRetryAttempts"] == 1 and ec["MaximumEventAgeInSeconds"] == 600, ec)
    listed = c.list_function_event_invoke_configs(FunctionName=names[2])["FunctionEventInvokeConfigs"]
    check(len(listed) == 1 and listed[0]["MaximumEventAgeInSeconds"] == 600, listed)
    c.delete_function_event_invoke_config(FunctionName=names[2])
    try:
        c.get_function_event_invoke_config(FunctionName=names[2])
        check(False, "get_function_event_invoke_config after delete succeeded")
    except c.exceptions.ResourceNotFoundException:
        pass

    step("list_functions paginator, one a page")
    listed = []
    for page in c.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1}):
        listed += [f["FunctionName"] for f in page["Functions"]]
    check([n for n in listed if n.startswith(prefix)] == names, listed)

    step("invoke RequestResponse with ClientContext")
    cc = base64.b64encode(json.dumps({"custom": {"k": "boto3"}}).encode()).decode()
    out, body = invoke(c, names[0], {"action": "echo", "message": "hello"}, ClientContext=cc)
    r = json.loads(body)
    check(out["StatusCode"] == 200 and "FunctionError" not in out, out)
    check(r["message"] == "hello" and r["memory"] == 256 and r["clientCustom"] == "boto3", r)
    check(r["requestId"] == out["ResponseMetadata"]["RequestId"], (r, out["ResponseMetadata"]))

    step("invoke: function error, panic, timeout")
    out, body = invoke(c, names[0], {"action": "fail", "message": "nope"})
    check(out.get("FunctionError") == "Unhandled" and json.loads(body)["errorMessage"] == "nope", (out, body))
    out, body = invoke(c, names[0], {"action": "panic", "message": "aaah"})
    check(out.get("FunctionError") == "Unhandled" and b"aaah" in body, (out, body))
    out, body = invoke(c, names[0], {"action": "hang"}, LogType="Tail")
    err = json.loads(body)
    check(out.get("FunctionError") == "Unhandled" and err["errorMessage"].endswith("Task timed out after 1.00 seconds"),
          (out, body))
    check(b"Task timed out" in base64.b64decode(out["LogResult"]), out["LogResult"])

    step("reserved concurrency 1: a second invocation is throttled")
    c.put_function_concurrency(FunctionName=names[1], ReservedConcurrentExecutions=1)
    c.update_function_configuration(FunctionName=names[1], Timeout=30)
    with tempfile.TemporaryDirectory() as d:
        release = os.path.join(d, "release")
        results = []
        t = threading.Thread(target=lambda: results.append(invoke(c, names[1], {"action": "block", "path": release})))
        t.start()
        for _ in range(600):
            if os.path.exists(release + ".started"):
                break
            time.sleep(0.1)
        check(os.path.exists(release + ".started"), "the blocking invocation did not start within 60 s")
        try:
            invoke(c, names[1], {"action": "echo"})
            check(False, "the second invocation was not throttled")
        except c.exceptions.TooManyRequestsException as e:
            check(e.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded", e.response)
        open(release, "w").close()
        t.join(60)
        check(results and b"released" in results[0][1], results)

    step("an HTTP endpoint function: the event is POSTed to its Handler URL")

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps({"got": event, "requestId": self.headers["Lambda-Runtime-Aws-Request-Id"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/invoke"
        remote = f"{prefix}-remote"
        cfg = c.create_function(FunctionName=remote, Runtime="provided.al2023", Role=ROLE, Handler=url, Code={})
        check(cfg["Handler"] == url, cfg)
        out, body = invoke(c, remote, {"hello": "endpoint"})
        r = json.loads(body)
        check("FunctionError" not in out and r["got"] == {"hello": "endpoint"}, (out, body))
        check(r["requestId"] == out["ResponseMetadata"]["RequestId"], (r, out["ResponseMetadata"]))
        c.delete_function(FunctionName=remote)
    finally:
        httpd.shutdown()

    mapping_flow(c, code, prefix)
    consumer_flow(c, code, prefix)
    remote_flow(c, code, prefix)

    step("delete_function")
    for n in names:
        c.delete_function(FunctionName=n)
    check(not [f for f in c.list_functions()["Functions"] if f["FunctionName"].startswith(prefix)], "functions left")


def main():
    try:
        if sys.argv[1:] == ["flow"]:
            flow()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Exception as e:  # noqa: BLE001 - any failure names the step
        print(f"FAIL (lambda boto3) at {STEP}: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
