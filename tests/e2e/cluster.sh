#!/usr/bin/env bash
# Cluster operations end to end, on the built binary: starts three nodes
# of one cluster (each embedding its NATS server, on loopback ports),
# checks `millrace cluster status --json` (three nodes current and
# answering, a meta leader, the catalog on three current replicas), kills
# one node with SIGKILL, waits until the status shows it silent (not
# answering, not current), removes it with `millrace cluster remove-node`
# (which refuses it until the meta leader has not heard from it for 10 s)
# and checks that the status then lists the two others only. Every wait
# polls, under one 60 s deadline; run.sh bounds the whole with timeout(1).
#
#   tests/e2e/cluster.sh BINARY
set -euo pipefail

bin=${1:?usage: cluster.sh BINARY}
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/millrace-cluster-e2e.XXXXXX")
pids=()
cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ $rc -ne 0 ]]; then
		for i in 1 2 3; do
			[[ -f "$work/node$i.log" ]] || continue
			echo "--- node$i log (last 20 lines) ---" >&2
			tail -n 20 "$work/node$i.log" >&2 || true
		done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT

# Nine free loopback ports: API, routes and NATS clients of each node.
read -r -a ports < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(9)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()')
api() { echo "${ports[$(($1 - 1))]}"; }
route() { echo "${ports[$(($1 + 2))]}"; }
natsport() { echo "${ports[$(($1 + 5))]}"; }

export MILLRACE_CLUSTER_SYSTEM_PASSWORD=e2e-cluster-system-pw
node_pid=()
start_node() {
	local i=$1 routes="" j
	for j in 1 2 3; do
		[[ $j == "$i" ]] || routes+="nats://127.0.0.1:$(route "$j"),"
	done
	"$bin" serve --listen "127.0.0.1:$(api "$i")" --data-dir "$work/node$i" \
		--cluster-name e2e --cluster-node-name "node$i" \
		--cluster-listen "127.0.0.1:$(route "$i")" --cluster-routes "${routes%,}" \
		--cluster-nats-listen "127.0.0.1:$(natsport "$i")" \
		>"$work/node$i.log" 2>&1 &
	node_pid[i]=$!
	pids+=("$!")
}

# status I: `millrace cluster status --json` through node I's NATS port.
status() {
	"$bin" cluster status --json --nats "nats://127.0.0.1:$(natsport "$1")"
}

# Every wait shares one deadline: the whole takes 60 s at most (about
# 25 s on an idle 2-core machine, 10 s of which remove-node's rule).
deadline=$((SECONDS + 60))

# poll DESCRIPTION COMMAND...: runs COMMAND until it succeeds.
poll() {
	local what=$1
	shift
	until "$@"; do
		((SECONDS < deadline)) || fail "$what: not by the script's 60 s deadline"
		sleep 0.3
	done
}

# check I PYTHON: node I's status, as st, satisfies the Python expression.
# A status command that fails (no quorum for a moment) is "not yet"; a
# check that cannot be evaluated fails the script.
check() {
	local out rc=0
	out=$(status "$1" 2>"$work/status.err") || return 1
	python3 -c '
import json, sys
st = json.loads(sys.argv[1])
nodes = {n["name"]: n for n in st.get("nodes") or []}
catalog = [s for s in st.get("streams") or [] if s["name"] == "KV_millrace-catalog"]
try:
    ok = eval("(" + sys.argv[2] + ")")
except Exception as e:
    print("check %r: %s" % (sys.argv[2], e), file=sys.stderr)
    sys.exit(2)
sys.exit(0 if ok else 1)' "$out" "$2" || rc=$?
	[[ $rc -ne 2 ]] || fail "cluster status --json: $out"
	return "$rc"
}

for i in 1 2 3; do start_node "$i"; done
healthy() {
	local i
	for i in 1 2 3; do
		kill -0 "${node_pid[i]}" 2>/dev/null || fail "node$i exited during start-up"
		curl -fsS "http://127.0.0.1:$(api "$i")/health" >/dev/null 2>&1 || return 1
	done
}
poll "three nodes answering GET /health" healthy

all_three='sorted(nodes) == ["node1", "node2", "node3"] and all(n["current"] and n["answered"] for n in nodes.values())
and st["meta_leader"] in nodes
and len(catalog) == 1 and len(catalog[0]["replicas"]) == 3 and all(r["current"] for r in catalog[0]["replicas"])'
poll "cluster status: three current nodes, a meta leader, the catalog on three current replicas" check 1 "$all_three"
echo "cluster status --json: three nodes current and a meta leader"

kill -KILL "${node_pid[3]}"
wait "${node_pid[3]}" 2>/dev/null || true
poll "cluster status: node3 neither answering nor current after SIGKILL" \
	check 1 '"node3" in nodes and not nodes["node3"]["answered"] and not nodes["node3"]["current"] and st["meta_leader"] in ("node1", "node2")'
echo "node3 killed: the status shows it silent"

# remove-node refuses a node heard from less than 10 s ago: "not yet",
# as is a request that timed out (after which "no such node" means the
# timed-out one removed it). Any other failure fails the script.
timed_out=""
remove() {
	local out rc=0
	out=$("$bin" cluster remove-node --nats "nats://127.0.0.1:$(natsport 1)" node3 2>&1) || rc=$?
	if [[ $rc -eq 0 ]]; then
		echo "$out"
		return 0
	fi
	case $out in
	*"still running"*) return 1 ;;
	*timeout* | *"deadline exceeded"* | *"no responders"*)
		timed_out=yes
		return 1
		;;
	*"no such node"*) [[ -n $timed_out ]] && return 0 ;;
	esac
	fail "cluster remove-node node3: exit $rc: $out"
}
poll "cluster remove-node node3" remove

poll "cluster status after remove-node: node1 and node2 only, both current, one of them leading" \
	check 2 'sorted(nodes) == ["node1", "node2"] and all(n["current"] and n["answered"] for n in nodes.values()) and st["meta_leader"] in nodes'
echo "PASS: cluster status and remove-node on three nodes of the built binary (${SECONDS} s)"
