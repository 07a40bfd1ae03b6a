#!/usr/bin/env bash
# The CloudWatch API through the AWS CLI (v1, AWS JSON 1.0) and boto3
# against a running Millrace at $E2E_ENDPOINT: records put to a stream are
# counted in AWS/Kinesis IncomingRecords at once (the open minute is read
# from the live counters), and still after a restart (from storage).
#
#   cloudwatch.sh put STATE      create a stream, put records, check, save STATE
#   cloudwatch.sh verify STATE   after a restart: the same figures
set -euo pipefail

: "${E2E_ENDPOINT:?E2E_ENDPOINT must name the server}"
mode=${1:?put or verify}
state=${2:?state file}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

step() { printf '  -- cloudwatch: %s\n' "$*"; }
fail() {
	printf 'FAIL (cloudwatch): %s\n' "$*" >&2
	exit 1
}
k() { aws --endpoint-url "$E2E_ENDPOINT" --output json kinesis "$@"; }

# incoming STREAM START END: the Sum of IncomingRecords over all data
# points, through the CLI.
incoming() {
	aws --endpoint-url "$E2E_ENDPOINT" --output json cloudwatch get-metric-statistics \
		--namespace AWS/Kinesis --metric-name IncomingRecords \
		--dimensions "Name=StreamName,Value=$1" \
		--start-time "$2" --end-time "$3" --period 60 --statistics Sum |
		python3 -c 'import json,sys; print(int(sum(d["Sum"] for d in json.load(sys.stdin)["Datapoints"])))'
}

case "$mode" in
put)
	stream="e2e-cw-$$"
	start=$(date -u -d '-5 min' +%Y-%m-%dT%H:%M:%SZ)
	end=$(date -u -d '+30 min' +%Y-%m-%dT%H:%M:%SZ)
	step "create-stream $stream, put 7 records"
	k create-stream --stream-name "$stream" --shard-count 1 >/dev/null
	aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$stream"
	for i in 1 2 3; do
		k put-record --stream-name "$stream" --partition-key "k$i" --data aGVsbG8= >/dev/null
	done
	k put-records --stream-name "$stream" --records Data=YQ==,PartitionKey=a Data=Yg==,PartitionKey=b Data=Yw==,PartitionKey=c Data=ZA==,PartitionKey=d >/dev/null

	step "aws cloudwatch get-metric-statistics IncomingRecords Sum"
	got=$(incoming "$stream" "$start" "$end")
	[[ "$got" == 7 ]] || fail "IncomingRecords Sum = $got, want 7"

	step "aws cloudwatch get-metric-statistics with a bad period"
	rc=0
	errout=$(aws --endpoint-url "$E2E_ENDPOINT" cloudwatch get-metric-statistics --namespace AWS/Kinesis \
		--metric-name IncomingRecords --start-time "$start" --end-time "$end" --period 90 --statistics Sum 2>&1 >/dev/null) || rc=$?
	[[ $rc -ne 0 && "$errout" == *"(InvalidParameterValue)"* && "$errout" == *"must be a multiple of 60"* ]] ||
		fail "period 90: exit $rc, $errout"

	step "boto3: get_metric_data, list_metrics, modeled errors"
	python3 "$here/cloudwatch_test.py" "$E2E_ENDPOINT" "$stream" "$start" "$end" 7 || fail "boto3 CloudWatch checks"
	printf '%s %s %s\n' "$stream" "$start" "$end" >"$state"
	;;
verify)
	read -r stream start end <"$state"
	step "after the restart: IncomingRecords Sum from storage"
	got=$(incoming "$stream" "$start" "$end")
	[[ "$got" == 7 ]] || fail "IncomingRecords Sum after restart = $got, want 7"
	python3 "$here/cloudwatch_test.py" "$E2E_ENDPOINT" "$stream" "$start" "$end" 7 || fail "boto3 CloudWatch checks after restart"
	;;
*)
	fail "unknown mode $mode"
	;;
esac
echo "  -- cloudwatch: all steps passed"
