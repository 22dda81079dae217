package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.embedded.EmbeddedPostgresServer;
import ai.scaigrid.commons.testing.TestPorts;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two packaged gateway-core replicas on one PostgreSQL database, the way a Kubernetes deployment
 * runs them: a key's per-minute limit holds over both together. Replica A uses up the key's limit;
 * once A has published its counts (one sync round), replica B refuses the key right after its first
 * request of it, instead of granting the whole limit again.
 */
class SharedRateLimitIT {
    private static final String ADMIN = "sgk_SharedLimitsItAdmin000000000000000000";
    private static final String DATABASE = "shared_limits_it";
    private static final int LIMIT = 30;

    private static EmbeddedPostgresServer postgres;
    private static final List<Process> replicas = new ArrayList<>();
    private static String a;
    private static String b;

    @BeforeAll
    static void startTwoReplicas() throws Exception {
        postgres = EmbeddedPostgresServer.start(null, 0);
        postgres.createDatabaseIfMissing(DATABASE);
        byte[] kek = new byte[32];
        new SecureRandom().nextBytes(kek);
        String kekBase64 = Base64.getEncoder().encodeToString(kek);
        a = start("a", kekBase64); // first alone: it migrates the schema and bootstraps the admin
        b = start("b", kekBase64);
    }

    @AfterAll
    static void stop() throws Exception {
        for (Process p : replicas) {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        if (postgres != null) {
            postgres.close();
        }
    }

    private static String start(String name, String kek) throws Exception {
        Path app = Path.of(System.getProperty("scaigrid.gateway-core.app", "target/quarkus-app/quarkus-run.jar")).toAbsolutePath();
        int httpPort = TestPorts.free();
        int grpcPort = TestPorts.free();
        Path log = Path.of("target", "shared-limits-replica-" + name + ".log").toAbsolutePath();
        Files.createDirectories(log.getParent());
        ProcessBuilder builder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", app.toString())
                .directory(app.getParent().toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(Map.of(
                "QUARKUS_DATASOURCE_REACTIVE_URL", postgres.reactiveUrl(DATABASE),
                "QUARKUS_DATASOURCE_JDBC_URL", postgres.jdbcUrl(DATABASE),
                "QUARKUS_DATASOURCE_USERNAME", EmbeddedPostgresServer.USER,
                "QUARKUS_DATASOURCE_PASSWORD", "",
                "QUARKUS_HTTP_HOST", "127.0.0.1",
                "QUARKUS_HTTP_PORT", Integer.toString(httpPort),
                "QUARKUS_GRPC_SERVER_PORT", Integer.toString(grpcPort),
                "SCAIGRID_BOOTSTRAP_ADMIN_API_KEY", ADMIN,
                "SCAIGRID_KEK", kek,
                "QUARKUS_LOG_CONSOLE_JSON_ENABLED", "false"));
        Process process = builder.start();
        replicas.add(process);
        String url = "http://127.0.0.1:" + httpPort;
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest ready = HttpRequest.newBuilder(URI.create(url + "/q/health/ready")).timeout(Duration.ofSeconds(5)).build();
        await("replica " + name + " ready (log: " + log + ")").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(250))
                .until(() -> {
                    if (!process.isAlive()) {
                        throw new IllegalStateException("replica " + name + " exited: " + Files.readString(log));
                    }
                    try {
                        return http.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
                    } catch (IOException notYet) {
                        return false;
                    }
                });
        return url;
    }

    private static String create(String url, String path, Map<String, Object> body) {
        return given().baseUri(url).header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(body)
                .when().post(path).then().statusCode(201).extract().path("data.id");
    }

    private static Response listModels(String url, String key) {
        return given().baseUri(url).header("Authorization", "Bearer " + key).when().get("/v1/models");
    }

    private static long published(String windowKey) throws Exception {
        try (Connection c = postgres.dataSource(DATABASE).getConnection();
             PreparedStatement s = c.prepareStatement("SELECT coalesce(sum(requests), 0) FROM rate_limit_counts WHERE window_key = ?")) {
            s.setString(1, windowKey);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getLong(1);
            }
        }
    }

    @Test
    void aKeysLimitHoldsOverBothReplicas() throws Exception {
        String tenant = create(a, "/v1/tenants", Map.of("slug", "shared-limits", "display_name", "Shared limits"));
        given().baseUri(a).header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("key_requests_per_minute", LIMIT)).when().put("/v1/tenants/" + tenant + "/limits").then().statusCode(200);
        String user = create(a, "/v1/users", Map.of("tenant_id", tenant, "email", "limits@x.test", "roles", List.of("tenant_user")));
        var created = given().baseUri(a).header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "k", "assigned_user_id", user)).when().post("/v1/api-keys")
                .then().statusCode(201).extract().jsonPath();
        String key = created.getString("data.key");
        String windowKey = "k:" + created.getString("data.id");

        for (int i = 0; i < LIMIT; i++) {
            assertThat(listModels(a, key).statusCode()).as("request %d on replica A", i + 1).isEqualTo(200);
        }
        assertThat(listModels(a, key).statusCode()).isEqualTo(429);
        await("replica A publishes its counts").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                .until(() -> published(windowKey) == LIMIT);

        // a client calls B ten times a second
        int[] admittedByB = {0};
        Response[] last = {null};
        await("replica B refuses the key").atMost(Duration.ofSeconds(10)).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(100))
                .until(() -> {
                    last[0] = listModels(b, key);
                    if (last[0].statusCode() == 200) {
                        admittedByB[0]++;
                    }
                    return last[0].statusCode() == 429;
                });
        System.out.printf("replica B admitted %d request(s) of the exhausted key before it refused%n", admittedByB[0]);
        assertThat(last[0].jsonPath().getString("error.code")).isEqualTo("RATE_LIMITED");
        assertThat(last[0].header("X-Scaigrid-Ratelimit-Limit")).isEqualTo(Integer.toString(LIMIT));
        // B's first request of the key fetches A's counts off its path (without that, B admitted what
        // reached it within a sync round: 7-8 of these calls); the next one is refused
        assertThat(admittedByB[0]).isBetween(1, 3);
    }
}
