#!/usr/bin/env bash
# Container test without Docker: the static binary in an EMPTY root.
#
# Builds millrace as the Dockerfile does (CGO_ENABLED=0, -trimpath,
# -ldflags '-s -w'), checks that it is statically linked, copies it alone
# into an empty directory and runs it there with chroot, which is what a
# FROM scratch image gives it: no /etc/passwd, /etc/hosts, /tmp, /proc, CA
# certificates, time zone files or shell. Two runs:
#
#   1. as root, configured by flags (--listen, --data-dir /data);
#   2. as the Dockerfile's numeric USER, configured by the Dockerfile's ENV
#      variables (MILLRACE_LISTEN, MILLRACE_DATA_DIR) with /data owned by
#      that user, restarted once to check the data survives.
#
# Each run: /health from outside (curl) and from inside (`millrace health`
# in the same empty root), a stream created and a record put and read back
# with the AWS CLI, SIGTERM, exit code 0.
#
# Needs root (chroot), go, curl and the AWS CLI. Without them it fails
# under CI=true and skips otherwise.
#
#   tests/container/run.sh      (from anywhere in the repository)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

step() { printf '==> %s\n' "$*"; }
fail() {
	printf 'FAIL (container): %s\n' "$*" >&2
	exit 1
}
unavailable() {
	if [[ "${CI:-}" == "true" ]]; then
		fail "$* (required under CI=true)"
	fi
	printf 'SKIP (container): %s\n' "$*" >&2
	exit 0
}

for tool in go curl aws chroot python3; do
	command -v "$tool" >/dev/null || unavailable "$tool is not installed"
done
[[ $(id -u) -eq 0 ]] || unavailable "chroot needs root (running as uid $(id -u))"
chroot_bin=$(command -v chroot)

# The user the Dockerfile runs as, read from its USER line so the two
# cannot drift apart.
user=$(sed -n 's/^USER[[:space:]]\{1,\}\([0-9]\{1,\}:[0-9]\{1,\}\)[[:space:]]*$/\1/p' "$root/Dockerfile")
[[ -n "$user" ]] || fail "Dockerfile has no numeric USER uid:gid line"
uid=${user%:*}
gid=${user#*:}

work=$(mktemp -d "${TMPDIR:-/tmp}/millrace-container.XXXXXX")
# The chroot's parent directories must be traversable by the non-root user.
chmod 0755 "$work"
server_pid=""

cleanup() {
	local rc=$?
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ $rc -ne 0 && -f "$work/server.log" ]]; then
		echo "--- server log (last 40 lines) ---" >&2
		tail -n 40 "$work/server.log" >&2 || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "static build (CGO_ENABLED=0 go build -trimpath -ldflags '-s -w')"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/millrace" ./cmd/millrace) ||
	fail "static build of ./cmd/millrace"
go version -m "$work/millrace" | grep -q $'\tbuild\tCGO_ENABLED=0$' ||
	fail "the binary was not built with CGO_ENABLED=0: $(go version -m "$work/millrace" | grep CGO_ENABLED)"
if command -v file >/dev/null; then
	desc=$(file -b "$work/millrace")
	[[ "$desc" == *"statically linked"* ]] || fail "file says: $desc"
	echo "file: $desc"
fi
# An ELF with a program interpreter (PT_INTERP) needs a dynamic loader,
# which an empty root does not have.
if readelf -l "$work/millrace" 2>/dev/null | grep -q 'INTERP'; then
	fail "the binary asks for a dynamic loader: $(readelf -l "$work/millrace" | grep -A1 INTERP)"
fi

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# new_root DIR OWNER: an empty root holding only /millrace and /data.
new_root() {
	local dir=$1 owner=$2
	mkdir -m 0755 "$dir"
	install -m 0755 "$work/millrace" "$dir/millrace"
	install -d -m 0700 -o "${owner%:*}" -g "${owner#*:}" "$dir/data"
	local entries
	entries=$(cd "$dir" && ls -A | tr '\n' ' ')
	[[ "$entries" == "data millrace " ]] || fail "$dir holds $entries, want only data and millrace"
}

export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
# AWS CLI v2 reads blob arguments as base64 unless told otherwise; v1
# takes them as given and has no such option.
binary_format=()
if [[ $(aws --version 2>&1) == aws-cli/2* ]]; then
	binary_format=(--cli-binary-format raw-in-base64-out)
fi
k() { aws --endpoint-url "$endpoint" --cli-connect-timeout 5 --cli-read-timeout 15 --output text kinesis "$@"; }

# start ROOT USERSPEC ENV... -- ARGS...: starts millrace in the empty ROOT
# with only the given environment, and waits for /health from outside.
start() {
	local dir=$1 spec=$2
	shift 2
	local envs=()
	while [[ $1 != "--" ]]; do
		envs+=("$1")
		shift
	done
	shift
	env -i "${envs[@]}" "$chroot_bin" --userspec="$spec" "$dir" /millrace "$@" >>"$work/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 150); do
		if curl -fsS --max-time 2 "$endpoint/health" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || fail "millrace exited during start-up in the empty root"
		sleep 0.1
	done
	fail "no answer on $endpoint/health within 15s"
}

# stop: SIGTERM, and the exit code must be 0.
stop() {
	kill -TERM "$server_pid"
	local rc=0
	wait "$server_pid" || rc=$?
	server_pid=""
	[[ $rc -eq 0 ]] || fail "millrace exited with code $rc after SIGTERM, want 0"
	tail -n 1 "$work/server.log" | grep -q 'millrace stopped' || fail "the log does not end with 'millrace stopped'"
}

# health_inside ROOT USERSPEC ENV...: `millrace health` run in the empty
# root; prints its exit code.
health_inside() {
	local dir=$1 spec=$2
	shift 2
	local rc=0
	env -i "$@" "$chroot_bin" --userspec="$spec" "$dir" /millrace health >"$work/health.out" 2>&1 || rc=$?
	echo "$rc"
}

# roundtrip STREAM DATA: creates STREAM, puts DATA and reads it back.
roundtrip() {
	local stream=$1 data=$2
	k create-stream --stream-name "$stream" --shard-count 1 >/dev/null || fail "create-stream $stream"
	# The CLI's stream-exists waiter polls every 10 s; the stream is ACTIVE
	# after the default 100ms create delay.
	local status=""
	for _ in $(seq 1 100); do
		status=$(k describe-stream-summary --stream-name "$stream" --query StreamDescriptionSummary.StreamStatus) ||
			fail "describe-stream-summary $stream"
		[[ "$status" == ACTIVE ]] && break
		sleep 0.1
	done
	[[ "$status" == ACTIVE ]] || fail "$stream is $status, not ACTIVE, after 10s"
	k put-record "${binary_format[@]}" --stream-name "$stream" --partition-key k --data "$data" >/dev/null || fail "put-record"
	check_record "$stream" "$data"
}

# check_record STREAM DATA: the first record of STREAM holds DATA.
check_record() {
	local stream=$1 data=$2 it got
	it=$(k get-shard-iterator --stream-name "$stream" --shard-id shardId-000000000000 \
		--shard-iterator-type TRIM_HORIZON --query ShardIterator) || fail "get-shard-iterator"
	got=$(k get-records --shard-iterator "$it" --query 'Records[0].Data') || fail "get-records"
	[[ "$(printf '%s' "$got" | base64 -d)" == "$data" ]] ||
		fail "get-records returned $got, want base64 of '$data'"
}

step "run 1: as root in an empty root, configured by flags"
port=$(free_port)
endpoint="http://127.0.0.1:$port"
new_root "$work/root1" 0:0
start "$work/root1" 0:0 -- serve --listen "127.0.0.1:$port" --data-dir /data
[[ $(health_inside "$work/root1" 0:0 MILLRACE_LISTEN="127.0.0.1:$port") -eq 0 ]] ||
	fail "millrace health inside the root: $(cat "$work/health.out")"
roundtrip as-root "written as root"
stop
[[ $(health_inside "$work/root1" 0:0 MILLRACE_LISTEN="127.0.0.1:$port") -eq 1 ]] ||
	fail "millrace health succeeded with the server stopped: $(cat "$work/health.out")"

step "run 2: as $user, configured by the Dockerfile's ENV, /data owned by $user"
port=$(free_port)
endpoint="http://127.0.0.1:$port"
new_root "$work/root2" "$user"
envs=(MILLRACE_LISTEN="127.0.0.1:$port" MILLRACE_DATA_DIR=/data)
start "$work/root2" "$user" "${envs[@]}" -- serve
[[ $(health_inside "$work/root2" "$user" "${envs[@]}") -eq 0 ]] ||
	fail "millrace health inside the root: $(cat "$work/health.out")"
roundtrip as-user "written as $user"
stop
owners=$(find "$work/root2/data" -mindepth 1 \( ! -uid "$uid" -o ! -gid "$gid" \) -printf '%p %u:%g\n')
[[ -z "$owners" ]] || fail "files in /data not owned by $user: $owners"
[[ -n "$(find "$work/root2/data" -mindepth 1 -print -quit)" ]] || fail "nothing was written to /data"

step "run 2 again: the record survives a restart"
start "$work/root2" "$user" "${envs[@]}" -- serve
check_record as-user "written as $user"
stop

step "passed"
