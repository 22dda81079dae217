#!/usr/bin/env bash
# lookup-proxy overhead benchmark: builds the bench classes (offline) and runs them.
# Needs gateway-core and lookup-proxy packaged first:
#   ./mvnw -o -q install -DskipTests -pl platform-commons,gateway-core,lookup-proxy -am
# Options (all optional): --rate 500 --seconds 15 --warmup-seconds 30 (the JIT needs that long on 2 cores)
# BENCH_PROXY_JVM: the proxy JVM's options (default -Xmx256m), e.g. "-Xmx256m -Xlog:gc:file=/tmp/gc.log"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
for jar in gateway-core lookup-proxy; do
  if [ ! -f "$root/$jar/target/quarkus-app/quarkus-run.jar" ]; then
    echo "$jar is not built: ./mvnw -o -q install -DskipTests -pl platform-commons,gateway-core,lookup-proxy -am" >&2
    exit 1
  fi
done
"$root/mvnw" -q -o -f "$here/pom.xml" compile dependency:build-classpath -Dmdep.outputFile="$here/target/classpath.txt"
cd "$here"
exec java -Xmx512m -Dbench.proxy-jvm="${BENCH_PROXY_JVM:--Xmx256m}" -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" \
  -Dscaigrid.gateway-core.app="$root/gateway-core/target/quarkus-app/quarkus-run.jar" \
  -Dscaigrid.lookup-proxy.app="$root/lookup-proxy/target/quarkus-app/quarkus-run.jar" \
  ai.scaigrid.bench.LookupProxyBench "$@"
