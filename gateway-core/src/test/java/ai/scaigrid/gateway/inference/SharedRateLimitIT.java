package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.testing.GatewayCoreTestResource;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
    private static final String ADMIN = GatewayCoreTestResource.ADMIN_KEY;
    private static final String DATABASE = "shared_limits_it";
    private static final int LIMIT = 30;

    private static final List<GatewayCoreTestResource> replicas = new ArrayList<>();
    private static String a;
    private static String b;

    @BeforeAll
    static void startTwoReplicas() {
        a = start(); // first alone: it migrates the schema and bootstraps the admin
        b = start();
    }

    @AfterAll
    static void stop() {
        replicas.forEach(GatewayCoreTestResource::stop);
    }

    private static String start() {
        GatewayCoreTestResource replica = new GatewayCoreTestResource();
        replica.init(Map.of("database", DATABASE));
        replicas.add(replica);
        return replica.start().get("scaigrid.test.gateway-url");
    }

    private static String create(String url, String path, Map<String, Object> body) {
        return given().baseUri(url).header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(body)
                .when().post(path).then().statusCode(201).extract().path("data.id");
    }

    private static Response listModels(String url, String key) {
        return given().baseUri(url).header("Authorization", "Bearer " + key).when().get("/v1/models");
    }

    private static long published(String windowKey) throws Exception {
        try (Connection c = GatewayCoreTestResource.dataSource(DATABASE).getConnection();
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
