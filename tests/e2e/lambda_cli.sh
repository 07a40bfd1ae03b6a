#!/usr/bin/env bash
# The AWS CLI (v1) against a running Millrace at $E2E_ENDPOINT: a Lambda
# function built with aws-lambda-go, created from a zip with
# --zip-file fileb://, invoked in each invocation type, updated, listed and
# deleted. $E2E_LAMBDA_ZIP is the zip (bootstrap inside), built by run.sh.
#
#   lambda_cli.sh flow          the whole life cycle; the function is deleted
#   lambda_cli.sh keep NAME     creates NAME and leaves it, for the restart check
#   lambda_cli.sh verify NAME   NAME survived the restart and still runs
set -euo pipefail

: "${E2E_ENDPOINT:?E2E_ENDPOINT must name the server}"
: "${E2E_LAMBDA_ZIP:?E2E_LAMBDA_ZIP must name the function zip}"

step() { printf '  -- lambda cli: %s\n' "$*"; }
fail() {
	printf 'FAIL (lambda cli): %s\n' "$*" >&2
	exit 1
}
l() { aws --endpoint-url "$E2E_ENDPOINT" --output json lambda "$@"; }
lq() { # lq QUERY ARGS...: one value, as text.
	local q=$1
	shift
	aws --endpoint-url "$E2E_ENDPOINT" --output text --query "$q" lambda "$@"
}
expect() { # expect WHAT GOT WANT
	[[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/millrace-lambda-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
role=arn:aws:iam::000000000000:role/lambda-role

create() {
	l create-function --function-name "$1" --runtime provided.al2023 --handler bootstrap \
		--role "$role" --zip-file "fileb://$E2E_LAMBDA_ZIP" --timeout 5 \
		--environment 'Variables={GREETING=hello}' >"$tmp/create.json"
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["State"]=="Active" and c["Runtime"]=="provided.al2023", c' \
		"$tmp/create.json" || fail "create-function $1 answered $(cat "$tmp/create.json")"
}

# invoke_echo NAME MESSAGE: the function echoes MESSAGE and GREETING.
invoke_echo() {
	l invoke --function-name "$1" \
		--payload "{\"action\":\"echo\",\"message\":\"$2\",\"env\":\"GREETING\"}" "$tmp/out.json" >"$tmp/meta.json"
	expect "invoke StatusCode" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["StatusCode"])' "$tmp/meta.json")" 200
	expect "echo" "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["message"], r["env"], r["function"])' "$tmp/out.json")" \
		"$2 $3 $1"
}

case "${1:-flow}" in
keep)
	step "create-function $2 (kept for the restart)"
	create "$2"
	invoke_echo "$2" before-restart hello
	exit 0
	;;
verify)
	step "get-function $2 after the restart"
	expect "Timeout" "$(lq Configuration.Timeout get-function --function-name "$2")" 5
	invoke_echo "$2" after-restart hello
	l delete-function --function-name "$2" >/dev/null
	exit 0
	;;
esac

fn="e2e-cli-fn-$$"
step "create-function $fn"
create "$fn"

step "create-function again: ResourceConflictException"
if l create-function --function-name "$fn" --runtime provided.al2023 --role "$role" \
	--zip-file "fileb://$E2E_LAMBDA_ZIP" >/dev/null 2>"$tmp/err"; then
	fail "a second create-function succeeded"
fi
grep -q "ResourceConflictException" "$tmp/err" || fail "second create: $(cat "$tmp/err")"
grep -q "Function already exist: $fn" "$tmp/err" || fail "second create: $(cat "$tmp/err")"

step "get-function-configuration, list-functions"
expect "FunctionArn" "$(lq FunctionArn get-function-configuration --function-name "$fn")" \
	"arn:aws:lambda:us-east-1:000000000000:function:$fn"
lq 'Functions[].FunctionName' list-functions | tr '\t' '\n' | grep -qx "$fn" || fail "list-functions does not list $fn"

step "invoke (RequestResponse)"
invoke_echo "$fn" hi hello

step "invoke --log-type Tail"
l invoke --function-name "$fn" --log-type Tail \
	--payload '{"action":"print","message":"from the cli"}' "$tmp/out.json" >"$tmp/meta.json"
python3 -c 'import base64,json,sys; print(base64.b64decode(json.load(open(sys.argv[1]))["LogResult"]).decode())' "$tmp/meta.json" >"$tmp/tail"
grep -q "^from the cli$" "$tmp/tail" || fail "tail lacks the function's output: $(cat "$tmp/tail")"
grep -q "^REPORT RequestId: " "$tmp/tail" || fail "tail lacks REPORT: $(cat "$tmp/tail")"

step "invoke: a function error"
l invoke --function-name "$fn" \
	--payload '{"action":"fail","message":"broken on purpose"}' "$tmp/out.json" >"$tmp/meta.json"
expect "FunctionError" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["FunctionError"])' "$tmp/meta.json")" Unhandled
expect "errorMessage" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errorMessage"])' "$tmp/out.json")" "broken on purpose"

step "invoke --invocation-type DryRun and Event"
expect "DryRun StatusCode" "$(lq StatusCode invoke --function-name "$fn" --invocation-type DryRun "$tmp/out.json")" 204
marker="$tmp/event-ran"
expect "Event StatusCode" "$(lq StatusCode invoke --function-name "$fn" --invocation-type Event \
--payload "{\"action\":\"touch\",\"path\":\"$marker\"}" "$tmp/out.json")" 202
for _ in $(seq 1 300); do
	[[ -f "$marker" ]] && break
	sleep 0.1
done
[[ -f "$marker" ]] || fail "the Event invocation did not run within 30 s"

step "update-function-configuration"
expect "new variable" "$(lq 'Environment.Variables.GREETING' update-function-configuration --function-name "$fn" \
	--environment 'Variables={GREETING=bonjour}')" bonjour
invoke_echo "$fn" updated bonjour

step "put-, get-, list-, delete-function-event-invoke-config"
expect "put MaximumRetryAttempts" "$(lq MaximumRetryAttempts put-function-event-invoke-config --function-name "$fn" \
	--maximum-retry-attempts 1 --maximum-event-age-in-seconds 600)" 1
expect "get" "$(lq '[FunctionArn,MaximumRetryAttempts,MaximumEventAgeInSeconds]' get-function-event-invoke-config --function-name "$fn")" \
	"arn:aws:lambda:us-east-1:000000000000:function:$fn:\$LATEST	1	600"
expect "list" "$(lq 'FunctionEventInvokeConfigs[].MaximumEventAgeInSeconds' list-function-event-invoke-configs --function-name "$fn")" 600
if l put-function-event-invoke-config --function-name "$fn" --maximum-retry-attempts 3 >/dev/null 2>"$tmp/err"; then
	fail "put-function-event-invoke-config with 3 retries succeeded"
fi
grep -q "ValidationException" "$tmp/err" || fail "3 retries: $(cat "$tmp/err")"
l delete-function-event-invoke-config --function-name "$fn" >/dev/null
if l get-function-event-invoke-config --function-name "$fn" >/dev/null 2>"$tmp/err"; then
	fail "get-function-event-invoke-config after delete succeeded"
fi
grep -q "ResourceNotFoundException" "$tmp/err" || fail "get after delete: $(cat "$tmp/err")"
grep -q "doesn't have an EventInvokeConfig" "$tmp/err" || fail "get after delete: $(cat "$tmp/err")"

step "create-event-source-mapping: a Kinesis stream into a function"
esm_fn="e2e-cli-esm-$$"
esm_stream="e2e-cli-esm-$$"
esm_log="$tmp/esm.log"
l create-function --function-name "$esm_fn" --runtime provided.al2023 --handler bootstrap \
	--role "$role" --zip-file "fileb://$E2E_LAMBDA_ZIP" --timeout 30 \
	--environment "Variables={ESM_LOG=$esm_log}" >/dev/null
k() { aws --endpoint-url "$E2E_ENDPOINT" --output text kinesis "$@"; }
k create-stream --stream-name "$esm_stream" --shard-count 1
k wait stream-exists --stream-name "$esm_stream"
esm_arn=$(k describe-stream-summary --stream-name "$esm_stream" --query StreamDescriptionSummary.StreamARN)
for i in 1 2 3; do
	k put-record --stream-name "$esm_stream" --partition-key "pk$i" --data "record-$i" >/dev/null
done
uuid=$(lq UUID create-event-source-mapping --function-name "$esm_fn" --event-source-arn "$esm_arn" \
	--starting-position TRIM_HORIZON --batch-size 10 --maximum-retry-attempts 2 --bisect-batch-on-function-error)
[[ -n "$uuid" ]] || fail "create-event-source-mapping returned no UUID"
for _ in $(seq 1 300); do
	[[ -f "$esm_log" && $(wc -l <"$esm_log") -ge 3 ]] && break
	sleep 0.1
done
[[ -f "$esm_log" && $(wc -l <"$esm_log") -eq 3 ]] || fail "the function did not get the 3 records within 30 s: $(cat "$esm_log" 2>/dev/null)"
expect "records in order" "$(cut -d' ' -f3 "$esm_log" | tr '\n' ' ')" "record-1 record-2 record-3 "
grep -q "^shardId-000000000000:[0-9]* pk1 record-1$" "$esm_log" || fail "eventID or partition key: $(cat "$esm_log")"

step "get-, list-, update-event-source-mapping"
expect "State" "$(lq State get-event-source-mapping --uuid "$uuid")" Enabled
expect "BisectBatchOnFunctionError" "$(lq BisectBatchOnFunctionError get-event-source-mapping --uuid "$uuid")" True
expect "list by function" "$(lq 'EventSourceMappings[].UUID' list-event-source-mappings --function-name "$esm_fn")" "$uuid"
expect "list by source" "$(lq 'EventSourceMappings[].UUID' list-event-source-mappings --event-source-arn "$esm_arn")" "$uuid"
expect "update BatchSize" "$(lq BatchSize update-event-source-mapping --uuid "$uuid" --batch-size 50)" 50
if l create-event-source-mapping --function-name "$esm_fn" --event-source-arn "$esm_arn" \
	--starting-position LATEST >/dev/null 2>"$tmp/err"; then
	fail "a second mapping of the same stream and function was created"
fi
grep -q "ResourceConflictException" "$tmp/err" || fail "second mapping: $(cat "$tmp/err")"
if l create-event-source-mapping --function-name "$esm_fn" --event-source-arn "$esm_arn" \
	--starting-position LATEST --batch-size 20000 >/dev/null 2>"$tmp/err"; then
	fail "a batch size of 20000 was accepted"
fi
grep -q "batchSize" "$tmp/err" || fail "batch size 20000: $(cat "$tmp/err")"

step "delete-event-source-mapping"
expect "State" "$(lq State delete-event-source-mapping --uuid "$uuid")" Deleting
for _ in $(seq 1 100); do
	l get-event-source-mapping --uuid "$uuid" >/dev/null 2>&1 || break
	sleep 0.1
done
if l get-event-source-mapping --uuid "$uuid" >/dev/null 2>"$tmp/err"; then
	fail "the mapping is still there 10 s after delete"
fi
grep -q "ResourceNotFoundException" "$tmp/err" || fail "get after delete: $(cat "$tmp/err")"
l delete-function --function-name "$esm_fn" >/dev/null
k delete-stream --stream-name "$esm_stream"

step "delete-function; get-function is ResourceNotFoundException"
l delete-function --function-name "$fn" >/dev/null
if l get-function --function-name "$fn" >/dev/null 2>"$tmp/err"; then
	fail "get-function after delete succeeded"
fi
grep -q "ResourceNotFoundException" "$tmp/err" || fail "get-function after delete: $(cat "$tmp/err")"
grep -q "Function not found: arn:aws:lambda:us-east-1:000000000000:function:$fn" "$tmp/err" ||
	fail "get-function after delete: $(cat "$tmp/err")"
