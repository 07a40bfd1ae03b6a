#!/usr/bin/env bash
# The AWS CLI (v1) against a running Millrace at $E2E_ENDPOINT, with the
# aws-lambda-go function zip at $E2E_LAMBDA_ZIP (built by run.sh):
#
#   - an event source mapping on an enhanced fan-out consumer: the stream's
#     records reach the function in order, through the consumer's
#     subscription (register-stream-consumer, then
#     create-event-source-mapping with the consumer's ARN);
#   - remote functions: a second Millrace ($E2E_MILLRACE serve, started
#     here with the AWS credentials of this environment) holds functions
#     whose Handler is lambda+http://<the first server>/NAME; invoking them
#     there runs the aws-lambda-go function on the first server;
#   - the sandbox (lambda-sandbox auto) of the second server's instances.
#
#   lambda_efo_remote.sh
set -euo pipefail

: "${E2E_ENDPOINT:?E2E_ENDPOINT must name the server}"
: "${E2E_LAMBDA_ZIP:?E2E_LAMBDA_ZIP must name the function zip}"
: "${E2E_MILLRACE:?E2E_MILLRACE must name the millrace binary}"

step() { printf '  -- lambda cli (fan-out, remote): %s\n' "$*"; }
fail() {
	printf 'FAIL (lambda cli, fan-out and remote): %s\n' "$*" >&2
	exit 1
}
expect() { # expect WHAT GOT WANT
	[[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/millrace-lambda-efo.XXXXXX")
second_pid=""
cleanup() {
	if [[ -n "$second_pid" ]]; then
		kill -TERM "$second_pid" 2>/dev/null || true
		wait "$second_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
role=arn:aws:iam::000000000000:role/lambda-role
# l ENDPOINT ARGS...: the Lambda API of one server; lq ENDPOINT QUERY ARGS...: one value, as text.
l() {
	local e=$1
	shift
	aws --endpoint-url "$e" --output json lambda "$@"
}
lq() {
	local e=$1 q=$2
	shift 2
	aws --endpoint-url "$e" --output text --query "$q" lambda "$@"
}
k() { aws --endpoint-url "$E2E_ENDPOINT" --output text kinesis "$@"; }
json() { # json FILE EXPR: a Python expression over the file's JSON, j.
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# --- An event source mapping on an enhanced fan-out consumer ---

# put FIRST LAST: records record-FIRST..record-LAST (keys pkN) in one put-records.
put() {
	local recs=() i
	for ((i = $1; i <= $2; i++)); do
		recs+=("Data=record-$i,PartitionKey=pk$i") # AWS CLI v1 sends a blob as it is given
	done
	expect "put-records failures" "$(k put-records --stream-name "$stream" --records "${recs[@]}" --query FailedRecordCount)" 0
}

fn="e2e-cli-efo-$$"
stream="e2e-cli-efo-$$"
log="$tmp/efo.log"
sources="$tmp/efo.sources"
step "create-function $fn and a 1-shard stream $stream"
l "$E2E_ENDPOINT" create-function --function-name "$fn" --runtime provided.al2023 --handler bootstrap \
	--role "$role" --zip-file "fileb://$E2E_LAMBDA_ZIP" --timeout 30 \
	--environment "Variables={ESM_LOG=$log,ESM_SOURCES=$sources}" >/dev/null
k create-stream --stream-name "$stream" --shard-count 1
k wait stream-exists --stream-name "$stream"
stream_arn=$(k describe-stream-summary --stream-name "$stream" --query StreamDescriptionSummary.StreamARN)

step "register-stream-consumer, wait until ACTIVE"
consumer_arn=$(k register-stream-consumer --stream-arn "$stream_arn" --consumer-name lambda --query Consumer.ConsumerARN)
[[ "$consumer_arn" == "$stream_arn/consumer/lambda:"* ]] || fail "consumer ARN $consumer_arn"
for _ in $(seq 1 300); do
	[[ $(k describe-stream-consumer --consumer-arn "$consumer_arn" --query ConsumerDescription.ConsumerStatus) == ACTIVE ]] && break
	sleep 0.1
done
expect "consumer status" "$(k describe-stream-consumer --consumer-arn "$consumer_arn" --query ConsumerDescription.ConsumerStatus)" ACTIVE

step "records before the mapping, create-event-source-mapping on the consumer, records after"
put 1 5
l "$E2E_ENDPOINT" create-event-source-mapping --function-name "$fn" --event-source-arn "$consumer_arn" \
	--starting-position TRIM_HORIZON --batch-size 3 >"$tmp/esm.json"
expect "EventSourceArn" "$(json "$tmp/esm.json" 'j["EventSourceArn"]')" "$consumer_arn"
uuid=$(json "$tmp/esm.json" 'j["UUID"]')
put 6 10
for _ in $(seq 1 600); do
	[[ -f "$log" && $(wc -l <"$log") -ge 10 ]] && break
	sleep 0.1
done
[[ -f "$log" && $(wc -l <"$log") -eq 10 ]] || fail "the function did not get the 10 records within 60 s: $(cat "$log" 2>/dev/null)"
expect "records in order, once each" "$(cut -d' ' -f3 "$log" | tr '\n' ' ')" \
	"record-1 record-2 record-3 record-4 record-5 record-6 record-7 record-8 record-9 record-10 "
grep -q "^shardId-000000000000:[0-9]* pk1 record-1$" "$log" || fail "eventID or partition key: $(cat "$log")"
expect "eventSourceARN (the stream's, not the consumer's)" "$(sort -u "$sources")" "$stream_arn"

step "get- and list-event-source-mappings name the consumer"
expect "State" "$(lq "$E2E_ENDPOINT" State get-event-source-mapping --uuid "$uuid")" Enabled
expect "EventSourceArn" "$(lq "$E2E_ENDPOINT" EventSourceArn get-event-source-mapping --uuid "$uuid")" "$consumer_arn"
expect "list by consumer" "$(lq "$E2E_ENDPOINT" 'EventSourceMappings[].UUID' list-event-source-mappings --event-source-arn "$consumer_arn")" "$uuid"

step "a mapping on an unregistered consumer is refused"
if l "$E2E_ENDPOINT" create-event-source-mapping --function-name "$fn" --event-source-arn "$stream_arn/consumer/nobody:1700000000" \
	--starting-position LATEST >/dev/null 2>"$tmp/err"; then
	fail "a mapping on an unregistered consumer was created"
fi
grep -q "InvalidParameterValueException" "$tmp/err" || fail "unregistered consumer: $(cat "$tmp/err")"
grep -q "nobody" "$tmp/err" || fail "unregistered consumer: $(cat "$tmp/err")"

step "delete the mapping, the consumer, the function and the stream"
l "$E2E_ENDPOINT" delete-event-source-mapping --uuid "$uuid" >/dev/null
for _ in $(seq 1 100); do
	l "$E2E_ENDPOINT" get-event-source-mapping --uuid "$uuid" >/dev/null 2>&1 || break
	sleep 0.1
done
k deregister-stream-consumer --consumer-arn "$consumer_arn"
for _ in $(seq 1 300); do
	k describe-stream-consumer --consumer-arn "$consumer_arn" >/dev/null 2>&1 || break
	sleep 0.1
done
l "$E2E_ENDPOINT" delete-function --function-name "$fn" >/dev/null
k delete-stream --stream-name "$stream"

# --- Remote functions on a second server ---

step "a second server, with this environment's AWS credentials"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
second="http://127.0.0.1:$port"
"$E2E_MILLRACE" serve --listen "127.0.0.1:$port" --data-dir "$tmp/second" >"$tmp/second.log" 2>&1 &
second_pid=$!
for _ in $(seq 1 150); do
	curl -fsS "$second/health" >/dev/null 2>&1 && break
	kill -0 "$second_pid" 2>/dev/null || fail "the second server exited: $(tail -n 20 "$tmp/second.log")"
	sleep 0.1
done
curl -fsS "$second/health" >/dev/null || fail "the second server did not answer GET /health within 15 s"

target="e2e-cli-target-$$"
remote="e2e-cli-remote-$$"
step "create-function $target on the first server, $remote (lambda+$E2E_ENDPOINT/$target) on the second"
l "$E2E_ENDPOINT" create-function --function-name "$target" --runtime provided.al2023 --handler bootstrap \
	--role "$role" --zip-file "fileb://$E2E_LAMBDA_ZIP" --timeout 10 \
	--environment 'Variables={GREETING=from-the-first}' >/dev/null
l "$second" create-function --function-name "$remote" --runtime provided.al2023 \
	--handler "lambda+$E2E_ENDPOINT/$target" --code '{}' --role "$role" --timeout 10 >"$tmp/remote.json"
expect "Handler" "$(json "$tmp/remote.json" 'j["Handler"]')" "lambda+$E2E_ENDPOINT/$target"
expect "State" "$(json "$tmp/remote.json" 'j["State"]')" Active

step "invoke $remote on the second server: the first server's function answers"
l "$second" invoke --function-name "$remote" --log-type Tail \
	--payload '{"action":"echo","message":"through","env":"GREETING"}' "$tmp/out.json" >"$tmp/meta.json"
expect "StatusCode" "$(json "$tmp/meta.json" 'j["StatusCode"]')" 200
expect "FunctionError" "$(json "$tmp/meta.json" 'j.get("FunctionError", "")')" ""
expect "echo" "$(json "$tmp/out.json" '" ".join([j["message"], j["function"], j["env"]])')" "through $target from-the-first"
python3 -c 'import base64,json,sys; print(base64.b64decode(json.load(open(sys.argv[1]))["LogResult"]).decode())' "$tmp/meta.json" >"$tmp/tail"
grep -q "Invoke $target at http://127.0.0.1:" "$tmp/tail" || fail "tail lacks the remote call: $(cat "$tmp/tail")"
grep -q "^REPORT RequestId: " "$tmp/tail" || fail "tail lacks REPORT: $(cat "$tmp/tail")"

step "invoke $remote: the remote function's error comes back as it is"
l "$second" invoke --function-name "$remote" \
	--payload '{"action":"fail","message":"failed far away"}' "$tmp/out.json" >"$tmp/meta.json"
expect "FunctionError" "$(json "$tmp/meta.json" 'j["FunctionError"]')" Unhandled
expect "errorMessage" "$(json "$tmp/out.json" 'j["errorMessage"]')" "failed far away"

step "a remote function whose target does not exist: Function.RemoteError"
l "$second" create-function --function-name "$remote-missing" --runtime provided.al2023 \
	--handler "lambda+$E2E_ENDPOINT/e2e-no-such-function" --code '{}' --role "$role" >/dev/null
l "$second" invoke --function-name "$remote-missing" --payload '{}' "$tmp/out.json" >"$tmp/meta.json"
expect "FunctionError" "$(json "$tmp/meta.json" 'j["FunctionError"]')" Unhandled
expect "errorType" "$(json "$tmp/out.json" 'j["errorType"]')" Function.RemoteError
grep -q "ResourceNotFoundException" "$tmp/out.json" || fail "missing target: $(cat "$tmp/out.json")"

step "a Handler that is not a usable remote function is refused"
if l "$second" create-function --function-name "$remote-bad" --runtime provided.al2023 \
	--handler "lambda+$E2E_ENDPOINT/a/b" --code '{}' --role "$role" >/dev/null 2>"$tmp/err"; then
	fail "a remote Handler with two path segments was accepted"
fi
grep -q "InvalidParameterValueException" "$tmp/err" || fail "bad remote Handler: $(cat "$tmp/err")"
grep -q "exactly one function name" "$tmp/err" || fail "bad remote Handler: $(cat "$tmp/err")"

step "on the second server (lambda-sandbox auto), an instance of the built binary is sandboxed"
sandboxed="e2e-cli-sandboxed-$$"
printf "server data" >"$tmp/second/secret"
l "$second" create-function --function-name "$sandboxed" --runtime provided.al2023 --handler bootstrap \
	--role "$role" --zip-file "fileb://$E2E_LAMBDA_ZIP" --ephemeral-storage Size=700 >/dev/null
l "$second" invoke --function-name "$sandboxed" \
	--payload "{\"action\":\"sandbox\",\"message\":\"e2e-$$\",\"path\":\"$tmp/second/secret\"}" "$tmp/out.json" >/dev/null
if grep -q "not sandboxed" "$tmp/second.log"; then
	# The kernel allows no sandbox here: auto runs the instance as before.
	expect "unsandboxed" "$(json "$tmp/out.json" '[j["sandbox"][k] for k in ("codeWrite", "dataRead")]')" "['', 'server data']"
else
	# The data directory is under /tmp here: the instance's own /tmp hides it.
	expect "sandboxed" "$(json "$tmp/out.json" '[j["sandbox"][k] for k in ("tmpWrite", "tmpSize", "codeWrite", "dataRead")] + [j["sandbox"]["uid"] != 0]')" \
		"['', 734003200, 'EROFS', 'error: ENOENT', True]"
	[[ ! -e "/tmp/e2e-$$" ]] || fail "the instance's /tmp file is in the machine's /tmp"
fi
l "$second" delete-function --function-name "$sandboxed" >/dev/null

step "delete the functions"
l "$second" delete-function --function-name "$remote" >/dev/null
l "$second" delete-function --function-name "$remote-missing" >/dev/null
l "$E2E_ENDPOINT" delete-function --function-name "$target" >/dev/null
