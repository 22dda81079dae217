package ai.scaigrid.gateway.inference;

import ai.scaigrid.gateway.inference.provider.UpstreamFailure;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.vertx.core.json.JsonObject;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.parseSse;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static ai.scaigrid.gateway.inference.InferenceFixtures.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.matchesPattern;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.startsWith;

/** The native and OpenAI-compatible inference APIs against a local OpenAI-style upstream. */
@QuarkusTest
class InferenceApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Pool pool;

    @Inject
    InferenceRoutes routes;

    @Inject
    InferencePipeline pipeline;

    @Inject
    UsageRecorder usage;

    @Test
    void nativeChatNonStreaming() {
        String model = chatModel("echo");
        String userKey = key(tenant(), "tenant_user", null);
        as(userKey).header("X-Request-Id", "req_native_1").body(with(chat(model, "hi there"), "max_tokens", 50))
                .when().post("/v1/inference/chat").then().statusCode(200)
                .header("X-Request-Id", "req_native_1")
                .header("X-Scaigrid-Ratelimit-Limit", notNullValue())
                .body("status", equalTo("ok"))
                .body("data.object", equalTo("chat.completion"))
                .body("data.model", equalTo(model))
                .body("data.choices[0].message.role", equalTo("assistant"))
                .body("data.choices[0].message.content", equalTo("echo: hi there"))
                .body("data.choices[0].finish_reason", equalTo("stop"))
                .body("data.usage.prompt_tokens", equalTo(7))
                .body("data.usage.completion_tokens", equalTo(3))
                .body("data.usage.total_tokens", equalTo(10));
        JsonNode sent = OpenAiTestUpstream.get().requests.stream().map(j -> JSON.valueToTree(j.getMap()))
                .map(JsonNode.class::cast).filter(j -> j.path("messages").toString().contains("hi there")).findFirst().orElseThrow();
        assertThat(sent.path("model").asText()).isEqualTo("echo");
        assertThat(sent.path("_auth").asText()).isEqualTo("Bearer sk-upstream-secret");
        assertThat(sent.path("max_tokens").asInt()).isEqualTo(50);
    }

    /** A model's system_prompt_template leads every chat; its default_params fill what the caller left out. */
    @Test
    void theModelsTemplateAndDefaultsShapeTheUpstreamRequest() {
        String slug = "test-" + InferenceFixtures.run() + "/persona";
        String id = InferenceFixtures.create("/v1/models", Map.of("slug", slug, "display_name", "persona", "modality", "chat",
                "system_prompt_template", "You are {{model}}. Be brief.", "default_params", Map.of("temperature", 0.3, "max_tokens", 20)));
        String backend = InferenceFixtures.create("/v1/backends", Map.of("name", "p", "provider_type", "openai", "model_name", "echo",
                "connection_config", Map.of("base_url", OpenAiTestUpstream.get().baseUrl())));
        as(ADMIN).body(Map.of("backend_id", backend)).when().post("/v1/models/" + id + "/backends").then().statusCode(201);

        as(ADMIN).body(chat(slug, "persona one")).when().post("/v1/inference/chat").then().statusCode(200);
        JsonNode first = sentContaining("persona one");
        assertThat(first.path("messages").get(0).path("role").asText()).isEqualTo("system");
        assertThat(first.path("messages").get(0).path("content").asText()).isEqualTo("You are " + slug + ". Be brief.");
        assertThat(first.path("messages").get(1).path("content").asText()).isEqualTo("persona one");
        assertThat(first.path("temperature").asDouble()).isEqualTo(0.3);
        assertThat(first.path("max_tokens").asInt()).isEqualTo(20);

        as(ADMIN).body(with(chat(slug, "persona two"), "temperature", 0.9)).when().post("/oai/v1/chat/completions").then().statusCode(200);
        assertThat(sentContaining("persona two").path("temperature").asDouble()).isEqualTo(0.9);

        as(ADMIN).body(Map.of("slug", slug + "-bad", "display_name", "x", "default_params", Map.of("temperature", 7, "stream", true)))
                .when().post("/v1/models").then().statusCode(400)
                .body("error.details.field", org.hamcrest.Matchers.hasItems("default_params.temperature", "default_params.stream"));
    }

    private static JsonNode sentContaining(String text) {
        return OpenAiTestUpstream.get().requests.stream().map(j -> JSON.valueToTree(j.getMap()))
                .map(JsonNode.class::cast).filter(j -> j.path("messages").toString().contains(text)).findFirst().orElseThrow();
    }

    /** Extra upstream headers can carry credentials: sealed like api_key, sent upstream, never returned. */
    @Test
    void extraUpstreamHeadersAreSealedSentAndNeverReturned() {
        String slug = "test-" + InferenceFixtures.run() + "/hdr";
        String id = InferenceFixtures.create("/v1/models", Map.of("slug", slug, "display_name", "hdr", "modality", "chat"));
        var created = as(ADMIN).body(Map.of("name", "hdr", "provider_type", "openai", "model_name", "echo", "connection_config",
                        Map.of("base_url", OpenAiTestUpstream.get().baseUrl(), "headers", Map.of("x-api-key", "hdr-secret-9"))))
                .when().post("/v1/backends").then().statusCode(201)
                .body("data.secret_fields", org.hamcrest.Matchers.hasItem("headers")).extract();
        assertThat(created.asString()).doesNotContain("hdr-secret-9");
        String backend = created.path("data.id");
        as(ADMIN).when().get("/v1/backends/" + backend).then().statusCode(200)
                .body(org.hamcrest.Matchers.not(org.hamcrest.Matchers.containsString("hdr-secret-9")));
        as(ADMIN).body(Map.of("backend_id", backend)).when().post("/v1/models/" + id + "/backends").then().statusCode(201);
        as(ADMIN).body(chat(slug, "with headers")).when().post("/v1/inference/chat").then().statusCode(200);
        JsonNode sent = OpenAiTestUpstream.get().requests.stream().map(j -> JSON.valueToTree(j.getMap()))
                .map(JsonNode.class::cast).filter(j -> j.path("messages").toString().contains("with headers")).findFirst().orElseThrow();
        assertThat(sent.path("_x_api_key").asText()).isEqualTo("hdr-secret-9");
        as(ADMIN).body(Map.of("name", "bad", "provider_type", "openai", "model_name", "echo", "connection_config",
                        Map.of("base_url", "http://127.0.0.1:9/v1", "headers", Map.of("x-n", 5))))
                .when().post("/v1/backends").then().statusCode(400)
                .body("error.details[0].field", equalTo("connection_config.headers"));
    }

    @Test
    void nativeChatStreamingSseShape() throws Exception {
        String model = chatModel("echo");
        String body = as(ADMIN).body(with(chat(model, "stream me"), "stream", true))
                .when().post("/v1/inference/chat").then().statusCode(200)
                .header("Content-Type", startsWith("text/event-stream"))
                .extract().asString();
        InferenceFixtures.Sse sse = parseSse(body);
        assertThat(sse.events()).isEmpty();
        assertThat(sse.data().get(sse.data().size() - 1)).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        JsonNode last = null;
        for (String d : sse.data().subList(0, sse.data().size() - 1)) {
            JsonNode chunk = JSON.readTree(d);
            assertThat(chunk.path("object").asText()).isEqualTo("chat.completion.chunk");
            assertThat(chunk.path("model").asText()).isEqualTo(model);
            assertThat(chunk.has("status")).as("chunks are not enveloped").isFalse();
            text.append(chunk.path("choices").path(0).path("delta").path("content").asText(""));
            last = chunk;
        }
        assertThat(text.toString()).isEqualTo("echo: stream me");
        assertThat(last.path("usage").path("total_tokens").asInt()).isEqualTo(10);
    }

    @Test
    void theGatewaysOwnLatencyIsMeasuredPerApiAndPhase() {
        String model = chatModel("echo");
        double before = overheadCount("native", "relay");
        as(ADMIN).body(with(chat(model, "measure me"), "stream", true)).when().post("/v1/inference/chat").then().statusCode(200);
        as(ADMIN).body(chat(model, "measure me too")).when().post("/oai/v1/chat/completions").then().statusCode(200);
        assertThat(overheadCount("native", "relay")).isEqualTo(before + 1);
        assertThat(overheadCount("native", "dispatch")).isGreaterThanOrEqualTo(1);
        assertThat(overheadCount("oai", "dispatch")).isGreaterThanOrEqualTo(1);
        assertThat(overheadCount("oai", "relay")).isGreaterThanOrEqualTo(1);
        // the buckets operators read percentiles from, with the 1 ms boundary among them
        assertThat(io.restassured.RestAssured.get("/q/metrics").asString())
                .contains("scaigrid_gateway_overhead_seconds_bucket{api=\"native\",phase=\"dispatch\",le=\"0.001\"}");
    }

    private static double overheadCount(String api, String phase) {
        String prefix = "scaigrid_gateway_overhead_seconds_count{api=\"" + api + "\",phase=\"" + phase + "\"}";
        return io.restassured.RestAssured.get("/q/metrics").asString().lines().filter(l -> l.startsWith(prefix))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    /**
     * A model silent before its first token: the stream gets {@code : keep-alive} comments meanwhile (so a proxy
     * with an idle timeout keeps it open), then its answer as usual, on both front doors. One that never answers
     * ends, after the keep-alive committed the 200, with an error event and [DONE].
     */
    @Test
    void aSilentStreamGetsKeepAliveComments() throws Exception {
        routes.sseKeepAlive(java.time.Duration.ofMillis(200));
        try {
            // 900 ms before it answers; a first-token timeout well above that, so that a stall of the host (a 2 s one
            // was seen on a 2-core machine) cannot turn the late answer into a timeout
            String model = InferenceFixtures.chatModelOver(List.of(Map.of("name", "late", "provider_type", "openai", "model_name", "late",
                    "connection_config", Map.of("base_url", OpenAiTestUpstream.get().baseUrl(), "api_key", "sk-upstream-secret",
                            "first_token_timeout_ms", 10000))));
            for (String path : List.of("/v1/inference/chat", "/oai/v1/chat/completions")) {
                String body = as(ADMIN).body(with(chat(model, "think first"), "stream", true)).when().post(path)
                        .then().statusCode(200).header("Content-Type", startsWith("text/event-stream")).extract().asString();
                assertThat(body).as(path).startsWith(": keep-alive\n\n");
                assertThat(body.indexOf("data: ")).isGreaterThan(body.lastIndexOf(": keep-alive"));
                List<String> data = parseSse(body).data();
                assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
                assertThat(data.stream().filter(d -> !d.equals("[DONE]")).map(d -> {
                    try {
                        return JSON.readTree(d).path("choices").path(0).path("delta").path("content").asText("");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }).collect(java.util.stream.Collectors.joining())).isEqualTo("echo: think first");
            }
            String hung = as(ADMIN).body(with(chat(chatModel("hang"), "never"), "stream", true)).when().post("/v1/inference/chat")
                    .then().statusCode(200).extract().asString(); // the test backend's first-token timeout is 2 s
            assertThat(hung).startsWith(": keep-alive\n\n").endsWith("data: [DONE]\n\n");
            assertThat(parseSse(hung).events()).containsExactly("error");
            assertThat(hung).contains("\"code\":\"BACKEND_TIMEOUT\"");
        } finally {
            routes.sseKeepAlive(java.time.Duration.ofSeconds(15));
        }
    }

    @Test
    void streamingWithoutUpstreamUsageIsCounted() throws Exception {
        String model = chatModel("nousage");
        String body = as(ADMIN).body(with(chat(model, "count these words please"), "stream", true))
                .when().post("/v1/inference/chat").then().statusCode(200).extract().asString();
        List<String> data = parseSse(body).data();
        JsonNode usageChunk = JSON.readTree(data.get(data.size() - 2));
        assertThat(usageChunk.path("usage").path("completion_tokens").asInt()).isPositive();
        assertThat(usageChunk.path("usage").path("prompt_tokens").asInt()).isPositive();
    }

    /**
     * A reasoning model behind an OpenAI-style server that reports no usage (Ollama names the thinking
     * {@code reasoning}): its thinking passes as the upstream sent it, and the gateway's own count includes it,
     * with its share as completion_tokens_details.reasoning_tokens.
     */
    @Test
    void thinkingWithoutUpstreamUsageIsCountedAsOutputAndApart() throws Exception {
        String model = chatModel("think");
        String marker = "count my thoughts";
        int answerChars = ("echo: " + marker).length();
        int thoughtChars = OpenAiTestUpstream.THOUGHT.length();
        String body = as(ADMIN).header("X-Request-Id", "req_think_counted").body(with(chat(model, marker), "stream", true))
                .when().post("/v1/inference/chat").then().statusCode(200).extract().asString();
        List<String> data = parseSse(body).data();
        StringBuilder thought = new StringBuilder();
        for (String d : data.subList(0, data.size() - 1)) {
            thought.append(JSON.readTree(d).path("choices").path(0).path("delta").path("reasoning").asText(""));
        }
        assertThat(thought.toString()).isEqualTo(OpenAiTestUpstream.THOUGHT);
        JsonNode usage = JSON.readTree(data.get(data.size() - 2)).path("usage");
        assertThat(usage.path("completion_tokens").asInt()).isEqualTo((answerChars + thoughtChars + 3) / 4);
        assertThat(usage.at("/completion_tokens_details/reasoning_tokens").asInt()).isEqualTo((thoughtChars + 3) / 4);

        JsonNode whole = JSON.readTree(as(ADMIN).body(chat(model, marker)).when().post("/oai/v1/chat/completions").then()
                .statusCode(200).extract().asString());
        assertThat(whole.at("/choices/0/message/reasoning").asText()).isEqualTo(OpenAiTestUpstream.THOUGHT);
        assertThat(whole.at("/usage/completion_tokens").asInt()).isEqualTo((answerChars + thoughtChars + 3) / 4);
        assertThat(whole.at("/usage/completion_tokens_details/reasoning_tokens").asInt()).isEqualTo((thoughtChars + 3) / 4);
        // a model without thinking has no such detail
        JsonNode plain = JSON.readTree(as(ADMIN).body(chat(chatModel("nousage"), marker)).when().post("/oai/v1/chat/completions")
                .then().statusCode(200).extract().asString());
        assertThat(plain.path("usage").has("completion_tokens_details")).isFalse();

        // the usage record keeps the split the caller saw, and the accounting views show it
        int reasoning = (thoughtChars + 3) / 4;
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            this.usage.flush().await().atMost(Duration.ofSeconds(5));
            var row = pool.preparedQuery("SELECT completion_tokens, reasoning_tokens FROM usage_records WHERE request_id = 'req_think_counted'")
                    .execute().await().atMost(Duration.ofSeconds(5)).iterator().next();
            assertThat(row.getInteger("reasoning_tokens")).isEqualTo(reasoning);
            assertThat(row.getInteger("completion_tokens")).isEqualTo((answerChars + thoughtChars + 3) / 4);
        });
        as(ADMIN).when().get("/v1/accounting/usage?model=" + model).then().statusCode(200)
                .body("data.items.tokens_reasoning", org.hamcrest.Matchers.everyItem(equalTo(reasoning)));
        as(ADMIN).when().get("/v1/accounting/usage/summary?model=" + model).then().statusCode(200)
                .body("data.items[0].reasoning_tokens", equalTo(2 * reasoning));
        as(ADMIN).when().get("/v1/usage?model=" + model).then().statusCode(200)
                .body("data.items[0].reasoning_tokens", equalTo(2 * reasoning));
    }

    @Test
    void upstreamSseWireVariantsAreRelayed() throws Exception {
        String model = chatModel("wire");
        String body = as(ADMIN).body(with(chat(model, "hi"), "stream", true))
                .when().post("/v1/inference/chat").then().statusCode(200).extract().asString();
        List<String> data = parseSse(body).data();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = JSON.readTree(d);
            JsonNode choice = chunk.path("choices").path(0);
            text.append(choice.path("delta").path("content").asText(""));
            if (choice.hasNonNull("finish_reason")) {
                finish = choice.get("finish_reason").asText();
            }
        }
        assertThat(text.toString()).isEqualTo("Hello ü");
        assertThat(finish).isEqualTo("stop");
        assertThat(body).doesNotContain("event: error");
    }

    @Test
    void generateAndToolCalls() {
        String model = chatModel("echo");
        as(ADMIN).body(Map.of("model", model, "prompt", "complete this")).when().post("/v1/inference/generate")
                .then().statusCode(200).body("data.object", equalTo("text_completion"))
                .body("data.choices[0].text", equalTo(OpenAiTestUpstream.CONTINUATION));
        String tools = chatModel("tools");
        Map<String, Object> req = with(chat(tools, "weather?"), "tools", List.of(Map.of("type", "function",
                "function", Map.of("name", "get_weather", "parameters", Map.of("type", "object")))));
        as(ADMIN).body(req).when().post("/v1/inference/chat").then().statusCode(200)
                .body("data.choices[0].finish_reason", equalTo("tool_calls"))
                .body("data.choices[0].message.tool_calls[0].function.name", equalTo("get_weather"))
                .body("data.choices[0].message.tool_calls[0].function.arguments", equalTo("{\"city\":\"Oslo\"}"));
        JsonNode sent = OpenAiTestUpstream.get().requests.stream().map(j -> (JsonNode) JSON.valueToTree(j.getMap()))
                .filter(j -> j.path("messages").toString().contains("weather?")).findFirst().orElseThrow();
        assertThat(sent.path("tools").path(0).path("function").path("name").asText()).isEqualTo("get_weather");
        String streamed = as(ADMIN).body(with(req, "stream", true)).when().post("/v1/inference/chat")
                .then().statusCode(200).extract().asString();
        assertThat(streamed).contains("\"tool_calls\"").contains("get_weather").endsWith("data: [DONE]\n\n");
    }

    /** A text-completions backend (connection_config.completions, native or chat). */
    private static Map<String, Object> completionsBackend(String upstreamModel, String mode) {
        Map<String, Object> config = new java.util.LinkedHashMap<>(Map.of("base_url", OpenAiTestUpstream.get().baseUrl(),
                "api_key", "sk-upstream-secret", "first_token_timeout_ms", 2000));
        if (mode != null) {
            config.put("completions", mode);
        }
        return Map.of("name", upstreamModel, "provider_type", "openai", "model_name", upstreamModel, "connection_config", config);
    }

    /**
     * generate is a raw text completion (reference §1): a self-hosted OpenAI-style server gets the prompt on its
     * /completions, which continues it as it is, not wrapped in a chat template; an upstream without that endpoint
     * (404, as OpenAI answers for its chat models) is asked through chat instead, without counting against it.
     */
    @Test
    void generateContinuesThePromptAsItIs() throws Exception {
        String model = chatModel("echo");
        String prompt = "The capital of France is " + InferenceFixtures.run();
        as(ADMIN).body(Map.of("model", model, "prompt", prompt, "max_completion_tokens", 12, "temperature", 0.2, "stop", List.of("\n")))
                .when().post("/v1/inference/generate").then().statusCode(200)
                .body("data.object", equalTo("text_completion"))
                .body("data.model", equalTo(model))
                .body("data.choices[0].text", equalTo(OpenAiTestUpstream.CONTINUATION))
                .body("data.choices[0].finish_reason", equalTo("length"))
                .body("data.usage.prompt_tokens", equalTo(5)).body("data.usage.completion_tokens", equalTo(4));
        JsonObject sent = OpenAiTestUpstream.get().sentContaining(prompt);
        assertThat(sent.getString("_path")).isEqualTo("/v1/completions");
        assertThat(sent.getString("prompt")).isEqualTo(prompt);
        assertThat(sent.containsKey("messages")).isFalse();
        assertThat(sent.getInteger("max_tokens")).as("the completions API's name for the cap").isEqualTo(12);
        assertThat(sent.containsKey("max_completion_tokens")).isFalse();
        assertThat(sent.getDouble("temperature")).isEqualTo(0.2);

        // streamed: text_completion chunks, the upstream's usage last, [DONE]
        String streamPrompt = "Once upon a time " + InferenceFixtures.run();
        String body = as(ADMIN).body(Map.of("model", model, "prompt", streamPrompt, "stream", true)).when().post("/v1/inference/generate")
                .then().statusCode(200).extract().asString();
        List<String> data = parseSse(body).data();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = JSON.readTree(d);
            assertThat(chunk.path("object").asText()).isEqualTo("text_completion.chunk");
            for (JsonNode c : chunk.path("choices")) {
                text.append(c.path("text").asText(""));
                if (c.hasNonNull("finish_reason")) {
                    finish = c.get("finish_reason").asText();
                }
            }
            if (chunk.has("usage")) {
                usage = chunk.get("usage");
            }
        }
        assertThat(text.toString()).isEqualTo(OpenAiTestUpstream.CONTINUATION);
        assertThat(finish).isEqualTo("length");
        assertThat(usage.path("completion_tokens").asInt()).isEqualTo(4);
        JsonObject sentStream = OpenAiTestUpstream.get().sentContaining(streamPrompt);
        assertThat(sentStream.getString("_path")).isEqualTo("/v1/completions");
        assertThat(sentStream.getBoolean("stream")).isTrue();

        // an upstream whose model only chats answers 404 there: asked through chat instead, and its circuit stays closed
        String chatOnly = InferenceFixtures.chatModelOver(List.of(completionsBackend("chatonly", null)));
        for (int i = 0; i < 8; i++) {
            as(ADMIN).body(Map.of("model", chatOnly, "prompt", "hello " + i)).when().post("/v1/inference/generate").then().statusCode(200)
                    .body("data.choices[0].text", equalTo("echo: hello " + i))
                    // named as a text completion, though a chat answered it
                    .body("data.id", startsWith("cmpl-"));
        }
        String streamed = as(ADMIN).body(Map.of("model", chatOnly, "prompt", "streamed hello", "stream", true))
                .when().post("/v1/inference/generate").then().statusCode(200).extract().asString();
        assertThat(streamed).contains("\"text\":\"echo: \"").contains("\"id\":\"cmpl-").doesNotContain("chatcmpl-")
                .doesNotContain("event: error").endsWith("data: [DONE]\n\n");
        assertThat(OpenAiTestUpstream.get().sentContaining("streamed hello").getString("_path")).isEqualTo("/v1/chat/completions");

        // completions: chat asks through chat from the start; tools need a chat too
        String viaChat = InferenceFixtures.chatModelOver(List.of(completionsBackend("echo", "chat")));
        String chatPrompt = "via chat " + InferenceFixtures.run();
        as(ADMIN).body(Map.of("model", viaChat, "prompt", chatPrompt)).when().post("/v1/inference/generate").then().statusCode(200)
                .body("data.choices[0].text", equalTo("echo: " + chatPrompt));
        assertThat(OpenAiTestUpstream.get().sentContaining(chatPrompt).getString("_path")).isEqualTo("/v1/chat/completions");
        String toolPrompt = "with tools " + InferenceFixtures.run();
        as(ADMIN).body(Map.of("model", model, "prompt", toolPrompt, "tools", List.of(Map.of("type", "function",
                "function", Map.of("name", "f"))))).when().post("/v1/inference/generate").then().statusCode(200);
        assertThat(OpenAiTestUpstream.get().sentContaining(toolPrompt).getString("_path")).isEqualTo("/v1/chat/completions");

        // chat on the same backend is unchanged
        as(ADMIN).body(chat(model, "still chatting")).when().post("/v1/inference/chat").then().statusCode(200)
                .body("data.choices[0].message.content", equalTo("echo: still chatting"));
        as(ADMIN).body(completionsBackend("echo", "always")).when().post("/v1/backends").then().statusCode(400)
                .body("error.details[0].field", equalTo("connection_config.completions"));
    }

    /**
     * OpenAI's legacy text completions under /oai/v1 (the SDK's completions.create, what evaluation harnesses and
     * code-completion clients call), with logprobs in that API's shape whichever API the upstream answered through.
     */
    @Test
    void echoLeadsTheTextWithThePrompt() throws Exception {
        String model = chatModel("echo");
        String prompt = "Echo me " + InferenceFixtures.run();
        as(ADMIN).body(Map.of("model", model, "prompt", prompt, "echo", true)).when().post("/oai/v1/completions").then()
                .statusCode(200).body("choices[0].text", equalTo(prompt + OpenAiTestUpstream.CONTINUATION));
        assertThat(OpenAiTestUpstream.get().sentContaining(prompt).containsKey("echo")).as("answered here, not upstream").isFalse();
        String sse = as(ADMIN).body(Map.of("model", model, "prompt", List.of(prompt), "echo", true, "stream", true))
                .when().post("/oai/v1/completions").then().statusCode(200).extract().asString();
        Map<Integer, StringBuilder> texts = new java.util.TreeMap<>();
        for (String data : parseSse(sse).data()) {
            if (!data.equals("[DONE]")) {
                for (JsonNode c : JSON.readTree(data).path("choices")) {
                    texts.computeIfAbsent(c.path("index").asInt(), i -> new StringBuilder()).append(c.path("text").asText());
                }
            }
        }
        assertThat(texts).hasSize(1);
        assertThat(texts.values()).allSatisfy(t -> assertThat(t.toString()).isEqualTo(prompt + OpenAiTestUpstream.CONTINUATION));
        as(ADMIN).body(Map.of("model", model, "prompt", prompt, "echo", "yes")).when().post("/v1/inference/generate")
                .then().statusCode(400).body("error.details[0].field", equalTo("echo"));
        // without echo, nothing leads the text
        as(ADMIN).body(Map.of("model", model, "prompt", prompt, "echo", false)).when().post("/v1/inference/generate").then()
                .statusCode(200).body("data.choices[0].text", equalTo(OpenAiTestUpstream.CONTINUATION));
    }

    /**
     * What evaluation harnesses send (lm-evaluation-harness's loglikelihood: echo with logprobs; several prompts; token
     * ids) goes to a native text-completion endpoint as it is, which echoes the prompt with its log probabilities;
     * a model with no such backend refuses it by name, and failover skips backends without one.
     */
    @Test
    void severalPromptsTokenIdsAndEchoWithLogprobsGoToNativeCompletions() throws Exception {
        String model = chatModel("echo");
        String first = "Score me " + InferenceFixtures.run();
        String second = "And me " + InferenceFixtures.run();
        JsonNode answer = JSON.readTree(as(ADMIN).body(Map.of("model", model, "prompt", List.of(first, second), "echo", true,
                        "logprobs", 1, "max_tokens", 1)).when().post("/oai/v1/completions").then().statusCode(200).extract().asString());
        assertThat(answer.path("choices")).hasSize(2);
        assertThat(answer.at("/choices/0/text").asText()).as("echoed once, by the upstream")
                .isEqualTo(first + OpenAiTestUpstream.CONTINUATION);
        assertThat(answer.at("/choices/1/text").asText()).isEqualTo(second + OpenAiTestUpstream.CONTINUATION);
        assertThat(answer.at("/choices/1/index").asInt()).isEqualTo(1);
        assertThat(answer.at("/choices/0/logprobs/tokens/0").asText()).as("the prompt's own tokens").isEqualTo("Score ");
        assertThat(answer.at("/usage/prompt_tokens").asInt()).isEqualTo(10);
        var sent = OpenAiTestUpstream.get().sentContaining(first);
        assertThat(sent.getString("_path")).isEqualTo("/v1/completions");
        assertThat(sent.getJsonArray("prompt").getList()).containsExactly(first, second);
        assertThat(sent.getBoolean("echo")).isTrue();
        assertThat(sent.getValue("logprobs")).isEqualTo(1);

        // token ids, and lists of them, streamed: a choice per prompt
        String sse = as(ADMIN).body(Map.of("model", model, "prompt", List.of(List.of(11, 12), List.of(13)), "stream", true, "echo", true,
                "logprobs", 0)).when().post("/oai/v1/completions").then().statusCode(200).extract().asString();
        Map<Integer, StringBuilder> texts = new java.util.TreeMap<>();
        for (String data : parseSse(sse).data()) {
            if (!data.equals("[DONE]")) {
                for (JsonNode c : JSON.readTree(data).path("choices")) {
                    texts.computeIfAbsent(c.path("index").asInt(), i -> new StringBuilder()).append(c.path("text").asText());
                }
            }
        }
        assertThat(texts.get(0).toString()).isEqualTo("t11 t12 " + OpenAiTestUpstream.CONTINUATION);
        assertThat(texts.get(1).toString()).isEqualTo("t13 " + OpenAiTestUpstream.CONTINUATION);
        as(ADMIN).body(Map.of("model", model, "prompt", List.of(7, 8, 9))).when().post("/v1/inference/generate").then().statusCode(200)
                .body("data.choices.size()", equalTo(1)).body("data.choices[0].text", equalTo(OpenAiTestUpstream.CONTINUATION));
        assertThat(OpenAiTestUpstream.get().sentContaining("[7,8,9]").getJsonArray("prompt").getList()).containsExactly(7, 8, 9);

        // only native text-completion backends: a chat-mode one is skipped, a model with none refuses by name
        String mixed = InferenceFixtures.chatModelOver(List.of(completionsBackend("echo", "chat"), completionsBackend("echo", "native")));
        String viaNative = "mixed " + InferenceFixtures.run();
        as(ADMIN).body(Map.of("model", mixed, "prompt", List.of(viaNative, "b"))).when().post("/oai/v1/completions").then()
                .statusCode(200).body("choices.size()", equalTo(2));
        assertThat(OpenAiTestUpstream.get().sentContaining(viaNative).getString("_path")).isEqualTo("/v1/completions");
        String chatOnly = InferenceFixtures.chatModelOver(List.of(completionsBackend("echo", "chat")));
        as(ADMIN).body(Map.of("model", chatOnly, "prompt", "x", "echo", true, "logprobs", 1)).when().post("/oai/v1/completions").then()
                .statusCode(400).body("error.param", equalTo("prompt"));
        as(ADMIN).body(Map.of("model", chatOnly, "prompt", List.of(1, 2))).when().post("/v1/inference/generate").then().statusCode(400)
                .body("error.details[0].field", equalTo("prompt"));

        // shapes
        for (Object bad : List.of(List.of(), List.of("a", 1), List.of(List.of()), List.of(-1), List.of(""), Map.of("text", "x"))) {
            as(ADMIN).body(Map.of("model", model, "prompt", bad)).when().post("/oai/v1/completions").then().statusCode(400)
                    .body("error.param", org.hamcrest.Matchers.startsWith("prompt"));
        }
        as(ADMIN).body(Map.of("model", model, "prompt", java.util.Collections.nCopies(65, "p"), "n", 2)).when().post("/oai/v1/completions")
                .then().statusCode(400).body("error.param", equalTo("prompt"));
    }

    @Test
    void oaiCompletionsWithLogprobs() throws Exception {
        String model = chatModel("echo");
        String prompt = "The capital of Norway is " + InferenceFixtures.run();
        // a one-string list is OpenAI's other way to send a prompt
        JsonNode answer = JSON.readTree(as(ADMIN).body(Map.of("model", model, "prompt", List.of(prompt), "max_tokens", 8, "logprobs", 2))
                .when().post("/oai/v1/completions").then().statusCode(200).extract().asString());
        assertThat(answer.path("object").asText()).isEqualTo("text_completion");
        assertThat(answer.path("id").asText()).startsWith("cmpl-");
        assertThat(answer.has("status")).as("OpenAI's shape, not the envelope").isFalse();
        JsonNode choice = answer.path("choices").path(0);
        assertThat(choice.path("text").asText()).isEqualTo(OpenAiTestUpstream.CONTINUATION);
        assertThat(JSON.treeToValue(choice.path("logprobs").path("tokens"), List.class)).containsExactly(" ", "Paris, ", "of ", "course.");
        assertThat(choice.path("logprobs").path("token_logprobs").path(2).asDouble()).isEqualTo(OpenAiTestUpstream.LOGPROB);
        assertThat(choice.path("logprobs").path("top_logprobs").path(0).toString()).isEqualTo("{\"alt0\":-1.0,\"alt1\":-2.0}");
        assertThat(answer.path("usage").path("total_tokens").asInt()).isEqualTo(9);
        JsonObject sent = OpenAiTestUpstream.get().sentContaining(prompt);
        assertThat(sent.getString("_path")).isEqualTo("/v1/completions");
        assertThat(sent.getValue("logprobs")).as("the completions API's count").isEqualTo(2);
        assertThat(sent.containsKey("top_logprobs")).isFalse();
        // without logprobs asked for, a choice says null, as OpenAI's does
        as(ADMIN).body(Map.of("model", model, "prompt", "plain " + InferenceFixtures.run())).when().post("/oai/v1/completions")
                .then().statusCode(200).body("choices[0].logprobs", org.hamcrest.Matchers.nullValue())
                .body("choices[0].text", equalTo(OpenAiTestUpstream.CONTINUATION));

        // through a chat-only upstream: chat's logprobs are asked for and rewritten, offsets from the generated text
        String chatOnly = InferenceFixtures.chatModelOver(List.of(completionsBackend("chatonly", null)));
        String hello = "hello " + InferenceFixtures.run();
        JsonNode viaChat = JSON.readTree(as(ADMIN).body(Map.of("model", chatOnly, "prompt", hello, "logprobs", 1))
                .when().post("/oai/v1/completions").then().statusCode(200).extract().asString());
        JsonNode lp = viaChat.path("choices").path(0).path("logprobs");
        List<String> words = List.of(("echo: " + hello).split("(?<= )"));
        assertThat(JSON.treeToValue(lp.path("tokens"), List.class)).isEqualTo(words);
        assertThat(lp.path("text_offset").toString()).isEqualTo("[0,6," + (6 + words.get(1).length()) + "]");
        assertThat(lp.path("top_logprobs").path(1).toString()).isEqualTo("{\"alt0\":-1.0}");
        JsonObject sentChat = OpenAiTestUpstream.get().sentContaining(hello);
        assertThat(sentChat.getString("_path")).isEqualTo("/v1/chat/completions");
        assertThat(sentChat.getBoolean("logprobs")).isTrue();
        assertThat(sentChat.getInteger("top_logprobs")).isEqualTo(1);

        // streamed: text_completion chunks (OpenAI's streaming name), offsets running on across chunks, usage when asked
        String streamedHello = "streamed " + InferenceFixtures.run();
        String body = as(ADMIN).body(Map.of("model", chatOnly, "prompt", streamedHello, "logprobs", 0, "stream", true,
                "stream_options", Map.of("include_usage", true))).when().post("/oai/v1/completions").then().statusCode(200)
                .extract().asString();
        List<String> data = parseSse(body).data();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        List<Integer> offsets = new java.util.ArrayList<>();
        JsonNode usage = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = JSON.readTree(d);
            assertThat(chunk.path("object").asText()).isEqualTo("text_completion");
            assertThat(chunk.path("id").asText()).startsWith("cmpl-");
            for (JsonNode c : chunk.path("choices")) {
                text.append(c.path("text").asText(""));
                c.path("logprobs").path("text_offset").forEach(o -> offsets.add(o.asInt()));
            }
            if (chunk.hasNonNull("usage")) {
                usage = chunk.get("usage");
            }
        }
        assertThat(text.toString()).isEqualTo("echo: " + streamedHello);
        List<String> streamedWords = List.of(("echo: " + streamedHello).split("(?<= )"));
        assertThat(offsets).containsExactly(0, 6, 6 + streamedWords.get(1).length());
        assertThat(usage).isNotNull();

        // a malformed prompt is refused in OpenAI's error format, naming the parameter
        for (Object bad : List.of(List.of(1.5), List.of("a", true), "")) {
            as(ADMIN).body(Map.of("model", model, "prompt", bad)).when().post("/oai/v1/completions").then().statusCode(400)
                    .body("error.param", org.hamcrest.Matchers.startsWith("prompt")).body("error.type", equalTo("invalid_request_error"));
        }
        for (Object bad : List.of(6, true, -1, "2")) {
            as(ADMIN).body(Map.of("model", model, "prompt", "x", "logprobs", bad)).when().post("/oai/v1/completions")
                    .then().statusCode(400).body("error.param", equalTo("logprobs"));
        }
        as(ADMIN).body(Map.of("model", "no/such-model", "prompt", "x")).when().post("/oai/v1/completions").then().statusCode(404)
                .body("error.code", equalTo("model_not_found"));
    }

    @Test
    void embeddings() {
        String model = InferenceFixtures.model("test-" + InferenceFixtures.run() + "/embed", "embedding", null, "embed");
        as(ADMIN).body(Map.of("model", model, "input", List.of("a", "b"))).when().post("/v1/inference/embed")
                .then().statusCode(200).body("status", equalTo("ok"))
                .body("data.data.size()", equalTo(2)).body("data.data[1].index", equalTo(1))
                .body("data.model", equalTo(model)).body("data.usage.prompt_tokens", equalTo(8));
        as(ADMIN).body(Map.of("model", model, "input", "one")).when().post("/oai/v1/embeddings")
                .then().statusCode(200).body("object", equalTo("list")).body("data[0].embedding.size()", equalTo(3));
        as(ADMIN).body(chat(model, "x")).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"));
    }

    @Test
    void severalChoicesWhenTheBackendCanGiveThem() throws Exception {
        String model = chatModel("echo");
        as(ADMIN).body(with(chat(model, "twice"), "n", 2)).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("choices.size()", equalTo(2)).body("choices.index", equalTo(List.of(0, 1)))
                .body("choices.message.content", equalTo(List.of("echo: twice", "echo: twice")))
                .body("usage.completion_tokens", equalTo(6));
        String body = as(ADMIN).body(with(with(chat(model, "streamed twice"), "n", 2), "stream", true))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        Map<Integer, StringBuilder> texts = new java.util.TreeMap<>();
        for (String data : parseSse(body).data()) {
            if (!data.equals("[DONE]")) {
                for (JsonNode choice : JSON.readTree(data).path("choices")) {
                    texts.computeIfAbsent(choice.path("index").asInt(), i -> new StringBuilder())
                            .append(choice.path("delta").path("content").asText(""));
                }
            }
        }
        assertThat(texts).hasSize(2);
        assertThat(texts.values()).extracting(StringBuilder::toString).containsOnly("echo: streamed twice");
        for (Object bad : List.of(0, 129, 1.5, "2")) {
            as(ADMIN).body(with(chat(model, "x"), "n", bad)).when().post("/v1/inference/chat").then().statusCode(400)
                    .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("n"));
        }
    }

    @Test
    void embeddingsInBase64AndFromTokenIds() {
        String model = InferenceFixtures.model("test-" + InferenceFixtures.run() + "/embed", "embedding", null, "embed");
        // what the official SDKs send unless told otherwise: the upstream is asked for floats, the gateway encodes
        List<String> encoded = as(ADMIN).body(Map.of("model", model, "input", List.of("b64-one", "b64-two"), "encoding_format", "base64"))
                .when().post("/oai/v1/embeddings").then().statusCode(200).body("data.size()", equalTo(2))
                .extract().path("data.embedding");
        assertThat(floats(encoded.get(0))).containsExactly(0.1f, 0.2f, 0.3f);
        assertThat(floats(encoded.get(1))).containsExactly(0.2f, 0.2f, 0.3f);
        assertThat(OpenAiTestUpstream.get().sentContaining("b64-one").containsKey("encoding_format")).isFalse();
        as(ADMIN).body(Map.of("model", model, "input", "native-b64", "encoding_format", "base64")).when().post("/v1/inference/embed")
                .then().statusCode(200).body("data.data[0].embedding", equalTo(encoded.get(0)));
        as(ADMIN).body(Map.of("model", model, "input", "floats", "encoding_format", "float")).when().post("/oai/v1/embeddings")
                .then().statusCode(200).body("data[0].embedding.size()", equalTo(3));

        // token ids (one input, or several) go to the upstream as they are; the estimate counts them
        as(ADMIN).body(Map.of("model", model, "input", List.of(9001, 9002, 9003))).when().post("/oai/v1/embeddings")
                .then().statusCode(200).body("data.size()", equalTo(1));
        assertThat(OpenAiTestUpstream.get().sentContaining("9002").getJsonArray("input").encode()).isEqualTo("[9001,9002,9003]");
        as(ADMIN).body(Map.of("model", model, "input", List.of(List.of(9101, 9102), List.of(9103)))).when().post("/oai/v1/embeddings")
                .then().statusCode(200).body("data.size()", equalTo(2));

        as(ADMIN).body(Map.of("model", model, "input", "x", "encoding_format", "int8")).when().post("/oai/v1/embeddings")
                .then().statusCode(400).body("error.param", equalTo("encoding_format"));
        as(ADMIN).body(Map.of("model", model, "input", List.of(1, -2))).when().post("/v1/inference/embed")
                .then().statusCode(400).body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("input"));
        as(ADMIN).body(Map.of("model", model, "input", List.of(List.of(1), List.of()))).when().post("/v1/inference/embed")
                .then().statusCode(400).body("error.details[0].field", equalTo("input[1]"));
        as(ADMIN).body(Map.of("model", model, "input", List.of("text", 1.5))).when().post("/v1/inference/embed")
                .then().statusCode(400).body("error.details[0].field", equalTo("input[1]"));
    }

    private static float[] floats(String base64) {
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode(base64)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bytes.remaining() / 4];
        for (int i = 0; i < out.length; i++) {
            out[i] = bytes.getFloat();
        }
        return out;
    }

    @Test
    void validationErrorsArePrecise() {
        String model = chatModel("echo");
        as(ADMIN).body(chat("nobody/such-model", "x")).when().post("/v1/inference/chat").then().statusCode(404)
                .body("error.code", equalTo("MODEL_NOT_FOUND")).body("meta.request_id", startsWith("req_"));
        as(ADMIN).body(Map.of("model", model, "messages", List.of(Map.of("role", "wizard", "content", "x"))))
                .when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("messages[0].role"));
        as(ADMIN).body(Map.of("model", model, "messages", List.of())).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.details[0].field", equalTo("messages"));
        as(ADMIN).body(with(chat(model, "x"), "max_tokens", 5000)).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("max_tokens"));
        as(ADMIN).body(with(chat(model, "x"), "temperature", 7)).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.details[0].field", equalTo("temperature"));
        // a malformed response_format is refused by name (before, the model answered in prose); OpenAI's shape under /oai/v1
        as(ADMIN).body(with(chat(model, "x"), "response_format", "json")).when().post("/oai/v1/chat/completions").then()
                .statusCode(400).body("error.type", equalTo("invalid_request_error")).body("error.param", equalTo("response_format"));
        as(ADMIN).body(with(chat(model, "x"), "tool_choice", "required")).when().post("/v1/inference/chat").then()
                .statusCode(400).body("error.details[0].field", equalTo("tool_choice"));
        as(ADMIN).body("{\"model\": ").when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("body"));
        // over the body limit (2 MiB in tests): the envelope, or OpenAI's shape, never the server's bare 413
        String huge = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(3_000_000) + "\"}]}";
        as(ADMIN).body(huge).when().post("/v1/inference/chat").then().statusCode(413)
                .body("error.code", equalTo("PAYLOAD_TOO_LARGE")).body("meta.request_id", startsWith("req_"))
                .header("X-Request-Id", startsWith("req_"));
        as(ADMIN).body(huge).when().post("/oai/v1/chat/completions").then().statusCode(413)
                .body("error.type", equalTo("invalid_request_error")).body("error.code", equalTo("payload_too_large"));
        // also past the HTTP server's default cap of 10 MiB (which answered with a bare 413 before it was raised)
        String larger = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(12_000_000) + "\"}]}";
        as(ADMIN).body(larger).when().post("/v1/inference/chat").then().statusCode(413)
                .body("error.code", equalTo("PAYLOAD_TOO_LARGE")).body("meta.request_id", startsWith("req_"));
        as(ADMIN).body("[1,2]").when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"));
        RestAssured.given().contentType("application/json").body(chat(model, "x")).when().post("/v1/inference/chat")
                .then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_MISSING"));
        as("sgk_NotARealKey0000000000000000000000000").body(chat(model, "x")).when().post("/v1/inference/chat")
                .then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID"));
        // a tenant viewer may list models but not use them
        as(key(tenant(), "tenant_viewer", null)).body(chat(model, "x")).when().post("/v1/inference/chat")
                .then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
    }

    @Test
    void tenantModelsAndGroupRestrictions() {
        String tenantA = tenant();
        String tenantB = tenant();
        String slugA = as(ADMIN).when().get("/v1/tenants/" + tenantA).then().statusCode(200).extract().path("data.slug");
        String slug = "tenant/" + slugA + "/private";
        String id = InferenceFixtures.create("/v1/models", Map.of("slug", slug, "display_name", "p", "owner_scope", "tenant",
                "owner_tenant_id", tenantA));
        String backend = InferenceFixtures.create("/v1/backends", Map.of("name", "e", "provider_type", "openai", "model_name", "echo",
                "connection_config", Map.of("base_url", OpenAiTestUpstream.get().baseUrl())));
        as(ADMIN).body(Map.of("backend_id", backend)).when().post("/v1/models/" + id + "/backends").then().statusCode(201);
        as(key(tenantA, "tenant_user", null)).body(chat(slug, "mine")).when().post("/v1/inference/chat").then().statusCode(200);
        as(key(tenantB, "tenant_user", null)).body(chat(slug, "theirs")).when().post("/v1/inference/chat").then().statusCode(404)
                .body("error.code", equalTo("MODEL_NOT_FOUND"));
        as(key(tenantB, "tenant_user", null)).when().get("/oai/v1/models/" + slug).then().statusCode(404)
                .body("error.type", equalTo("invalid_request_error"));

        String open = chatModel("echo");
        String other = chatModel("echo");
        String group = InferenceFixtures.create("/v1/models/groups", Map.of("name", "g", "scope", "tenant", "tenant_id", tenantA));
        as(ADMIN).body(Map.of("slugs", List.of(open))).when().post("/v1/models/groups/" + group + "/members").then().statusCode(200);
        String restricted = key(tenantA, "tenant_user", List.of(group));
        as(restricted).body(chat(open, "ok")).when().post("/v1/inference/chat").then().statusCode(200);
        as(restricted).body(chat(other, "no")).when().post("/v1/inference/chat").then().statusCode(403)
                .body("error.code", equalTo("MODEL_ACCESS_DENIED"));
        List<String> ids = as(restricted).when().get("/oai/v1/models").then().statusCode(200).extract().path("data.id");
        assertThat(ids).contains(open).doesNotContain(other);
        as(restricted).when().get("/oai/v1/models/" + open).then().statusCode(200).body("id", equalTo(open));
        as(restricted).when().get("/oai/v1/models/" + other).then().statusCode(403)
                .body("error.code", equalTo("model_access_denied"));
    }

    @Test
    void openAiLayerShapes() throws Exception {
        String model = chatModel("echo");
        as(ADMIN).body(chat(model, "oai")).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("object", equalTo("chat.completion")).body("model", equalTo(model))
                .body("choices[0].message.content", equalTo("echo: oai")).body("usage.total_tokens", equalTo(10));
        String plain = as(ADMIN).body(with(chat(model, "oai stream"), "stream", true)).when().post("/oai/v1/chat/completions")
                .then().statusCode(200).extract().asString();
        assertThat(plain).doesNotContain("\"usage\"").endsWith("data: [DONE]\n\n");
        String withUsage = as(ADMIN).body(with(with(chat(model, "oai stream"), "stream", true), "stream_options",
                Map.of("include_usage", true))).when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        assertThat(withUsage).contains("\"usage\"");
        as(ADMIN).body(chat("missing/model", "x")).when().post("/oai/v1/chat/completions").then().statusCode(404)
                .body("error.type", equalTo("invalid_request_error")).body("error.code", equalTo("model_not_found"))
                .body("error.message", notNullValue());
        as(ADMIN).when().get("/oai/v1/models").then().statusCode(200).body("object", equalTo("list"))
                .body("data.find { it.id == '" + model + "' }.object", equalTo("model"))
                .body("data.find { it.id == '" + model + "' }.max_output_tokens", equalTo(1000));
        as(ADMIN).when().get("/oai/v1/models/" + model).then().statusCode(200).body("id", equalTo(model));
        // a '%' that is not an escape is part of an id as given: no such model, not a server error
        as(ADMIN).urlEncodingEnabled(false).when().get("/oai/v1/models/no%25zz").then().statusCode(404)
                .body("error.code", equalTo("model_not_found"));
        RestAssured.given().when().get("/oai/v1/models").then().statusCode(401).body("error.type", equalTo("invalid_request_error"))
                .body("error.code", equalTo("invalid_api_key"));
    }

    @Test
    void failoverBeforeTheFirstToken() {
        String model = chatModel("drop", "echo");
        as(ADMIN).body(chat(model, "failover")).when().post("/v1/inference/chat").then().statusCode(200)
                .body("data.choices[0].message.content", equalTo("echo: failover"));
        String body = as(ADMIN).body(with(chat(model, "failover stream"), "stream", true)).when().post("/v1/inference/chat")
                .then().statusCode(200).extract().asString();
        assertThat(parseSse(body).events()).isEmpty();
        assertThat(body).contains("failover").endsWith("data: [DONE]\n\n");
        String only500 = chatModel("fail500");
        String error = as(ADMIN).body(chat(only500, "x")).when().post("/v1/inference/chat").then().statusCode(502)
                .body("error.code", equalTo("BACKEND_ERROR")).extract().asString();
        assertThat(error).doesNotContain("SELECT").doesNotContain("kaboom");
        as(ADMIN).body(chat(chatModel("badrequest"), "x")).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"));
        as(ADMIN).body(chat(chatModel("ratelimited"), "x")).when().post("/v1/inference/chat").then().statusCode(429)
                .body("error.code", equalTo("BACKEND_RATE_LIMITED")).header("Retry-After", "7");
        as(ADMIN).body(with(chat(chatModel("hang"), "x"), "stream", true)).when().post("/v1/inference/chat").then().statusCode(504)
                .body("error.code", equalTo("BACKEND_TIMEOUT"));
    }

    @Test
    void errorEventAfterTheFirstToken() {
        String model = chatModel("midfail", "echo");
        String body = as(ADMIN).body(with(chat(model, "x"), "stream", true)).when().post("/v1/inference/chat")
                .then().statusCode(200).extract().asString();
        InferenceFixtures.Sse sse = parseSse(body);
        assertThat(sse.events()).containsExactly("error");
        assertThat(body).contains("Hello").contains("\"code\":\"BACKEND_ERROR\"").endsWith("data: [DONE]\n\n");
        assertThat(body).as("no failover after the first token").doesNotContain("echo:");
        String oai = as(ADMIN).body(with(chat(model, "x"), "stream", true)).when().post("/oai/v1/chat/completions")
                .then().statusCode(200).extract().asString();
        assertThat(oai).contains("\"error\"").endsWith("data: [DONE]\n\n");
    }

    @Test
    void circuitOpensAndCloses() {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        up.flakyFailing.set(true);
        String model = chatModel("flaky");
        as(ADMIN).when().get("/v1/models/" + model).then().body("data.health_status", equalTo("healthy"));
        int before = up.calls("flaky");
        for (int i = 0; i < 4; i++) { // request-volume-threshold in the test profile
            as(ADMIN).body(chat(model, "x")).when().post("/v1/inference/chat").then().statusCode(502);
        }
        assertThat(up.calls("flaky") - before).isEqualTo(4);
        as(ADMIN).body(chat(model, "x")).when().post("/v1/inference/chat").then().statusCode(503)
                .body("error.code", equalTo("MODEL_UNAVAILABLE"));
        assertThat(up.calls("flaky") - before).as("an open circuit sends nothing upstream").isEqualTo(4);
        // its only backend's circuit is open (for 1 s in tests): the catalogue says so
        as(ADMIN).when().get("/v1/models/" + model).then().body("data.health_status", equalTo("unhealthy"));
        String flakyBackend = pool.preparedQuery("SELECT b.id FROM backend_models b JOIN model_links l ON l.backend_model_id = b.id "
                        + "JOIN frontend_models f ON f.id = l.frontend_model_id WHERE f.slug = $1").execute(Tuple.of(model))
                .await().atMost(Duration.ofSeconds(5)).iterator().next().getString(0);
        as(ADMIN).when().get("/v1/backends/" + flakyBackend + "/health").then().statusCode(200)
                .body("data.status", equalTo("unhealthy")).body("data.circuit", equalTo("open"))
                .body("data.linked_models", equalTo(1));
        up.flakyFailing.set(false);
        await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(100)).untilAsserted(() ->
                as(ADMIN).body(chat(model, "x")).when().post("/v1/inference/chat").then().statusCode(200));
        String backendId = pool.preparedQuery("SELECT b.id FROM backend_models b JOIN model_links l ON l.backend_model_id = b.id "
                        + "JOIN frontend_models f ON f.id = l.frontend_model_id WHERE f.slug = $1").execute(Tuple.of(model))
                .await().atMost(Duration.ofSeconds(5)).iterator().next().getString(0);
        assertThat(pipeline.circuitState(backendId)).isEqualTo(CircuitBreaker.State.CLOSED);
    }

    @Test
    void clientDisconnectCancelsTheUpstreamAtOnce() throws Exception {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        String model = chatModel("slow");
        int cancelledBefore = up.cancelledStreams.get();
        String body = JSON.writeValueAsString(with(chat(model, "long"), "stream", true));
        try (Socket socket = new Socket("127.0.0.1", RestAssured.port)) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/inference/chat HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ADMIN
                    + "\r\nContent-Type: application/json\r\nX-Request-Id: req_disconnect_1\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder seen = new StringBuilder();
            byte[] buf = new byte[1024];
            while (!seen.toString().contains("tick")) {
                int n = in.read(buf);
                assertThat(n).isPositive();
                seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
        }
        await().atMost(Duration.ofSeconds(3)).until(() -> up.cancelledStreams.get() > cancelledBefore);
        usage.flush().await().atMost(Duration.ofSeconds(5));
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            var rows = pool.preparedQuery("SELECT status FROM usage_records WHERE request_id = 'req_disconnect_1'")
                    .execute().await().atMost(Duration.ofSeconds(5));
            assertThat(rows.size()).isEqualTo(1);
            assertThat(rows.iterator().next().getString("status")).isEqualTo("cancelled");
        });
    }

    @Test
    void upstreamFailureIsClassified() {
        assertThat(UpstreamFailure.timeout("t").countsAsBackendFailure()).isTrue();
    }

    @Test
    void openApiDescribesTheInferenceRoutes() {
        String doc = RestAssured.given().accept("application/json").when().get("/q/openapi").then().statusCode(200)
                .extract().asString();
        assertThat(doc).contains("/v1/inference/chat").contains("/oai/v1/chat/completions").contains("/v1/models")
                .contains("/v1/usage").contains("/anthropic/v1/messages").contains("mcp_server_error");
    }

    @Test
    void requestIdsAreValidatedAndGenerated() {
        String model = chatModel("echo");
        as(ADMIN).header("X-Request-Id", "bad id with spaces").body(chat(model, "x")).when().post("/v1/inference/chat")
                .then().statusCode(200).header("X-Request-Id", matchesPattern("req_[A-Za-z0-9]{24}"));
    }
}
