#!/usr/bin/env bash
# Retention under load: one stream written at a steady rate (5 MB/s by
# default: 500 x 1 KiB PutRecords over 5 shards from 4 workers) for
# DURATION, the data directory's size sampled every SAMPLE seconds.
#
# Retention cannot be set below 24 hours through the API, so the "trim"
# mode starts the server with --retention-hour=1s (a setting for retention
# tests and benchmarks only): the stream's 24-hour retention lasts
# 24 seconds and the retention loop trims every --retention-check-interval.
# The "keep" mode is the same run with real hours, so nothing expires:
# the put latency of the two modes shows what trimming costs.
#
#   scripts/bench-retention.sh                       # trim and keep, 3 min each
#   DURATION=10m MODES="trim" scripts/bench-retention.sh
#   BINS="old new" ROUNDS=2 scripts/bench-retention.sh  # interleave two builds
#
# BINS names server binaries (default: one built from this tree); every
# round runs every binary in every mode, in turn. Writes, per run,
# <bin>-<mode>-<round>.json (the bench summary) and .du (seconds and
# bytes, one sample a line) into $OUT, and a summary to stdout.
set -euo pipefail

DURATION=${DURATION:-3m}
RATE=${RATE:-5}
SHARDS=${SHARDS:-5}
SAMPLE=${SAMPLE:-10}
ROUNDS=${ROUNDS:-1}
MODES=${MODES:-"trim keep"}
CHECK=${CHECK:-5s}
PORT=${PORT:-45690}
OUT=${OUT:-$(mktemp -d /tmp/millrace-retention.XXXXXX)}
root=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$OUT"
echo "results in $OUT" >&2
if [ -z "${BINS:-}" ]; then
  (cd "$root" && go build -o "$OUT/millrace" ./cmd/millrace)
  BINS=$OUT/millrace
fi
client=$(echo "$BINS" | awk '{print $NF}')

pid=
dir=
stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
  [ -n "$dir" ] && rm -rf "$dir"
  dir=
}
trap stop EXIT

run() { # bin mode round
  local bin=$1 mode=$2 round=$3 hour=1h name
  name=$(basename "$bin")-$mode-$round
  [ "$mode" = trim ] && hour=1s
  dir=$(mktemp -d "$OUT/data.XXXXXX")
  "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$PORT" --log-level warn \
    --throughput-limits=off --create-delay 0s --retention-hour "$hour" \
    --retention-check-interval "$CHECK" >>"$OUT/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/health" && break
    sleep 0.1
  done
  : >"$OUT/$name.du"
  (
    t=0
    while kill -0 "$pid" 2>/dev/null; do
      echo "$t $(du -sb "$dir" | cut -f1)" >>"$OUT/$name.du"
      sleep "$SAMPLE"
      t=$((t + SAMPLE))
    done
  ) &
  local sampler=$!
  "$client" bench --endpoint "http://127.0.0.1:$PORT" --client raw --shards "$SHARDS" \
    --workers 4 --batch 500 --size 1024 --rate "$RATE" --duration "$DURATION" \
    --read=false --pid "$pid" --json >"$OUT/$name.json" 2>>"$OUT/bench.log"
  stop
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  printf '%s: %s; disk MB every %ss: %s\n' "$name" \
    "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); w=r["write"]; print("%.2f MB/s, p50 %.2f ms, p99 %.2f ms" % (w["mb_per_sec"], w["latency_ms"]["p50"], w["latency_ms"]["p99"]))' "$OUT/$name.json" 2>/dev/null || echo "no summary")" \
    "$SAMPLE" "$(awk '{printf "%d ", $2/1e6}' "$OUT/$name.du")"
}

for round in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    for bin in $BINS; do
      run "$bin" "$mode" "$round"
    done
  done
done
