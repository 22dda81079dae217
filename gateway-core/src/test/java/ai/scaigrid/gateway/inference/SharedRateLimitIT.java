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

    /** One number from the replicas' shared database. */
    private static long scalar(String sql, String parameter) throws Exception {
        try (Connection c = GatewayCoreTestResource.dataSource(DATABASE).getConnection();
             PreparedStatement s = c.prepareStatement(sql)) {
            s.setString(1, parameter);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getLong(1);
            }
        }
    }

    private static long published(String windowKey) throws Exception {
        return scalar("SELECT coalesce(sum(requests), 0) FROM rate_limit_counts WHERE window_key = ?", windowKey);
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

    private static Response spend(String url, String key, String model) {
        return given().baseUri(url).header("Authorization", "Bearer " + key).contentType(ContentType.JSON)
                .body(Map.of("model", model, "max_tokens", 10, "messages", List.of(Map.of("role", "user", "content", "spend"))))
                .when().post("/v1/inference/chat");
    }

    private static long writtenSpend(String tenantId) throws Exception {
        return scalar("SELECT coalesce(sum(tokens), 0) FROM tenant_daily_spend WHERE tenant_id = ?", tenantId);
    }

    /**
     * A tenant's budget holds over both replicas: B already keeps a ledger for the tenant when A spends
     * the rest of the budget; within a sync round B sees A's spend and refuses, instead of granting its
     * own view of the remaining budget (about BUDGET / 20 more requests here).
     */
    @Test
    void aTenantsBudgetHoldsOverBothReplicas() throws Exception {
        final long budget = 600;
        String tenant = create(a, "/v1/tenants", Map.of("slug", "shared-budget", "display_name", "Shared budget"));
        given().baseUri(a).header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("budget_tokens", budget, "budget_period", "day")).when().put("/v1/tenants/" + tenant + "/limits")
                .then().statusCode(200);
        String model = "shared-budget/echo";
        String modelId = create(a, "/v1/models", Map.of("slug", model, "display_name", "echo", "max_output_tokens", 100));
        String backend = create(a, "/v1/backends", Map.of("name", "echo", "provider_type", "openai", "model_name", "echo",
                "connection_config", Map.of("base_url", OpenAiTestUpstream.get().baseUrl())));
        given().baseUri(a).header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("backend_id", backend)).when().post("/v1/models/" + modelId + "/backends").then().statusCode(201);
        String user = create(a, "/v1/users", Map.of("tenant_id", tenant, "email", "budget@x.test", "roles", List.of("tenant_user")));
        String key = given().baseUri(a).header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "k", "assigned_user_id", user)).when().post("/v1/api-keys")
                .then().statusCode(201).extract().path("data.key");

        await("replica B routes the new model").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200))
                .until(() -> spend(b, key, model).statusCode() == 200);
        int admittedByA = 0;
        while (spend(a, key, model).statusCode() == 200) {
            admittedByA++;
            assertThat(admittedByA).as("replica A refuses once the budget is spent").isLessThan(200);
        }
        long spentByA = admittedByA;
        await("replica A writes its spend").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                .until(() -> writtenSpend(tenant) >= budget - 20);

        int[] admittedByB = {0};
        Response[] last = {null};
        await("replica B refuses the tenant").atMost(Duration.ofSeconds(10)).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(100))
                .until(() -> {
                    last[0] = spend(b, key, model);
                    if (last[0].statusCode() == 200) {
                        admittedByB[0]++;
                    }
                    return last[0].statusCode() == 402;
                });
        System.out.printf("replica A admitted %d requests until the budget was spent; replica B then admitted %d%n",
                spentByA, admittedByB[0]);
        assertThat(last[0].jsonPath().getString("error.code")).isEqualTo("BUDGET_EXCEEDED");
        // B learns of A's spend within one 500 ms round: at 10 calls a second that is at most ~5 calls
        assertThat(admittedByB[0]).isLessThanOrEqualTo(6);
    }
}
