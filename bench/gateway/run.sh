#!/usr/bin/env bash
# Gateway overhead benchmark, all in one run: a fast local OpenAI-style upstream called directly,
# through gateway-core (/oai/v1) and through the Portkey gateway, at a fixed request rate, then the
# highest sustained rate of each. Targets are measured one after the other (Portkey last: overloaded,
# it keeps working off abandoned requests after its phase), each mode right after its own warm-up
# (rate/20 and rate/5 for 5 s each, then WARMUP seconds at the measured rate, default 30, then 5 s
# slices until the JIT compilers of the load generator and gateway-core used at most JIT_QUIET_MS
# (default 50) of CPU in the last slice, up to WARMUP_MAX seconds, default 120: on two cores C2 is
# still compiling the hot path a minute in). Every result line ends with what the host did meanwhile
# (hiccups, kdamond CPU, steal) and, for gateway-core, the CPU its JVM and its PostgreSQL spent per
# request; bench/tools/profile-gateway-bench.sh attributes the slow requests to their causes with a
# system-wide perf recording.
# By default every process shares both cores, as on a 2-core host; PIN=1 pins gateway-core (with its
# embedded PostgreSQL) and Portkey to CPU 1 and the load generator and the mock upstream to CPU 0.
#   bench/gateway/run.sh                  # defaults: RATE=1000 SECONDS=15 WARMUP=30 PIN=0
#   RATE=2000 SECONDS=30 PIN=1 bench/gateway/run.sh
#   PORTKEY=0 RAMP=none bench/gateway/run.sh   # gateway-core against direct only, fixed rate only
# SCAIGRID_SERVICE_JAVA_OPTS reaches gateway-core's JVM (e.g. "-Xlog:gc:file=/tmp/gc.log").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

if [[ ! -f deploy/launcher/target/scaigrid-launcher.jar || ! -f gateway-core/target/quarkus-app/quarkus-run.jar \
      || ! -f bench/target/scaigrid-bench.jar ]]; then
  echo "building gateway-core, the launcher and the bench harness ..."
  ./mvnw -q -B -DskipTests package -pl gateway-core,deploy/launcher,bench -am
fi
if [[ ! -d bench/gateway/node_modules/@portkey-ai/gateway ]]; then
  (cd bench/gateway && npm ci --no-audit --no-fund)
fi

DATA="$(mktemp -d)"
OFFSET="${OFFSET:-7000}"
GATEWAY_URL="http://127.0.0.1:$((8080 + OFFSET))"
PORTKEY_PORT="${PORTKEY_PORT:-8787}"
# the benchmark measures the gateway, not its limiter defaults
export SCAIGRID_LIMIT_KEY_RPM=100000000 SCAIGRID_LIMIT_USER_RPM=100000000 \
       SCAIGRID_LIMIT_TENANT_RPM=100000000 SCAIGRID_LIMIT_PARTNER_RPM=100000000
export QUARKUS_LOG_CONSOLE_LEVEL=WARN

if [[ "${PIN:-0}" == 1 ]]; then SERVER_CPUS=1; LOAD_CPUS=0; else SERVER_CPUS=0-$(($(nproc) - 1)); LOAD_CPUS=$SERVER_CPUS; fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT

taskset -c "$SERVER_CPUS" java ${LAUNCHER_JAVA_OPTS:-} -jar deploy/launcher/target/scaigrid-launcher.jar up --only gateway-core \
  --data-dir "$DATA" --port-offset "$OFFSET" > "$DATA/launcher.log" 2>&1 &
pids+=($!)
if [[ "${PORTKEY:-1}" == 1 ]]; then
  taskset -c "$SERVER_CPUS" node bench/gateway/node_modules/@portkey-ai/gateway/build/start-server.js \
    --port="$PORTKEY_PORT" --headless > "$DATA/portkey.log" 2>&1 &
  pids+=($!)
fi

for _ in $(seq 1 120); do
  if curl -fs "$GATEWAY_URL/q/health/ready" > /dev/null 2>&1 \
      && { [[ "${PORTKEY:-1}" != 1 ]] || curl -fs "http://127.0.0.1:$PORTKEY_PORT/" > /dev/null 2>&1; }; then
    break
  fi
  sleep 1
done
curl -fs "$GATEWAY_URL/q/health/ready" > /dev/null || { echo "gateway-core did not start:"; tail -50 "$DATA/launcher.log"; exit 1; }
PORTKEY_URL=""
if [[ "${PORTKEY:-1}" == 1 ]]; then
  PORTKEY_URL="http://127.0.0.1:$PORTKEY_PORT"
  curl -fs "$PORTKEY_URL/" > /dev/null || { echo "Portkey did not start (continuing without it):"; tail -20 "$DATA/portkey.log"; PORTKEY_URL=""; }
fi

# gateway-core's JVM and its PostgreSQL postmaster (with their children): the harness reports their CPU per request
GATEWAY_PID="$(pgrep -f 'gateway-core/target/quarkus-app' | head -1 || true)"
POSTMASTER_PID="$(pgrep -f "postgres.*-D $DATA" | head -1 || true)"
export WATCH_PIDS="$(echo "$GATEWAY_PID,$POSTMASTER_PID" | sed 's/^,//; s/,$//')"
ADMIN_KEY="$(cat "$DATA/bootstrap-admin-key.txt")" GATEWAY_URL="$GATEWAY_URL" PORTKEY_URL="$PORTKEY_URL" \
  taskset -c "$LOAD_CPUS" java -Xmx512m -jar bench/target/scaigrid-bench.jar
echo "gateway-core RSS after the run: $(ps -o rss= -p "$GATEWAY_PID" | awk '{printf "%.0f MiB", $1/1024}')"
