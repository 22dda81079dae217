package ai.scaigrid.gateway.inference;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.run;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static ai.scaigrid.gateway.inference.InferenceFixtures.usageRecord;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

/** Background responses: answered queued at once, finished apart from the request, cancelled on any replica. */
@QuarkusTest
class BackgroundResponsesTest {
    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @Inject
    BackgroundResponses background;

    static Map<String, Object> inBackground(String model, String input) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("input", input);
        body.put("background", true);
        return body;
    }

    /**
     * A model whose upstream answers for ten seconds, and whose backend waits that long (the fixtures' backends give a
     * whole answer two): an upstream call that ends early was cancelled.
     */
    private static String slowModel() {
        return InferenceFixtures.chatModelOver(List.of(Map.of("name", "slow", "provider_type", "openai", "model_name", "slow",
                "connection_config", Map.of("base_url", OpenAiTestUpstream.get().baseUrl(), "api_key", "sk-upstream-secret",
                        "first_token_timeout_ms", 30000))));
    }

    private static JsonPath fetched(String key, String id) {
        return as(key).when().get("/oai/v1/responses/" + id).then().statusCode(200).extract().jsonPath();
    }

    private static String statusOf(String id) {
        return fetched(ADMIN, id).getString("status");
    }

    @Test
    void aBackgroundResponseIsQueuedThenFetchedWhenDone() {
        // "late" thinks 900 ms before it answers: the request is answered long before that
        String model = chatModel("late");
        String tag = run();
        String conv = as(ADMIN).body(Map.of()).when().post("/oai/v1/conversations").then().statusCode(200).extract().path("id");
        Map<String, Object> body = inBackground(model, "later please " + tag);
        body.put("conversation", conv);
        JsonPath queued = as(ADMIN).header("X-Request-Id", "req_bg_done_" + tag).body(body).when().post("/oai/v1/responses")
                .then().statusCode(200).body("status", equalTo("queued")).body("background", equalTo(true))
                .body("output.size()", equalTo(0)).extract().jsonPath();
        String id = queued.getString("id");
        assertThat(statusOf(id)).isIn("queued", "in_progress");
        // continuing from it before it has finished would lose its answer
        as(ADMIN).body(Map.of("model", model, "input", "too soon", "previous_response_id", id)).when().post("/oai/v1/responses")
                .then().statusCode(400).body("error.param", equalTo("previous_response_id"));

        await().atMost(Duration.ofSeconds(10)).until(() -> "completed".equals(statusOf(id)));
        JsonPath done = fetched(ADMIN, id);
        assertThat(done.getString("output[0].content[0].text")).isEqualTo("echo: later please " + tag);
        assertThat(done.getBoolean("background")).isTrue();
        assertThat(done.getInt("usage.total_tokens")).isPositive();
        assertThat(usageRecord(pool, usage, "req_bg_done_" + tag).getString("status")).isEqualTo("ok");
        // its turn joined the conversation, and it can be continued now
        assertThat(as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items?order=asc").then().statusCode(200)
                .extract().jsonPath().getList("data.role")).containsExactly("user", "assistant");
        as(ADMIN).body(Map.of("model", chatModel("echo"), "input", "next", "previous_response_id", id)).when().post("/oai/v1/responses")
                .then().statusCode(200);
        // cancelling a finished background response returns it as it is
        as(ADMIN).when().post("/oai/v1/responses/" + id + "/cancel").then().statusCode(200).body("status", equalTo("completed"));

        // an upstream that fails: the stored response says so, in OpenAI's terms and without the upstream's words
        String broken = as(ADMIN).header("X-Request-Id", "req_bg_failed_" + tag).body(inBackground(chatModel("fail500"), "x"))
                .when().post("/oai/v1/responses").then().statusCode(200).body("status", equalTo("queued")).extract().path("id");
        await().atMost(Duration.ofSeconds(10)).until(() -> "failed".equals(statusOf(broken)));
        JsonPath failed = fetched(ADMIN, broken);
        assertThat(failed.getString("error.code")).isEqualTo("server_error");
        assertThat(failed.getString("error.message")).isNotBlank();
        assertThat(usageRecord(pool, usage, "req_bg_failed_" + tag).getString("status")).isEqualTo("error");
    }

    @Test
    void cancellingStopsTheUpstreamCallHereOrOnAnotherReplica() throws Exception {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        String model = slowModel();
        String tag = run();
        int cancelledBefore = up.cancelledStreams.get();
        String id = as(ADMIN).header("X-Request-Id", "req_bg_cancel_" + tag).body(inBackground(model, "endless " + tag))
                .when().post("/oai/v1/responses").then().statusCode(200).extract().path("id");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> up.sentContaining("endless " + tag));
        as(ADMIN).when().post("/oai/v1/responses/" + id + "/cancel").then().statusCode(200).body("status", equalTo("cancelled"));
        await().atMost(Duration.ofSeconds(3)).until(() -> up.cancelledStreams.get() > cancelledBefore);
        assertThat(usageRecord(pool, usage, "req_bg_cancel_" + tag).getString("status")).isEqualTo("cancelled");
        assertThat(statusOf(id)).isEqualTo("cancelled");
        as(ADMIN).when().post("/oai/v1/responses/" + id + "/cancel").then().statusCode(200).body("status", equalTo("cancelled"));

        // another replica cancels it (its row says so): this one stops within a check
        int before = up.cancelledStreams.get();
        String other = as(ADMIN).body(inBackground(model, "elsewhere " + tag)).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().path("id");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> up.sentContaining("elsewhere " + tag));
        pool.preparedQuery("UPDATE oai_responses SET status = 'cancelled' WHERE id = $1").execute(Tuple.of(other))
                .await().atMost(Duration.ofSeconds(5));
        await().atMost(Duration.ofSeconds(8)).until(() -> up.cancelledStreams.get() > before);
        await().atMost(Duration.ofSeconds(3)).until(() -> background.runningHere() == 0);

        // deleted while it runs: stopped as well
        int beforeDelete = up.cancelledStreams.get();
        String deleted = as(ADMIN).body(inBackground(model, "deleted " + tag)).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().path("id");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> up.sentContaining("deleted " + tag));
        as(ADMIN).when().delete("/oai/v1/responses/" + deleted).then().statusCode(200);
        await().atMost(Duration.ofSeconds(8)).until(() -> up.cancelledStreams.get() > beforeDelete);
    }

    @Test
    void aResponseLeftRunningIsFailedAtShutdownOrBySweep() {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        String model = slowModel();
        int before = up.cancelledStreams.get();
        String tag = run();
        String id = as(ADMIN).body(inBackground(model, "until shutdown " + tag)).when().post("/oai/v1/responses").then()
                .statusCode(200).extract().path("id");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> up.sentContaining("until shutdown " + tag));
        background.stop(null);
        JsonPath stopped = fetched(ADMIN, id);
        assertThat(stopped.getString("status")).isEqualTo("failed");
        assertThat(stopped.getString("error.message")).contains("stopped before this response finished");
        assertThat(stopped.getString("error.code")).isEqualTo("server_error");
        await().atMost(Duration.ofSeconds(3)).until(() -> up.cancelledStreams.get() > before);

        // a replica that died: its row is untouched, and the sweep fails it
        String lost = "resp_" + ResponsesApi.hex();
        pool.preparedQuery("""
                        INSERT INTO oai_responses (id, tenant_id, owner_id, status, response, input_items, context, expires_at,
                                                   background, updated_at)
                        SELECT $1, tenant_id, owner_id, 'in_progress', $2::text::json, '[]', '[]', now() + interval '1 day', true,
                               now() - interval '10 minutes' FROM oai_responses WHERE id = $3""")
                .execute(Tuple.of(lost, "{\"id\":\"" + lost + "\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}", id))
                .await().atMost(Duration.ofSeconds(5));
        background.sweep().await().atMost(Duration.ofSeconds(10));
        JsonPath swept = fetched(ADMIN, lost);
        assertThat(swept.getString("status")).isEqualTo("failed");
        assertThat(swept.getString("error.code")).isEqualTo("server_error");
    }

    @Test
    void badBackgroundRequestsAreRefusedByName() {
        String model = chatModel("echo");
        Map<String, Object> unstored = inBackground(model, "x");
        unstored.put("store", false);
        as(ADMIN).body(unstored).when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("store"));
        Map<String, Object> odd = inBackground(model, "x");
        odd.put("background", "yes");
        as(ADMIN).body(odd).when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("background"));
        // a model the caller may not use is refused before anything is stored, as any request
        as(ADMIN).body(inBackground("nobody/nothing", "x")).when().post("/oai/v1/responses").then().statusCode(404);

        // and a background response is its owner's, cancel included
        String tenantId = tenant();
        String owner = key(tenantId, "tenant_user", null);
        String id = as(owner).body(inBackground(chatModel("late"), "mine")).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().path("id");
        for (String other : List.of(key(tenantId, "tenant_user", null), ADMIN)) {
            as(other).when().post("/oai/v1/responses/" + id + "/cancel").then().statusCode(404);
            as(other).when().get("/oai/v1/responses/" + id).then().statusCode(404);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> "completed".equals(fetched(owner, id).getString("status")));
    }
}
