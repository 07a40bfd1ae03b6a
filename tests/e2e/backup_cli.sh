#!/usr/bin/env bash
# Backup and restore through the AWS CLI (v1) against a running Millrace
# at $E2E_ENDPOINT: records put before a backup read back, after a restore
# into a new data directory and a server started on it, with the same
# sequence numbers, partition keys, data and arrival timestamps.
#
#   backup_cli.sh put STATE      create a stream, put records, save what
#                                get-records returns to STATE
#   backup_cli.sh verify STATE   against the restored server: the same
set -euo pipefail

: "${E2E_ENDPOINT:?E2E_ENDPOINT must name the server}"
mode=${1:?put or verify}
state=${2:?state file}

step() { printf '  -- backup: %s\n' "$*"; }
fail() {
	printf 'FAIL (backup): %s\n' "$*" >&2
	exit 1
}
k() { aws --endpoint-url "$E2E_ENDPOINT" --output json kinesis "$@"; }

# records STREAM: every shard's records from TRIM_HORIZON, as JSON
# {shard: [[seq, pk, data, arrival], ...]}.
records() {
	local stream=$1 out="{}" shard it page
	for shard in $(k list-shards --stream-name "$stream" --query 'Shards[].ShardId' --output text); do
		it=$(k get-shard-iterator --stream-name "$stream" --shard-id "$shard" --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)
		page=$(k get-records --shard-iterator "$it" --limit 1000)
		out=$(python3 -c '
import json, sys
out, shard, page = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
out[shard] = [[r["SequenceNumber"], r["PartitionKey"], r["Data"], r["ApproximateArrivalTimestamp"]] for r in page["Records"]]
print(json.dumps(out))' "$out" "$shard" "$page")
	done
	printf '%s\n' "$out"
}

case "$mode" in
put)
	stream="e2e-backup-$$"
	step "create-stream $stream (2 shards), put-records 20"
	k create-stream --stream-name "$stream" --shard-count 2 >/dev/null
	aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$stream"
	entries=$(python3 -c 'import json; print(json.dumps([{"PartitionKey": "pk-%d" % i, "Data": "YmFja3Vw%02d" % i} for i in range(20)]))')
	failed=$(k put-records --stream-name "$stream" --records "$entries" --query FailedRecordCount --output text)
	[[ "$failed" == 0 ]] || fail "put-records: $failed failed"
	got=$(records "$stream")
	python3 -c '
import json, sys
recs = json.loads(sys.argv[2])
n = sum(len(v) for v in recs.values())
assert n == 20, "%d records read back before the backup" % n
json.dump({"stream": sys.argv[1], "records": recs}, open(sys.argv[3], "w"))' "$stream" "$got" "$state" || fail "records before the backup"
	;;
verify)
	stream=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["stream"])' "$state")
	step "get-records on the restored server: $stream"
	got=$(records "$stream")
	python3 -c '
import json, sys
want = json.load(open(sys.argv[1]))["records"]
got = json.loads(sys.argv[2])
if got != want:
    sys.exit("restored records differ:\n got %s\nwant %s" % (json.dumps(got), json.dumps(want)))
print("  -- backup: %d records, same sequence numbers and arrival timestamps" % sum(len(v) for v in got.values()))' "$state" "$got" || fail "records after the restore"
	;;
*)
	fail "unknown mode $mode (put or verify)"
	;;
esac
