package ai.scaigrid.bench;

import ai.scaigrid.commons.embedded.EmbeddedPostgresServer;
import ai.scaigrid.commons.testing.GatewayCoreTestResource;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Measures what lookup-proxy adds to a lookup, TensorZero-style: a mock upstream on the same host, an
 * open-loop load at a fixed request rate (latency counted from each request's scheduled start, so a
 * stall is not hidden), the same load sent once directly to the upstream and once through the proxy,
 * and the difference per percentile reported as the added latency.
 *
 * <p>Everything is real except the upstream: gateway-core (identity; the caller is introspected over
 * gRPC and cached as in production), an embedded PostgreSQL, and the packaged lookup-proxy in the prod
 * profile with the tenant's key stored through its own API (sealed, read through the cache).
 */
public final class LookupProxyBench {
    private static final String UPSTREAM_BODY = "{\"data\":[{\"id\":\"sc_support\",\"slug\":\"support\",\"display_name\":\"Support workflows\","
            + "\"description\":\"Tickets\"},{\"id\":\"sc_billing\",\"slug\":\"billing\",\"display_name\":\"Billing\",\"description\":\"Invoices\"},"
            + "{\"id\":\"sc_ops\",\"slug\":\"ops\",\"display_name\":\"Operations\",\"description\":\"Runbooks\"}]}";

    private record Stats(String name, int count, int errors, double mean, double p50, double p90, double p95, double p99,
                         double p999, double max, Stats inside) {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parse(args);
        int rate = Integer.parseInt(options.getOrDefault("rate", "500"));
        int seconds = Integer.parseInt(options.getOrDefault("seconds", "15"));
        int warmup = Integer.parseInt(options.getOrDefault("warmup-seconds", "30"));
        Path proxyJar = Path.of(System.getProperty("scaigrid.lookup-proxy.app",
                "../../lookup-proxy/target/quarkus-app/quarkus-run.jar")).toAbsolutePath().normalize();

        System.out.printf(Locale.ROOT, "lookup-proxy overhead: %d req/s for %d s (after %d s warm-up), %d CPUs%n",
                rate, seconds, warmup, Runtime.getRuntime().availableProcessors());

        GatewayCoreTestResource gatewayResource = new GatewayCoreTestResource();
        gatewayResource.init(Map.of());
        EmbeddedPostgresServer postgres = null;
        Process proxy = null;
        Vertx upstreamVertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
        Vertx clientVertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
        try {
            System.out.println("starting gateway-core ...");
            Map<String, String> gateway = gatewayResource.start();
            String adminKey = gateway.get("scaigrid.test.gateway-admin-key");

            HttpServer upstream = upstreamVertx.createHttpServer()
                    .requestHandler(req -> req.response().putHeader("content-type", "application/json").end(UPSTREAM_BODY))
                    .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            int upstreamPort = upstream.actualPort();

            postgres = EmbeddedPostgresServer.start(null, 0);
            postgres.createDatabaseIfMissing("lookup_bench");
            int proxyPort = freePort();
            System.out.println("starting lookup-proxy ...");
            proxy = startProxy(proxyJar, proxyPort, postgres, gateway, upstreamPort);

            // the tenant's key, stored through the proxy's own API (the bench caller is the gateway's super admin)
            String storeBody = "{\"api_key\":\"sgk_" + "BenchTenantUpstreamKey".repeat(2) + "\"}";
            int stored = send(java.net.http.HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxyPort
                            + "/v1/tenants/me/scaigrid_credentials"))
                    .header("Authorization", "Bearer " + adminKey).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(storeBody)).build());
            if (stored != 201 && stored != 200) {
                throw new IllegalStateException("could not store the tenant key: HTTP " + stored);
            }

            HttpClient client = clientVertx.createHttpClient(new HttpClientOptions()
                    .setMaxPoolSize(256).setKeepAlive(true).setPipelining(false));
            Map<String, String> auth = Map.of("Authorization", "Bearer " + adminKey);
            String direct = "/v1/scopes";
            String proxied = "/api/v1/scaiqueue/scopes";

            System.out.println("warming up ...");
            run(clientVertx, client, "warm-up direct", upstreamPort, direct, auth, rate, warmup);
            run(clientVertx, client, "warm-up proxy", proxyPort, proxied, auth, rate, warmup);

            System.out.println("measuring ...");
            Stats d = run(clientVertx, client, "direct", upstreamPort, direct, auth, rate, seconds);
            long cpuBefore = cpuNanos(proxy.pid());
            Stats p = run(clientVertx, client, "via proxy", proxyPort, proxied, auth, rate, seconds);
            long cpuUsed = cpuNanos(proxy.pid()) - cpuBefore;
            print(List.of(d, p));
            Stats in = p.inside();
            System.out.printf(Locale.ROOT, "%nvia proxy, time outside the upstream wait (client latency - Server-Timing upstream;dur),"
                            + " ms:%n  mean %.3f   p50 %.3f   p90 %.3f   p95 %.3f   p99 %.3f   p99.9 %.3f%n",
                    in.mean(), in.p50(), in.p90(), in.p95(), in.p99(), in.p999());
            System.out.printf(Locale.ROOT, "%nadded by lookup-proxy (via proxy - direct), ms:%n"
                            + "  mean %.3f   p50 %.3f   p90 %.3f   p95 %.3f   p99 %.3f   p99.9 %.3f%n",
                    p.mean() - d.mean(), p.p50() - d.p50(), p.p90() - d.p90(), p.p95() - d.p95(), p.p99() - d.p99(),
                    p.p999() - d.p999());
            if (cpuBefore >= 0) {
                // CPU time does not depend on what else runs on the machine, unlike latency
                System.out.printf(Locale.ROOT, "lookup-proxy CPU per request (user+system, all threads incl. GC and JIT): %.1f us%n",
                        cpuUsed / 1000.0 / p.count());
            }
            System.out.printf(Locale.ROOT, "target: p99 added < 1 ms on loopback -> %s%n",
                    p.p99() - d.p99() < 1.0 ? "MET" : "NOT MET");
            if (d.errors() + p.errors() > 0) {
                System.out.println("WARNING: some requests failed; see the errors column");
            }
        } finally {
            if (proxy != null) {
                proxy.destroy();
                proxy.waitFor(20, TimeUnit.SECONDS);
            }
            gatewayResource.stop();
            if (postgres != null) {
                postgres.close();
            }
            clientVertx.close();
            upstreamVertx.close();
        }
        System.exit(0);
    }

    /** Open loop: request i is due at start + i/rate whatever happened to the earlier ones. */
    private static Stats run(Vertx vertx, HttpClient client, String name, int port, String path, Map<String, String> headers,
                             int rate, int seconds) throws InterruptedException {
        int total = rate * seconds;
        long[] latency = new long[total];
        // client latency minus the upstream wait the proxy reports (Server-Timing); 0 when absent
        long[] outside = new long[total];
        AtomicInteger errors = new AtomicInteger();
        CountDownLatch finished = new CountDownLatch(total);
        long[] upstreamNanos = new long[total];
        long start = System.nanoTime() + 20_000_000L;
        int[] sent = {0};
        vertx.setPeriodic(1, timer -> {
            long due = Math.min(total, (System.nanoTime() - start) * rate / 1_000_000_000L + 1);
            while (sent[0] < due) {
                int index = sent[0]++;
                long intended = start + index * 1_000_000_000L / rate;
                client.request(HttpMethod.GET, port, "127.0.0.1", path)
                        .compose(request -> {
                            headers.forEach(request::putHeader);
                            return request.send().compose(response -> response.body().map(body -> {
                                upstreamNanos[index] = serverTimingNanos(response.getHeader("Server-Timing"));
                                return response.statusCode();
                            }));
                        })
                        .onComplete(result -> {
                            latency[index] = System.nanoTime() - intended;
                            outside[index] = Math.max(0, latency[index] - upstreamNanos[index]);
                            if (result.failed() || result.result() != 200) {
                                errors.incrementAndGet();
                            }
                            finished.countDown();
                        });
            }
            if (sent[0] >= total) {
                vertx.cancelTimer(timer);
            }
        });
        if (!finished.await(seconds + 60L, TimeUnit.SECONDS)) {
            throw new IllegalStateException(name + ": requests did not finish");
        }
        return stats(name, latency, errors.get(), stats(name + " inside", outside, 0, null));
    }

    private static Stats stats(String name, long[] nanos, int errors, Stats inside) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        double mean = Arrays.stream(sorted).average().orElse(0) / 1e6;
        return new Stats(name, sorted.length, errors, mean, pct(sorted, 0.50), pct(sorted, 0.90), pct(sorted, 0.95),
                pct(sorted, 0.99), pct(sorted, 0.999), sorted[sorted.length - 1] / 1e6, inside);
    }

    private static long serverTimingNanos(String header) {
        if (header == null) {
            return 0;
        }
        int at = header.indexOf("dur=");
        try {
            return at < 0 ? 0 : (long) (Double.parseDouble(header.substring(at + 4).split("[,;]")[0]) * 1e6);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** utime + stime of a process from /proc (Linux), or -1 elsewhere. */
    private static long cpuNanos(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
            return ticks * 10_000_000L; // USER_HZ is 100 on Linux
        } catch (Exception e) {
            return -1;
        }
    }

    private static double pct(long[] sorted, double q) {
        int index = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))] / 1e6;
    }

    private static void print(List<Stats> all) {
        System.out.printf(Locale.ROOT, "%n%-10s %7s %6s %8s %8s %8s %8s %8s %8s %8s   (ms)%n",
                "path", "count", "errors", "mean", "p50", "p90", "p95", "p99", "p99.9", "max");
        for (Stats s : all) {
            System.out.printf(Locale.ROOT, "%-10s %7d %6d %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f%n", s.name(), s.count(),
                    s.errors(), s.mean(), s.p50(), s.p90(), s.p95(), s.p99(), s.p999(), s.max());
        }
    }

    private static Process startProxy(Path jar, int port, EmbeddedPostgresServer postgres, Map<String, String> gateway,
                                      int upstreamPort) throws Exception {
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("lookup-proxy is not built: " + jar);
        }
        Path log = Path.of("target", "lookup-proxy-bench.log").toAbsolutePath();
        Files.createDirectories(log.getParent());
        List<String> command = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        // the proxy's JVM options, run.sh passes BENCH_PROXY_JVM
        command.addAll(List.of(System.getProperty("bench.proxy-jvm", "-Xmx256m").trim().split("\\s+")));
        command.addAll(List.of("-jar", jar.toString()));
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = builder.environment();
        env.put("QUARKUS_DATASOURCE_REACTIVE_URL", postgres.reactiveUrl("lookup_bench"));
        env.put("QUARKUS_DATASOURCE_JDBC_URL", postgres.jdbcUrl("lookup_bench"));
        env.put("QUARKUS_DATASOURCE_USERNAME", EmbeddedPostgresServer.USER);
        env.put("QUARKUS_HTTP_HOST", "127.0.0.1");
        env.put("QUARKUS_HTTP_PORT", Integer.toString(port));
        env.put("QUARKUS_LOG_CONSOLE_JSON_ENABLED", "false");
        env.put("SCAIGRID_GATEWAY_GRPC_HOST", gateway.get("scaigrid.test.gateway-grpc-host"));
        env.put("SCAIGRID_GATEWAY_GRPC_PORT", gateway.get("scaigrid.test.gateway-grpc-port"));
        env.put("SCAIGRID_GATEWAY_HTTP_URL", gateway.get("scaigrid.test.gateway-url"));
        env.put("SCAIGRID_KEK", Base64.getEncoder().encodeToString(new java.security.SecureRandom().generateSeed(32)));
        env.put("SCAIGRID_LOOKUP_SCAIQUEUE_URL", "http://127.0.0.1:" + upstreamPort);
        Process process = builder.start();
        java.net.http.HttpRequest ready = java.net.http.HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready"))
                .timeout(Duration.ofSeconds(5)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            if (process.waitFor(250, TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("lookup-proxy exited (" + process.exitValue() + "); see " + log);
            }
            try {
                if (send(ready) == 200) {
                    return process;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
        }
        process.destroyForcibly();
        throw new IllegalStateException("lookup-proxy was not ready in 90 s; see " + log);
    }

    private static int send(java.net.http.HttpRequest request) throws IOException, InterruptedException {
        return java.net.http.HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("usage: [--rate N] [--seconds N] [--warmup-seconds N]");
            }
            out.put(args[i].substring(2), args[++i]);
        }
        return out;
    }
}
