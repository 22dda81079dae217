package ai.scaigrid.gateway.inference;

import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.json.JsonObject;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.run;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static ai.scaigrid.gateway.inference.InferenceFixtures.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.nullValue;
import static org.hamcrest.Matchers.startsWith;

/** Image generation on both doors against the OpenAI-style test upstream: shapes, routing, validation, accounting. */
@QuarkusTest
class ImageGenerationTest {
    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    /** An image model at 0.04 per image (and 1.00 / 2.00 per million tokens) over these test-upstream models. */
    private static String imageModel(String... upstreamModels) {
        String slug = "test-" + run() + "/images";
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("slug", slug);
        body.put("display_name", "images");
        body.put("modality", "image");
        body.put("input_price_per_mtok", "1.00");
        body.put("output_price_per_mtok", "2.00");
        body.put("price_per_image", "0.04");
        String id = InferenceFixtures.create("/v1/models", body);
        int priority = 0;
        for (String upstream : upstreamModels) {
            String backend = InferenceFixtures.create("/v1/backends", Map.of("name", upstream, "provider_type", "openai",
                    "model_name", upstream, "connection_config", Map.of("base_url", OpenAiTestUpstream.get().baseUrl(),
                            "api_key", "sk-upstream-secret", "first_token_timeout_ms", 2000)));
            as(ADMIN).body(Map.of("backend_id", backend, "priority", priority++, "weight", 100))
                    .when().post("/v1/models/" + id + "/backends").then().statusCode(201);
        }
        return slug;
    }

    private static Map<String, Object> draw(String model, String prompt) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("prompt", prompt);
        return body;
    }

    private Row record(String requestId) {
        return InferenceFixtures.usageRecord(pool, usage, requestId);
    }

    @Test
    void bothDoorsGenerateAndEveryImageIsCharged() {
        String model = imageModel("draw");
        String tenantId = tenant();
        String userKey = key(tenantId, "tenant_user", null);

        as(userKey).header("X-Request-Id", "req_images_native").body(with(with(draw(model, "a red fox"), "n", 2), "size", "1024x1024"))
                .when().post("/v1/inference/images/generate").then().statusCode(200)
                .body("status", equalTo("ok"))
                .body("data.created", equalTo(1700000000))
                .body("data.data.size()", equalTo(2))
                .body("data.data[1].url", equalTo("https://images.example/1.png"))
                .body("data.data[0].revised_prompt", equalTo("A careful drawing of a red fox"));
        JsonObject sent = OpenAiTestUpstream.get().sentContaining("a red fox");
        assertThat(sent.getString("_path")).isEqualTo("/v1/images/generations");
        assertThat(sent.getString("model")).isEqualTo("draw");
        assertThat(sent.getInteger("n")).isEqualTo(2);
        assertThat(sent.getString("size")).isEqualTo("1024x1024");
        assertThat(sent.getString("_auth")).isEqualTo("Bearer sk-upstream-secret");

        // OpenAI's own shape, base64 as the SDKs ask for it
        String b64 = as(userKey).header("X-Request-Id", "req_images_oai")
                .body(with(draw(model, "a blue heron"), "response_format", "b64_json"))
                .when().post("/oai/v1/images/generations").then().statusCode(200)
                .header("X-Request-Id", "req_images_oai")
                .body("status", nullValue()).body("data.size()", equalTo(1)).body("data[0].url", nullValue())
                .extract().path("data[0].b64_json");
        assertThat(new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8))
                .isEqualTo(OpenAiTestUpstream.imageBytes("a blue heron", 0));

        // one record each: the images counted and priced, the prompt estimated (the upstream reports no tokens)
        Row r = record("req_images_native");
        assertThat(r.getString("endpoint")).isEqualTo("images");
        assertThat(r.getString("status")).isEqualTo("ok");
        assertThat(r.getInteger("images")).isEqualTo(2);
        assertThat(r.getInteger("prompt_tokens")).isEqualTo(2);
        assertThat(r.getInteger("completion_tokens")).isZero();
        assertThat(r.getBigDecimal("cost")).isEqualByComparingTo("0.080002"); // 2 x 0.04 + 2 x 1.00 / 1M
        assertThat(record("req_images_oai").getInteger("images")).isEqualTo(1);

        as(ADMIN).when().get("/v1/accounting/usage?model=" + model + "&tenant_id=" + tenantId).then().statusCode(200)
                .body("data.items.images", org.hamcrest.Matchers.containsInAnyOrder(2, 1));
        as(ADMIN).when().get("/v1/accounting/usage/summary?model=" + model + "&tenant_id=" + tenantId).then().statusCode(200)
                .body("data.items[0].images", equalTo(3)).body("data.items[0].request_count", equalTo(2));
        as(ADMIN).when().get("/v1/usage?model=" + model).then().statusCode(200).body("data.items[0].images", equalTo(3));
        as(ADMIN).when().get("/v1/models/" + model).then().statusCode(200).body("data.price_per_image", equalTo("0.04"));
    }

    /** gpt-image-1 reports tokens: the record takes them, priced beside the images. */
    @Test
    void upstreamTokensArePricedBesideTheImages() {
        String model = imageModel("draw-tokens");
        as(ADMIN).header("X-Request-Id", "req_images_tokens").body(with(draw(model, "three small words"), "n", 2))
                .when().post("/oai/v1/images/generations").then().statusCode(200)
                .body("data.size()", equalTo(2)).body("usage.output_tokens", equalTo(2 * OpenAiTestUpstream.IMAGE_OUTPUT_TOKENS));
        Row r = record("req_images_tokens");
        assertThat(r.getInteger("prompt_tokens")).isEqualTo(3);
        assertThat(r.getInteger("completion_tokens")).isEqualTo(2 * OpenAiTestUpstream.IMAGE_OUTPUT_TOKENS);
        assertThat(r.getInteger("images")).isEqualTo(2);
        // 3 x 1.00 / 1M + 544 x 2.00 / 1M + 2 x 0.04
        assertThat(r.getBigDecimal("cost")).isEqualByComparingTo("0.081091");
    }

    @Test
    void badImageRequestsAreRefusedByName() {
        String model = imageModel("draw");
        int before = OpenAiTestUpstream.get().calls("draw");
        as(ADMIN).body(with(draw(model, "x"), "size", "huge")).when().post("/oai/v1/images/generations").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error")).body("error.param", equalTo("size"));
        as(ADMIN).body(with(draw(model, "x"), "n", 11)).when().post("/v1/inference/images/generate").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("n"))
                .body("meta.request_id", startsWith("req_"));
        as(ADMIN).body(with(draw(model, "x"), "response_format", "png")).when().post("/v1/inference/images/generate").then()
                .statusCode(400).body("error.details[0].field", equalTo("response_format"));
        as(ADMIN).body(with(draw(model, "x"), "stream", true)).when().post("/oai/v1/images/generations").then().statusCode(400)
                .body("error.param", equalTo("stream"));
        as(ADMIN).body(Map.of("model", model)).when().post("/v1/inference/images/generate").then().statusCode(400)
                .body("error.details[0].field", equalTo("prompt"));
        as(ADMIN).body(with(draw(model, "x"), "quality", 5)).when().post("/v1/inference/images/generate").then().statusCode(400)
                .body("error.details[0].field", equalTo("quality"));
        assertThat(OpenAiTestUpstream.get().calls("draw")).isEqualTo(before);

        // each door serves its own modality
        as(ADMIN).body(draw(chatModel("echo"), "x")).when().post("/v1/inference/images/generate").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("model"));
        as(ADMIN).body(chat(model, "x")).when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.param", equalTo("model"));
        as(ADMIN).body(draw("nobody/such-images", "x")).when().post("/oai/v1/images/generations").then().statusCode(404);

        as(ADMIN).body(Map.of("slug", "test-" + run() + "/bad-price", "display_name", "x", "modality", "image",
                "price_per_image", -1)).when().post("/v1/models").then().statusCode(400)
                .body("error.details[0].field", equalTo("price_per_image"));
    }

    @Test
    void failoverBeforeTheAnswerAndNoInternalsAfterTheLastBackend() {
        String model = imageModel("drop", "draw");
        as(ADMIN).body(draw(model, "after a dropped backend")).when().post("/oai/v1/images/generations").then().statusCode(200)
                .body("data.size()", equalTo(1));
        String failing = imageModel("fail500");
        as(ADMIN).body(draw(failing, "x")).when().post("/v1/inference/images/generate").then()
                .statusCode(org.hamcrest.Matchers.greaterThanOrEqualTo(500))
                .body("status", equalTo("error")).body("error.code", not(equalTo("INTERNAL_ERROR")))
                .body("error.message", not(containsString("SELECT")));
    }

    /** Backends of a provider that cannot draw (Anthropic) are never called for images. */
    @Test
    void aModelWithoutADrawingBackendIsUnavailable() {
        String slug = InferenceFixtures.modelOverAnthropicOnly("image");
        as(ADMIN).body(draw(slug, "x")).when().post("/v1/inference/images/generate").then().statusCode(503)
                .body("error.code", equalTo("MODEL_UNAVAILABLE"));
    }

    /** The budget holds every asked-for image at the image price before the upstream is called. */
    @Test
    void theBudgetHoldsEveryImage() {
        String model = imageModel("draw");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("budget_cost", "0.10", "budget_period", "day")).when().put("/v1/tenants/" + tenantId + "/limits")
                .then().statusCode(200);
        String userKey = key(tenantId, "tenant_user", null);
        int before = OpenAiTestUpstream.get().calls("draw");
        as(userKey).body(with(draw(model, "three foxes"), "n", 3)).when().post("/oai/v1/images/generations").then()
                .statusCode(402).body("error.type", equalTo("insufficient_quota"));
        assertThat(OpenAiTestUpstream.get().calls("draw")).isEqualTo(before);
        as(userKey).body(draw(model, "one fox")).when().post("/oai/v1/images/generations").then().statusCode(200);
    }

    @Test
    void editsTakeImagesAndAMaskAsFormParts() {
        String model = imageModel("draw");
        byte[] png = "not really a png".getBytes(StandardCharsets.UTF_8);
        String b64 = io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).header("X-Request-Id", "req_edit_one")
                .multiPart("image", "cat.png", png, "image/png").multiPart("mask", "mask.png", png, "image/png")
                .multiPart("model", model).multiPart("prompt", "add a hat").multiPart("n", "2").multiPart("size", "1024x1024")
                .when().post("/oai/v1/images/edits").then().statusCode(200).body("data.size()", equalTo(2))
                .extract().path("data[0].b64_json");
        assertThat(new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8))
                .isEqualTo(OpenAiTestUpstream.editBytes("add a hat", 1, "image", true));
        JsonObject sent = OpenAiTestUpstream.get().sentContaining("add a hat");
        assertThat(sent.getString("_path")).isEqualTo("/v1/images/edits");
        assertThat(sent.getString("model")).isEqualTo("draw");
        assertThat(sent.getString("n")).isEqualTo("2");
        assertThat(sent.getJsonArray("_files").getList()).containsExactly("image", "mask");
        Row r = record("req_edit_one");
        assertThat(r.getString("endpoint")).isEqualTo("image_edits");
        assertThat(r.getInteger("images")).isEqualTo(2);

        // several images as image[] parts, on the native door
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN)
                .multiPart("image[]", "a.png", png, "image/png").multiPart("image[]", "b.png", png, "image/png")
                .multiPart("model", model).multiPart("prompt", "merge them")
                .when().post("/v1/inference/images/edits").then().statusCode(200).body("status", equalTo("ok"))
                .body("data.data.size()", equalTo(1));
        assertThat(OpenAiTestUpstream.get().sentContaining("merge them").getJsonArray("_files").getList())
                .containsExactly("image[]", "image[]");

        // no image, a bad n, a chat model, no key
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("model", model)
                .multiPart("prompt", "x").when().post("/oai/v1/images/edits").then().statusCode(400).body("error.param", equalTo("image"));
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("image", "a.png", png)
                .multiPart("model", model).multiPart("prompt", "x").multiPart("n", "eleven")
                .when().post("/v1/inference/images/edits").then().statusCode(400).body("error.details[0].field", equalTo("n"));
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("image", "a.png", png)
                .multiPart("model", chatModel("echo")).multiPart("prompt", "x")
                .when().post("/oai/v1/images/edits").then().statusCode(400).body("error.param", equalTo("model"));
        io.restassured.RestAssured.given().multiPart("image", "a.png", png).multiPart("model", model).multiPart("prompt", "x")
                .when().post("/oai/v1/images/edits").then().statusCode(401);
    }

    /** DALL-E 2's variations: one image part, no prompt, n images back, each charged at the image price. */
    @Test
    void variationsTakeOneImageAndNoPrompt() {
        String model = imageModel("draw");
        byte[] png = "a small square png".getBytes(StandardCharsets.UTF_8);
        String b64 = io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).header("X-Request-Id", "req_vary_one")
                .multiPart("image", "square.png", png, "image/png").multiPart("model", model).multiPart("n", "3")
                .multiPart("size", "256x256").multiPart("response_format", "b64_json")
                .when().post("/oai/v1/images/variations").then().statusCode(200).body("data.size()", equalTo(3))
                .extract().path("data[2].b64_json");
        assertThat(new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8)).isEqualTo("VARIATION 2 OF a small square png");
        JsonObject sent = OpenAiTestUpstream.get().sentContaining("256x256");
        assertThat(sent.getString("_path")).isEqualTo("/v1/images/variations");
        assertThat(sent.getString("model")).isEqualTo("draw");
        assertThat(sent.getJsonArray("_files").getList()).containsExactly("image");
        assertThat(sent.containsKey("prompt")).isFalse();
        Row r = record("req_vary_one");
        assertThat(r.getString("endpoint")).isEqualTo("image_variations");
        assertThat(r.getInteger("images")).isEqualTo(3);
        assertThat(r.getInteger("prompt_tokens")).isZero();
        assertThat(r.getBigDecimal("cost")).isEqualByComparingTo("0.12"); // 3 x 0.04

        // the native door, enveloped
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN)
                .multiPart("image", "s.png", png, "image/png").multiPart("model", model)
                .when().post("/v1/inference/images/variations").then().statusCode(200).body("status", equalTo("ok"))
                .body("data.data.size()", equalTo(1));

        // no image, two images, a prompt, a bad n, an edit-only field, a chat model
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("model", model)
                .when().post("/oai/v1/images/variations").then().statusCode(400).body("error.param", equalTo("image"));
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("image", "a.png", png)
                .multiPart("image", "b.png", png).multiPart("model", model)
                .when().post("/oai/v1/images/variations").then().statusCode(400).body("error.param", equalTo("image"));
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("image", "a.png", png)
                .multiPart("model", model).multiPart("prompt", "make it blue")
                .when().post("/oai/v1/images/variations").then().statusCode(400).body("error.param", equalTo("prompt"));
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("image", "a.png", png)
                .multiPart("model", model).multiPart("n", "11")
                .when().post("/v1/inference/images/variations").then().statusCode(400).body("error.details[0].field", equalTo("n"));
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("image", "a.png", png)
                .multiPart("model", model).multiPart("quality", "hd")
                .when().post("/oai/v1/images/variations").then().statusCode(400).body("error.param", equalTo("quality"));
        io.restassured.RestAssured.given().header("Authorization", "Bearer " + ADMIN).multiPart("image", "a.png", png)
                .multiPart("model", chatModel("echo"))
                .when().post("/oai/v1/images/variations").then().statusCode(400).body("error.param", equalTo("model"));
    }

    @Test
    void openApiDescribesTheImageRoutes() {
        String doc = io.restassured.RestAssured.given().accept("application/json").when().get("/q/openapi").then().statusCode(200)
                .extract().asString();
        assertThat(doc).contains("/v1/inference/images/generate").contains("/oai/v1/images/generations").contains("price_per_image")
                .contains("/oai/v1/images/variations").contains("price_per_audio_minute");
    }
}
