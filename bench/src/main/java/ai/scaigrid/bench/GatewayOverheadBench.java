package ai.scaigrid.bench;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Gateway overhead on the chat path, in one run: the same fixed-rate load sent (1) straight to a
 * fast local OpenAI-style upstream, (2) through gateway-core's /oai/v1 and (3) through the Portkey
 * gateway pointed at the same upstream; then the highest sustained rate of each with under 1% errors.
 * Started by bench/gateway/run.sh, which starts gateway-core (and Portkey) pinned to their own core.
 *
 * <p>Environment: GATEWAY_URL, ADMIN_KEY, PORTKEY_URL (optional), RATE (default 1000),
 * SECONDS (default 15), WARMUP (seconds per target and mode, default 30), RAMP (comma-separated rates),
 * MOCK_PORT (default 0 = any).
 */
public final class GatewayOverheadBench {

    public static void main(String[] args) throws Exception {
        String gateway = env("GATEWAY_URL", "http://127.0.0.1:28080");
        String adminKey = env("ADMIN_KEY", null);
        String portkey = env("PORTKEY_URL", "");
        int rate = Integer.parseInt(env("RATE", "1000"));
        int seconds = Integer.parseInt(env("SECONDS", "15"));
        int rampSeconds = Integer.parseInt(env("RAMP_SECONDS", "5"));
        String ramp = env("RAMP", "250,500,1000,2000,3000,4000,5000,6000,8000");
        if (adminKey == null) {
            throw new IllegalArgumentException("ADMIN_KEY is required");
        }
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(2));
        MockUpstream mock = new MockUpstream(vertx, Integer.parseInt(env("MOCK_PORT", "0")));
        String mockBase = "http://127.0.0.1:" + mock.port() + "/v1";
        String slug = "bench/mock-" + UUID.randomUUID().toString().substring(0, 6);
        setUp(gateway, adminKey, slug, mockBase);

        LoadGenerator load = new LoadGenerator(vertx);
        List<Target> targets = new ArrayList<>();
        targets.add(new Target("direct", mockBase + "/chat/completions", Map.of("content-type", "application/json"), "mock"));
        targets.add(new Target("gateway-core", gateway + "/oai/v1/chat/completions",
                Map.of("content-type", "application/json", "authorization", "Bearer " + adminKey), slug));
        if (!portkey.isBlank()) {
            targets.add(new Target("portkey", portkey + "/v1/chat/completions", Map.of("content-type", "application/json",
                    "authorization", "Bearer sk-bench", "x-portkey-provider", "openai", "x-portkey-custom-host", mockBase), "mock"));
        }

        System.out.printf("mock upstream %s, gateway %s, portkey %s, %d req/s for %d s per phase%n", mockBase, gateway,
                portkey.isBlank() ? "(not running)" : portkey, rate, seconds);
        // Target after target, mode after mode: warm-up (WARMUP seconds at the measured rate, so the JIT
        // has compiled the hot path and pools are open), then the measured phase. One target's overload
        // must not spill into another's measurement: Portkey, overloaded at this rate, goes on working
        // off requests its client gave up on long after its phase ends, so it is measured last.
        int warmup = Integer.parseInt(env("WARMUP", "30"));
        // after WARMUP seconds, warm-up goes on in 5 s slices while the JIT compilers (the load generator's
        // and gateway-core's) still used more than JIT_QUIET_MS of CPU in the last slice, up to WARMUP_MAX
        int warmupMax = Integer.parseInt(env("WARMUP_MAX", "120"));
        long jitQuietMs = Long.parseLong(env("JIT_QUIET_MS", "50"));
        List<LoadGenerator.Result> fixed = new ArrayList<>();
        for (Target t : targets) {
            boolean own = t.name.equals("gateway-core");
            for (boolean stream : new boolean[]{false, true}) {
                if (warmup > 0) {
                    // a gentle start: at full rate a cold JVM answers in seconds, the client opens hundreds
                    // of connections, and when they expire idle a minute later (connection close, JIT
                    // deoptimisation) it lands in the measured phase. Each mode is warmed up right before
                    // it is measured: switching modes re-profiles and recompiles the paths both share.
                    load.run(t.name, t.url, t.headers, t.body(stream), Math.max(1, rate / 20), 5, 5000);
                    load.run(t.name, t.url, t.headers, t.body(stream), Math.max(1, rate / 5), 5, 5000);
                    long jitBefore = Interference.jitCpuMillis();
                    if (own) {
                        // the measured phase is framed by two reads of /q/metrics, as a gateway in production is
                        // scraped every few seconds: read them while warming up too, or the first read (a new
                        // route, the exposition format) makes C2 recompile the shared request path right as the
                        // measured phase starts (seen in -XX:+LogCompilation: ~100 compilations, 19 traps)
                        overheadBuckets(gateway);
                    }
                    load.run(t.name, t.url, t.headers, t.body(stream), rate, warmup, 2000);
                    int warmed = warmup;
                    long jitSlice = Interference.jitCpuMillis() - jitBefore;
                    while (warmed < warmupMax) {
                        long mark = Interference.jitCpuMillis();
                        if (own) {
                            overheadBuckets(gateway);
                        }
                        load.run(t.name, t.url, t.headers, t.body(stream), rate, 5, 2000);
                        warmed += 5;
                        jitSlice = Interference.jitCpuMillis() - mark;
                        if (jitSlice <= jitQuietMs) {
                            break;
                        }
                    }
                    System.out.printf("  (%s%s warmed up %d s at %d req/s; JIT CPU in the last slice: %d ms)%n", t.name,
                            stream ? " stream" : "", warmed, rate, jitSlice);
                }
                Map<String, Double> before = own ? overheadBuckets(gateway) : Map.of();
                LoadGenerator.Result r = load.run(t.name + (stream ? " stream" : ""), t.url, t.headers, t.body(stream), rate,
                        seconds, 5000);
                fixed.add(r);
                print(r);
                if (own) {
                    printOwnTime(before, overheadBuckets(gateway));
                }
            }
        }
        System.out.println();
        System.out.printf("== added latency at %d req/s (gateway minus direct, full response) ==%n", rate);
        for (boolean stream : new boolean[]{false, true}) {
            String suffix = stream ? " stream" : "";
            LoadGenerator.Result direct = find(fixed, "direct" + suffix);
            for (Target t : targets.subList(1, targets.size())) {
                LoadGenerator.Result r = find(fixed, t.name + suffix);
                System.out.printf("%-22s added p50 %7.3f ms   added p99 %7.3f ms   errors %d%n", t.name + suffix,
                        r.p50() - direct.p50(), r.p99() - direct.p99(), r.errors());
            }
        }

        if (ramp.isBlank() || "none".equals(ramp)) {
            // no ramp asked for: nothing measured, so no sustained rate to report
            vertx.close();
            System.exit(0);
        }
        System.out.println();
        System.out.println("== highest sustained rate (non-streaming, " + rampSeconds + " s per step, < 1% errors, p99 < 1 s) ==");
        Map<String, Integer> best = new LinkedHashMap<>();
        for (Target t : targets) {
            int sustained = 0;
            for (String step : ramp.split(",")) {
                int stepRate = Integer.parseInt(step.trim());
                LoadGenerator.Result r = load.run(t.name, t.url, t.headers, t.body(false), stepRate, rampSeconds, 2000, false);
                print(r);
                if (r.errorRatio() >= 0.01 || r.p99() > 1000) {
                    break;
                }
                sustained = stepRate;
            }
            best.put(t.name, sustained);
        }
        best.forEach((name, r) -> System.out.printf("%-14s sustained %6d req/s%n", name, r));
        if (best.containsKey("portkey") && best.get("portkey") > 0) {
            System.out.printf("gateway-core / portkey = %.2fx%n", best.get("gateway-core") / (double) best.get("portkey"));
        }
        vertx.close();
        System.exit(0);
    }

    private record Target(String name, String url, Map<String, String> headers, String model) {
        Buffer body(boolean stream) {
            return Buffer.buffer("{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                    + "\"Say hello to the benchmark.\"}],\"max_tokens\":64" + (stream ? ",\"stream\":true" : "") + "}");
        }
    }

    private static final Pattern OVERHEAD = Pattern.compile(
            "^scaigrid_gateway_overhead_seconds_bucket\\{api=\"oai\",phase=\"(\\w+)\",le=\"([^\"]+)\"} ([0-9.eE+-]+)$");

    /** One client for every read of /q/metrics, HTTP/1.1 as a Prometheus scraper (no h2c upgrade attempt). */
    private static final HttpClient METRICS = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** The gateway's own histogram of the latency it adds (/q/metrics), cumulative counts by "phase le". */
    private static Map<String, Double> overheadBuckets(String gateway) {
        Map<String, Double> out = new java.util.TreeMap<>();
        try {
            HttpResponse<String> r = METRICS.send(HttpRequest.newBuilder(URI.create(gateway + "/q/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            r.body().lines().map(OVERHEAD::matcher).filter(Matcher::matches)
                    .forEach(m -> out.put(m.group(1) + " " + m.group(2), Double.parseDouble(m.group(3))));
        } catch (Exception e) {
            System.out.println("  (could not read the gateway's metrics: " + e.getMessage() + ")");
        }
        return out;
    }

    /** What the gateway measured of itself in the phase just run: the share of requests under each bucket bound. */
    private static void printOwnTime(Map<String, Double> before, Map<String, Double> after) {
        for (String phase : List.of("dispatch", "relay")) {
            double total = after.getOrDefault(phase + " +Inf", 0.0) - before.getOrDefault(phase + " +Inf", 0.0);
            if (total <= 0) {
                continue;
            }
            StringBuilder line = new StringBuilder();
            for (String le : List.of("1.0E-4", "2.5E-4", "5.0E-4", "0.001", "0.0025")) {
                double n = after.getOrDefault(phase + " " + le, 0.0) - before.getOrDefault(phase + " " + le, 0.0);
                line.append(String.format("  <= %s ms %.2f %%", new java.math.BigDecimal(le).movePointRight(3).stripTrailingZeros()
                        .toPlainString(), 100 * n / total));
            }
            System.out.printf("    gateway-core's own %-8s time (its metric, %d requests):%s%n", phase, (long) total, line);
        }
    }

    private static LoadGenerator.Result find(List<LoadGenerator.Result> results, String name) {
        return results.stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow();
    }

    private static void print(LoadGenerator.Result r) {
        // what gateway-core and its PostgreSQL spent per request (run.sh sets WATCH_PIDS); only for its own phases
        String cost = r.host().watchedCpuMs() >= 0 && r.name().startsWith("gateway-core") && r.ok() > 0
                ? String.format(", gateway-core+PostgreSQL CPU %d us/request", r.host().watchedCpuMs() * 1000 / r.ok()) : "";
        System.out.printf("%-22s rate %5d  sent %6d  ok %6d  errors %5d  p50 %8.3f ms  p90 %8.3f ms  p99 %8.3f ms  mean %8.3f ms  [%s%s]%n",
                r.name(), r.rate(), r.sent(), r.ok(), r.errors(), r.p50(), r.p90(), r.p99(), r.mean(), r.host(), cost);
    }

    private static void setUp(String gateway, String adminKey, String slug, String mockBase) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String model = post(http, gateway + "/v1/models", adminKey, "{\"slug\":\"" + slug + "\",\"display_name\":\"Bench mock\","
                + "\"modality\":\"chat\",\"max_output_tokens\":4096}");
        String backend = post(http, gateway + "/v1/backends", adminKey, "{\"name\":\"bench mock\",\"provider_type\":\"openai\","
                + "\"model_name\":\"mock\",\"connection_config\":{\"base_url\":\"" + mockBase + "\",\"api_key\":\"sk-bench\"}}");
        post(http, gateway + "/v1/models/" + model + "/backends", adminKey, "{\"backend_id\":\"" + backend + "\"}");
    }

    private static String post(HttpClient http, String url, String key, String json) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) {
            throw new IllegalStateException(url + " -> " + r.statusCode() + " " + r.body());
        }
        Matcher m = Pattern.compile("\"id\"\\s*:\\s*\"([^\"]+)\"").matcher(r.body());
        return m.find() ? m.group(1) : null;
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}
