#!/usr/bin/env bash
# Measures `millrace agent`: one file of LINES 200-byte lines shipped into
# a 4-shard stream of a local Millrace server (throughput limits off),
# with the server in a process of its own so that the agent's CPU share
# is visible. Each run starts a fresh server and a fresh checkpoint, times
# the agent from its start until its metrics count every line sent, and
# reads the agent's CPU time and peak RSS (VmHWM) from /proc before
# stopping it.
#
#   scripts/agent-bench.sh                       # builds ./cmd/millrace, 5 rounds
#   BINS="old=/tmp/m-old new=/tmp/m-new" ROUNDS=7 scripts/agent-bench.sh
#   SERVER_BIN=/tmp/millrace BINS="small=/tmp/millrace-agent" scripts/agent-bench.sh
#
# A binary of BINS is millrace (run as "millrace agent", and as the server
# unless SERVER_BIN is set) or millrace-agent (then SERVER_BIN is needed).
# With several binaries, rounds alternate between them (old, new, old,
# new, ...) so that a noisy machine hurts each alike. MODES is any of
# "aggregated plain"; AGENT_FLAGS are added to every agent command line;
# AGENT_ENV (e.g. "GOGC=50") to its environment. Prints one line per run
# and the medians (and ranges) per binary and mode; raw lines go to
# $OUT/runs.tsv.
set -euo pipefail

LINES=${LINES:-1000000}
ROUNDS=${ROUNDS:-5}
MODES=${MODES:-"aggregated plain"}
PORT=${PORT:-45710}
METRICS_PORT=${METRICS_PORT:-45711}
OUT=${OUT:-$(mktemp -d /tmp/millrace-agent-bench.XXXXXX)}
mkdir -p "$OUT"
root=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${BINS:-}" ]; then
  (cd "$root" && go build -o "$OUT/millrace" ./cmd/millrace)
  BINS="current=$OUT/millrace"
fi
echo "results in $OUT" >&2

log=$OUT/app.log
if [ ! -s "$log" ]; then
  # "line 000000001 xxx...x\n": 200 bytes each.
  pad=$(printf 'x%.0s' $(seq 1 185))
  awk -v n="$LINES" -v pad="$pad" 'BEGIN { for (i = 0; i < n; i++) printf "line %09d %s\n", i, pad }' >"$log"
fi

export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
endpoint=http://127.0.0.1:$PORT

cpu_seconds() { # pid -> user+system seconds
  awk '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat"
}
hwm_mib() { # pid -> VmHWM in MiB
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}
sent() {
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | awk '/^millrace_agent_records_sent_total / { print $2 }'
}

srv= agent=
trap 'kill $agent $srv 2>/dev/null || true' EXIT
trap 'exit 1' INT TERM

run_one() { # name binary mode
  local name=$1 bin=$2 mode=$3 dir flags=() start end n
  dir=$(mktemp -d "$OUT/run.XXXXXX")
  local agentcmd=("$bin")
  "$bin" agent --help >/dev/null 2>&1 && agentcmd+=(agent)
  "${SERVER_BIN:-$bin}" serve --data-dir "$dir/data" --listen "127.0.0.1:$PORT" --log-level warn \
    --throughput-limits=off --metrics=off >"$dir/server.log" 2>&1 &
  srv=$!
  for _ in $(seq 100); do curl -sf "$endpoint/health" >/dev/null && break; sleep 0.1; done
  aws --endpoint-url "$endpoint" kinesis create-stream --stream-name bench --shard-count 4
  aws --endpoint-url "$endpoint" kinesis wait stream-exists --stream-name bench
  cat >"$dir/agent.json" <<EOF
{
  "kinesis.endpoint": "$endpoint",
  "checkpointFile": "$dir/checkpoints",
  "flows": [{"filePattern": "$log", "kinesisStream": "bench", "initialPosition": "START_OF_FILE",
             "maxBufferAgeMillis": 1000, "minTimeBetweenFilePollsMillis": 100}]
}
EOF
  [ "$mode" = aggregated ] && flags+=(--aggregate)
  local srv_cpu0
  srv_cpu0=$(cpu_seconds "$srv")
  start=$(date +%s.%N)
  env ${AGENT_ENV:-} "${agentcmd[@]}" --config "$dir/agent.json" --no-rate-limit --metrics-listen "127.0.0.1:$METRICS_PORT" \
    "${flags[@]}" ${AGENT_FLAGS:-} 2>"$dir/agent.log" &
  agent=$!
  while :; do
    n=$(sent || true)
    # Prometheus writes 1e+06 for 1000000.
    awk -v n="${n:-0}" -v want="$LINES" 'BEGIN { exit !(n + 0 >= want + 0) }' && break
    if ! kill -0 "$agent" 2>/dev/null; then echo "agent exited; see $dir/agent.log" >&2; cat "$dir/agent.log" >&2; exit 1; fi
    sleep 0.05
  done
  end=$(date +%s.%N)
  local cpu hwm scpu
  cpu=$(cpu_seconds "$agent")
  hwm=$(hwm_mib "$agent")
  scpu=$(awk -v a="$(cpu_seconds "$srv")" -v b="$srv_cpu0" 'BEGIN { printf "%.2f", a - b }')
  kill -TERM "$agent"
  wait "$agent" || true
  kill -TERM "$srv"
  wait "$srv" || true
  srv= agent=
  awk -v name="$name" -v mode="$mode" -v n="$LINES" -v s="$start" -v e="$end" -v cpu="$cpu" -v hwm="$hwm" -v scpu="$scpu" \
    -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\n", name, mode, n / (e - s), n / cpu, hwm, scpu, load }' | tee -a "$OUT/runs.tsv"
  rm -rf "$dir"
}

printf 'binary\tmode\tlines/s\tlines/agent-cpu-s\tpeak-RSS-MiB\tserver-cpu-s\tload\n'
for round in $(seq "$ROUNDS"); do
  for mode in $MODES; do
    for b in $BINS; do
      run_one "${b%%=*}" "${b#*=}" "$mode"
    done
  done
done

echo
echo "medians (min-max) over $ROUNDS rounds:"
printf 'binary\tmode\tlines/s\tlines/agent-cpu-s\tpeak-RSS-MiB\n'
for mode in $MODES; do
  for b in $BINS; do
    name=${b%%=*}
    awk -F'\t' -v name="$name" -v mode="$mode" '$1 == name && $2 == mode' "$OUT/runs.tsv" | sort -t$'\t' -k3,3n | awk -F'\t' '
      { r[NR] = $3; c[NR] = $4; m[NR] = $5 }
      function med(a, n,   t, i, j) { for (i = 1; i <= n; i++) t[i] = a[i]; for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }; return n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2 }
      function lo(a, n,   i, v) { v = a[1]; for (i = 2; i <= n; i++) if (a[i] < v) v = a[i]; return v }
      function hi(a, n,   i, v) { v = a[1]; for (i = 2; i <= n; i++) if (a[i] > v) v = a[i]; return v }
      END { if (NR) printf "%s\t%s\t%.0f (%.0f-%.0f)\t%.0f (%.0f-%.0f)\t%.1f (%.1f-%.1f)\n", $1, $2, med(r, NR), lo(r, NR), hi(r, NR), med(c, NR), lo(c, NR), hi(c, NR), med(m, NR), lo(m, NR), hi(m, NR) }'
  done
done
