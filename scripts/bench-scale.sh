#!/usr/bin/env bash
# Scale: many streams, many shards. For each scenario (STREAMSxSHARDS;
# by default 1,000 streams of 4 shards and one stream of 10,000 shards) a
# server on a fresh data directory (create delay 0, throughput limits off)
# gets every stream created and RECORDS records of 1 KiB written to every
# shard by explicit hash key from 8 workers (millrace bench scale --phase
# write); it is stopped with SIGTERM (timed until it exits), started again,
# and millrace bench scale --phase read times from the start until every
# stream is served (DescribeStreamSummary on each), takes the server's
# VmRSS and RssAnon then, and reads every shard back (GetShardIterator and
# GetRecords until its records are counted, each one verified), with the
# peak RSS of the read-back.
#
#   scripts/bench-scale.sh                          # both scenarios, once
#   ROUNDS=2 SCENARIOS="1x10000" scripts/bench-scale.sh
#   BINS="/tmp/base/millrace new" scripts/bench-scale.sh  # interleave two builds
#   KEEP=1 SCENARIOS="1x10000" scripts/bench-scale.sh      # keep the data directories
#
# BINS names server binaries; "new" (the default) is one built from this
# tree, which is also the client. Every round runs every scenario on every
# binary, in turn. Progress goes to stderr. Writes, per run,
# <bin>-<scenario>-<round>.json (write phase, stop time, read phase) into
# $OUT/results, the servers' logs (warnings and errors) into $OUT, and
# table.md (also printed). A failed phase is reported and its run marked
# failed in the table; the script goes on with the next run and exits 1 at
# the end.
set -euo pipefail

SCENARIOS=${SCENARIOS:-"1000x4 1x10000"}
RECORDS=${RECORDS:-10}
SIZE=${SIZE:-1024}
WORKERS=${WORKERS:-8}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-45710}
KEEP=${KEEP:-}
OUT=${OUT:-$(mktemp -d /tmp/millrace-scale.XXXXXX)}
root=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$OUT/results"
echo "results in $OUT" >&2
(cd "$root" && go build -o "$OUT/new" ./cmd/millrace)
client=$OUT/new
BINS=${BINS:-new}
bins=()
for b in $BINS; do
  [ "$b" = new ] && b=$OUT/new
  bins+=("$b")
done

pid=
dir=
stop_server() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
cleanup() {
  stop_server
  if [ -n "$dir" ] && [ -z "$KEEP" ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

start_server() { # bin log
  "$1" serve --data-dir "$dir" --listen "127.0.0.1:$PORT" --log-level warn \
    --throughput-limits=off --create-delay 0s >>"$2" 2>&1 &
  pid=$!
}

wait_health() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/health" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

status=0
run() { # bin scenario round
  local bin=$1 scen=$2 round=$3 streams shards name log t0 t1 start ok=1
  streams=${scen%x*}
  shards=${scen#*x}
  name=$(basename "$bin")-$scen-$round
  log=$OUT/$name.log
  dir=$(mktemp -d "$OUT/data.XXXXXX")
  local args=(bench scale --endpoint "http://127.0.0.1:$PORT" --streams "$streams" --shards "$shards"
    --records "$RECORDS" --size "$SIZE" --workers "$WORKERS")
  echo "$name: $streams streams x $shards shards, $RECORDS records of $SIZE bytes a shard" >&2
  start_server "$bin" "$log"
  if ! wait_health; then
    echo "$name: the server did not start; see $log" >&2
    stop_server
    return 1
  fi
  if ! "$client" "${args[@]}" --phase write --pid "$pid" >"$OUT/$name.write.json"; then
    echo "$name: the write phase failed; see $log and $OUT/$name.write.json" >&2
    ok=0
  fi
  t0=$(date +%s%N)
  kill -TERM "$pid"
  wait "$pid" || echo "$name: the server exited with status $? on SIGTERM" >&2
  t1=$(date +%s%N)
  pid=
  echo "$name: stopped in $(((t1 - t0) / 1000000)) ms" >&2
  start=$(date +%s%N)
  start_server "$bin" "$log"
  if ! "$client" "${args[@]}" --phase read --pid "$pid" --since "$start" >"$OUT/$name.read.json"; then
    echo "$name: the read phase failed; see $log and $OUT/$name.read.json" >&2
    ok=0
  fi
  stop_server
  python3 - "$OUT/$name.write.json" "$OUT/$name.read.json" "$(((t1 - t0) / 1000))" "$ok" "$(basename "$bin")" "$scen" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/results/$name.json" <<'PY' || ok=0
import json, sys
def load(p):
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return None
w, r = load(sys.argv[1]), load(sys.argv[2])
print(json.dumps({"bin": sys.argv[5], "scenario": sys.argv[6], "ok": sys.argv[4] == "1" and w is not None and r is not None,
                  "load": sys.argv[7], "write": w, "stop_seconds": int(sys.argv[3]) / 1e6, "read": r}, indent=2))
PY
  if [ -s "$log" ]; then echo "$name: the server logged $(wc -l <"$log") lines (warnings and errors) in $log" >&2; fi
  [ -z "$KEEP" ] && rm -rf "$dir"
  dir=
  [ "$ok" = 1 ]
}

for round in $(seq 1 "$ROUNDS"); do
  for scen in $SCENARIOS; do
    for bin in "${bins[@]}"; do
      run "$bin" "$scen" "$round" || status=1
    done
  done
done

python3 - "$OUT/results" >"$OUT/table.md" <<'PY'
import glob, json, sys
print("| binary | scenario | load | create s | write s | stop ms | restart to served ms (server CPU ms) | RSS / RssAnon after restart MiB | read s | read peak RSS / RssAnon MiB | verified | errors |")
print("|---" * 12 + "|")
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    x = json.load(open(f))
    w, r = x.get("write") or {}, x.get("read") or {}
    ar = r.get("after_restart") or {}
    rd = r.get("read") or {}
    errs = {}
    for phase in (w, r):
        for k, v in (phase.get("errors") or {}).items():
            errs[k] = errs.get(k, 0) + v
    streams, shards = x["scenario"].split("x")
    verified = rd.get("verified", 0)
    want = int(streams) * int(shards) * (r.get("records_per_shard") or 0)
    ok = "yes" if x["ok"] and verified == want and want > 0 else "NO (%d of %d)" % (verified, want)
    print("| %s | %s × %s | %s | %.2f | %.2f | %.0f | %.0f (%.0f) | %.1f / %.1f | %.2f | %.1f / %.1f | %s | %s |" % (
        x["bin"], streams, shards, x["load"].split()[0], w.get("create_seconds", 0), w.get("write_seconds", 0),
        x["stop_seconds"] * 1e3, r.get("served_seconds", 0) * 1e3, r.get("served_cpu_seconds", 0) * 1e3, ar.get("rss_mib", 0), ar.get("rss_anon_mib", 0),
        r.get("read_seconds", 0), r.get("read_peak_rss_mib", 0), r.get("read_peak_rss_anon_mib", 0), ok, ", ".join("%s %d" % kv for kv in errs.items()) or "none"))
PY
cat "$OUT/table.md"
exit $status
