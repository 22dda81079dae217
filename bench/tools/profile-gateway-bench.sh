#!/usr/bin/env bash
# Runs bench/gateway/run.sh under a system-wide `perf record` (wall-clock timestamps) with the
# gateway's GC log and the load generator's slow-request lists, then attributes the slow requests
# of the measured gateway-core phases to kdamond bursts, GC pauses or anything else
# (bench/tools/attribute-stalls.py). Needs perf and permission to use it system-wide (root, or
# kernel.perf_event_paranoid <= 0). Everything else as bench/gateway/run.sh (RATE, SECONDS, WARMUP...).
#   OUT=/tmp/prof SLOW_MS=2 RAMP=none bench/tools/profile-gateway-bench.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
command -v perf > /dev/null || { echo "perf is not installed" >&2; exit 1; }

perf record -k CLOCK_REALTIME -a -F 997 -o "$OUT/perf.data" -- sleep 100000 > "$OUT/perf-record.log" 2>&1 &
PERF=$!
trap 'kill -INT $PERF 2>/dev/null || true' EXIT
sleep 1
SLOW_MS="${SLOW_MS:-2}" RAMP="${RAMP:-none}" \
SCAIGRID_SERVICE_JAVA_OPTS="${SCAIGRID_SERVICE_JAVA_OPTS:-} -Xlog:gc*:file=$OUT/gateway-gc.log:time" \
  "$ROOT/bench/gateway/run.sh" | tee "$OUT/bench.log" | grep -v '^\[slow'
kill -INT $PERF; wait $PERF || true
trap - EXIT
perf script -i "$OUT/perf.data" -F comm,pid,cpu,time 2> /dev/null > "$OUT/perf.txt"
for phase in "gateway-core" "gateway-core stream"; do
  echo
  python3 "$ROOT/bench/tools/attribute-stalls.py" --bench "$OUT/bench.log" --perf "$OUT/perf.txt" \
    --gc "$OUT/gateway-gc.log" --phase "$phase"
done
echo "raw data in $OUT"
