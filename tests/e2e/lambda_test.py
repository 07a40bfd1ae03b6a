#!/usr/bin/env python3
"""boto3's Lambda client against a running Millrace at $E2E_ENDPOINT, with
the aws-lambda-go function zip at $E2E_LAMBDA_ZIP (built by run.sh).

    lambda_test.py flow    create, invoke (each type, errors, timeout), list pages, throttling,
                           an HTTP endpoint function, delete

Any failure exits non-zero naming the step.
"""

import base64
import http.server
import json
import os
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
