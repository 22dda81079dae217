package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.restassured.specification.RequestSpecification;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.startsWith;

/**
 * Anthropic's Message Batches on the batch runner: requests checked up front and named by index, worked off in the
 * background, results as Anthropic's JSONL in request order (succeeded, errored, canceled), listing, cancel, delete,
 * and a batch that is its owner's alone.
 */
@QuarkusTest
class AnthropicMessageBatchesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static RequestSpecification anthropic(String key) {
        return RestAssured.given().header("x-api-key", key).contentType("application/json");
    }

    private static Map<String, Object> request(String customId, String model, String text) {
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("model", model);
        params.put("max_tokens", 50);
        params.put("messages", List.of(Map.of("role", "user", "content", text)));
        return Map.of("custom_id", customId, "params", params);
    }

    private static JsonNode awaitEnded(String key, String id) {
        JsonNode[] last = new JsonNode[1];
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
            last[0] = JSON.readTree(anthropic(key).when().get("/anthropic/v1/messages/batches/" + id).then().statusCode(200)
                    .extract().asString());
            assertThat(last[0].path("processing_status").asText()).isEqualTo("ended");
        });
        return last[0];
    }

    private static List<JsonNode> results(String key, JsonNode batch) throws Exception {
        String url = batch.path("results_url").asText();
        assertThat(url).startsWith("http://").endsWith("/anthropic/v1/messages/batches/" + batch.path("id").asText() + "/results");
        String body = anthropic(key).when().get(url).then().statusCode(200).header("Content-Type", startsWith("application/x-jsonl"))
                .extract().asString();
        List<JsonNode> lines = new ArrayList<>();
        for (String line : body.split("\n")) {
            lines.add(JSON.readTree(line));
        }
        return lines;
    }

    @Test
    void aBatchRunsAndItsResultsComeInRequestOrder() throws Exception {
        String model = chatModel("echo");
        String broken = chatModel("badrequest");
        String tenantId = tenant();
        String owner = key(tenantId, "tenant_user", null);
        JsonNode created = JSON.readTree(anthropic(owner).body(Map.of("requests", List.of(request("first", model, "one"),
                        request("second", broken, "two"), request("third", model, "three"))))
                .when().post("/anthropic/v1/messages/batches").then().statusCode(200).extract().asString());
        String id = created.path("id").asText();
        assertThat(id).startsWith("msgbatch_");
        assertThat(created.path("type").asText()).isEqualTo("message_batch");
        assertThat(created.path("processing_status").asText()).isEqualTo("in_progress");
        assertThat(created.path("request_counts").path("processing").asInt()).isEqualTo(3);
        assertThat(created.path("results_url").isNull()).isTrue();
        anthropic(owner).when().get("/anthropic/v1/messages/batches/" + id + "/results").then().statusCode(404)
                .body("error.type", equalTo("not_found_error"));

        JsonNode ended = awaitEnded(owner, id);
        assertThat(ended.path("request_counts").path("succeeded").asInt()).isEqualTo(2);
        assertThat(ended.path("request_counts").path("errored").asInt()).isEqualTo(1);
        assertThat(ended.path("ended_at").asText()).endsWith("Z");
        List<JsonNode> results = results(owner, ended);
        assertThat(results).extracting(r -> r.path("custom_id").asText()).containsExactly("first", "second", "third");
        assertThat(results.get(0).path("result").path("type").asText()).isEqualTo("succeeded");
        assertThat(results.get(0).path("result").path("message").path("content").get(0).path("text").asText()).isEqualTo("echo: one");
        assertThat(results.get(0).path("result").path("message").path("model").asText()).isEqualTo(model);
        assertThat(results.get(1).path("result").path("type").asText()).isEqualTo("errored");
        assertThat(results.get(1).path("result").path("error").path("error").path("type").asText()).isEqualTo("invalid_request_error");
        assertThat(results.get(2).path("result").path("message").path("content").get(0).path("text").asText()).isEqualTo("echo: three");

        // the owner's alone: another user of the tenant, and the OpenAI door, do not see it
        String neighbour = key(tenantId, "tenant_user", null);
        anthropic(neighbour).when().get("/anthropic/v1/messages/batches/" + id).then().statusCode(404);
        anthropic(neighbour).when().get("/anthropic/v1/messages/batches/" + id + "/results").then().statusCode(404);
        as(owner).when().get("/oai/v1/batches/" + id).then().statusCode(404);
        as(owner).when().get("/oai/v1/batches").then().statusCode(200).body("data.id", not(hasItem(id)));

        anthropic(owner).when().get("/anthropic/v1/messages/batches").then().statusCode(200).body("data[0].id", equalTo(id))
                .body("has_more", equalTo(false));
        anthropic(owner).when().delete("/anthropic/v1/messages/batches/" + id).then().statusCode(200)
                .body("type", equalTo("message_batch_deleted"));
        anthropic(owner).when().get("/anthropic/v1/messages/batches/" + id).then().statusCode(404);
    }

    @Test
    void aCanceledBatchEndsWithItsUnrunRequestsCanceled() throws Exception {
        String slow = chatModel("slow1s");
        String owner = key(tenant(), "tenant_user", null);
        List<Map<String, Object>> requests = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            requests.add(request("r" + i, slow, "slow " + i));
        }
        String id = anthropic(owner).body(Map.of("requests", requests)).when().post("/anthropic/v1/messages/batches").then()
                .statusCode(200).extract().path("id");
        anthropic(owner).when().delete("/anthropic/v1/messages/batches/" + id).then().statusCode(409);
        anthropic(owner).when().post("/anthropic/v1/messages/batches/" + id + "/cancel").then().statusCode(200)
                .body("processing_status", equalTo("canceling")).body("cancel_initiated_at", startsWith("20"));
        JsonNode ended = awaitEnded(owner, id);
        int canceled = ended.path("request_counts").path("canceled").asInt();
        assertThat(canceled).isPositive();
        List<JsonNode> results = results(owner, ended);
        assertThat(results).hasSize(12);
        assertThat(results.stream().filter(r -> r.path("result").path("type").asText().equals("canceled")).count()).isEqualTo(canceled);
    }

    @Test
    void badBatchesAreRefusedByIndex() {
        String model = chatModel("echo");
        anthropic(ADMIN).body(Map.of("requests", List.of())).when().post("/anthropic/v1/messages/batches").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"));
        anthropic(ADMIN).body(Map.of("requests", List.of(request("a", model, "x"), request("a", model, "y"))))
                .when().post("/anthropic/v1/messages/batches").then().statusCode(400)
                .body("error.message", equalTo("custom_id a is used twice"));
        anthropic(ADMIN).body(Map.of("requests", List.of(request("has space", model, "x"))))
                .when().post("/anthropic/v1/messages/batches").then().statusCode(400);
        Map<String, Object> noCap = new LinkedHashMap<>(Map.of("model", model, "messages", List.of(Map.of("role", "user", "content", "x"))));
        anthropic(ADMIN).body(Map.of("requests", List.of(request("ok", model, "x"), Map.of("custom_id", "nocap", "params", noCap))))
                .when().post("/anthropic/v1/messages/batches").then().statusCode(400)
                .body("error.message", equalTo("max_tokens is required: a positive integer"));
        anthropic(ADMIN).when().get("/anthropic/v1/messages/batches/msgbatch_nope").then().statusCode(404)
                .body("error.type", equalTo("not_found_error"));
        anthropic(ADMIN).body("{").when().post("/anthropic/v1/messages/batches").then().statusCode(400);
    }
}
