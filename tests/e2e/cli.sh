#!/usr/bin/env bash
# The AWS CLI (v1) against a running Millrace at $E2E_ENDPOINT: the Kinesis
# Data Streams life cycle from create to delete. Run by run.sh, which sets
# the endpoint and fake credentials.
set -euo pipefail

: "${E2E_ENDPOINT:?E2E_ENDPOINT must name the server}"
: "${E2E_MILLRACE:?E2E_MILLRACE must name the millrace binary}"

step() { printf '  -- cli: %s\n' "$*"; }
fail() {
	printf 'FAIL (cli): %s\n' "$*" >&2
	exit 1
}
k() { aws --endpoint-url "$E2E_ENDPOINT" --output json kinesis "$@"; }
# kq QUERY ARGS...: one value, as text.
kq() {
	local q=$1
	shift
	aws --endpoint-url "$E2E_ENDPOINT" --output text --query "$q" kinesis "$@"
}
expect() { # expect WHAT GOT WANT
	[[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"
}
b64d() { printf '%s' "$1" | base64 -d; }

stream="e2e-cli-$$"

step "create-stream $stream (2 shards)"
k create-stream --stream-name "$stream" --shard-count 2 >/dev/null

step "wait stream-exists"
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$stream"

step "describe-stream"
expect "StreamStatus" "$(kq StreamDescription.StreamStatus describe-stream --stream-name "$stream")" ACTIVE
expect "shard count" "$(kq 'length(StreamDescription.Shards)' describe-stream --stream-name "$stream")" 2
expect "shard 0 hash range" \
	"$(kq 'StreamDescription.Shards[0].HashKeyRange.[StartingHashKey,EndingHashKey]' describe-stream --stream-name "$stream" | tr '\t' ' ')" \
	"0 170141183460469231731687303715884105727"
expect "StreamARN" "$(kq StreamDescription.StreamARN describe-stream --stream-name "$stream")" \
	"arn:aws:kinesis:us-east-1:000000000000:stream/$stream"

step "describe-stream-summary"
expect "OpenShardCount" "$(kq StreamDescriptionSummary.OpenShardCount describe-stream-summary --stream-name "$stream")" 2
expect "RetentionPeriodHours" "$(kq StreamDescriptionSummary.RetentionPeriodHours describe-stream-summary --stream-name "$stream")" 24

step "list-streams"
kq StreamNames list-streams | tr '\t' '\n' | grep -qx "$stream" || fail "list-streams does not list $stream"

step "list-shards (all, AFTER_SHARD_ID, AT_LATEST)"
expect "list-shards" "$(kq 'Shards[].ShardId' list-shards --stream-name "$stream" | tr '\t' ' ')" \
	"shardId-000000000000 shardId-000000000001"
expect "list-shards AFTER_SHARD_ID" \
	"$(kq 'Shards[].ShardId' list-shards --stream-name "$stream" --shard-filter Type=AFTER_SHARD_ID,ShardId=shardId-000000000000)" \
	"shardId-000000000001"
expect "list-shards AT_LATEST" \
	"$(kq 'length(Shards)' list-shards --stream-name "$stream" --shard-filter Type=AT_LATEST)" 2

step "put-record"
# ExplicitHashKey 0 puts every record on shard 0, so reads are predictable.
out=$(kq '[ShardId,SequenceNumber]' put-record --stream-name "$stream" --partition-key user-1 --data "hello kinesis" --explicit-hash-key 0)
read -r shard seq1 <<<"$out"
expect "put-record shard" "$shard" shardId-000000000000
[[ "$seq1" =~ ^[0-9]+$ ]] || fail "put-record sequence number '$seq1' is not decimal"

step "put-records (3)"
records='[{"Data":"second","PartitionKey":"user-2","ExplicitHashKey":"0"},{"Data":"third","PartitionKey":"user-3","ExplicitHashKey":"0"},{"Data":"fourth","PartitionKey":"user-4","ExplicitHashKey":"0"}]'
out=$(k put-records --stream-name "$stream" --records "$records")
expect "FailedRecordCount" "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("FailedRecordCount", 0))')" 0
expect "put-records results" "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Records"]))')" 3
seq2=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Records"][0]["SequenceNumber"])')

step "GET /metrics counts the four records"
line=$(curl -fsS "$E2E_ENDPOINT/metrics" | grep '^millrace_kinesis_incoming_records_total{' | grep "stream=\"$stream\"}") ||
	fail "/metrics has no millrace_kinesis_incoming_records_total for $stream"
expect "incoming records of $stream" "${line##* }" 4

iter() { # iter TYPE [extra args]
	local typ=$1
	shift
	kq ShardIterator get-shard-iterator --stream-name "$stream" --shard-id shardId-000000000000 --shard-iterator-type "$typ" "$@"
}
# datas ITERATOR: the decoded Data of every record of one GetRecords call.
datas() {
	local out
	out=$(k get-records --shard-iterator "$1")
	printf '%s' "$out" | python3 -c '
import base64, json, sys
for r in json.load(sys.stdin)["Records"]:
    print(base64.b64decode(r["Data"]).decode())'
}

step "get-shard-iterator TRIM_HORIZON + get-records"
expect "TRIM_HORIZON data" "$(datas "$(iter TRIM_HORIZON)" | paste -sd,)" "hello kinesis,second,third,fourth"
out=$(k get-records --shard-iterator "$(iter TRIM_HORIZON)" --limit 2)
expect "get-records --limit 2" "$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["Records"]), "NextShardIterator" in d, "MillisBehindLatest" in d)')" "2 True True"

step "get-shard-iterator AT_SEQUENCE_NUMBER"
expect "AT_SEQUENCE_NUMBER data" "$(datas "$(iter AT_SEQUENCE_NUMBER --starting-sequence-number "$seq2")" | paste -sd,)" "second,third,fourth"

step "get-shard-iterator AFTER_SEQUENCE_NUMBER"
expect "AFTER_SEQUENCE_NUMBER data" "$(datas "$(iter AFTER_SEQUENCE_NUMBER --starting-sequence-number "$seq1")" | paste -sd,)" "second,third,fourth"

step "get-shard-iterator AT_TIMESTAMP (a minute ago)"
expect "AT_TIMESTAMP data" "$(datas "$(iter AT_TIMESTAMP --timestamp "$(($(date +%s) - 60))")" | paste -sd,)" "hello kinesis,second,third,fourth"

step "get-shard-iterator LATEST, then a new record"
latest=$(iter LATEST)
out=$(k get-records --shard-iterator "$latest")
expect "LATEST before put" "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Records"]))')" 0
next=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["NextShardIterator"])')
k put-record --stream-name "$stream" --partition-key user-5 --data "fifth" --explicit-hash-key 0 >/dev/null
expect "LATEST after put" "$(datas "$next" | paste -sd,)" "fifth"

step "add-tags-to-stream / list-tags-for-stream / remove-tags-from-stream"
k add-tags-to-stream --stream-name "$stream" --tags env=e2e,team=streams >/dev/null
expect "tags" "$(kq 'Tags[].[Key,Value]' list-tags-for-stream --stream-name "$stream" | tr '\t\n' '= ' | sed 's/ $//')" "env=e2e team=streams"
k remove-tags-from-stream --stream-name "$stream" --tag-keys team >/dev/null
expect "tags after remove" "$(kq 'Tags[].Key' list-tags-for-stream --stream-name "$stream")" "env"

step "increase/decrease-stream-retention-period"
k increase-stream-retention-period --stream-name "$stream" --retention-period-hours 48 >/dev/null
expect "retention after increase" "$(kq StreamDescriptionSummary.RetentionPeriodHours describe-stream-summary --stream-name "$stream")" 48
k decrease-stream-retention-period --stream-name "$stream" --retention-period-hours 24 >/dev/null
expect "retention after decrease" "$(kq StreamDescriptionSummary.RetentionPeriodHours describe-stream-summary --stream-name "$stream")" 24

step "describe-limits"
out=$(kq '[ShardLimit,OpenShardCount]' describe-limits)
read -r limit open <<<"$out"
[[ "$limit" =~ ^[0-9]+$ && "$open" =~ ^[0-9]+$ && "$open" -ge 2 && "$limit" -ge "$open" ]] ||
	fail "describe-limits: ShardLimit '$limit', OpenShardCount '$open'"

rs="$stream-rs"
ids() { tr '\t' ' '; }
step "resharding: create-stream $rs (2 shards)"
k create-stream --stream-name "$rs" --shard-count 2 >/dev/null
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$rs"
k put-record --stream-name "$rs" --partition-key p --explicit-hash-key 1 --data "before split" >/dev/null

step "split-shard shardId-000000000000 at 2^126"
k split-shard --stream-name "$rs" --shard-to-split shardId-000000000000 --new-starting-hash-key 85070591730234615865843651857942052864 >/dev/null
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$rs"
expect "open shards after split" "$(kq 'Shards[].ShardId' list-shards --stream-name "$rs" --shard-filter Type=AT_LATEST | ids)" \
	"shardId-000000000001 shardId-000000000002 shardId-000000000003"
expect "children's parent" "$(kq 'StreamDescription.Shards[?ShardId==`shardId-000000000003`].ParentShardId' describe-stream --stream-name "$rs")" shardId-000000000000

step "merge-shards shardId-000000000003 + shardId-000000000001"
k merge-shards --stream-name "$rs" --shard-to-merge shardId-000000000003 --adjacent-shard-to-merge shardId-000000000001 >/dev/null
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$rs"
expect "merged child's parents" \
	"$(kq 'Shards[?ShardId==`shardId-000000000004`].[ParentShardId,AdjacentParentShardId]' list-shards --stream-name "$rs" | ids)" \
	"shardId-000000000003 shardId-000000000001"

step "list-shards with filters after resharding"
expect "FROM_TRIM_HORIZON" "$(kq 'length(Shards)' list-shards --stream-name "$rs" --shard-filter Type=FROM_TRIM_HORIZON)" 5
expect "AT_LATEST" "$(kq 'Shards[].ShardId' list-shards --stream-name "$rs" --shard-filter Type=AT_LATEST | ids)" "shardId-000000000002 shardId-000000000004"
expect "AT_TRIM_HORIZON" "$(kq 'Shards[].ShardId' list-shards --stream-name "$rs" --shard-filter Type=AT_TRIM_HORIZON | ids)" "shardId-000000000000 shardId-000000000001"
expect "AFTER_SHARD_ID" "$(kq 'Shards[].ShardId' list-shards --stream-name "$rs" --shard-filter Type=AFTER_SHARD_ID,ShardId=shardId-000000000002 | ids)" \
	"shardId-000000000003 shardId-000000000004"
sleep 1 # AT_TIMESTAMP takes whole seconds here: ask about a second after the merge
expect "AT_TIMESTAMP (now)" "$(kq 'Shards[].ShardId' list-shards --stream-name "$rs" --shard-filter "Type=AT_TIMESTAMP,Timestamp=$(date +%s)" | ids)" \
	"shardId-000000000002 shardId-000000000004"

step "get-records to the end of a closed shard: ChildShards, no NextShardIterator"
it=$(kq ShardIterator get-shard-iterator --stream-name "$rs" --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON)
out=$(k get-records --shard-iterator "$it")
expect "end of closed shard" \
	"$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["Records"]), "NextShardIterator" in d, [c["ShardId"] for c in d.get("ChildShards", [])])')" \
	"1 False ['shardId-000000000002', 'shardId-000000000003']"

step "update-shard-count 2 -> 4"
expect "update-shard-count" "$(kq '[CurrentShardCount,TargetShardCount]' update-shard-count --stream-name "$rs" --target-shard-count 4 --scaling-type UNIFORM_SCALING | ids)" "2 4"
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$rs"
expect "open shards after update-shard-count" "$(kq 'length(Shards)' list-shards --stream-name "$rs" --shard-filter Type=AT_LATEST)" 4
expect "OpenShardCount" "$(kq StreamDescriptionSummary.OpenShardCount describe-stream-summary --stream-name "$rs")" 4

step "errors: split a closed shard, scale beyond double"
rc=0
errout=$(k split-shard --stream-name "$rs" --shard-to-split shardId-000000000000 --new-starting-hash-key 5 2>&1 >/dev/null) || rc=$?
[[ $rc -ne 0 && "$errout" == *InvalidArgumentException* && "$errout" == *"already been merged or split"* ]] || fail "split of a closed shard: exit $rc, $errout"
rc=0
errout=$(k update-shard-count --stream-name "$rs" --target-shard-count 9 --scaling-type UNIFORM_SCALING 2>&1 >/dev/null) || rc=$?
[[ $rc -ne 0 && "$errout" == *LimitExceededException* ]] || fail "update-shard-count beyond double: exit $rc, $errout"
k delete-stream --stream-name "$rs" >/dev/null

step "errors: unknown stream, duplicate stream, retention below 24 h"
rc=0
errout=$(k describe-stream --stream-name "no-such-stream-$$" 2>&1 >/dev/null) || rc=$?
[[ $rc -ne 0 ]] || fail "describe-stream of a missing stream succeeded"
[[ "$errout" == *ResourceNotFoundException* && "$errout" == *"no-such-stream-$$"* ]] ||
	fail "describe-stream of a missing stream: unexpected error: $errout"
rc=0
errout=$(k create-stream --stream-name "$stream" --shard-count 1 2>&1 >/dev/null) || rc=$?
[[ $rc -ne 0 && "$errout" == *ResourceInUseException* ]] || fail "duplicate create-stream: exit $rc, $errout"
rc=0
errout=$(k decrease-stream-retention-period --stream-name "$stream" --retention-period-hours 12 2>&1 >/dev/null) || rc=$?
[[ $rc -ne 0 && "$errout" == *InvalidArgumentException* ]] || fail "retention 12 h: exit $rc, $errout"

tools="e2e-tools-$$"
step "millrace put / tail / streams on $tools (2 shards)"
k create-stream --stream-name "$tools" --shard-count 2 >/dev/null
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$tools"
m() { timeout 60 "$E2E_MILLRACE" "$@" --endpoint "$E2E_ENDPOINT"; }
summary=$(seq 1 300 | m put "$tools" 2>&1 >/dev/null) || fail "millrace put: $summary"
[[ "$summary" == "300 records written "* ]] || fail "millrace put summary: '$summary'"
expect "millrace tail --from trim-horizon --max 300" \
	"$(m tail "$tools" --from trim-horizon --max 300 --format raw | sort -n | tr '\n' ' ')" "$(seq 1 300 | tr '\n' ' ')"
line=$(m tail "$tools" --from trim-horizon --grep '^150$' --max 1) || fail "millrace tail --grep: exit $?"
[[ "$line" =~ ^shardId-00000000000[01]\ [0-9]+\ [0-9a-f]+-150\ [0-9T:.-]+Z\ 150$ ]] || fail "millrace tail text line: '$line'"
expect "millrace streams --json" \
	"$(m streams --sample 0 --json | python3 -c 'import json,sys; print([s["openShards"] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]])' "$tools")" "[2]"
k delete-stream --stream-name "$tools" >/dev/null

step "delete-stream + wait stream-not-exists"
k delete-stream --stream-name "$stream" >/dev/null
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-not-exists --stream-name "$stream"
kq StreamNames list-streams | tr '\t' '\n' | grep -qx "$stream" && fail "deleted stream still listed"

echo "  -- cli: all steps passed"
