#!/usr/bin/env bash
# Compares Millrace with kinesalite and kinesis-mock on this machine, with
# the same load generator (millrace bench) and the same load: PutRecords of
# 500 x 1 KiB records over 4 shards from 4 workers, then a verified
# read-back of every shard. Rounds are interleaved so that a noisy machine
# hurts every target alike; the table gives medians and ratios to
# kinesalite.
#
#   scripts/bench-compare.sh            # 3 rounds of 10 s per target
#   ROUNDS=5 DURATION=20s scripts/bench-compare.sh
#   RATE=25 BURST=4 scripts/bench-compare.sh  # latency: 25 MB/s offered
#                                             # in bursts of four calls
#
# TARGETS picks the targets (default: all four, in this order).
# BENCH_GOGC is the load generator's GOGC (default 400: the SDK client
# spends a fifth of its CPU in GC at the default of 100, CPU that the
# server under test shares on a small machine; "" for Go's default).
#
# Needs go, node and npm (kinesalite@3.3.3 and kinesis-local@0.6.2 are
# installed from the npm registry into $BENCH_CACHE). Writes the raw JSON
# results and table.md into $OUT.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
OUT=${OUT:-$(mktemp -d /tmp/millrace-compare.XXXXXX)}
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/millrace-bench}
TARGETS=${TARGETS:-"millrace-raw millrace-sdk kinesalite kinesis-mock"}
PORT=${PORT:-45670}
RATE=${RATE:-}
BURST=${BURST:-}
BENCH_GOGC=${BENCH_GOGC-400}
root=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$OUT/results" "$BENCH_CACHE"
echo "results in $OUT" >&2
(cd "$root" && go build -o "$OUT/millrace" ./cmd/millrace)
if [ ! -d "$BENCH_CACHE/node_modules/kinesalite" ] || [ ! -d "$BENCH_CACHE/node_modules/kinesis-local" ]; then
  npm install --silent --no-audit --no-fund --prefix "$BENCH_CACHE" kinesalite@3.3.3 kinesis-local@0.6.2 >&2
fi

# Millrace's throughput limits would throttle this load: turn them off
# where the binary has them.
limits=()
if "$OUT/millrace" --help | grep -q -- '--throughput-limits'; then
  limits=(--throughput-limits=off)
fi

pid=
start_target() { # name -> sets pid and endpoint
  local name=$1 dir
  endpoint=http://127.0.0.1:$PORT
  case $name in
  millrace-*)
    dir=$(mktemp -d "$OUT/data.XXXXXX")
    "$OUT/millrace" serve --data-dir "$dir" --listen "127.0.0.1:$PORT" --log-level warn "${limits[@]}" >>"$OUT/server.log" 2>&1 &
    ;;
  kinesalite)
    node "$BENCH_CACHE/node_modules/kinesalite/cli.js" --port "$PORT" \
      --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 1000 >>"$OUT/server.log" 2>&1 &
    ;;
  kinesis-mock)
    # kinesis-local reads its TLS certificate (server.json) from the
    # working directory.
    (cd "$BENCH_CACHE/node_modules/kinesis-local" &&
      KINESIS_MOCK_PLAIN_PORT=$PORT KINESIS_MOCK_TLS_PORT=$((PORT + 1)) CREATE_STREAM_DURATION=0ms \
        DELETE_STREAM_DURATION=0ms SHARD_LIMIT=1000 LOG_LEVEL=WARN exec node main.js) >>"$OUT/server.log" 2>&1 &
    ;;
  esac
  pid=$!
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null -X POST "$endpoint/" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$name did not start; see $OUT/server.log" >&2
  return 1
}

stop_target() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$OUT"/data.*
}
trap 'stop_target' EXIT

load=()
if [ -n "$RATE" ]; then load+=(--rate "$RATE"); fi
if [ -n "$BURST" ]; then load+=(--burst "$BURST"); fi
benchenv=()
if [ -n "$BENCH_GOGC" ]; then benchenv=(GOGC="$BENCH_GOGC"); fi

for round in $(seq 1 "$ROUNDS"); do
  for t in $TARGETS; do
    client=sdk
    [ "$t" = millrace-raw ] && client=raw
    start_target "$t"
    echo "round $round: $t" >&2
    if ! env "${benchenv[@]}" "$OUT/millrace" bench --endpoint "$endpoint" --client "$client" --shards 4 --workers 4 \
      --batch 500 --size 1024 --duration "$DURATION" "${load[@]}" --pid "$pid" --json \
      >"$OUT/results/$t.$round.json" 2>>"$OUT/bench.log"; then
      echo "  $t failed (see $OUT/bench.log)" >&2
    fi
    stop_target
  done
done

python3 - "$OUT" $TARGETS >"$OUT/table.md" <<'PY'
import glob, json, statistics, sys
out, targets = sys.argv[1], sys.argv[2:]
rows = {}
for t in targets:
    rs = []
    for f in sorted(glob.glob(f"{out}/results/{t}.*.json")):
        try:
            rs.append(json.load(open(f)))
        except ValueError:
            pass
    rows[t] = rs
def med(rs, f):
    v = [f(r) for r in rs if f(r) is not None]
    return statistics.median(v) if v else None
cols = [
    ("write MB/s", lambda r: r["write"]["mb_per_sec"]),
    ("write rec/s", lambda r: r["write"]["records_per_sec"]),
    ("p50 ms", lambda r: r["write"]["latency_ms"]["p50"]),
    ("p99 ms", lambda r: r["write"]["latency_ms"]["p99"]),
    ("last of burst p99 ms", lambda r: r["write"]["burst_latency_ms"][-1]["p99"] if r["write"].get("burst_latency_ms") else None),
    ("read rec/s", lambda r: (r.get("read") or {}).get("records_per_sec")),
    ("server CPU ms/MB", lambda r: r["server"]["write_cpu_seconds"] * 1e3 / max(r["write"]["bytes"] / 1e6, 1e-9) if r.get("server") else None),
    ("peak RSS MiB", lambda r: (r.get("server") or {}).get("peak_rss_mib")),
]
# Columns no run has a value for (the burst column without BURST) are left out.
cols = [c for c in cols if any(c[1](r) is not None for rs in rows.values() for r in rs)] or cols
base = med(rows.get("kinesalite", []), cols[0][1])
print("| target | runs | " + " | ".join(c for c, _ in cols) + " | MB/s vs kinesalite | verified |")
print("|---" * (len(cols) + 4) + "|")
for t in targets:
    rs = rows[t]
    cells = []
    for _, f in cols:
        m = med(rs, f)
        cells.append("–" if m is None else (f"{m:,.0f}" if m >= 100 else f"{m:.1f}"))
    m = med(rs, cols[0][1])
    ratio = f"{m / base:.1f}×" if base and m is not None else "–"
    ok = all((r.get("read") or {}).get("missing", 1) == 0 for r in rs) if rs else False
    print(f"| {t} | {len(rs)} | " + " | ".join(cells) + f" | {ratio} | {'yes' if ok else 'NO'} |")
PY
cat "$OUT/table.md"
