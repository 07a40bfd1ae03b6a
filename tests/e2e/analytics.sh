#!/usr/bin/env bash
# The kinesisanalyticsv2 API through the AWS CLI (v1, AWS JSON 1.1) against
# a running Millrace at $E2E_ENDPOINT: discover a stream's schema, create a
# SQL application counting records per key in one-second windows, start it,
# read its results from the output stream (they add up to the records put),
# see a join of two in-application streams without a time bound refused,
# tag and untag it, add a reference data source from an S3 object on the
# S3 server at $E2E_S3_ENDPOINT (keys S3RVER) and delete it, then describe,
# list, stop and delete it.
#
#   analytics.sh
set -euo pipefail

: "${E2E_ENDPOINT:?E2E_ENDPOINT must name the server}"
: "${E2E_S3_ENDPOINT:?E2E_S3_ENDPOINT must name the S3 server}"

step() { printf '  -- analytics: %s\n' "$*"; }
fail() {
	printf 'FAIL (analytics): %s\n' "$*" >&2
	exit 1
}
k() { aws --endpoint-url "$E2E_ENDPOINT" --output json kinesis "$@"; }
a() { aws --endpoint-url "$E2E_ENDPOINT" --output json kinesisanalyticsv2 "$@"; }
s3api() { AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER aws --endpoint-url "$E2E_S3_ENDPOINT" --output text s3api "$@"; }
# field FILE EXPR prints EXPR of the JSON document in FILE, bound to d.
field() { python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

in="e2e-kda-in-$$"
out="e2e-kda-out-$$"
app="e2e-kda-$$"
arn() { echo "arn:aws:kinesis:us-east-1:000000000000:stream/$1"; }
role="arn:aws:iam::000000000000:role/analytics"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "create-stream $in and $out, put 9 records"
k create-stream --stream-name "$in" --shard-count 1 >/dev/null
k create-stream --stream-name "$out" --shard-count 1 >/dev/null
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$in"
aws --endpoint-url "$E2E_ENDPOINT" kinesis wait stream-exists --stream-name "$out"
for i in 1 2 3 4 5 6 7 8 9; do
	# AWS CLI v1 sends --data as given.
	k put-record --stream-name "$in" --partition-key "k$i" --data "{\"page\":\"p$((i % 3))\",\"ms\":$i}" >/dev/null
done

step "discover-input-schema"
a discover-input-schema --resource-arn "$(arn "$in")" --service-execution-role "$role" \
	--input-starting-position-configuration InputStartingPosition=TRIM_HORIZON >"$tmp/schema.json"
python3 - "$tmp/schema.json" <<'PY' || fail "discovered schema"
import json, sys
d = json.load(open(sys.argv[1]))
cols = {c["Name"]: (c["Mapping"], c["SqlType"]) for c in d["InputSchema"]["RecordColumns"]}
assert cols == {"page": ("$.page", "VARCHAR(4)"), "ms": ("$.ms", "INTEGER")}, cols
assert d["InputSchema"]["RecordFormat"]["RecordFormatType"] == "JSON", d
assert len(d["RawInputRecords"]) == 9, d["RawInputRecords"]
PY

step "create-application $app"
python3 - "$tmp/schema.json" "$(arn "$in")" "$(arn "$out")" >"$tmp/config.json" <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))["InputSchema"]
code = '''CREATE OR REPLACE STREAM "DEST" (page VARCHAR(4), n BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "DEST"
SELECT STREAM "page", COUNT(*) FROM "SOURCE_SQL_STREAM_001"
GROUP BY "page", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);'''
print(json.dumps({
    "ApplicationCodeConfiguration": {"CodeContentType": "PLAINTEXT", "CodeContent": {"TextContent": code}},
    "SqlApplicationConfiguration": {
        "Inputs": [{"NamePrefix": "SOURCE_SQL_STREAM", "InputSchema": schema,
                    "KinesisStreamsInput": {"ResourceARN": sys.argv[2]}}],
        "Outputs": [{"Name": "DEST", "DestinationSchema": {"RecordFormatType": "JSON"},
                     "KinesisStreamsOutput": {"ResourceARN": sys.argv[3]}}],
    },
}))
PY
a create-application --application-name "$app" --runtime-environment SQL-1_0 \
	--service-execution-role "$role" --application-configuration "file://$tmp/config.json" \
	--tags Key=team,Value=data >"$tmp/created.json"
grep -q '"ApplicationStatus": "READY"' "$tmp/created.json" || fail "create-application: $(cat "$tmp/created.json")"

step "create-application with a query naming an unknown column is refused"
sed 's/COUNT(\*)/COUNT(nope)/' "$tmp/config.json" >"$tmp/bad.json"
if a create-application --application-name "$app-bad" --runtime-environment SQL-1_0 \
	--service-execution-role "$role" --application-configuration "file://$tmp/bad.json" >"$tmp/bad.out" 2>&1; then
	fail "a bad query was accepted"
fi
grep -q "CodeValidationException" "$tmp/bad.out" || fail "bad query: $(cat "$tmp/bad.out")"

step "create-application with a join of two in-application streams without a time bound is refused"
python3 - "$tmp/config.json" >"$tmp/unbounded.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["ApplicationCodeConfiguration"]["CodeContent"]["TextContent"] = '''CREATE OR REPLACE STREAM "LOW" (page VARCHAR(4), ms INTEGER);
CREATE OR REPLACE PUMP "PL" AS INSERT INTO "LOW" SELECT STREAM "page", "ms" FROM "SOURCE_SQL_STREAM_001" WHERE "ms" < 5;
CREATE OR REPLACE STREAM "HIGH" (page VARCHAR(4), ms INTEGER);
CREATE OR REPLACE PUMP "PH" AS INSERT INTO "HIGH" SELECT STREAM "page", "ms" FROM "SOURCE_SQL_STREAM_001" WHERE "ms" >= 5;
CREATE OR REPLACE STREAM "DEST" (page VARCHAR(4), lo INTEGER, hi INTEGER);
CREATE OR REPLACE PUMP "PJ" AS INSERT INTO "DEST"
SELECT STREAM l."page", l."ms", h."ms" FROM "LOW" AS l JOIN "HIGH" AS h ON l."page" = h."page";'''
print(json.dumps(config))
PY
if a create-application --application-name "$app-unbounded" --runtime-environment SQL-1_0 \
	--service-execution-role "$role" --application-configuration "file://$tmp/unbounded.json" >"$tmp/unbounded.out" 2>&1; then
	fail "a join without a time bound was accepted"
fi
grep -q "(CodeValidationException).*needs a time bound" "$tmp/unbounded.out" || fail "join without a time bound: $(cat "$tmp/unbounded.out")"

step "start-application from TRIM_HORIZON"
a start-application --application-name "$app" \
	--run-configuration '{"SqlRunConfigurations":[{"InputId":"1.1","InputStartingPositionConfiguration":{"InputStartingPosition":"TRIM_HORIZON"}}]}' >/dev/null
a list-applications | grep -q "\"ApplicationName\": \"$app\"" || fail "list-applications does not list $app"

step "the windows' counts in $out add up to the 9 records"
it=$(k get-shard-iterator --stream-name "$out" --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)
total=0
for _ in $(seq 1 60); do
	k get-records --shard-iterator "$it" >"$tmp/records.json"
	it=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["NextShardIterator"])' "$tmp/records.json")
	total=$((total + $(python3 -c 'import base64,json,sys
print(sum(json.loads(base64.b64decode(r["Data"]))["n"] for r in json.load(open(sys.argv[1]))["Records"]))' "$tmp/records.json")))
	[[ $total -ge 9 ]] && break
	sleep 1
done
[[ $total -eq 9 ]] || fail "the output counts $total records, want 9"

step "tags: tag-resource, untag-resource, list-tags-for-resource; a 51st tag refused"
app_arn=$(field "$tmp/created.json" 'd["ApplicationDetail"]["ApplicationARN"]')
a tag-resource --resource-arn "$app_arn" --tags Key=env,Value=e2e Key=team,Value=streams
a untag-resource --resource-arn "$app_arn" --tag-keys env
a list-tags-for-resource --resource-arn "$app_arn" >"$tmp/tags.json"
[[ $(field "$tmp/tags.json" 'd["Tags"]') == "[{'Key': 'team', 'Value': 'streams'}]" ]] || fail "tags: $(cat "$tmp/tags.json")"
# shellcheck disable=SC2046 # one argument per tag
if a tag-resource --resource-arn "$app_arn" --tags $(printf 'Key=k%d,Value=v ' $(seq 1 50)) >"$tmp/many.out" 2>&1; then
	fail "a 51st tag was accepted"
fi
grep -q TooManyTagsException "$tmp/many.out" || fail "51 tags: $(cat "$tmp/many.out")"

step "add-application-reference-data-source from an S3 object, shown by describe-application, then deleted"
bucket="e2e-kda-ref-$$"
s3api create-bucket --bucket "$bucket" >/dev/null
printf 'p0,Home\np1,About\n' >"$tmp/pages.csv"
s3api put-object --bucket "$bucket" --key ref/pages.csv --body "$tmp/pages.csv" >/dev/null
a describe-application --application-name "$app" >"$tmp/desc.json"
version=$(field "$tmp/desc.json" 'd["ApplicationDetail"]["ApplicationVersionId"]')
a add-application-reference-data-source --application-name "$app" --current-application-version-id "$version" \
	--reference-data-source '{"TableName": "PAGES",
	  "S3ReferenceDataSource": {"BucketARN": "arn:aws:s3:::'"$bucket"'", "FileKey": "ref/pages.csv"},
	  "ReferenceSchema": {"RecordFormat": {"RecordFormatType": "CSV", "MappingParameters":
	      {"CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}}},
	    "RecordColumns": [{"Name": "page", "SqlType": "VARCHAR(8)"}, {"Name": "title", "SqlType": "VARCHAR(16)"}]}}' >"$tmp/ref.json"
[[ $(field "$tmp/ref.json" 'd["ApplicationVersionId"]') == $((version + 1)) ]] || fail "add-application-reference-data-source: $(cat "$tmp/ref.json")"
a describe-application --application-name "$app" >"$tmp/desc.json"
refs='d["ApplicationDetail"]["ApplicationConfigurationDescription"]["SqlApplicationConfigurationDescription"].get("ReferenceDataSourceDescriptions", [])'
[[ $(field "$tmp/desc.json" "[(r['TableName'], r['S3ReferenceDataSourceDescription']['BucketARN'], r['S3ReferenceDataSourceDescription']['FileKey']) for r in $refs]") == \
	"[('PAGES', 'arn:aws:s3:::$bucket', 'ref/pages.csv')]" ]] || fail "describe-application after adding: $(cat "$tmp/desc.json")"
ref_id=$(field "$tmp/desc.json" "$refs[0]['ReferenceId']")
a delete-application-reference-data-source --application-name "$app" --current-application-version-id $((version + 1)) \
	--reference-id "$ref_id" >/dev/null
a describe-application --application-name "$app" >"$tmp/desc.json"
[[ $(field "$tmp/desc.json" "len($refs)") == 0 ]] || fail "describe-application after deleting: $(cat "$tmp/desc.json")"
s3api delete-object --bucket "$bucket" --key ref/pages.csv >/dev/null
s3api delete-bucket --bucket "$bucket"

step "describe, stop, delete"
a describe-application --application-name "$app" >"$tmp/desc.json"
grep -q '"ApplicationStatus": "RUNNING"' "$tmp/desc.json" || fail "describe-application: $(cat "$tmp/desc.json")"
created=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ApplicationDetail"]["CreateTimestamp"])' "$tmp/desc.json")
a stop-application --application-name "$app" >/dev/null
a describe-application --application-name "$app" | grep -q '"ApplicationStatus": "READY"' || fail "not READY after stop-application"
a delete-application --application-name "$app" --create-timestamp "$created"
if a describe-application --application-name "$app" >"$tmp/gone.out" 2>&1; then
	fail "the application is still there after delete-application"
fi
grep -q ResourceNotFoundException "$tmp/gone.out" || fail "describe after delete: $(cat "$tmp/gone.out")"
k delete-stream --stream-name "$in" >/dev/null
k delete-stream --stream-name "$out" >/dev/null
step "ok"
