#!/usr/bin/env bash
# The AWS CLI (v1) against a running Millrace at $E2E_ENDPOINT whose
# Firehose writes to the S3 server at $E2E_S3_ENDPOINT (keys S3RVER):
# a delivery stream from create to delete, with the records checked in S3.
# Run by run.sh.
set -euo pipefail

: "${E2E_ENDPOINT:?E2E_ENDPOINT must name the server}"
: "${E2E_S3_ENDPOINT:?E2E_S3_ENDPOINT must name the S3 server}"

step() { printf '  -- firehose cli: %s\n' "$*"; }
fail() {
	printf 'FAIL (firehose cli): %s\n' "$*" >&2
	exit 1
}
f() { aws --endpoint-url "$E2E_ENDPOINT" --output json firehose "$@"; }
fq() {
	local q=$1
	shift
	aws --endpoint-url "$E2E_ENDPOINT" --output text --query "$q" firehose "$@"
}
s3api() { AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER aws --endpoint-url "$E2E_S3_ENDPOINT" --output text s3api "$@"; }
expect() { [[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"; }

hose="e2e-cli-hose-$$"
bucket="e2e-cli-$$"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "create bucket $bucket in the S3 server"
s3api create-bucket --bucket "$bucket" >/dev/null

step "create-delivery-stream $hose (GZIP, a timestamp prefix, newline delimiter)"
f create-delivery-stream --delivery-stream-name "$hose" --extended-s3-destination-configuration '{
  "BucketARN": "arn:aws:s3:::'"$bucket"'", "RoleARN": "arn:aws:iam::123456789012:role/firehose",
  "Prefix": "logs/year=!{timestamp:yyyy}/", "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
  "CompressionFormat": "GZIP", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
  "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "AppendDelimiterToRecord"}]}}' >/dev/null

step "wait for ACTIVE"
for _ in $(seq 1 100); do
	status=$(fq DeliveryStreamDescription.DeliveryStreamStatus describe-delivery-stream --delivery-stream-name "$hose")
	[[ "$status" == ACTIVE ]] && break
	sleep 0.1
done
expect "status" "$status" ACTIVE
expect "VersionId" "$(fq DeliveryStreamDescription.VersionId describe-delivery-stream --delivery-stream-name "$hose")" 1
expect "compression" "$(fq 'DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription.CompressionFormat' describe-delivery-stream --delivery-stream-name "$hose")" GZIP

step "list-delivery-streams"
fq DeliveryStreamNames list-delivery-streams | tr '\t' '\n' | grep -qx "$hose" || fail "list-delivery-streams does not name $hose"

step "put-record and put-record-batch (3 records)"
id=$(fq RecordId put-record --delivery-stream-name "$hose" --record '{"Data":"{\"n\":0}"}')
[[ -n "$id" ]] || fail "put-record returned no RecordId"
expect "FailedPutCount" "$(fq FailedPutCount put-record-batch --delivery-stream-name "$hose" --records '[{"Data":"{\"n\":1}"},{"Data":"{\"n\":2}"}]')" 0

step "the records arrive in S3 as gzip objects under logs/year=YYYY/"
year=$(date -u +%Y)
: >"$work/all"
for _ in $(seq 1 100); do
	keys=$(s3api list-objects-v2 --bucket "$bucket" --prefix "logs/year=$year/" --query 'Contents[].Key' | tr '\t' '\n' | grep -v '^None$' || true)
	: >"$work/all"
	for k in $keys; do
		[[ "$k" =~ ^logs/year=$year/$hose-1-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9a-f-]{36}\.gz$ ]] || fail "object $k is not named as Firehose names objects"
		s3api get-object --bucket "$bucket" --key "$k" "$work/obj.gz" >/dev/null
		gzip -dc "$work/obj.gz" >>"$work/all"
	done
	[[ $(wc -l <"$work/all") -ge 3 ]] && break
	sleep 0.2
done
expect "records in S3" "$(sort "$work/all" | tr '\n' ' ')" '{"n":0} {"n":1} {"n":2} '

step "update-destination with a stale version id is refused"
if f update-destination --delivery-stream-name "$hose" --current-delivery-stream-version-id 9 \
	--destination-id destinationId-000000000001 --extended-s3-destination-update '{"Prefix":"x/"}' 2>"$work/err" >/dev/null; then
	fail "update-destination with version 9 succeeded"
fi
grep -q ConcurrentModificationException "$work/err" || fail "stale update: $(cat "$work/err")"

step "update-destination with the current version id"
f update-destination --delivery-stream-name "$hose" --current-delivery-stream-version-id 1 \
	--destination-id destinationId-000000000001 --extended-s3-destination-update '{"CompressionFormat":"UNCOMPRESSED"}' >/dev/null
expect "VersionId" "$(fq DeliveryStreamDescription.VersionId describe-delivery-stream --delivery-stream-name "$hose")" 2

step "tags"
f tag-delivery-stream --delivery-stream-name "$hose" --tags Key=team,Value=data >/dev/null
expect "tag" "$(fq 'Tags[0].Value' list-tags-for-delivery-stream --delivery-stream-name "$hose")" data

step "put-record to a missing delivery stream"
if f put-record --delivery-stream-name "missing-$$" --record '{"Data":"x"}' 2>"$work/err" >/dev/null; then
	fail "put-record to a missing stream succeeded"
fi
grep -q ResourceNotFoundException "$work/err" || fail "missing stream: $(cat "$work/err")"

step "delete-delivery-stream"
f delete-delivery-stream --delivery-stream-name "$hose" >/dev/null
if f describe-delivery-stream --delivery-stream-name "$hose" 2>/dev/null >/dev/null; then
	fail "the deleted stream is still described"
fi

pq="e2e-cli-parquet-$$"
step "create-delivery-stream $pq (JSON to Parquet, the schema from the Glue table e2e.events)"
f create-delivery-stream --delivery-stream-name "$pq" --extended-s3-destination-configuration '{
  "BucketARN": "arn:aws:s3:::'"$bucket"'", "RoleARN": "arn:aws:iam::123456789012:role/firehose",
  "Prefix": "parquet/", "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
  "DataFormatConversionConfiguration": {"Enabled": true,
    "SchemaConfiguration": {"DatabaseName": "e2e", "TableName": "events", "RoleARN": "arn:aws:iam::123456789012:role/firehose"},
    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}}}' >/dev/null
for _ in $(seq 1 100); do
	status=$(fq DeliveryStreamDescription.DeliveryStreamStatus describe-delivery-stream --delivery-stream-name "$pq")
	[[ "$status" == ACTIVE ]] && break
	sleep 0.1
done
expect "status" "$status" ACTIVE

step "put-record-batch (3 records: one log append, so one Parquet object)"
expect "FailedPutCount" "$(fq FailedPutCount put-record-batch --delivery-stream-name "$pq" \
	--records '[{"Data":"{\"id\":1,\"name\":\"a\"}"},{"Data":"{\"id\":2,\"name\":\"b\",\"extra\":0}"},{"Data":"{\"id\":3}"}]')" 0

step "the object under parquet/ is Parquet with the 3 rows"
key=""
for _ in $(seq 1 100); do
	key=$(s3api list-objects-v2 --bucket "$bucket" --prefix "parquet/" --query 'Contents[].Key' | tr '\t' '\n' | grep -v '^None$' || true)
	[[ -n "$key" ]] && break
	sleep 0.2
done
[[ "$key" =~ ^parquet/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/$pq-1-[0-9-]{19}-[0-9a-f-]{36}\.parquet$ ]] || fail "Parquet objects: '$key'"
mkdir -p "$work/pq"
s3api get-object --bucket "$bucket" --key "$key" "$work/pq/delivered.parquet" >/dev/null
printf '[{"id":"1","name":"a"},{"id":"2","name":"b"},{"id":"3","name":null}]\n' >"$work/pq/delivered.json"
reader="$(cd "$(dirname "$0")/../parquet-read" && pwd)"
if [[ -d "$reader/node_modules/hyparquet" ]]; then
	node "$reader/check.mjs" "$work/pq" >/dev/null || fail "hyparquet does not read the delivered object as the 3 rows"
elif [[ "${CI:-}" == true ]]; then
	fail "hyparquet is not installed in tests/parquet-read (npm ci --prefix tests/parquet-read)"
else
	step "hyparquet not installed (npm ci --prefix tests/parquet-read): checking the Parquet magic only"
	[[ "$(head -c 4 "$work/pq/delivered.parquet")" == PAR1 && "$(tail -c 4 "$work/pq/delivered.parquet")" == PAR1 ]] || fail "$key is not Parquet"
fi
f delete-delivery-stream --delivery-stream-name "$pq" >/dev/null

dp="e2e-cli-parquet-dp-$$"
step "create-delivery-stream $dp (dynamic partitioning on name, JSON to Parquet)"
f create-delivery-stream --delivery-stream-name "$dp" --extended-s3-destination-configuration '{
  "BucketARN": "arn:aws:s3:::'"$bucket"'", "RoleARN": "arn:aws:iam::123456789012:role/firehose",
  "Prefix": "parquet-dp/name=!{partitionKeyFromQuery:name}/", "ErrorOutputPrefix": "parquet-dp-errors/!{firehose:error-output-type}/",
  "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
  "DynamicPartitioningConfiguration": {"Enabled": true},
  "ProcessingConfiguration": {"Enabled": true, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{name: .name}"},
    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]},
  "DataFormatConversionConfiguration": {"Enabled": true,
    "SchemaConfiguration": {"DatabaseName": "e2e", "TableName": "events", "RoleARN": "arn:aws:iam::123456789012:role/firehose"},
    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}}}' >/dev/null
for _ in $(seq 1 100); do
	status=$(fq DeliveryStreamDescription.DeliveryStreamStatus describe-delivery-stream --delivery-stream-name "$dp")
	[[ "$status" == ACTIVE ]] && break
	sleep 0.1
done
expect "status" "$status" ACTIVE

step "put-record-batch (4 records of two names: one Parquet object per partition)"
expect "FailedPutCount" "$(fq FailedPutCount put-record-batch --delivery-stream-name "$dp" \
	--records '[{"Data":"{\"id\":1,\"name\":\"x\"}"},{"Data":"{\"id\":2,\"name\":\"y\"}"},{"Data":"{\"id\":3,\"name\":\"x\"}"},{"Data":"{\"id\":4,\"name\":\"y\"}"}]')" 0

step "parquet-dp/name=x/ and name=y/ each hold one Parquet object with that partition's rows"
mkdir -p "$work/dp"
for part in x y; do
	key=""
	for _ in $(seq 1 100); do
		key=$(s3api list-objects-v2 --bucket "$bucket" --prefix "parquet-dp/name=$part/" --query 'Contents[].Key' | tr '\t' '\n' | grep -v '^None$' || true)
		[[ -n "$key" ]] && break
		sleep 0.2
	done
	[[ "$key" =~ ^parquet-dp/name=$part/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/$dp-1-[0-9-]{19}-[0-9a-f-]{36}\.parquet$ ]] || fail "partition $part objects: '$key'"
	s3api get-object --bucket "$bucket" --key "$key" "$work/dp/$part.parquet" >/dev/null
done
printf '[{"id":"1","name":"x"},{"id":"3","name":"x"}]\n' >"$work/dp/x.json"
printf '[{"id":"2","name":"y"},{"id":"4","name":"y"}]\n' >"$work/dp/y.json"
if [[ -d "$reader/node_modules/hyparquet" ]]; then
	node "$reader/check.mjs" "$work/dp" >/dev/null || fail "hyparquet does not read the partitions' objects as their rows"
elif [[ "${CI:-}" == true ]]; then
	fail "hyparquet is not installed in tests/parquet-read (npm ci --prefix tests/parquet-read)"
else
	step "hyparquet not installed (npm ci --prefix tests/parquet-read): checking the Parquet magic only"
	for part in x y; do
		[[ "$(head -c 4 "$work/dp/$part.parquet")" == PAR1 && "$(tail -c 4 "$work/dp/$part.parquet")" == PAR1 ]] || fail "partition $part is not Parquet"
	done
fi
f delete-delivery-stream --delivery-stream-name "$dp" >/dev/null

cwl="e2e-cli-cwlogs-$$"
step "create-delivery-stream $cwl (Decompression, CloudWatchLogProcessing with DataMessageExtraction, newline delimiter)"
f create-delivery-stream --delivery-stream-name "$cwl" --extended-s3-destination-configuration '{
  "BucketARN": "arn:aws:s3:::'"$bucket"'", "RoleARN": "arn:aws:iam::123456789012:role/firehose",
  "Prefix": "cwlogs/", "ErrorOutputPrefix": "cwlogs-errors/!{firehose:error-output-type}/",
  "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
  "ProcessingConfiguration": {"Enabled": true, "Processors": [
    {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
    {"Type": "CloudWatchLogProcessing", "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}]},
    {"Type": "AppendDelimiterToRecord"}]}}' >/dev/null
for _ in $(seq 1 100); do
	status=$(fq DeliveryStreamDescription.DeliveryStreamStatus describe-delivery-stream --delivery-stream-name "$cwl")
	[[ "$status" == ACTIVE ]] && break
	sleep 0.1
done
expect "status" "$status" ACTIVE
expect "processors" "$(fq 'DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription.ProcessingConfiguration.Processors[].Type' describe-delivery-stream --delivery-stream-name "$cwl")" \
	"$(printf 'Decompression\tCloudWatchLogProcessing\tAppendDelimiterToRecord')"

step "put-record: a gzip'd CloudWatch Logs DATA_MESSAGE (3 log events) and a CONTROL_MESSAGE, as CloudWatch Logs sends them"
# CLI v1 sends a record's Data as the UTF-8 bytes of the string it is
# given, so it cannot carry GZIP (0x1f 0x8b ...): these two go through
# botocore, the CLI's own library, from boto3.
python3 - "$E2E_ENDPOINT" "$cwl" <<'PY'
import gzip, json, sys, boto3
endpoint, hose = sys.argv[1], sys.argv[2]
c = boto3.client("firehose", endpoint_url=endpoint)
data = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/e2e/app", "logStream": "web-1",
        "subscriptionFilters": ["to-firehose"], "logEvents": [
            {"id": "37000000000000000000000000000000000000000000000000000000", "timestamp": 1765062986000, "message": "GET /index.html 200"},
            {"id": "37000000000000000000000000000000000000000000000000000001", "timestamp": 1765062986001, "message": "{\"level\":\"warn\",\"msg\":\"slow\"}"},
            {"id": "37000000000000000000000000000000000000000000000000000002", "timestamp": 1765062986002, "message": "tab\there, é"}]}
control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
           "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1765062986003,
           "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}
for m in (data, control):
    out = c.put_record(DeliveryStreamName=hose, Record={"Data": gzip.compress(json.dumps(m).encode())})
    assert out["RecordId"], out
PY

step "aws firehose put-record: a record that is not GZIP"
fq RecordId put-record --delivery-stream-name "$cwl" --record '{"Data":"plain text, not gzip"}' >/dev/null

step "the objects under cwlogs/ hold exactly the log events' messages, one a line"
printf '%s\n' 'GET /index.html 200' '{"level":"warn","msg":"slow"}' "$(printf 'tab\there, é')" >"$work/cwl-want"
for _ in $(seq 1 100); do
	keys=$(s3api list-objects-v2 --bucket "$bucket" --prefix "cwlogs/" --query 'Contents[].Key' | tr '\t' '\n' | grep -v '^None$' || true)
	: >"$work/cwl-got"
	for k in $keys; do
		s3api get-object --bucket "$bucket" --key "$k" "$work/cwl-obj" >/dev/null
		cat "$work/cwl-obj" >>"$work/cwl-got"
	done
	[[ $(wc -l <"$work/cwl-got") -ge 3 ]] && break
	sleep 0.2
done
cmp -s "$work/cwl-got" "$work/cwl-want" || fail "cwlogs/ objects hold '$(cat "$work/cwl-got")', want the 3 messages"

step "the record that is not GZIP is in the error output as decompression-failed, as it came"
key=""
for _ in $(seq 1 100); do
	key=$(s3api list-objects-v2 --bucket "$bucket" --prefix "cwlogs-errors/decompression-failed/" --query 'Contents[].Key' | tr '\t' '\n' | grep -v '^None$' || true)
	[[ -n "$key" ]] && break
	sleep 0.2
done
[[ -n "$key" ]] || fail "no object under cwlogs-errors/decompression-failed/"
s3api get-object --bucket "$bucket" --key "$key" "$work/cwl-err" >/dev/null
expect "error record" "$(python3 -c 'import base64, json, sys; r = json.loads(open(sys.argv[1]).read()); print(r["errorCode"], base64.b64decode(r["rawData"]).decode())' "$work/cwl-err")" \
	"Decompression.Failed plain text, not gzip"
f delete-delivery-stream --delivery-stream-name "$cwl" >/dev/null
