package ai.scaigrid.gateway.inference;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.create;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;

/**
 * Rate limits across gateway replicas: the table {@code rate_limit_counts} is the contract between
 * them (each replica writes its own per-second counts per key and reads the others'), so another
 * replica is played here by writing its rows.
 */
@QuarkusTest
class SharedRateLimitTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @Inject
    RateLimitSync sync;

    @Inject
    Pool pool;

    @Inject
    Limits limits;

    private record Key(String id, String token) {
    }

    private static Key key(String tenantId) {
        String user = create("/v1/users", Map.of("tenant_id", tenantId, "email", "shared-" + System.nanoTime() + "@x.test",
                "roles", List.of("tenant_user")));
        JsonPath created = as(ADMIN).body(Map.of("name", "k", "assigned_user_id", user)).when().post("/v1/api-keys")
                .then().statusCode(201).extract().jsonPath();
        return new Key(created.getString("data.id"), created.getString("data.key"));
    }

    private long published(String windowKey, String replica) {
        return pool.preparedQuery("SELECT coalesce(sum(requests), 0)::bigint AS n FROM rate_limit_counts WHERE window_key = $1 AND replica = $2")
                .execute(Tuple.of(windowKey, replica)).await().atMost(WAIT).iterator().next().getLong("n");
    }

    @Test
    void requestsAdmittedByOtherReplicasCountHere() {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("key_requests_per_minute", 5)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        Key key = key(tenantId);
        as(key.token()).when().get("/v1/models").then().statusCode(200).header("X-Scaigrid-Ratelimit-Remaining", "4");

        // another replica admitted three requests of the same key this second
        long now = System.currentTimeMillis() / 1000;
        pool.preparedQuery("INSERT INTO rate_limit_counts (window_key, second, replica, requests, tokens) VALUES ($1, $2, 'gw-other', 3, 0)")
                .execute(Tuple.of("k:" + key.id(), now)).await().atMost(WAIT);
        sync.sync().await().atMost(WAIT);

        as(key.token()).when().get("/v1/models").then().statusCode(200).header("X-Scaigrid-Ratelimit-Remaining", "0");
        as(key.token()).body(chat(model, "sixth")).when().post("/v1/inference/chat").then().statusCode(429)
                .body("error.code", equalTo("RATE_LIMITED")).body("error.details.scope", equalTo("key"));

        // and this replica published its own two, not the other replica's three nor the refused one
        sync.sync().await().atMost(WAIT);
        assertThat(published("k:" + key.id(), sync.replicaId())).isEqualTo(2);
        assertThat(published("k:" + key.id(), "gw-other")).isEqualTo(3);
    }

    /** The first request of a key on this replica fetches what the others counted for it, without waiting for a round. */
    @Test
    void aKeyNewToThisReplicaLearnsTheOthersCountsAtOnce() {
        String tenantId = tenant();
        as(ADMIN).body(Map.of("key_requests_per_minute", 5)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        Key key = key(tenantId);
        long now = System.currentTimeMillis() / 1000;
        pool.preparedQuery("INSERT INTO rate_limit_counts (window_key, second, replica, requests, tokens) VALUES ($1, $2, 'gw-other', 4, 0)")
                .execute(Tuple.of("k:" + key.id(), now)).await().atMost(WAIT);
        as(key.token()).when().get("/v1/models").then().statusCode(200);
        // the scheduled round is an hour apart in tests: only the pull can bring the other replica's four
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> limits.windows().get("k:" + key.id())
                .requestCount(System.currentTimeMillis() / 1000) == 5);
        as(key.token()).when().get("/v1/models").then().statusCode(429).body("error.details.scope", equalTo("key"));
    }

    @Test
    void rowsThatLeftTheWindowAreDeleted() {
        long now = System.currentTimeMillis() / 1000;
        pool.preparedQuery("INSERT INTO rate_limit_counts (window_key, second, replica, requests, tokens) VALUES "
                        + "('k:old', $1, 'gw-other', 1, 0), ('k:recent', $2, 'gw-other', 1, 0)")
                .execute(Tuple.of(now - 500, now - 30)).await().atMost(WAIT);
        sync.expire(now).await().atMost(WAIT);
        assertThat(published("k:old", "gw-other")).isZero();
        assertThat(published("k:recent", "gw-other")).isEqualTo(1);
    }
}
