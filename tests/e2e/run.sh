#!/usr/bin/env bash
# End-to-end test: builds the millrace binary, starts it on a free port with
# a fresh data directory, drives it with the AWS CLI (cli.sh) and boto3
# (boto3_test.py) and the AWS SDK for JavaScript v3 over TLS (tests/js),
# runs a Lambda function built with aws-lambda-go through the CLI and boto3,
# delivers Firehose records to an S3 server (s3rver) with both,
# restarts it on the same data directory to check that
# every acknowledged record survives, and stops it; then restores a backup
# taken while it ran into a new data directory and checks the records there
# (backup_cli.sh, boto3_test.py). cluster.sh runs three nodes of a cluster
# and its status and remove-node commands. metrics_agree.py checks
# that the bench's counts, GET /metrics and CloudWatch agree. Exits non-zero, naming
# the failed step, on any failure.
#
#   tests/e2e/run.sh            (from anywhere in the repository)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

step() { printf '==> %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

for tool in go aws python3 node npm; do
	command -v "$tool" >/dev/null || fail "$tool is not installed"
done
python3 -c 'import boto3' 2>/dev/null || fail "python3 cannot import boto3"

# The S3 server Firehose writes to: the one CI started, else s3rver
# installed below.
s3_endpoint=${MILLRACE_TEST_S3_ENDPOINT:-}
s3rver_pid=""

# The server reads MILLRACE_* settings from its environment; only the flags
# below may configure it here.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MILLRACE_' || true)

work=$(mktemp -d "${TMPDIR:-/tmp}/millrace-e2e.XXXXXX")
server_pid=""

stop_server() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		local rc=0
		wait "$server_pid" || rc=$?
		server_pid=""
		return "$rc"
	fi
	server_pid=""
}

cleanup() {
	local rc=$?
	stop_server || true
	if [[ -n "$s3rver_pid" ]]; then kill "$s3rver_pid" 2>/dev/null || true; fi
	if [[ $rc -ne 0 && -f "$work/server.log" ]]; then
		echo "--- server log (last 40 lines) ---" >&2
		tail -n 40 "$work/server.log" >&2 || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "build ./cmd/millrace"
(cd "$root" && go build -o "$work/millrace" ./cmd/millrace) || fail "go build ./cmd/millrace"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
endpoint="http://127.0.0.1:$port"
tls_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
tls_endpoint="https://127.0.0.1:$tls_port"
"$work/millrace" cert --cert "$work/tls-cert.pem" --key "$work/tls-key.pem" >/dev/null || fail "millrace cert"
data_dir="$work/data"

# The Glue table firehose_cli.sh's Parquet delivery stream names.
mkdir -p "$work/glue"
cat >"$work/glue/e2e.events.json" <<'JSON'
{"Table": {"Name": "events", "DatabaseName": "e2e", "StorageDescriptor": {"Columns": [
  {"Name": "id", "Type": "bigint"}, {"Name": "name", "Type": "string"}]}}}
JSON

# Functions write where the scripts read (ESM_LOG and the like, under
# $TMPDIR): the sandbox, which would hide those paths, is off.
start_server() {
	"$work/millrace" serve \
		--listen "127.0.0.1:$port" \
		--tls-listen "127.0.0.1:$tls_port" --tls-cert "$work/tls-cert.pem" --tls-key "$work/tls-key.pem" \
		--data-dir "$data_dir" \
		--backup-password e2e-backup \
		--create-delay 300ms \
		--delete-delay 300ms \
		--firehose-s3-endpoint "$s3_endpoint" --firehose-s3-access-key-id S3RVER --firehose-s3-secret-access-key S3RVER \
		--firehose-glue-tables "$work/glue" \
		--lambda-sandbox off \
		>>"$work/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 150); do
		if curl -fsS "$endpoint/health" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || fail "server exited during start-up"
		sleep 0.1
	done
	fail "server did not answer GET /health within 15 s"
}

if [[ -z "$s3_endpoint" ]]; then
	step "S3 server for Firehose: npm s3rver@3.7.1 on loopback"
	npm install --prefix "$work/s3rver" --no-audit --no-fund --loglevel=error s3rver@3.7.1 >/dev/null || fail "npm install s3rver"
	s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
	mkdir -p "$work/s3data"
	"$work/s3rver/node_modules/.bin/s3rver" -d "$work/s3data" -a 127.0.0.1 -p "$s3_port" --silent >"$work/s3rver.log" 2>&1 &
	s3rver_pid=$!
	s3_endpoint="http://127.0.0.1:$s3_port"
	for _ in $(seq 1 50); do
		curl -fsS "$s3_endpoint/" >/dev/null 2>&1 && break
		sleep 0.2
	done
fi
export E2E_S3_ENDPOINT="$s3_endpoint"

step "start server on $endpoint (data in $data_dir)"
start_server

# Fake credentials; nothing here may reach AWS.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS || true
export AWS_CONFIG_FILE="$work/aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
export AWS_EC2_METADATA_DISABLED=true
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export E2E_ENDPOINT="$endpoint"
export E2E_MILLRACE="$work/millrace"

step "AWS CLI ($(aws --version 2>&1 | cut -d' ' -f1))"
bash "$here/cli.sh" || fail "AWS CLI flow (cli.sh)"

step "boto3 flow"
python3 "$here/boto3_test.py" flow || fail "boto3 flow (boto3_test.py flow)"

step "AWS SDK for JavaScript v3: SubscribeToShard over TLS/HTTP2 on $tls_endpoint"
(cd "$root/tests/js" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/js"
E2E_TLS_ENDPOINT="$tls_endpoint" E2E_TLS_CA="$work/tls-cert.pem" node "$root/tests/js/subscribe.mjs" ||
	fail "JavaScript SDK SubscribeToShard (tests/js/subscribe.mjs)"

step "boto3 DynamoDB flow"
python3 "$here/ddb_test.py" flow || fail "DynamoDB flow (ddb_test.py flow)"

step "AWS CLI Firehose flow (objects checked in S3 at $s3_endpoint)"
bash "$here/firehose_cli.sh" || fail "AWS CLI Firehose flow (firehose_cli.sh)"

step "boto3 Firehose flow"
python3 "$here/firehose_test.py" flow || fail "boto3 Firehose flow (firehose_test.py flow)"

step "build the aws-lambda-go test function as bootstrap and zip it"
mkdir -p "$work/lambda"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/lambda/bootstrap" ./internal/lambda/testhandler) ||
	fail "go build ./internal/lambda/testhandler"
python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED)
i = zipfile.ZipInfo("bootstrap"); i.external_attr = 0o100755 << 16; i.compress_type = zipfile.ZIP_DEFLATED
z.writestr(i, open(sys.argv[2], "rb").read()); z.close()' "$work/lambda/function.zip" "$work/lambda/bootstrap" ||
	fail "zipping the test function"
export E2E_LAMBDA_ZIP="$work/lambda/function.zip"

step "AWS CLI Lambda flow"
bash "$here/lambda_cli.sh" flow || fail "AWS CLI Lambda flow (lambda_cli.sh flow)"

step "AWS CLI Lambda: a mapping on a fan-out consumer; remote functions on a second server"
bash "$here/lambda_efo_remote.sh" || fail "AWS CLI fan-out mapping and remote functions (lambda_efo_remote.sh)"

step "boto3 Lambda flow"
python3 "$here/lambda_test.py" flow || fail "boto3 Lambda flow (lambda_test.py flow)"

step "AWS CLI: a function for the restart check"
bash "$here/lambda_cli.sh" keep e2e-lambda-restart || fail "Lambda function before restart (lambda_cli.sh keep)"

step "millrace bench, GET /metrics and CloudWatch count the same records and bytes"
python3 "$here/metrics_agree.py" || fail "metrics agreement (metrics_agree.py)"

step "AWS CLI: a SQL application through kinesisanalyticsv2"
bash "$here/analytics.sh" || fail "analytics flow (analytics.sh)"

step "boto3: a SQL application of chained pumps writing to a stream, Firehose and a function"
python3 "$here/analytics_test.py" flow || fail "analytics boto3 flow (analytics_test.py flow)"

cw_state="$work/cloudwatch.state"
step "AWS CLI and boto3: CloudWatch GetMetricStatistics, GetMetricData, ListMetrics"
bash "$here/cloudwatch.sh" put "$cw_state" || fail "CloudWatch flow (cloudwatch.sh put)"

state="$work/durability.json"
step "boto3: write records for the restart check"
python3 "$here/boto3_test.py" write "$state" || fail "boto3 write before restart"
fh_state="$work/firehose-state.json"
python3 "$here/firehose_test.py" write "$fh_state" || fail "Firehose write before restart"
ddb_state="$work/ddb-durability.json"
python3 "$here/ddb_test.py" write "$ddb_state" || fail "DynamoDB write before restart"
bk_state="$work/backup-state.json"
step "AWS CLI: records for the backup check, then millrace backup of the running server"
bash "$here/backup_cli.sh" put "$bk_state" || fail "records before the backup (backup_cli.sh put)"
"$work/millrace" backup --url "$endpoint" --password e2e-backup --out "$work/online.mrbk" --quiet || fail "millrace backup --url"

step "restart: SIGTERM, then start again on the same data directory"
stop_server || fail "server did not stop cleanly on SIGTERM (exit status $?)"
start_server

step "boto3: every record is still there with the same sequence numbers"
python3 "$here/boto3_test.py" verify "$state" || fail "records after restart (boto3_test.py verify)"

step "boto3: every acknowledged Firehose record reaches S3 after the restart"
python3 "$here/firehose_test.py" verify "$fh_state" || fail "Firehose records after restart (firehose_test.py verify)"

step "CloudWatch: the metrics are still there"
bash "$here/cloudwatch.sh" verify "$cw_state" || fail "CloudWatch after restart (cloudwatch.sh verify)"

step "boto3: every DynamoDB lease is still there"
python3 "$here/ddb_test.py" verify "$ddb_state" || fail "DynamoDB items after restart (ddb_test.py verify)"

step "AWS CLI: the function survived the restart and still runs"
bash "$here/lambda_cli.sh" verify e2e-lambda-restart || fail "Lambda function after restart (lambda_cli.sh verify)"

step "cluster: three nodes of the binary, cluster status --json, SIGKILL, remove-node"
timeout 90 bash "$here/cluster.sh" "$work/millrace" || fail "cluster status and remove-node (cluster.sh)"

step "authentication and policies: two users through boto3 and the AWS CLI"
python3 "$here/auth_test.py" "$work/millrace" || fail "authentication end to end (auth_test.py)"

step "stop server"
stop_server || fail "server did not stop cleanly on SIGTERM"

step "millrace restore of the backup taken before the restart into a new data directory; a second server on it"
"$work/millrace" restore --from "$work/online.mrbk" --data-dir "$work/restored" --quiet || fail "millrace restore"
data_dir="$work/restored"
start_server
bash "$here/backup_cli.sh" verify "$bk_state" || fail "records after the restore (backup_cli.sh verify)"
python3 "$here/boto3_test.py" verify "$state" || fail "boto3 records after the restore (boto3_test.py verify)"
python3 "$here/ddb_test.py" verify "$ddb_state" || fail "DynamoDB items after the restore (ddb_test.py verify)"
stop_server || fail "the server on the restored data did not stop cleanly on SIGTERM"

echo "PASS: end-to-end (AWS CLI, boto3 and the JavaScript SDK)"
