package ai.scaigrid.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The suite's one slow end-to-end test: the shaded launcher jar, as a real child process without
 * stdin, starts the embedded PostgreSQL and every REAL service; each must be ready and answer an
 * unknown path with the shared error envelope; SIGTERM must stop everything (no port open, no child
 * left); a second start on the same data directory must come up again on the kept data.
 *
 * <p>Ports: offset 11000 (HTTP 19080-19090, gRPC 61051-61060, PostgreSQL 65329), clear of the
 * defaults a developer may be running, of the services' test ports (59051-59060) and of Linux's
 * ephemeral range (32768-60999). An offset of 20000 would push the gRPC ports past 65535.
 */
class LauncherEndToEndIT {
    private static final int OFFSET = 11000;
    private static final Duration READY_WITHIN = Duration.ofSeconds(240);
    private static final Duration STOP_WITHIN = Duration.ofSeconds(60);
    private static final Pattern KEY_LINE = Pattern.compile("First start: super-admin API key: (sgk_\\S+) ");

    private static Path root;
    private static Path launcherJar;
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path work;

    @BeforeAll
    static void locate() {
        root = Path.of(System.getProperty("scaigrid.root", "../..")).toAbsolutePath().normalize();
        launcherJar = Path.of(System.getProperty("scaigrid.launcher.jar", "target/scaigrid-launcher.jar")).toAbsolutePath();
        List<String> missing = ServiceSpec.ALL.stream().map(s -> s.jar(root)).filter(j -> !Files.isRegularFile(j))
                .map(j -> root.relativize(j).toString()).collect(Collectors.toList());
        assumeTrue(missing.isEmpty(), "end-to-end test skipped: service jars missing (" + String.join(", ", missing)
                + "); build the whole reactor first: ./mvnw -B -DskipTests install (from " + root + ")");
        assertThat(launcherJar).as("the shaded launcher jar (built in the package phase)").isRegularFile();
    }

    private LauncherRun launch(String label, Path dataDir, Map<String, String> env) throws Exception {
        return LauncherRun.start(label, List.of(LauncherRun.javaBinary(), "-jar", launcherJar.toString(),
                "up", "--data-dir", dataDir.toString(), "--port-offset", Integer.toString(OFFSET), "--root", root.toString()),
                env, work);
    }

    @Test
    void wholeSuiteStartsServesStopsAndRestartsOnItsData() throws Exception {
        Path dataDir = work.resolve("data");

        String firstKey;
        // the simulated model at 20 tokens/s: its 64-token answer runs ~3 s, long enough to stop the suite under it
        try (LauncherRun run = launch("e2e-1", dataDir, Map.of("LANG", "C.UTF-8", "SCAIGRID_NODE_MODELS_0__TOKENS_PER_SECOND", "20"))) {
            assertThat(run.awaitReady(READY_WITHIN))
                    .as("launcher ready within %s; output so far:%n%s", READY_WITHIN, run.output()).isTrue();
            String out = run.output();
            assertThat(out).contains("▶ starting PostgreSQL 17 (embedded, data in ", "✓ PostgreSQL ready (", "Press Ctrl-C to stop.");
            for (ServiceSpec s : ServiceSpec.ALL) {
                assertThat(out).contains("✓ " + s.name() + " ready (", "http://127.0.0.1:" + (s.httpPort() + OFFSET));
            }
            firstKey = adminKey(out).orElse(null);
            assertThat(firstKey).as("the first start shows the generated super-admin key").isNotNull();
            assertThat(dataDir.resolve(Launcher.KEY_FILE)).exists();

            assertFirstChatWorksOutOfTheBox(firstKey); // right after READY, before anything else
            for (ServiceSpec s : ServiceSpec.ALL) {
                assertServes(s);
            }
            assertModuleAuthenticatesThroughTheGateway(firstKey);

            Set<ProcessHandle> descendants = run.captureDescendants();
            assertThat(descendants.stream().filter(LauncherEndToEndIT::isJava).count())
                    .as("one java process per service").isGreaterThanOrEqualTo(ServiceSpec.ALL.size());

            assertStopDrainsTheGateway(run, firstKey); // sends the SIGTERM
            assertThat(run.awaitExit(STOP_WITHIN)).as("launcher stopped within %s after SIGTERM; output:%n%s",
                    STOP_WITHIN, run.output()).isTrue();
            assertThat(run.lines()).contains("✓ stopped");
            assertEverythingDown(run);
        }

        assertThat(dataDir.resolve("postgres/PG_VERSION")).exists();
        try (LauncherRun run = launch("e2e-2", dataDir, Map.of("LANG", "C"))) {
            assertThat(run.awaitReady(READY_WITHIN))
                    .as("second start ready within %s; output so far:%n%s", READY_WITHIN, run.output()).isTrue();
            assertThat(run.output()).contains("[..] starting PostgreSQL 17 (embedded, data in ", "[ok] PostgreSQL ready (");
            // the gateway found its data: no second bootstrap, the key file from the first start is unchanged
            assertThat(adminKey(run.output())).contains(firstKey);
            assertServes(ServiceSpec.named("gateway-core"));
            // the stream that ran across the first stop left its usage record (written on the way down)
            String gateway = "http://127.0.0.1:" + (ServiceSpec.named("gateway-core").httpPort() + OFFSET);
            HttpResponse<String> usage = HTTP.send(HttpRequest.newBuilder(URI.create(gateway
                            + "/v1/accounting/usage?model=scaigrid%2Fsim-1&limit=100")).timeout(Duration.ofSeconds(10))
                    .header("Authorization", "Bearer " + firstKey).GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(usage.statusCode()).as("usage after the restart: %s", usage.body()).isEqualTo(200);
            assertThat(usage.body()).contains("\"request_id\":\"" + DRAINED_REQUEST + "\"");
            // the background response running at the first stop was finished by the drain, and stored
            HttpResponse<String> background = HTTP.send(HttpRequest.newBuilder(URI.create(gateway + "/oai/v1/responses/"
                            + drainedBackground)).timeout(Duration.ofSeconds(10))
                    .header("Authorization", "Bearer " + firstKey).GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(background.statusCode()).as("background response after the restart: %s", background.body()).isEqualTo(200);
            assertThat(background.body()).contains("\"status\":\"completed\"", "\"output_text\"");

            run.captureDescendants();
            run.sigterm();
            assertThat(run.awaitExit(STOP_WITHIN)).as("second launcher stopped; output:%n%s", run.output()).isTrue();
            assertThat(run.lines()).contains("[ok] stopped");
            assertEverythingDown(run);
        }
    }

    /**
     * The local node-agent registers its simulated models: a first chat completion (and embedding, and a
     * reasoning model's answer) works with
     * no setup, at once: the launcher says READY only once gateway-core has registered the node.
     */
    private static void assertFirstChatWorksOutOfTheBox(String key) throws Exception {
        String gateway = "http://127.0.0.1:" + (ServiceSpec.named("gateway-core").httpPort() + OFFSET);
        String body = "{\"model\":\"scaigrid/sim-1\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
        HttpResponse<String> last = post(gateway + "/v1/inference/chat", key, body);
        assertThat(last.statusCode()).as("first chat completion: %s", last.body()).isEqualTo(200);
        assertThat(last.body()).contains("\"chat.completion.chunk\"").contains("\"usage\"").endsWith("data: [DONE]\n\n");
        // and first embeddings, through the OpenAI-compatible layer, from the same simulated node model
        HttpResponse<String> embeddings = post(gateway + "/oai/v1/embeddings", key,
                "{\"model\":\"scaigrid/sim-embed-1\",\"input\":[\"hello\",\"world\"],\"dimensions\":8}");
        assertThat(embeddings.statusCode()).as("first embeddings: %s", embeddings.body()).isEqualTo(200);
        assertThat(embeddings.body()).contains("\"object\":\"list\"").contains("\"index\":1").contains("\"prompt_tokens\"");
        // and a model that thinks first: its thinking apart from the answer
        HttpResponse<String> reasoning = post(gateway + "/oai/v1/chat/completions", key,
                "{\"model\":\"scaigrid/sim-reasoning-1\",\"messages\":[{\"role\":\"user\",\"content\":\"why?\"}]}");
        assertThat(reasoning.statusCode()).as("reasoning model: %s", reasoning.body()).isEqualTo(200);
        assertThat(reasoning.body()).contains("\"reasoning_content\":\"").contains("\"content\":\"");
    }

    /**
     * SIGTERM while a chat streams: from then on the gateway refuses new requests with 503 SERVICE_DRAINING
     * (clients go to another replica), and the stream already running still ends normally.
     */
    private static final String DRAINED_REQUEST = "req_e2e_drained_stream";
    /** The background response running at the first stop. */
    private static String drainedBackground;

    private static void assertStopDrainsTheGateway(LauncherRun run, String key) throws Exception {
        String gateway = "http://127.0.0.1:" + (ServiceSpec.named("gateway-core").httpPort() + OFFSET);
        String body = "{\"model\":\"scaigrid/sim-1\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"drain\"}]}";
        HttpRequest streaming = HttpRequest.newBuilder(URI.create(gateway + "/v1/inference/chat")).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .header("X-Request-Id", DRAINED_REQUEST)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<java.io.InputStream> running = HTTP.send(streaming, HttpResponse.BodyHandlers.ofInputStream());
        assertThat(running.statusCode()).as("the stream to be drained started").isEqualTo(200);
        // and a background response, which the drain lets finish too (it is fetched after the restart)
        HttpResponse<String> queued = post(gateway + "/oai/v1/responses", key,
                "{\"model\":\"scaigrid/sim-1\",\"input\":\"finish me\",\"background\":true}");
        assertThat(queued.statusCode()).as("background response: %s", queued.body()).isEqualTo(200);
        assertThat(queued.body()).contains("\"status\":\"queued\"");
        drainedBackground = new ObjectMapper().readTree(queued.body()).path("id").asText();
        java.util.concurrent.CompletableFuture<String> rest = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try (java.io.InputStream in = running.body()) {
                return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                return "read failed: " + e;
            }
        });

        run.sigterm();
        HttpRequest poll = HttpRequest.newBuilder(URI.create(gateway + "/v1/models")).timeout(Duration.ofSeconds(5))
                .header("Authorization", "Bearer " + key).GET().build();
        HttpResponse<String> refused = await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                .until(() -> HTTP.send(poll, HttpResponse.BodyHandlers.ofString()), r -> r.statusCode() != 200);
        assertThat(refused.statusCode()).as("a new request after SIGTERM: %s", refused.body()).isEqualTo(503);
        assertThat(refused.body()).contains("\"code\":\"SERVICE_DRAINING\"", "\"request_id\":\"req_");
        assertThat(refused.headers().firstValue("Retry-After")).contains("1");
        HttpResponse<String> ready = HTTP.send(HttpRequest.newBuilder(URI.create(gateway + "/q/health/ready"))
                .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(ready.statusCode()).as("readiness while draining: %s", ready.body()).isEqualTo(503);

        String streamed = rest.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(streamed).as("the stream running at SIGTERM").doesNotContain("event: error").contains("\"usage\"")
                .endsWith("data: [DONE]\n\n");
    }

    /** A module service authenticates the same key by introspection at gateway-core and reads the real catalogue. */
    private static void assertModuleAuthenticatesThroughTheGateway(String key) throws Exception {
        String lookup = "http://127.0.0.1:" + (ServiceSpec.named("lookup-proxy").httpPort() + OFFSET);
        HttpResponse<String> noKey = post(lookup + "/v1/tenants/me/scaigrid_credentials", "sgk_wrong00000000000000000000000000000000",
                "{\"api_key\":\"" + key + "\"}");
        assertThat(noKey.statusCode()).as("a wrong key at lookup-proxy: %s", noKey.body()).isEqualTo(401);
        HttpResponse<String> stored = post(lookup + "/v1/tenants/me/scaigrid_credentials", key, "{\"api_key\":\"" + key + "\"}");
        assertThat(stored.statusCode()).as("storing the tenant key: %s", stored.body()).isBetween(200, 204);
        HttpRequest request = HttpRequest.newBuilder(URI.create(lookup + "/api/v1/scaigrid/models")).timeout(Duration.ofSeconds(10))
                .header("Authorization", "Bearer " + key).GET().build();
        HttpResponse<String> models = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        assertThat(models.statusCode()).as("model picker: %s", models.body()).isEqualTo(200);
        assertThat(models.body()).contains("\"slug\":\"scaigrid/sim-1\"");
    }

    private static HttpResponse<String> post(String url, String key, String json) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build();
        return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
    }

    private static Optional<String> adminKey(String output) {
        Matcher m = KEY_LINE.matcher(output);
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    private static void assertServes(ServiceSpec s) throws Exception {
        String base = "http://127.0.0.1:" + (s.httpPort() + OFFSET);
        HttpResponse<String> ready = get(base + "/q/health/ready");
        assertThat(ready.statusCode()).as("%s /q/health/ready: %s", s.name(), ready.body()).isEqualTo(200);

        HttpResponse<String> missing = get(base + "/no-such-path");
        assertThat(missing.statusCode()).as("%s /no-such-path: %s", s.name(), missing.body()).isEqualTo(404);
        JsonNode body = JSON.readTree(missing.body());
        assertThat(body.path("error").path("code").asText()).as("%s error.code in %s", s.name(), missing.body())
                .isEqualTo("NOT_FOUND");
        assertThat(body.path("meta").path("request_id").asText()).as("%s meta.request_id in %s", s.name(), missing.body())
                .isNotBlank();
    }

    private static HttpResponse<String> get(String url) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
                .header("Accept", "application/json").GET().build();
        return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
    }

    private static void assertEverythingDown(LauncherRun run) {
        List<String> open = new ArrayList<>();
        for (ServiceSpec s : ServiceSpec.ALL) {
            if (accepts(s.httpPort() + OFFSET)) {
                open.add(s.name() + " HTTP " + (s.httpPort() + OFFSET));
            }
            if (s.hasGrpc() && accepts(s.grpcPort() + OFFSET)) {
                open.add(s.name() + " gRPC " + (s.grpcPort() + OFFSET));
            }
        }
        if (accepts(ServiceSpec.DEFAULT_PG_PORT + OFFSET)) {
            open.add("PostgreSQL " + (ServiceSpec.DEFAULT_PG_PORT + OFFSET));
        }
        assertThat(open).as("ports still accepting connections after the stop").isEmpty();
        assertThat(run.survivors()).as("processes of the launcher still alive after the stop")
                .extracting(h -> h.pid() + " " + h.info().commandLine().orElse("?")).isEmpty();
    }

    private static boolean isJava(ProcessHandle h) {
        return h.info().command().map(c -> c.endsWith("/java") || c.endsWith("\\java.exe")).orElse(false);
    }

    private static boolean accepts(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            return true;
        } catch (Exception e) {
            return false;
        }
    }
}
