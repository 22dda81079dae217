package ai.scaigrid.gateway.inference;

import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

/** Moderation on both doors against the OpenAI-style test upstream: shapes, routing, validation, accounting. */
@QuarkusTest
class ModerationTest {
    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    /** A moderation model (1.00 per million input tokens) over these test-upstream models. */
    private static String moderationModel(String... upstreamModels) {
        return InferenceFixtures.model("test-" + run() + "/moderation", "moderation", null, upstreamModels);
    }

    private static Map<String, Object> moderate(String model, Object input) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("input", input);
        return body;
    }

    @Test
    void bothDoorsClassifyEachInput() {
        String model = moderationModel("moderate");
        as(ADMIN).header("X-Request-Id", "req_moderation_oai").body(moderate(model, List.of("I will kill the process", "hello there")))
                .when().post("/oai/v1/moderations").then().statusCode(200)
                .body("id", equalTo("modr-1")).body("model", equalTo(model)).body("results.size()", equalTo(2))
                .body("results[0].flagged", equalTo(true)).body("results[0].categories.violence", equalTo(true))
                .body("results[0].category_scores.violence", equalTo(0.97f)).body("results[1].flagged", equalTo(false));
        var sent = OpenAiTestUpstream.get().sentContaining("I will kill the process");
        assertThat(sent.getString("model")).as("the backend's model name").isEqualTo("moderate");
        assertThat(sent.getString("_path")).endsWith("/moderations");

        // the native door envelopes it; text and image parts pass as they are
        List<Object> parts = List.of(Map.of("type", "text", "text", "a calm lake"),
                Map.of("type", "image_url", "image_url", Map.of("url", "https://example.test/lake.png")));
        as(ADMIN).header("X-Request-Id", "req_moderation_native").body(moderate(model, parts)).when().post("/v1/inference/moderate")
                .then().statusCode(200).body("status", equalTo("ok")).body("data.results.size()", equalTo(1))
                .body("data.results[0].flagged", equalTo(false))
                .body("data.results[0].category_applied_input_types.violence", equalTo(List.of("text", "image")));

        // one record each: the input estimated as the prompt (classifiers report no usage), priced at the input price
        Row r = InferenceFixtures.usageRecord(pool, usage, "req_moderation_oai");
        assertThat(r.getString("endpoint")).isEqualTo("moderations");
        assertThat(r.getString("status")).isEqualTo("ok");
        assertThat(r.getInteger("prompt_tokens")).isEqualTo(8); // 34 characters
        assertThat(r.getInteger("completion_tokens")).isZero();
        assertThat(r.getBigDecimal("cost")).isEqualByComparingTo("0.000008");
        assertThat(InferenceFixtures.usageRecord(pool, usage, "req_moderation_native").getInteger("prompt_tokens"))
                .as("the text and an image counted as 85").isEqualTo(2 + 85);
    }

    @Test
    void badModerationRequestsAreRefusedByName() {
        String model = moderationModel("moderate");
        int before = OpenAiTestUpstream.get().calls("moderate");
        as(ADMIN).body(Map.of("model", model)).when().post("/oai/v1/moderations").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error")).body("error.param", equalTo("input"));
        as(ADMIN).body(moderate(model, List.of())).when().post("/v1/inference/moderate").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("input"))
                .body("meta.request_id", startsWith("req_"));
        as(ADMIN).body(moderate(model, List.of("text", 5))).when().post("/oai/v1/moderations").then().statusCode(400)
                .body("error.param", equalTo("input[1]"));
        as(ADMIN).body(moderate(model, List.of(Map.of("type", "audio", "audio", "x")))).when().post("/oai/v1/moderations").then()
                .statusCode(400).body("error.param", equalTo("input[0]"));
        as(ADMIN).body(moderate(model, 42)).when().post("/oai/v1/moderations").then().statusCode(400).body("error.param", equalTo("input"));
        as(ADMIN).body("{").when().post("/oai/v1/moderations").then().statusCode(400).body("error.param", equalTo("body"));
        assertThat(OpenAiTestUpstream.get().calls("moderate")).isEqualTo(before);

        // each door serves its own modality
        as(ADMIN).body(moderate(chatModel("echo"), "x")).when().post("/oai/v1/moderations").then().statusCode(400)
                .body("error.param", equalTo("model"));
        as(ADMIN).body(chat(model, "x")).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.details[0].field", equalTo("model"));
        as(ADMIN).body(moderate("nobody/such-classifier", "x")).when().post("/oai/v1/moderations").then().statusCode(404)
                .body("error.code", equalTo("model_not_found"));
    }

    /** A failing classifier fails over before its answer; a provider that cannot moderate (Anthropic) is never called. */
    @Test
    void failoverAndBackendsThatCannotModerate() {
        as(ADMIN).body(moderate(moderationModel("fail500", "moderate"), "after a failing backend")).when()
                .post("/oai/v1/moderations").then().statusCode(200).body("results[0].flagged", equalTo(false));

        String slug = InferenceFixtures.modelOverAnthropicOnly("moderation");
        as(ADMIN).body(moderate(slug, "x")).when().post("/v1/inference/moderate").then().statusCode(503)
                .body("error.code", equalTo("MODEL_UNAVAILABLE"));
    }
}
