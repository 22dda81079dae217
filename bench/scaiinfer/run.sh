#!/usr/bin/env bash
# ScaiInfer benchmarks (run by hand; not part of ./mvnw verify). Loopback only, bounded in time.
#   1. heartbeat ingestion cost: NODES simulated nodes heartbeat every second to a real gateway-core
#      (on an embedded PostgreSQL, started through the launcher); the gateway's CPU time is measured.
#   2. node-agent streaming throughput: StreamInference against a real node-agent's simulated model.
#   3. gateway relay: the same streams through gateway-core's InferenceService (API key, catalogue,
#      limits, accounting, scaiinfer provider) versus straight to the node, in one run: relayed
#      tokens/s and the time to first token added by the gateway (p50/p99).
# Needs the built jars: ./scaigrid build (or ./mvnw -o install -DskipTests). Each relay run first warms up until the
# JIT compilers of client, node and gateway are quiet (up to 300 s), so a paced model takes 6-9 minutes (warm-up, then
# 4 rounds each way).
# Settings (environment): NODES (1000), SECONDS_MEASURED (60), PORT_OFFSET (3000), CONCURRENCY (64), REQUESTS (3000),
# RELAY_CONCURRENCY (200), RELAY_WARMUP_CONCURRENCY (the same; higher to warm a low concurrency up), RELAY_ROUNDS (4),
# RELAY_PREWARM (30000 unpaced streams each way before the warm-up; 0: none),
# RELAY_ARRIVALS (closed, or open: Poisson starts), RELAY_MODELS,
# SECTIONS ("heartbeat node relay": which parts to run; add "peer" for the same relay load through nginx)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
NODES="${NODES:-1000}"
SECONDS_MEASURED="${SECONDS_MEASURED:-60}"
PORT_OFFSET="${PORT_OFFSET:-3000}"
CONCURRENCY="${CONCURRENCY:-64}"
REQUESTS="${REQUESTS:-3000}"
SECTIONS="${SECTIONS:-heartbeat node relay}"
# streams of the unpaced model through each relay before its warm-up: the once-per-stream code reaches C2 (see
# StreamThroughput --prewarm-streams), as in a gateway that has served a while
RELAY_PREWARM="${RELAY_PREWARM:-30000}"
HTTP=$((8080 + PORT_OFFSET))
GRPC=$((50051 + PORT_OFFSET))
NODE_HTTP=$((8090 + PORT_OFFSET))
NODE_GRPC=$((50060 + PORT_OFFSET))
for jar in gateway-core/target/quarkus-app/quarkus-run.jar node-agent/target/quarkus-app/quarkus-run.jar \
           deploy/launcher/target/scaigrid-launcher.jar; do
  [[ -f "$jar" ]] || { echo "missing $jar: run ./scaigrid build first" >&2; exit 1; }
done

DATA="$(mktemp -d -t scaiinfer-bench.XXXXXX)"
LAUNCHER_PID=""
NODE_PID=""
cleanup() {
  [[ -n "$NODE_PID" ]] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true
  [[ -n "$LAUNCHER_PID" ]] && kill "$LAUNCHER_PID" 2>/dev/null && wait "$LAUNCHER_PID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

listener_pid() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }

# the relay benchmark measures the gateway, not its default per-key limits
export SCAIGRID_LIMIT_KEY_RPM=100000000 SCAIGRID_LIMIT_USER_RPM=100000000 \
       SCAIGRID_LIMIT_TENANT_RPM=100000000 SCAIGRID_LIMIT_PARTNER_RPM=100000000
echo "== starting gateway-core + embedded PostgreSQL (port offset $PORT_OFFSET, data $DATA)"
java -jar deploy/launcher/target/scaigrid-launcher.jar up --only gateway-core --data-dir "$DATA" \
  --port-offset "$PORT_OFFSET" > "$DATA/launcher.log" 2>&1 &
LAUNCHER_PID=$!
for _ in $(seq 1 240); do
  grep -q "SCAIGRID READY" "$DATA/launcher.log" 2>/dev/null && break
  kill -0 "$LAUNCHER_PID" 2>/dev/null || { cat "$DATA/launcher.log"; exit 1; }
  sleep 1
done
grep -q "SCAIGRID READY" "$DATA/launcher.log" || { echo "gateway did not get ready" >&2; tail -40 "$DATA/launcher.log"; exit 1; }
ADMIN="$(grep -ho 'sgk_[A-Za-z0-9]*' "$DATA"/bootstrap-admin-key.txt "$DATA/launcher.log" 2>/dev/null | head -1)"
GATEWAY_PID="$(listener_pid "$GRPC")"
TOKEN="$(curl -sf -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' \
  -d '{"name":"bench-nodes","scopes":["scaiinfer.node"],"ttl_seconds":7200}' \
  "http://127.0.0.1:$HTTP/v1/service-tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')"
[[ -n "$TOKEN" && -n "$GATEWAY_PID" ]] || { echo "could not get a service token / the gateway pid" >&2; exit 1; }

idle_cpu() {
  local t0 t1
  sleep 15 # let start-up JIT work settle
  t0=$(awk '{print $14+$15}' "/proc/$GATEWAY_PID/stat")
  sleep 20
  t1=$(awk '{print $14+$15}' "/proc/$GATEWAY_PID/stat")
  echo "gateway idle CPU ($1): $(awk -v d=$((t1 - t0)) 'BEGIN{printf "%.1f", d/20}')% of one core"
}
if [[ " $SECTIONS " == *" heartbeat "* ]]; then
idle_cpu "no nodes"

for mode in stream unary; do
  echo "== heartbeat ingestion: $NODES nodes x 1/s, $mode"
  java -cp "gateway-core/target/quarkus-app/lib/main/*" bench/scaiinfer/HeartbeatLoad.java \
    --gateway "127.0.0.1:$GRPC" --token "$TOKEN" --gateway-pid "$GATEWAY_PID" --nodes "$NODES" \
    --interval-ms 1000 --warmup-s 40 --seconds "$SECONDS_MEASURED" --mode "$mode"
done
idle_cpu "$NODES registered nodes gone silent"
curl -sf -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$HTTP/v1/nodes" \
  | grep -o '"id":"bench-node-[0-9]*"' | wc -l | xargs -I{} echo "nodes in the shared registry: {}"

fi
echo "== starting a node-agent (simulated models bench-unpaced and bench-paced)"
java -Xmx384m -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$NODE_HTTP" -Dquarkus.grpc.server.port="$NODE_GRPC" \
  -Dquarkus.log.console.json.enabled=false -Dscaigrid.node.id=bench-node -Dscaigrid.node.inbound-token=bench-inbound \
  -Dscaigrid.node.gateway-grpc-address="127.0.0.1:$GRPC" -Dscaigrid.node.service-token="$TOKEN" \
  -Dscaigrid.node.max-concurrency=1024 \
  "-Dscaigrid.node.models[0].name=bench-unpaced" "-Dscaigrid.node.models[0].tokens-per-second=0" \
  "-Dscaigrid.node.models[0].time-to-first-token=1ms" "-Dscaigrid.node.models[0].output-tokens=64" \
  "-Dscaigrid.node.models[1].name=bench-paced" "-Dscaigrid.node.models[1].tokens-per-second=200" \
  "-Dscaigrid.node.models[1].time-to-first-token=20ms" "-Dscaigrid.node.models[1].output-tokens=64" \
  "-Dscaigrid.node.models[2].name=bench-llm" "-Dscaigrid.node.models[2].tokens-per-second=50" \
  "-Dscaigrid.node.models[2].time-to-first-token=20ms" "-Dscaigrid.node.models[2].output-tokens=64" \
  "-Dscaigrid.node.models[3].name=bench-1k" "-Dscaigrid.node.models[3].tokens-per-second=1000" \
  "-Dscaigrid.node.models[3].time-to-first-token=20ms" "-Dscaigrid.node.models[3].output-tokens=512" \
  "-Dscaigrid.node.models[4].name=bench-2k" "-Dscaigrid.node.models[4].tokens-per-second=2000" \
  "-Dscaigrid.node.models[4].time-to-first-token=20ms" "-Dscaigrid.node.models[4].output-tokens=1024" \
  "-Dscaigrid.node.models[5].name=bench-llm-ps" "-Dscaigrid.node.models[5].tokens-per-second=50" \
  "-Dscaigrid.node.models[5].time-to-first-token=20ms" "-Dscaigrid.node.models[5].output-tokens=64" \
  "-Dscaigrid.node.models[5].decode-clock=per-stream" \
  -jar node-agent/target/quarkus-app/quarkus-run.jar > "$DATA/node-agent.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$NODE_HTTP/q/health/ready" > /dev/null 2>&1 && break
  sleep 0.5
done
if [[ " $SECTIONS " == *" node "* ]]; then
echo "== node-agent streaming throughput"
for model in bench-unpaced bench-paced; do
  echo "-- $model (64 tokens per stream), $REQUESTS streams at concurrency $CONCURRENCY"
  java -cp "node-agent/target/quarkus-app/lib/main/*" bench/scaiinfer/StreamThroughput.java \
    --node "127.0.0.1:$NODE_GRPC" --token bench-inbound --model "$model" --node-pid "$NODE_PID" \
    --concurrency "$CONCURRENCY" --requests "$REQUESTS"
done
fi

# what gateway-core measured of itself over one run (scaigrid_gateway_overhead_seconds, api="grpc"):
# the share of streams whose dispatch (arrival → node call) and relay (node's first token → client
# stream) took at most each bucket bound
own_time() {
  awk -v before="$1" '
    function parse(line, arr,   m) {
      if (match(line, /^scaigrid_gateway_overhead_seconds_bucket\{api="grpc",phase="[a-z]+",le="[^"]+"\} /)) {
        split(line, f, "\""); arr[f[4] " " f[6]] = $NF
      }
    }
    FILENAME == before { parse($0, b); next }
    { parse($0, a) }
    END {
      split("dispatch relay", phases, " "); split("1.0E-4 2.5E-4 5.0E-4 0.001 0.0025", les, " "); split("0.1 0.25 0.5 1 2.5", ms, " ")
      for (p = 1; p <= 2; p++) {
        total = a[phases[p] " +Inf"] - b[phases[p] " +Inf"]; if (total <= 0) continue
        line = sprintf("    gateway-core'"'"'s own %-8s time (its metric, %d streams):", phases[p], total)
        for (i = 1; i <= 5; i++) line = line sprintf("  <= %s ms %.2f %%", ms[i], 100 * (a[phases[p] " " les[i]] - b[phases[p] " " les[i]]) / total)
        print line
      }
    }' "$1" "$2" 2>/dev/null || true
}

if [[ " $SECTIONS " == *" relay "* ]]; then
echo "== gateway relay versus direct (scaiinfer provider, simulated node)"
RELAY_CONCURRENCY="${RELAY_CONCURRENCY:-200}"
RELAY_ROUNDS="${RELAY_ROUNDS:-4}"
for _ in $(seq 1 60); do
  curl -sf -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$HTTP/v1/nodes/bench-node" | grep -q '"ACTIVE"' && break
  sleep 0.5
done
post() { curl -sf -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d "$2" "http://127.0.0.1:$HTTP$1"; }
id_of() { sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -1; }
for model in bench-unpaced bench-paced bench-llm bench-llm-ps bench-1k bench-2k; do
  MID="$(post /v1/models "{\"slug\":\"bench/$model\",\"display_name\":\"$model\",\"modality\":\"chat\"}" | id_of)"
  BID="$(post /v1/backends "{\"name\":\"$model\",\"provider_type\":\"scaiinfer\",\"model_name\":\"$model\"}" | id_of)"
  post "/v1/models/$MID/backends" "{\"backend_id\":\"$BID\"}" > /dev/null
done
# bench-llm streams at 50 tokens/s like a real model (the gateway is not saturated: a fair added time
# to first token); bench-paced (200 tokens/s) and bench-unpaced push the relay to its limit; bench-1k
# offers 1,000 tokens/s on each of the concurrent streams (200k tokens/s at 200 streams), long answers.
# Tokens a node generates in one step travel in one chunk (ChunkCoalescer): tokens/s and chunks/s differ.
# Direct and relayed rounds alternate against the same processes (RELAY_ROUNDS of each, default 4): the added
# time to first token moved by more between two single runs than any one change could move it.
for model in ${RELAY_MODELS:-bench-llm bench-llm-ps bench-paced bench-unpaced bench-1k bench-2k}; do
  echo "-- $model, $RELAY_ROUNDS x $REQUESTS streams at concurrency $RELAY_CONCURRENCY each way:" \
       "direct to the node and through gateway-core"
  java -cp "node-agent/target/quarkus-app/lib/main/*" bench/scaiinfer/StreamThroughput.java \
    --node "127.0.0.1:$GRPC" --token "$ADMIN" --model "bench/$model" --node-pid "$GATEWAY_PID" \
    --direct-node "127.0.0.1:$NODE_GRPC" --direct-token bench-inbound --direct-model "$model" --direct-pid "$NODE_PID" \
    --rounds "$RELAY_ROUNDS" --concurrency "$RELAY_CONCURRENCY" --requests "$REQUESTS" --jit-pids "$GATEWAY_PID,$NODE_PID" \
    --warmup-concurrency "${RELAY_WARMUP_CONCURRENCY:-$RELAY_CONCURRENCY}" \
    --prewarm-streams "$RELAY_PREWARM" --prewarm-model bench/bench-unpaced --direct-prewarm-model bench-unpaced \
    --arrivals "${RELAY_ARRIVALS:-closed}" \
    --metrics-url "http://127.0.0.1:$HTTP/q/metrics" --metrics-out "$DATA/metrics-before"
  curl -sf "http://127.0.0.1:$HTTP/q/metrics" > "$DATA/metrics-after" || true
  own_time "$DATA/metrics-before" "$DATA/metrics-after"
done

echo "-- gateway warnings during the run (last 10):"
grep -hE '"level":"(WARN|ERROR)"|WARN|ERROR' "$DATA"/logs/gateway-core.log 2>/dev/null | tail -10 | cut -c1-400 || true
fi

# The same direct-versus-relayed load with a general-purpose proxy as the relay instead of gateway-core (SECTIONS=peer;
# needs nginx: apt-get install nginx-light; skipped when absent): what one proxy hop that does nothing but forward adds
# to the time to first token on this host, for comparison with the gateway's figure in the same run. One worker
# process, as gateway-core's gRPC server runs one event loop. nginx's grpc_pass opens one upstream connection per
# stream (kept alive and reused) where the gateway multiplexes all streams to a node over one; no authentication, the
# node's own token passes through. (HAProxy 2.6, also tried, held each gRPC response until its stream ended.)
if [[ " $SECTIONS " == *" peer "* ]]; then
if ! command -v nginx > /dev/null; then
  echo "== nginx: not installed, peer section skipped"
else
  PEER_PORT=$((50070 + PORT_OFFSET))
  echo "== nginx as the relay (one worker), direct versus through it"
  mkdir -p "$DATA/nginx"
  cat > "$DATA/nginx.conf" <<CFG
worker_processes 1;
daemon off;
pid $DATA/nginx/nginx.pid;
error_log $DATA/nginx/error.log warn;
events { worker_connections 8000; }
http {
  access_log off;
  client_body_temp_path $DATA/nginx;
  upstream node { server 127.0.0.1:$NODE_GRPC; keepalive 1024; }
  server {
    listen 127.0.0.1:$PEER_PORT http2;
    http2_max_concurrent_streams 2048;
    location / { grpc_pass grpc://node; grpc_read_timeout 300s; grpc_send_timeout 300s; }
  }
}
CFG
  nginx -c "$DATA/nginx.conf" > "$DATA/nginx.log" 2>&1 &
  PEER_LAUNCH=$!
  for _ in $(seq 1 50); do ss -ltnH "sport = :$PEER_PORT" | grep -q . && break; sleep 0.1; done
  ss -ltnH "sport = :$PEER_PORT" | grep -q . || { echo "nginx did not start:"; cat "$DATA/nginx.log" "$DATA/nginx/error.log"; exit 1; }
  PEER_PID="$(pgrep -P "$PEER_LAUNCH" | head -1 || true)" # the worker, which serves the streams
  for model in ${RELAY_MODELS:-bench-llm}; do
    echo "-- $model, ${RELAY_ROUNDS:-4} x $REQUESTS streams at concurrency ${RELAY_CONCURRENCY:-200} each way:" \
         "direct to the node and through nginx"
    java -cp "node-agent/target/quarkus-app/lib/main/*" bench/scaiinfer/StreamThroughput.java \
      --node "127.0.0.1:$PEER_PORT" --token bench-inbound --model "$model" --node-pid "${PEER_PID:-$PEER_LAUNCH}" \
      --direct-node "127.0.0.1:$NODE_GRPC" --direct-token bench-inbound --direct-model "$model" --direct-pid "$NODE_PID" \
      --rounds "${RELAY_ROUNDS:-4}" --concurrency "${RELAY_CONCURRENCY:-200}" --requests "$REQUESTS" --jit-pids "$NODE_PID" \
      --warmup-concurrency "${RELAY_WARMUP_CONCURRENCY:-${RELAY_CONCURRENCY:-200}}" \
      --prewarm-streams "$RELAY_PREWARM" --prewarm-model bench-unpaced --direct-prewarm-model bench-unpaced \
      --arrivals "${RELAY_ARRIVALS:-closed}" --relay-label "through nginx"
  done
  kill "$PEER_LAUNCH" 2>/dev/null; wait "$PEER_LAUNCH" 2>/dev/null || true
fi
fi
