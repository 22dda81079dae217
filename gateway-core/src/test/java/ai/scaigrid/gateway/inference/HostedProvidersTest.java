package ai.scaigrid.gateway.inference;

import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.FunctionDefinition;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceResponse;
import ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.ThinkingBlock;
import ai.scaigrid.proto.scaiinfer.v1.Tool;
import ai.scaigrid.proto.scaiinfer.v1.ToolCall;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModelOver;
import static ai.scaigrid.gateway.inference.InferenceFixtures.parseSse;
import static ai.scaigrid.gateway.inference.InferenceFixtures.run;
import static ai.scaigrid.gateway.inference.InferenceFixtures.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;

/**
 * The hosted provider types beyond plain OpenAI: Anthropic's Messages API translated both ways
 * (against a local stand-in that speaks its wire format), Azure OpenAI's deployment URLs and
 * {@code api-key} header, and Mistral's stream without {@code stream_options}, each through both
 * front doors, streaming and not.
 */
@QuarkusTest
class HostedProvidersTest {

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    private static Map<String, Object> anthropicBackend(String model, String apiKey) {
        return anthropicBackend(model, apiKey, Map.of());
    }

    private static Map<String, Object> anthropicBackend(String model, String apiKey, Map<String, Object> extra) {
        Map<String, Object> config = new LinkedHashMap<>(Map.of("base_url", AnthropicTestUpstream.get().baseUrl(), "api_key", apiKey,
                "first_token_timeout_ms", 2000));
        config.putAll(extra);
        return Map.of("name", model, "provider_type", "anthropic", "model_name", model, "connection_config", config);
    }

    private static Map<String, Object> openAiBackend(String type, String model, Map<String, Object> extra) {
        Map<String, Object> config = new LinkedHashMap<>(Map.of("base_url", OpenAiTestUpstream.get().baseUrl(),
                "api_key", "sk-" + type + "-secret", "first_token_timeout_ms", 2000));
        config.putAll(extra);
        return Map.of("name", model, "provider_type", type, "model_name", model, "connection_config", config);
    }

    /** A conversation with every kind of message: system, a prior tool call and its result, an image. */
    private static Map<String, Object> toolConversation(String model, String marker) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", List.of(
                Map.of("role", "system", "content", "Be brief."),
                Map.of("role", "developer", "content", "Use tools."),
                Map.of("role", "user", "content", List.of(Map.of("type", "text", "text", marker),
                        Map.of("type", "image_url", "image_url", Map.of("url", "data:image/png;base64,iVBORw0KGgo=")))),
                Map.of("role", "assistant", "content", "", "tool_calls", List.of(Map.of("id", "toolu_prev", "type", "function",
                        "function", Map.of("name", "get_weather", "arguments", "{\"city\":\"Bergen\"}")))),
                Map.of("role", "tool", "tool_call_id", "toolu_prev", "content", "rain, 9 C"),
                Map.of("role", "user", "content", "And Oslo?")));
        body.put("tools", List.of(Map.of("type", "function", "function", Map.of("name", "get_weather",
                "description", "Weather for a city", "parameters", Map.of("type", "object",
                        "properties", Map.of("city", Map.of("type", "string")), "required", List.of("city"))))));
        body.put("tool_choice", "required");
        body.put("temperature", 0.3);
        body.put("stop", "END");
        body.put("seed", 7);
        return body;
    }

    @Test
    void anthropicRequestsAreTranslatedAndAnswersComeBackInOpenAiShape() {
        String marker = "weather " + run();
        String model = chatModelOver(List.of(anthropicBackend("claude-tools", AnthropicTestUpstream.KEY)));
        as(ADMIN).body(toolConversation(model, marker)).when().post("/v1/inference/chat").then().statusCode(200)
                .body("data.model", equalTo(model))
                .body("data.choices[0].message.role", equalTo("assistant"))
                .body("data.choices[0].message.content", equalTo("Let me check."))
                .body("data.choices[0].message.tool_calls[0].id", equalTo("toolu_01"))
                .body("data.choices[0].message.tool_calls[0].type", equalTo("function"))
                .body("data.choices[0].message.tool_calls[0].function.name", equalTo("get_weather"))
                .body("data.choices[0].message.tool_calls[0].function.arguments", equalTo("{\"city\":\"Oslo\"}"))
                .body("data.choices[0].finish_reason", equalTo("tool_calls"))
                // Anthropic's cached prompt tokens count as prompt tokens
                .body("data.usage.prompt_tokens", equalTo(15))
                .body("data.usage.completion_tokens", equalTo(6));

        JsonObject sent = AnthropicTestUpstream.get().sentContaining(marker);
        assertThat(sent.getString("_path")).isEqualTo("/v1/messages");
        assertThat(sent.getString("_x_api_key")).isEqualTo(AnthropicTestUpstream.KEY);
        assertThat(sent.getString("_authorization")).as("the key travels only as x-api-key").isNull();
        assertThat(sent.getString("_version")).isEqualTo("2023-06-01");
        assertThat(sent.getString("model")).isEqualTo("claude-tools");
        assertThat(sent.getString("system")).isEqualTo("Be brief.\n\nUse tools.");
        assertThat(sent.getInteger("max_tokens")).as("the model's output cap when the request names none").isEqualTo(1000);
        assertThat(sent.getDouble("temperature")).isEqualTo(0.3);
        assertThat(sent.getJsonArray("stop_sequences")).containsExactly("END");
        assertThat(sent.containsKey("seed")).as("no Anthropic counterpart: not sent").isFalse();
        assertThat(sent.getJsonObject("tool_choice")).isEqualTo(new JsonObject().put("type", "any"));
        JsonObject tool = sent.getJsonArray("tools").getJsonObject(0);
        assertThat(tool.getString("name")).isEqualTo("get_weather");
        assertThat(tool.getString("description")).isEqualTo("Weather for a city");
        assertThat(tool.getJsonObject("input_schema").getJsonArray("required")).containsExactly("city");

        JsonArray messages = sent.getJsonArray("messages");
        assertThat(messages.stream().map(m -> ((JsonObject) m).getString("role")))
                .as("turns alternate: the tool result and the next question share one user turn")
                .containsExactly("user", "assistant", "user");
        JsonArray first = messages.getJsonObject(0).getJsonArray("content");
        assertThat(first.getJsonObject(0)).isEqualTo(new JsonObject().put("type", "text").put("text", marker));
        assertThat(first.getJsonObject(1).getJsonObject("source")).isEqualTo(new JsonObject().put("type", "base64")
                .put("media_type", "image/png").put("data", "iVBORw0KGgo="));
        JsonArray assistant = messages.getJsonObject(1).getJsonArray("content");
        assertThat(assistant.size()).as("empty text is left out").isEqualTo(1);
        assertThat(assistant.getJsonObject(0)).isEqualTo(new JsonObject().put("type", "tool_use").put("id", "toolu_prev")
                .put("name", "get_weather").put("input", new JsonObject().put("city", "Bergen")));
        JsonArray last = messages.getJsonObject(2).getJsonArray("content");
        assertThat(last.getJsonObject(0)).isEqualTo(new JsonObject().put("type", "tool_result").put("tool_use_id", "toolu_prev")
                .put("content", "rain, 9 C"));
        assertThat(last.getJsonObject(1)).isEqualTo(new JsonObject().put("type", "text").put("text", "And Oslo?"));
    }

    @Test
    void anthropicStreamsBecomeChunksWithToolCallsAndUsage() {
        String model = chatModelOver(List.of(anthropicBackend("claude-tools", AnthropicTestUpstream.KEY)));
        String body = as(ADMIN).header("X-Request-Id", "req_anthropic_stream_" + run())
                .body(with(with(toolConversation(model, "stream " + run()), "stream", true), "stream_options", Map.of("include_usage", true)))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        InferenceFixtures.Sse sse = parseSse(body);
        assertThat(sse.events()).isEmpty();
        assertThat(sse.data().get(sse.data().size() - 1)).isEqualTo("[DONE]");
        List<JsonObject> chunks = sse.data().subList(0, sse.data().size() - 1).stream().map(JsonObject::new).toList();
        chunks.forEach(c -> {
            assertThat(c.getString("object")).isEqualTo("chat.completion.chunk");
            assertThat(c.getString("model")).isEqualTo(model);
            assertThat(c.getString("id")).isEqualTo("msg_01stream");
        });
        JsonObject firstDelta = chunks.get(0).getJsonArray("choices").getJsonObject(0).getJsonObject("delta");
        assertThat(firstDelta.getString("role")).isEqualTo("assistant");
        assertThat(firstDelta.getString("content")).isEqualTo("Let me check.");
        JsonObject toolStart = chunks.get(1).getJsonArray("choices").getJsonObject(0).getJsonObject("delta")
                .getJsonArray("tool_calls").getJsonObject(0);
        assertThat(toolStart).isEqualTo(new JsonObject().put("index", 0).put("id", "toolu_01").put("type", "function")
                .put("function", new JsonObject().put("name", "get_weather").put("arguments", "")));
        StringBuilder arguments = new StringBuilder();
        for (JsonObject c : chunks.subList(2, 4)) {
            JsonObject call = c.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getJsonArray("tool_calls").getJsonObject(0);
            assertThat(call.getInteger("index")).isZero();
            arguments.append(call.getJsonObject("function").getString("arguments"));
        }
        assertThat(new JsonObject(arguments.toString())).isEqualTo(new JsonObject().put("city", "Oslo"));
        assertThat(chunks.get(4).getJsonArray("choices").getJsonObject(0).getString("finish_reason")).isEqualTo("tool_calls");
        JsonObject usageChunk = chunks.get(5);
        assertThat(usageChunk.getJsonArray("choices")).isEmpty();
        // the prompt cache's share (message_start's usage) as OpenAI reports it, and what was written to it
        assertThat(usageChunk.getJsonObject("usage")).isEqualTo(new JsonObject().put("prompt_tokens", 15)
                .put("completion_tokens", 6).put("total_tokens", 21)
                .put("prompt_tokens_details", new JsonObject().put("cached_tokens", 4)).put("cache_creation_input_tokens", 0));
        assertThat(chunks).hasSize(6);

        // plain text streams through the native API too, and the usage record has Anthropic's figures
        String requestId = "req_anthropic_text_" + run();
        String text = as(ADMIN).header("X-Request-Id", requestId).body(with(chat(chatModelOver(List.of(
                        anthropicBackend("claude-echo", AnthropicTestUpstream.KEY))), "hello claude"), "stream", true))
                .when().post("/v1/inference/chat").then().statusCode(200).extract().asString();
        StringBuilder content = new StringBuilder();
        for (String data : parseSse(text).data()) {
            if (!data.equals("[DONE]")) {
                JsonArray choices = new JsonObject(data).getJsonArray("choices");
                if (choices != null && !choices.isEmpty()) {
                    content.append(choices.getJsonObject(0).getJsonObject("delta").getString("content", ""));
                }
            }
        }
        assertThat(content.toString()).isEqualTo("echo: hello claude");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            var rows = pool.preparedQuery("SELECT prompt_tokens, completion_tokens, status FROM usage_records WHERE request_id = $1")
                    .execute(io.vertx.mutiny.sqlclient.Tuple.of(requestId)).await().atMost(Duration.ofSeconds(5));
            assertThat(rows.size()).isEqualTo(1);
            Row row = rows.iterator().next();
            assertThat(row.getInteger("prompt_tokens")).isEqualTo(15);
            assertThat(row.getInteger("completion_tokens")).isEqualTo(6);
            assertThat(row.getString("status")).isEqualTo("ok");
        });
    }

    @Test
    void anthropicFailuresFailOverBeforeTheFirstTokenAndEndTheStreamAfterIt() {
        // 529 overloaded before anything was sent: the next backend answers
        String model = chatModelOver(List.of(anthropicBackend("claude-overloaded", AnthropicTestUpstream.KEY),
                anthropicBackend("claude-echo", AnthropicTestUpstream.KEY)));
        as(ADMIN).body(chat(model, "fail over")).when().post("/v1/inference/chat").then().statusCode(200)
                .body("data.choices[0].message.content", equalTo("echo: fail over"));

        // an error event after the first delta: an error event for the client, no failover, no upstream text
        String midfail = chatModelOver(List.of(anthropicBackend("claude-midfail", AnthropicTestUpstream.KEY),
                anthropicBackend("claude-echo", AnthropicTestUpstream.KEY)));
        String body = as(ADMIN).body(with(chat(midfail, "x"), "stream", true)).when().post("/v1/inference/chat")
                .then().statusCode(200).extract().asString();
        assertThat(parseSse(body).events()).containsExactly("error");
        assertThat(body).contains("Partial").contains("\"code\":\"BACKEND_ERROR\"").doesNotContain("echo:")
                .doesNotContain("shard 7").endsWith("data: [DONE]\n\n");

        // a stream that ends without message_stop was cut short: an error, not a silent success
        String cut = as(ADMIN).body(with(chat(chatModelOver(List.of(anthropicBackend("claude-cut", AnthropicTestUpstream.KEY))), "x"),
                "stream", true)).when().post("/v1/inference/chat").then().statusCode(200).extract().asString();
        assertThat(parseSse(cut).events()).containsExactly("error");
        assertThat(cut).contains("Cut").contains("UPSTREAM_SHAPE_MISMATCH");

        // a wrong key: the upstream's 401 is a backend error, its message is not shown
        as(ADMIN).body(chat(chatModelOver(List.of(anthropicBackend("claude-echo", "sk-ant-wrong"))), "x"))
                .when().post("/v1/inference/chat").then().statusCode(502)
                .body("error.code", equalTo("BACKEND_ERROR"))
                .body("error.message", org.hamcrest.Matchers.not(org.hamcrest.Matchers.containsString("x-api-key")));
    }

    @Test
    void requestsAnAnthropicBackendCannotTakeAreRefusedClearly() {
        String model = chatModelOver(List.of(anthropicBackend("claude-echo", AnthropicTestUpstream.KEY)));
        Map<String, Object> audio = new LinkedHashMap<>(chat(model, "x"));
        audio.put("messages", List.of(Map.of("role", "user", "content", List.of(Map.of("type", "input_audio",
                "input_audio", Map.of("data", "AAAA", "format", "wav"))))));
        as(ADMIN).body(audio).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.message", org.hamcrest.Matchers.containsString("messages[0].content[0].type"));
        Map<String, Object> badArguments = new LinkedHashMap<>(chat(model, "x"));
        badArguments.put("messages", List.of(Map.of("role", "user", "content", "x"), Map.of("role", "assistant",
                "tool_calls", List.of(Map.of("id", "c1", "type", "function", "function", Map.of("name", "f", "arguments", "[1,2]")))),
                Map.of("role", "tool", "tool_call_id", "c1", "content", "ok")));
        as(ADMIN).body(badArguments).when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.message", org.hamcrest.Matchers.containsString("tool_calls[0].function.arguments"));
        Map<String, Object> hot = new LinkedHashMap<>(chat(model, "x"));
        hot.put("temperature", 1.5);
        as(ADMIN).body(hot).when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.message", org.hamcrest.Matchers.containsString("temperature from 0 to 1"));
        hot.put("temperature", 1);
        as(ADMIN).body(hot).when().post("/oai/v1/chat/completions").then().statusCode(200);
        hot.put("n", 3);
        as(ADMIN).body(hot).when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.param", equalTo("n"))
                .body("error.message", org.hamcrest.Matchers.containsString("more than one choice"));
        // n choices skip the backends that cannot give them, whatever their priority
        String mixed = chatModelOver(List.of(anthropicBackend("claude-echo", AnthropicTestUpstream.KEY),
                openAiBackend("openai", "echo", Map.of())));
        as(ADMIN).body(with(chat(mixed, "two ways"), "n", 2)).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("choices.message.content", equalTo(List.of("echo: two ways", "echo: two ways")));
        as(ADMIN).body(chat(mixed, "one way")).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("choices.size()", equalTo(1)).body("id", org.hamcrest.Matchers.startsWith("msg_"));
        String embeddings = "test-" + run() + "/embed";
        String id = InferenceFixtures.create("/v1/models", Map.of("slug", embeddings, "display_name", "e", "modality", "embedding"));
        String backend = InferenceFixtures.create("/v1/backends", anthropicBackend("claude-echo", AnthropicTestUpstream.KEY));
        as(ADMIN).body(Map.of("backend_id", backend, "priority", 0, "weight", 100)).when().post("/v1/models/" + id + "/backends")
                .then().statusCode(201);
        as(ADMIN).body(Map.of("model", embeddings, "input", "x")).when().post("/v1/inference/embed").then().statusCode(502)
                .body("error.code", equalTo("BACKEND_ERROR"))
                .body("error.message", org.hamcrest.Matchers.containsString("no embeddings"));
    }

    /** response_format becomes one forced tool whose input is the answer: JSON text, finish "stop", no tool call. */
    @Test
    void structuredOutputFromAnAnthropicBackend() throws Exception {
        String model = chatModelOver(List.of(anthropicBackend("claude-echo", AnthropicTestUpstream.KEY)));
        Map<String, Object> schema = Map.of("type", "object", "properties", Map.of("answer", Map.of("type", "string")),
                "required", List.of("answer"));
        Map<String, Object> body = with(chat(model, "shape me"), "response_format",
                Map.of("type", "json_schema", "json_schema", Map.of("name", "reply", "schema", schema)));
        as(ADMIN).body(body).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("choices[0].message.content", equalTo("{\"answer\":\"echo: shape me\"}"))
                .body("choices[0].message.tool_calls", org.hamcrest.Matchers.nullValue())
                .body("choices[0].finish_reason", equalTo("stop"));
        JsonObject sent = AnthropicTestUpstream.get().requests.get(AnthropicTestUpstream.get().requests.size() - 1);
        assertThat(sent.getJsonArray("tools").getJsonObject(0).getString("name")).isEqualTo("scaigrid_response_format");
        assertThat(sent.getJsonArray("tools").getJsonObject(0).getJsonObject("input_schema").getJsonArray("required").getString(0))
                .isEqualTo("answer");
        assertThat(sent.getJsonObject("tool_choice").getString("type")).isEqualTo("tool");

        // streamed: the tool's input fragments arrive as content
        String sse = as(ADMIN).body(with(with(chat(model, "stream shape"), "stream", true), "response_format", Map.of("type", "json_object")))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String data : InferenceFixtures.parseSse(sse).data()) {
            if (!data.equals("[DONE]")) {
                com.fasterxml.jackson.databind.JsonNode c = new com.fasterxml.jackson.databind.ObjectMapper().readTree(data).path("choices").path(0);
                assertThat(c.path("delta").has("tool_calls")).isFalse();
                text.append(c.path("delta").path("content").asText(""));
                finish = c.path("finish_reason").isTextual() ? c.get("finish_reason").asText() : finish;
            }
        }
        assertThat(text.toString()).isEqualTo("{\"answer\":\"echo: stream shape\"}");
        assertThat(finish).isEqualTo("stop");

        // schema null is no schema (as validation and OpenAI-style backends take it): any object
        Map<String, Object> noSchema = new java.util.HashMap<>(Map.of("name", "reply"));
        noSchema.put("schema", null);
        as(ADMIN).body(with(chat(model, "any shape"), "response_format", Map.of("type", "json_schema", "json_schema", noSchema)))
                .when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("choices[0].message.content", equalTo("{\"answer\":\"echo: any shape\"}"));
        JsonObject sentLoose = AnthropicTestUpstream.get().requests.get(AnthropicTestUpstream.get().requests.size() - 1);
        assertThat(sentLoose.getJsonArray("tools").getJsonObject(0).getJsonObject("input_schema").encode()).isEqualTo("{\"type\":\"object\"}");

        // with the caller's own tools it would no longer be a choice: refused clearly
        Map<String, Object> both = with(body, "tools", List.of(Map.of("type", "function", "function", Map.of("name", "f"))));
        as(ADMIN).body(both).when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.message", org.hamcrest.Matchers.containsString("cannot combine response_format"));
    }

    /** A chat model over one Anthropic backend with room for a thinking budget (8000 output tokens; chatModelOver gives 1000). */
    private static String thinkingModel(String upstream) {
        return thinkingModel(upstream, Map.of());
    }

    /** The same, with more connection_config (e.g. {@code thinking: budget}, for models before Claude 4.6). */
    private static String thinkingModel(String upstream, Map<String, Object> config) {
        return thinkingModel(upstream, config, Map.of());
    }

    /** The same, with model defaults ({@code default_params}) when not empty. */
    private static String thinkingModel(String upstream, Map<String, Object> config, Map<String, Object> defaults) {
        String slug = "test-" + run() + "/think";
        Map<String, Object> model = new LinkedHashMap<>(Map.of("slug", slug, "display_name", slug, "modality", "chat",
                "max_output_tokens", 8000));
        if (!defaults.isEmpty()) {
            model.put("default_params", defaults);
        }
        String id = InferenceFixtures.create("/v1/models", model);
        String backend = InferenceFixtures.create("/v1/backends", anthropicBackend(upstream, AnthropicTestUpstream.KEY, config));
        as(ADMIN).body(Map.of("backend_id", backend, "priority", 0, "weight", 100)).when().post("/v1/models/" + id + "/backends")
                .then().statusCode(201);
        return slug;
    }

    private static final String THOUGHT = String.join("", AnthropicTestUpstream.THINKING);

    private static JsonObject signedBlock() {
        return new JsonObject().put("type", "thinking").put("thinking", THOUGHT).put("signature", AnthropicTestUpstream.SIGNATURE);
    }

    /**
     * reasoning_effort becomes adaptive thinking at that effort (Claude 4.6 and later), or a fixed budget on a
     * backend configured {@code thinking: budget}; the answer's thinking comes back as reasoning_content and
     * thinking_blocks.
     */
    @Test
    void anthropicThinkingComesBackAsReasoningContentAndThinkingBlocks() {
        String model = thinkingModel("claude-thinking");
        String marker = "think " + run();
        String body = as(ADMIN).body(with(chat(model, marker), "reasoning_effort", "medium")).when().post("/oai/v1/chat/completions")
                .then().statusCode(200).extract().asString();
        JsonObject message = new JsonObject(body).getJsonArray("choices").getJsonObject(0).getJsonObject("message");
        assertThat(message.getString("content")).isEqualTo("echo: " + marker);
        assertThat(message.getString("reasoning_content")).isEqualTo(THOUGHT);
        assertThat(message.getJsonArray("thinking_blocks")).containsExactly(signedBlock());
        JsonObject sent = AnthropicTestUpstream.get().sentContaining(marker);
        assertThat(sent.getJsonObject("thinking")).isEqualTo(new JsonObject().put("type", "adaptive"));
        assertThat(sent.getJsonObject("output_config")).isEqualTo(new JsonObject().put("effort", "medium"));
        assertThat(sent.getInteger("max_tokens")).as("the model's cap").isEqualTo(8000);

        // the native API: the same completion in its envelope; adaptive thinking has no budget to fit in max_tokens
        String nativeMarker = "think native " + run();
        as(ADMIN).body(with(with(chat(model, nativeMarker), "reasoning_effort", "high"), "max_tokens", 300))
                .when().post("/v1/inference/chat").then().statusCode(200)
                .body("data.choices[0].message.content", equalTo("echo: " + nativeMarker))
                .body("data.choices[0].message.reasoning_content", equalTo(THOUGHT))
                .body("data.choices[0].message.thinking_blocks[0].type", equalTo("thinking"))
                .body("data.choices[0].message.thinking_blocks[0].thinking", equalTo(THOUGHT))
                .body("data.choices[0].message.thinking_blocks[0].signature", equalTo(AnthropicTestUpstream.SIGNATURE));
        assertThat(AnthropicTestUpstream.get().sentContaining(nativeMarker).getJsonObject("output_config").getString("effort"))
                .isEqualTo("high");

        // minimal is Anthropic's low; xhigh passes; none (or no reasoning_effort) sends no thinking
        Map<String, String> efforts = Map.of("minimal", "low", "low", "low", "xhigh", "xhigh");
        for (Map.Entry<String, String> e : efforts.entrySet()) {
            String m = "think " + e.getKey() + " " + run();
            as(ADMIN).body(with(chat(model, m), "reasoning_effort", e.getKey())).when().post("/oai/v1/chat/completions").then().statusCode(200);
            assertThat(AnthropicTestUpstream.get().sentContaining(m).getJsonObject("output_config").getString("effort")).isEqualTo(e.getValue());
        }
        String none = "think none " + run();
        as(ADMIN).body(with(with(chat(model, none), "reasoning_effort", "none"), "temperature", 0.2))
                .when().post("/oai/v1/chat/completions").then().statusCode(200);
        assertThat(AnthropicTestUpstream.get().sentContaining(none).containsKey("thinking")).isFalse();
        assertThat(AnthropicTestUpstream.get().sentContaining(none).containsKey("output_config")).isFalse();

        // a backend for a model before Claude 4.6: fixed budgets (LiteLLM's), which must stay below max_tokens
        String budgeted = thinkingModel("claude-thinking", Map.of("thinking", "budget"));
        Map<String, Integer> budgets = Map.of("minimal", 1024, "low", 1024, "medium", 2048, "high", 4096);
        for (Map.Entry<String, Integer> b : budgets.entrySet()) {
            String m = "budget " + b.getKey() + " " + run();
            as(ADMIN).body(with(chat(budgeted, m), "reasoning_effort", b.getKey())).when().post("/oai/v1/chat/completions")
                    .then().statusCode(200).body("choices[0].message.reasoning_content", equalTo(THOUGHT));
            JsonObject sentBudget = AnthropicTestUpstream.get().sentContaining(m);
            assertThat(sentBudget.getJsonObject("thinking")).isEqualTo(new JsonObject().put("type", "enabled").put("budget_tokens", b.getValue()));
            assertThat(sentBudget.containsKey("output_config")).isFalse();
        }
        // the mode is checked when the backend is written
        as(ADMIN).body(anthropicBackend("claude-thinking", AnthropicTestUpstream.KEY, Map.of("thinking", "fixed")))
                .when().post("/v1/backends").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("connection_config.thinking"));
        // xhigh's 8192 does not fit the model's cap of 8000
        as(ADMIN).body(with(chat(budgeted, "too big"), "reasoning_effort", "xhigh")).when().post("/oai/v1/chat/completions")
                .then().statusCode(400).body("error.message", org.hamcrest.Matchers.containsString("needs max_tokens above 8192"));

        // no thinking in the answer: neither field
        as(ADMIN).body(chat(thinkingModel("claude-echo"), "plain")).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("choices[0].message.reasoning_content", nullValue())
                .body("choices[0].message.thinking_blocks", nullValue());

        // redacted thinking: in thinking_blocks in its place; reasoning_content is the readable thinking only
        String redacted = as(ADMIN).body(with(chat(thinkingModel("claude-redacted"), "secret"), "reasoning_effort", "low"))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        JsonObject redactedMessage = new JsonObject(redacted).getJsonArray("choices").getJsonObject(0).getJsonObject("message");
        assertThat(redactedMessage.getString("reasoning_content")).isEqualTo("First. Then.");
        assertThat(redactedMessage.getJsonArray("thinking_blocks")).containsExactly(
                new JsonObject().put("type", "thinking").put("thinking", "First. ").put("signature", "sig-1"),
                new JsonObject().put("type", "redacted_thinking").put("data", AnthropicTestUpstream.REDACTED),
                new JsonObject().put("type", "thinking").put("thinking", "Then.").put("signature", "sig-2"));
        assertThat(redactedMessage.getString("content")).isEqualTo("echo: secret");
    }

    /** The next turn of a tool-use loop with thinking: the assistant's thinking_blocks go back first in its turn, as received. */
    @Test
    void thinkingBlocksGoBackToAnthropicFirstInTheAssistantTurn() {
        String model = thinkingModel("claude-thinking");
        String marker = "loop " + run();
        Map<String, Object> assistant = new LinkedHashMap<>();
        assistant.put("role", "assistant");
        assistant.put("content", "Checking.");
        assistant.put("reasoning_content", "not sent without a signature");
        assistant.put("thinking_blocks", List.of(
                Map.of("type", "thinking", "thinking", THOUGHT, "signature", AnthropicTestUpstream.SIGNATURE),
                Map.of("type", "redacted_thinking", "data", AnthropicTestUpstream.REDACTED),
                Map.of("type", "something_else", "text", "skipped")));
        assistant.put("tool_calls", List.of(Map.of("id", "toolu_9", "type", "function",
                "function", Map.of("name", "get_weather", "arguments", "{\"city\":\"Oslo\"}"))));
        Map<String, Object> body = new LinkedHashMap<>(chat(model, marker));
        body.put("messages", List.of(Map.of("role", "user", "content", marker), assistant,
                Map.of("role", "tool", "tool_call_id", "toolu_9", "content", "sunny")));
        body.put("tools", List.of(Map.of("type", "function", "function", Map.of("name", "get_weather"))));
        body.put("tool_choice", "auto");
        body.put("reasoning_effort", "low");
        body.put("temperature", 1);
        body.put("top_p", 0.95);
        as(ADMIN).body(body).when().post("/oai/v1/chat/completions").then().statusCode(200);

        JsonObject sent = AnthropicTestUpstream.get().sentContaining(marker);
        assertThat(sent.getJsonObject("thinking")).isEqualTo(new JsonObject().put("type", "adaptive"));
        assertThat(sent.getJsonObject("output_config")).isEqualTo(new JsonObject().put("effort", "low"));
        assertThat(sent.getDouble("temperature")).isEqualTo(1.0);
        assertThat(sent.getDouble("top_p")).isEqualTo(0.95);
        JsonArray turn = sent.getJsonArray("messages").getJsonObject(1).getJsonArray("content");
        assertThat(turn).containsExactly(signedBlock(),
                new JsonObject().put("type", "redacted_thinking").put("data", AnthropicTestUpstream.REDACTED),
                new JsonObject().put("type", "text").put("text", "Checking."),
                new JsonObject().put("type", "tool_use").put("id", "toolu_9").put("name", "get_weather")
                        .put("input", new JsonObject().put("city", "Oslo")));
        assertThat(sent.encode()).doesNotContain("not sent without a signature");
    }

    /**
     * Anthropic's signed thinking survives the Responses API's turns: replayed from a stored response
     * ({@code previous_response_id}, streamed or not), and carried by a reasoning item's {@code encrypted_content}
     * for a caller that stores nothing; either way it goes back first in the assistant turn, as Anthropic signed it.
     */
    @Test
    void responsesCarryAnthropicThinkingFromTurnToTurn() {
        String model = thinkingModel("claude-thinking");
        String first = "responses think " + run();
        Map<String, Object> ask = new LinkedHashMap<>(Map.of("model", model, "input", first, "reasoning", Map.of("effort", "medium"),
                "include", List.of("reasoning.encrypted_content")));
        JsonObject answer = new JsonObject(as(ADMIN).body(ask).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().asString());
        JsonArray output = answer.getJsonArray("output");
        assertThat(output.getJsonObject(0).getString("type")).isEqualTo("reasoning");
        assertThat(output.getJsonObject(0).getJsonArray("summary").getJsonObject(0).getString("text")).isEqualTo(THOUGHT);
        assertThat(output.getJsonObject(0).getString("encrypted_content")).isNotBlank();
        assertThat(output.getJsonObject(1).getJsonArray("content").getJsonObject(0).getString("text")).isEqualTo("echo: " + first);

        // by id: the stored turn is replayed with its thinking block
        String second = "responses by id " + run();
        as(ADMIN).body(Map.of("model", model, "input", second, "previous_response_id", answer.getString("id"),
                "reasoning", Map.of("effort", "medium"))).when().post("/oai/v1/responses").then().statusCode(200);
        assertThat(assistantTurn(second)).containsExactly(signedBlock(), text("echo: " + first));

        // stateless: the reasoning item and the message go back as input items
        String third = "responses stateless " + run();
        List<Object> input = List.of(Map.of("role", "user", "content", first), output.getJsonObject(0).getMap(),
                output.getJsonObject(1).getMap(), Map.of("role", "user", "content", third));
        as(ADMIN).body(Map.of("model", model, "input", input, "store", false, "reasoning", Map.of("effort", "medium")))
                .when().post("/oai/v1/responses").then().statusCode(200);
        assertThat(assistantTurn(third)).containsExactly(signedBlock(), text("echo: " + first));
        // without encrypted_content, the summary alone cannot go back (Anthropic takes no unsigned thinking)
        String unsigned = "responses unsigned " + run();
        Map<String, Object> summaryOnly = new LinkedHashMap<>(output.getJsonObject(0).getMap());
        summaryOnly.remove("encrypted_content");
        as(ADMIN).body(Map.of("model", model, "input", List.of(Map.of("role", "user", "content", first), summaryOnly,
                        output.getJsonObject(1).getMap(), Map.of("role", "user", "content", unsigned)), "store", false))
                .when().post("/oai/v1/responses").then().statusCode(200);
        assertThat(assistantTurn(unsigned)).containsExactly(text("echo: " + first));

        // streamed: the blocks of the stream are stored with the turn
        String fourth = "responses streamed " + run();
        String sse = as(ADMIN).body(Map.of("model", model, "input", fourth, "stream", true, "reasoning", Map.of("effort", "low")))
                .when().post("/oai/v1/responses").then().statusCode(200).extract().asString();
        JsonObject completed = null;
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: ") && line.contains("\"response.completed\"")) {
                completed = new JsonObject(line.substring(6)).getJsonObject("response");
            }
        }
        assertThat(completed).isNotNull();
        assertThat(completed.getJsonArray("output").getJsonObject(0).containsKey("encrypted_content")).as("not asked for").isFalse();
        String fifth = "responses after a stream " + run();
        as(ADMIN).body(Map.of("model", model, "input", fifth, "previous_response_id", completed.getString("id"),
                "reasoning", Map.of("effort", "low"))).when().post("/oai/v1/responses").then().statusCode(200);
        assertThat(assistantTurn(fifth)).containsExactly(signedBlock(), text("echo: " + fourth));
    }

    /**
     * In a conversation, a turn's signed thinking is kept with its reasoning item (shown only when asked for) and
     * replayed with the assistant's answer by the next turn, streamed turns included.
     */
    @Test
    void conversationsKeepAnthropicThinking() {
        String model = thinkingModel("claude-thinking");
        String conv = as(ADMIN).body(Map.of()).when().post("/oai/v1/conversations").then().statusCode(200).extract().path("id");
        String first = "conversation thinks " + run();
        String sse = as(ADMIN).body(Map.of("model", model, "input", first, "conversation", conv, "stream", true,
                "reasoning", Map.of("effort", "medium"))).when().post("/oai/v1/responses").then().statusCode(200).extract().asString();
        assertThat(sse).contains("response.completed");
        String second = "conversation continues " + run();
        as(ADMIN).body(Map.of("model", model, "input", second, "conversation", conv, "reasoning", Map.of("effort", "medium")))
                .when().post("/oai/v1/responses").then().statusCode(200);
        assertThat(assistantTurn(second)).containsExactly(signedBlock(), text("echo: " + first));

        JsonObject listed = new JsonObject(as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items?order=asc").then()
                .statusCode(200).extract().asString());
        JsonObject reasoning = listed.getJsonArray("data").getJsonObject(1);
        assertThat(reasoning.getString("type")).isEqualTo("reasoning");
        assertThat(reasoning.containsKey("encrypted_content")).as("not asked for").isFalse();
        JsonObject sealed = new JsonObject(as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items/" + reasoning.getString("id")
                + "?include=reasoning.encrypted_content").then().statusCode(200).extract().asString());
        assertThat(sealed.getString("encrypted_content")).isNotBlank();
    }

    private static JsonObject text(String text) {
        return new JsonObject().put("type", "text").put("text", text);
    }

    /** The content of the assistant turn (the second message) of the Anthropic request that mentions {@code marker}. */
    private static JsonArray assistantTurn(String marker) {
        JsonArray messages = AnthropicTestUpstream.get().sentContaining(marker).getJsonArray("messages");
        assertThat(messages.getJsonObject(1).getString("role")).isEqualTo("assistant");
        return messages.getJsonObject(1).getJsonArray("content");
    }

    /**
     * gRPC clients get the same thinking as HTTP ones (the message's and the stream's thinking_blocks, signed) and
     * can send it back in the next turn of a tool-use loop, where it goes to Anthropic first in the assistant turn.
     */
    @Test
    void anthropicThinkingBlocksTravelOverGrpcBothWays() {
        String model = thinkingModel("claude-thinking");
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        try {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + ADMIN);
            InferenceServiceGrpc.InferenceServiceBlockingStub stub = InferenceServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers)).withDeadlineAfter(20, TimeUnit.SECONDS);
            ThinkingBlock signed = ThinkingBlock.newBuilder().setType("thinking").setThinking(THOUGHT)
                    .setSignature(AnthropicTestUpstream.SIGNATURE).build();

            InferenceResponse answer = stub.infer(InferenceRequest.newBuilder().setModel(model).setReasoningEffort("low")
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("grpc think")).build());
            assertThat(answer.getMessage().getContent()).isEqualTo("echo: grpc think");
            assertThat(answer.getMessage().getReasoningContent()).isEqualTo(THOUGHT);
            assertThat(answer.getMessage().getThinkingBlocksList()).containsExactly(signed);

            List<InferenceChunk> chunks = new ArrayList<>();
            stub.streamInference(InferenceRequest.newBuilder().setModel(model).setReasoningEffort("medium")
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("grpc stream think")).build())
                    .forEachRemaining(chunks::add);
            StringBuilder reasoning = new StringBuilder();
            StringBuilder content = new StringBuilder();
            chunks.forEach(c -> {
                reasoning.append(c.getDelta().getReasoningContent());
                content.append(c.getDelta().getContent());
            });
            assertThat(reasoning.toString()).isEqualTo(THOUGHT);
            assertThat(content.toString()).isEqualTo("echo: grpc stream think");
            List<InferenceChunk> withBlocks = chunks.stream().filter(c -> c.getDelta().getThinkingBlocksCount() > 0).toList();
            assertThat(withBlocks).singleElement().satisfies(c -> {
                assertThat(c.getDelta().getThinkingBlocksList()).containsExactly(signed);
                assertThat(c.getDelta().getContent()).isEmpty();
            });
            assertThat(chunks.indexOf(withBlocks.get(0))).as("after the thinking, before the answer")
                    .isLessThan(chunks.indexOf(chunks.stream().filter(c -> !c.getDelta().getContent().isEmpty()).findFirst().orElseThrow()));

            // the next turn: the assistant's blocks, as received, go back first in its turn
            String marker = "grpc loop " + run();
            ThinkingBlock redacted = ThinkingBlock.newBuilder().setType("redacted_thinking").setData(AnthropicTestUpstream.REDACTED).build();
            stub.infer(InferenceRequest.newBuilder().setModel(model).setReasoningEffort("low")
                    .addTools(Tool.newBuilder().setType("function").setFunction(FunctionDefinition.newBuilder().setName("get_weather")))
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent(marker))
                    .addMessages(answer.getMessage().toBuilder().setContent("Checking.").addThinkingBlocks(redacted)
                            .addToolCalls(ToolCall.newBuilder().setId("toolu_7").setType("function")
                                    .setFunction(FunctionCall.newBuilder().setName("get_weather").setArguments("{\"city\":\"Oslo\"}"))))
                    .addMessages(ChatMessage.newBuilder().setRole("tool").setToolCallId("toolu_7").setContent("sunny")).build());
            JsonArray turn = AnthropicTestUpstream.get().sentContaining(marker).getJsonArray("messages").getJsonObject(1).getJsonArray("content");
            assertThat(turn).containsExactly(signedBlock(),
                    new JsonObject().put("type", "redacted_thinking").put("data", AnthropicTestUpstream.REDACTED),
                    new JsonObject().put("type", "text").put("text", "Checking."),
                    new JsonObject().put("type", "tool_use").put("id", "toolu_7").put("name", "get_weather")
                            .put("input", new JsonObject().put("city", "Oslo")));

            // a block without a type is refused as over HTTP, naming it
            assertThatThrownBy(() -> stub.infer(InferenceRequest.newBuilder().setModel(model)
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("hi"))
                    .addMessages(ChatMessage.newBuilder().setRole("assistant").setContent("ok")
                            .addThinkingBlocks(ThinkingBlock.newBuilder().setThinking("untyped")))
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("again")).build()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                        assertThat(e.getStatus().getDescription()).contains("messages[1].thinking_blocks[0]");
                    });
        } finally {
            channel.shutdownNow();
        }
    }

    /**
     * Where thinking and a sampling field clash on Anthropic, what the caller asked for wins over the model's
     * default_params: a default temperature / top_k / response_format is left out when the caller asks for
     * thinking, and a default reasoning_effort gives way to the caller's own temperature or forced tool.
     */
    @Test
    void anthropicThinkingAndTheModelsDefaultsYieldToWhatTheCallerAskedFor() {
        String sampled = thinkingModel("claude-thinking", Map.of(),
                Map.of("temperature", 0.3, "top_k", 40, "response_format", Map.of("type", "json_object")));
        String think = "defaults think " + run();
        as(ADMIN).body(with(chat(sampled, think), "reasoning_effort", "low")).when().post("/oai/v1/chat/completions")
                .then().statusCode(200).body("choices[0].message.reasoning_content", equalTo(THOUGHT));
        JsonObject sent = AnthropicTestUpstream.get().sentContaining(think);
        assertThat(sent.getJsonObject("thinking")).isEqualTo(new JsonObject().put("type", "adaptive"));
        assertThat(sent.fieldNames()).doesNotContain("temperature", "top_k", "tool_choice");
        // without thinking the defaults apply as before
        String plain = "defaults plain " + run();
        as(ADMIN).body(chat(sampled, plain)).when().post("/oai/v1/chat/completions").then().statusCode(200);
        JsonObject sentPlain = AnthropicTestUpstream.get().sentContaining(plain);
        assertThat(sentPlain.getDouble("temperature")).isEqualTo(0.3);
        assertThat(sentPlain.getInteger("top_k")).isEqualTo(40);
        assertThat(sentPlain.containsKey("thinking")).isFalse();
        // the caller's own temperature with thinking is still refused, naming it
        as(ADMIN).body(with(with(chat(sampled, "explicit"), "reasoning_effort", "low"), "temperature", 0.5))
                .when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.param", equalTo("temperature"));

        String thinking = thinkingModel("claude-thinking", Map.of(), Map.of("reasoning_effort", "medium"));
        String byDefault = "default effort " + run();
        as(ADMIN).body(chat(thinking, byDefault)).when().post("/oai/v1/chat/completions").then().statusCode(200);
        assertThat(AnthropicTestUpstream.get().sentContaining(byDefault).getJsonObject("output_config"))
                .isEqualTo(new JsonObject().put("effort", "medium"));
        String cool = "cool " + run();
        as(ADMIN).body(with(chat(thinking, cool), "temperature", 0.2)).when().post("/oai/v1/chat/completions")
                .then().statusCode(200);
        JsonObject sentCool = AnthropicTestUpstream.get().sentContaining(cool);
        assertThat(sentCool.getDouble("temperature")).isEqualTo(0.2);
        assertThat(sentCool.fieldNames()).doesNotContain("thinking", "output_config");
        // and the caller's explicit reasoning_effort none turns the default off
        String off = "off " + run();
        as(ADMIN).body(with(chat(thinking, off), "reasoning_effort", "none")).when().post("/oai/v1/chat/completions")
                .then().statusCode(200);
        assertThat(AnthropicTestUpstream.get().sentContaining(off).containsKey("thinking")).isFalse();
    }

    /**
     * Prompt caching: cache_control breakpoints on content parts, messages and tools reach Anthropic on the blocks
     * they mark (the system as blocks once one is marked), and the cache's share of the prompt comes back as
     * OpenAI reports it; the hosted OpenAI-style APIs, which refuse the field, do not get it.
     */
    @Test
    void promptCacheBreakpointsReachAnthropicAndCachedTokensComeBack() throws Exception {
        String model = chatModelOver(List.of(anthropicBackend("claude-echo", AnthropicTestUpstream.KEY)));
        // priced as Claude is (input 1.00, output 2.00 from the fixture): cache reads at a tenth of the input price,
        // writes at 1.25 times it to the 5-minute cache and twice it to the 1-hour cache
        String modelId = as(ADMIN).when().get("/v1/models/" + model).then().statusCode(200).extract().path("data.id");
        as(ADMIN).body(Map.of("cached_input_price_per_mtok", "0.10", "cache_write_price_per_mtok", "1.25",
                        "cache_write_1h_price_per_mtok", "2.00")).when().put("/v1/models/" + modelId).then().statusCode(200)
                .body("data.cached_input_price_per_mtok", equalTo("0.1")).body("data.input_price_per_mtok", equalTo("1"))
                .body("data.cache_write_price_per_mtok", equalTo("1.25")).body("data.cache_write_1h_price_per_mtok", equalTo("2"));
        for (String price : List.of("cached_input_price_per_mtok", "cache_write_price_per_mtok", "cache_write_1h_price_per_mtok")) {
            as(ADMIN).body(Map.of(price, "-1")).when().put("/v1/models/" + modelId).then().statusCode(400)
                    .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo(price));
        }
        String marker = "cache " + run();
        Map<String, Object> ephemeral = Map.of("type", "ephemeral");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", List.of(
                Map.of("role", "system", "content", List.of(Map.of("type", "text", "text", "A long policy.", "cache_control", ephemeral))),
                Map.of("role", "system", "content", "Be brief."),
                Map.of("role", "user", "content", marker, "cache_control", Map.of("type", "ephemeral", "ttl", "1h"))));
        body.put("tools", List.of(Map.of("type", "function", "function", Map.of("name", "f"), "cache_control", ephemeral)));
        JsonObject answer = new JsonObject(as(ADMIN).header("X-Request-Id", "req_cache_" + marker.hashCode()).body(body)
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString());
        JsonObject sent = AnthropicTestUpstream.get().sentContaining(marker);
        assertThat(sent.getJsonArray("system")).containsExactly(
                new JsonObject().put("type", "text").put("text", "A long policy.").put("cache_control", new JsonObject().put("type", "ephemeral")),
                new JsonObject().put("type", "text").put("text", "Be brief."));
        assertThat(sent.getJsonArray("messages").getJsonObject(0).getJsonArray("content")).containsExactly(
                new JsonObject().put("type", "text").put("text", marker)
                        .put("cache_control", new JsonObject().put("type", "ephemeral").put("ttl", "1h")));
        assertThat(sent.getJsonArray("tools").getJsonObject(0).getJsonObject("cache_control")).isEqualTo(new JsonObject().put("type", "ephemeral"));
        // the stand-in reports 11 fresh prompt tokens, 4 read from the cache and, for the marks, 2 written to the
        // 5-minute cache and 3 to the 1-hour cache
        JsonObject usage = answer.getJsonObject("usage");
        assertThat(usage.getInteger("prompt_tokens")).isEqualTo(20);
        assertThat(usage.getJsonObject("prompt_tokens_details").getInteger("cached_tokens")).isEqualTo(4);
        assertThat(usage.getInteger("cache_creation_input_tokens")).isEqualTo(5);
        assertThat(usage.getJsonObject("cache_creation")).isEqualTo(new JsonObject()
                .put("ephemeral_5m_input_tokens", 2).put("ephemeral_1h_input_tokens", 3));
        assertCachedShareRecorded("req_cache_" + marker.hashCode());
        as(ADMIN).when().get("/v1/accounting/usage/summary?model=" + model).then().statusCode(200)
                .body("data.items[0].cached_input_tokens", equalTo(4)).body("data.items[0].cache_write_input_tokens", equalTo(5));
        as(ADMIN).when().get("/v1/accounting/usage?model=" + model).then().statusCode(200)
                .body("data.items[0].tokens_cached", equalTo(4)).body("data.items[0].tokens_cache_write", equalTo(5));
        String streamed = as(ADMIN).header("X-Request-Id", "req_cache_stream_" + marker.hashCode())
                .body(with(with(body, "stream", true), "stream_options", Map.of("include_usage", true)))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        assertThat(streamed).contains("\"prompt_tokens_details\":{\"cached_tokens\":4}")
                .contains("\"cache_creation\":{\"ephemeral_5m_input_tokens\":2,\"ephemeral_1h_input_tokens\":3}");
        // a streamed answer's record keeps the cached share and its price alike
        assertCachedShareRecorded("req_cache_stream_" + marker.hashCode());
        // without a breakpoint the system stays one string, as before: a message's parts joined, messages a paragraph apart
        String plain = "no cache " + run();
        as(ADMIN).body(with(chat(model, plain), "messages", List.of(Map.of("role", "system", "content", "Be brief."),
                Map.of("role", "system", "content", List.of(Map.of("type", "text", "text", "Use "), Map.of("type", "text", "text", "tools."))),
                Map.of("role", "user", "content", plain)))).when().post("/oai/v1/chat/completions").then().statusCode(200);
        assertThat(AnthropicTestUpstream.get().sentContaining(plain).getValue("system")).isEqualTo("Be brief.\n\nUse tools.");

        // OpenAI's own API refuses the field (and caches on its own); a self-hosted or Qwen server keeps it
        for (String type : List.of("openai", "custom")) {
            String openAiStyle = chatModelOver(List.of(openAiBackend(type, "echo", Map.of())));
            String mark = "cache " + type + " " + run();
            as(ADMIN).body(with(with(body, "model", openAiStyle), "messages", List.of(Map.of("role", "user", "content",
                    List.of(Map.of("type", "text", "text", mark, "cache_control", ephemeral)), "cache_control", ephemeral))))
                    .when().post("/oai/v1/chat/completions").then().statusCode(200);
            JsonObject sentOpenAi = OpenAiTestUpstream.get().sentContaining(mark);
            assertThat(sentOpenAi.encode().contains("cache_control")).as(type).isEqualTo(type.equals("custom"));
        }

        // a malformed breakpoint is refused, naming it
        as(ADMIN).body(with(body, "messages", List.of(Map.of("role", "user", "content",
                        List.of(Map.of("type", "text", "text", "x", "cache_control", Map.of("type", "persistent")))))))
                .when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.details[0].field", equalTo("messages[0].content[0].cache_control"));
        as(ADMIN).body(with(body, "tools", List.of(Map.of("type", "function", "function", Map.of("name", "f"),
                        "cache_control", Map.of("type", "ephemeral", "ttl", "2h")))))
                .when().post("/v1/inference/chat").then().statusCode(400).body("error.details[0].field", equalTo("tools[0].cache_control"));
    }

    /**
     * The cache test's record: 20 prompt tokens, 4 of them read from the cache and 5 written to it (3 of those to the
     * 1-hour cache), priced (11 x 1.00 + 4 x 0.10 + 2 x 1.25 + 3 x 2.00 + 6 x 2.00) / 1M.
     */
    private void assertCachedShareRecorded(String requestId) {
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            Row row = pool.preparedQuery("SELECT cached_tokens, cache_write_tokens, prompt_tokens, cost FROM usage_records "
                            + "WHERE request_id = $1")
                    .execute(io.vertx.mutiny.sqlclient.Tuple.of(requestId)).await().atMost(Duration.ofSeconds(5)).iterator().next();
            assertThat(row.getInteger("cached_tokens")).isEqualTo(4);
            assertThat(row.getInteger("cache_write_tokens")).isEqualTo(5);
            assertThat(row.getInteger("prompt_tokens")).isEqualTo(20);
            assertThat(row.getBigDecimal("cost")).isEqualByComparingTo("0.0000319");
        });
    }

    @Test
    void anthropicThinkingStreamsAsReasoningDeltasThenOneThinkingBlocksChunk() {
        String model = thinkingModel("claude-thinking");
        String body = as(ADMIN).body(with(with(chat(model, "stream think"), "stream", true), "reasoning_effort", "medium"))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        List<String> data = parseSse(body).data();
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        List<JsonObject> deltas = data.subList(0, data.size() - 1).stream().map(JsonObject::new)
                .filter(c -> !c.getJsonArray("choices").isEmpty())
                .map(c -> c.getJsonArray("choices").getJsonObject(0).getJsonObject("delta")).toList();
        assertThat(deltas.get(0).getString("role")).isEqualTo("assistant");
        assertThat(deltas.get(0).getString("reasoning_content")).isEqualTo(AnthropicTestUpstream.THINKING[0]);
        assertThat(deltas.get(1).getString("reasoning_content")).isEqualTo(AnthropicTestUpstream.THINKING[1]);
        assertThat(deltas.get(1).containsKey("role")).isFalse();
        assertThat(deltas.get(2)).as("when the thinking block ends: the whole block, signed")
                .isEqualTo(new JsonObject().put("thinking_blocks", new JsonArray().add(signedBlock())));
        StringBuilder content = new StringBuilder();
        for (JsonObject d : deltas.subList(3, deltas.size())) {
            assertThat(d.containsKey("reasoning_content")).isFalse();
            assertThat(d.containsKey("thinking_blocks")).isFalse();
            content.append(d.getString("content", ""));
        }
        assertThat(content.toString()).isEqualTo("echo: stream think");
        assertThat(body).contains("\"finish_reason\":\"stop\"");

        // the native API streams the same chunks; a redacted block comes as one thinking_blocks chunk at once
        String redacted = as(ADMIN).body(with(with(chat(thinkingModel("claude-redacted"), "stream secret"), "stream", true),
                        "reasoning_effort", "low")).when().post("/v1/inference/chat").then().statusCode(200).extract().asString();
        List<JsonObject> chunks = parseSse(redacted).data().stream().filter(d -> !d.equals("[DONE]")).map(JsonObject::new)
                .filter(c -> c.getJsonArray("choices") != null && !c.getJsonArray("choices").isEmpty()).toList();
        JsonObject first = chunks.get(0).getJsonArray("choices").getJsonObject(0).getJsonObject("delta");
        assertThat(first).isEqualTo(new JsonObject().put("role", "assistant").put("thinking_blocks", new JsonArray()
                .add(new JsonObject().put("type", "redacted_thinking").put("data", AnthropicTestUpstream.REDACTED))));
        StringBuilder text = new StringBuilder();
        chunks.forEach(c -> text.append(c.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("content", "")));
        assertThat(text.toString()).isEqualTo("echo: stream secret");
        assertThat(redacted).containsOnlyOnce("thinking_blocks");
    }

    /** What Anthropic refuses with thinking is refused before the upstream is called: 400, naming the field. */
    @Test
    void thinkingRequestsAnAnthropicBackendWouldRefuseAreRefusedUpFront() {
        String model = thinkingModel("claude-thinking");
        List<Map<String, Object>> tools = List.of(Map.of("type", "function", "function", Map.of("name", "f")));
        Map<String, Object[]> cases = new LinkedHashMap<>();
        cases.put("reasoning_effort", new Object[]{"reasoning_effort", "extreme"});
        cases.put("temperature", new Object[]{"temperature", 0.5});
        cases.put("top_p", new Object[]{"top_p", 0.9});
        cases.put("top_k", new Object[]{"top_k", 40});
        cases.put("tool_choice", new Object[]{"tool_choice", "required"});
        cases.put("tool_choice (named)", new Object[]{"tool_choice", Map.of("type", "function", "function", Map.of("name", "f"))});
        cases.put("response_format", new Object[]{"response_format", Map.of("type", "json_object")});
        for (Map.Entry<String, Object[]> c : cases.entrySet()) {
            String field = (String) c.getValue()[0];
            String marker = "refuse " + field + " " + run();
            Map<String, Object> body = with(with(chat(model, marker), "reasoning_effort", "medium"), field, c.getValue()[1]);
            if (field.equals("tool_choice")) {
                body = with(body, "tools", tools);
            }
            as(ADMIN).body(body).when().post("/oai/v1/chat/completions").then().statusCode(400)
                    .body("error.type", equalTo("invalid_request_error"))
                    .body("error.param", equalTo(field))
                    .body("error.message", org.hamcrest.Matchers.startsWith(field + ": "));
            as(ADMIN).body(body).when().post("/v1/inference/chat").then().statusCode(400)
                    .body("error.details[0].field", equalTo(field))
                    .body("error.code", equalTo("VALIDATION_ERROR"))
                    .body("error.message", org.hamcrest.Matchers.startsWith(field + ": "));
            as(ADMIN).body(with(body, "stream", true)).when().post("/oai/v1/chat/completions").then().statusCode(400)
                    .body("error.message", org.hamcrest.Matchers.startsWith(field + ": "));
            assertThat(AnthropicTestUpstream.get().requests).as(c.getKey() + " must not reach the upstream")
                    .noneMatch(r -> r.encode().contains(marker));
        }

        // with fixed budgets, max_tokens must be above the budget: given, or the cap the gateway computes
        // (a model allowing 1000 output tokens leaves no room for 1024)
        String tight = "refuse tight " + run();
        as(ADMIN).body(with(with(chat(thinkingModel("claude-thinking", Map.of("thinking", "budget")), tight), "reasoning_effort", "medium"),
                "max_tokens", 2048)).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.message", org.hamcrest.Matchers.startsWith("max_tokens: reasoning_effort medium needs max_tokens above 2048"));
        // the interleaved-thinking beta lets a budget span the turn, above max_tokens: passed on
        String interleaved = "interleaved " + run();
        as(ADMIN).body(with(with(chat(thinkingModel("claude-thinking", Map.of("thinking", "budget",
                                "headers", Map.of("anthropic-beta", "interleaved-thinking-2025-05-14"))), interleaved),
                        "reasoning_effort", "medium"), "max_tokens", 2048)).when().post("/v1/inference/chat").then().statusCode(200);
        JsonObject sentInterleaved = AnthropicTestUpstream.get().sentContaining(interleaved);
        assertThat(sentInterleaved.getString("_beta")).isEqualTo("interleaved-thinking-2025-05-14");
        assertThat(sentInterleaved.getJsonObject("thinking")).isEqualTo(new JsonObject().put("type", "enabled").put("budget_tokens", 2048));
        assertThat(sentInterleaved.getInteger("max_tokens")).isEqualTo(2048);
        String small = "refuse small " + run();
        as(ADMIN).body(with(chat(chatModelOver(List.of(anthropicBackend("claude-thinking", AnthropicTestUpstream.KEY,
                        Map.of("thinking", "budget")))), small),
                        "reasoning_effort", "low")).when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.message", org.hamcrest.Matchers.containsString("reasoning_effort low needs max_tokens above 1024"));

        // a final assistant message is a prefill, which Anthropic does not take with thinking
        String prefill = "refuse prefill " + run();
        Map<String, Object> body = with(with(chat(model, prefill), "reasoning_effort", "low"), "messages", List.of(
                Map.of("role", "user", "content", prefill), Map.of("role", "assistant", "content", "The answer is")));
        as(ADMIN).body(body).when().post("/oai/v1/chat/completions").then().statusCode(400)
                .body("error.message", org.hamcrest.Matchers.startsWith("messages[1].role: "));
        assertThat(AnthropicTestUpstream.get().requests)
                .noneMatch(r -> r.encode().contains(small) || r.encode().contains(prefill) || r.encode().contains(tight));
        // without thinking all of these pass as before
        as(ADMIN).body(with(with(chat(model, "no thinking"), "temperature", 0.5), "top_k", 40))
                .when().post("/oai/v1/chat/completions").then().statusCode(200);
    }

    @Test
    void azureCallsItsDeploymentWithTheApiKeyHeader() {
        String model = chatModelOver(List.of(openAiBackend("azure", "echo", Map.of("base_url",
                OpenAiTestUpstream.get().baseUrl().replace("/v1", ""), "deployment", "echo", "api_version", "2024-06-01"))));
        String marker = "azure " + run();
        as(ADMIN).body(chat(model, marker)).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .body("choices[0].message.content", equalTo("echo: " + marker)).body("model", equalTo(model));
        JsonObject sent = OpenAiTestUpstream.get().sentContaining(marker);
        assertThat(sent.getString("_path")).isEqualTo("/openai/deployments/echo/chat/completions");
        assertThat(sent.getString("_query")).isEqualTo("api-version=2024-06-01");
        assertThat(sent.getString("_api_key_header")).isEqualTo("sk-azure-secret");
        assertThat(sent.getString("_auth")).as("Azure keys go in api-key, not Authorization").isNull();

        String streamMarker = "azure stream " + run();
        String body = as(ADMIN).body(with(chat(model, streamMarker), "stream", true)).when().post("/v1/inference/chat")
                .then().statusCode(200).extract().asString();
        assertThat(body).contains("azure ").endsWith("data: [DONE]\n\n");
        assertThat(OpenAiTestUpstream.get().sentContaining(streamMarker).getJsonObject("stream_options").getBoolean("include_usage")).isTrue();
    }

    /**
     * A conversation that went through a reasoning model carries its thinking on assistant messages. Hosted
     * OpenAI-style APIs refuse such fields, so they do not get them; a self-hosted server (custom) keeps the
     * plain reasoning_content, and no OpenAI-style server gets Anthropic's signed thinking_blocks.
     */
    @Test
    void reasoningInTheHistoryReachesOnlyServersThatReadIt() {
        for (String type : List.of("openai", "azure", "mistral", "custom")) {
            Map<String, Object> config = type.equals("azure") ? Map.of("base_url", OpenAiTestUpstream.get().baseUrl().replace("/v1", ""),
                    "deployment", "echo", "api_version", "2024-06-01") : Map.of();
            String model = chatModelOver(List.of(openAiBackend(type, "echo", config)));
            String marker = "history " + type + " " + run();
            Map<String, Object> assistant = new LinkedHashMap<>(Map.of("role", "assistant", "content", "4", "reasoning_content", "2+2",
                    "reasoning", "2+2", "thinking_blocks", List.of(Map.of("type", "thinking", "thinking", "2+2", "signature", "sig"))));
            as(ADMIN).body(with(chat(model, marker), "messages", List.of(Map.of("role", "user", "content", "2+2?"), assistant,
                    Map.of("role", "user", "content", marker)))).when().post("/oai/v1/chat/completions").then().statusCode(200);
            JsonObject sent = OpenAiTestUpstream.get().sentContaining(marker).getJsonArray("messages").getJsonObject(1);
            assertThat(sent.getString("content")).isEqualTo("4");
            assertThat(sent.containsKey("thinking_blocks")).as(type).isFalse();
            assertThat(sent.containsKey("reasoning_content")).as(type).isEqualTo(type.equals("custom"));
            assertThat(sent.containsKey("reasoning")).as(type).isEqualTo(type.equals("custom"));
        }
    }

    /**
     * OpenAI's reasoning models refuse max_tokens: a backend set to max_tokens_field max_completion_tokens (the
     * default for api.openai.com) sends the cap under that name; max_tokens the other way, for servers that only
     * know the older name; by default the field the caller sent.
     */
    @Test
    void theOutputCapGoesUnderTheNameTheBackendTakes() {
        String modern = chatModelOver(List.of(openAiBackend("openai", "echo", Map.of("max_tokens_field", "max_completion_tokens"))));
        String marker = "cap " + run();
        as(ADMIN).body(with(chat(modern, marker), "max_tokens", 50)).when().post("/oai/v1/chat/completions").then().statusCode(200);
        JsonObject sent = OpenAiTestUpstream.get().sentContaining(marker);
        assertThat(sent.getInteger("max_completion_tokens")).isEqualTo(50);
        assertThat(sent.containsKey("max_tokens")).isFalse();
        String both = "cap both " + run();
        as(ADMIN).body(with(with(chat(modern, both), "max_tokens", 50), "max_completion_tokens", 40)).when()
                .post("/oai/v1/chat/completions").then().statusCode(200);
        JsonObject sentBoth = OpenAiTestUpstream.get().sentContaining(both);
        assertThat(sentBoth.getInteger("max_completion_tokens")).isEqualTo(40);
        assertThat(sentBoth.containsKey("max_tokens")).isFalse();

        String older = chatModelOver(List.of(openAiBackend("custom", "echo", Map.of("max_tokens_field", "max_tokens"))));
        String old = "cap old " + run();
        as(ADMIN).body(with(chat(older, old), "max_completion_tokens", 30)).when().post("/oai/v1/chat/completions").then().statusCode(200);
        JsonObject sentOld = OpenAiTestUpstream.get().sentContaining(old);
        assertThat(sentOld.getInteger("max_tokens")).isEqualTo(30);
        assertThat(sentOld.containsKey("max_completion_tokens")).isFalse();

        // by default (a server other than api.openai.com) the caller's own field goes on
        String local = chatModelOver(List.of(openAiBackend("openai", "echo", Map.of())));
        String asSent = "cap as sent " + run();
        as(ADMIN).body(with(chat(local, asSent), "max_completion_tokens", 20)).when().post("/oai/v1/chat/completions").then().statusCode(200);
        assertThat(OpenAiTestUpstream.get().sentContaining(asSent).getInteger("max_completion_tokens")).isEqualTo(20);
        assertThat(OpenAiTestUpstream.get().sentContaining(asSent).containsKey("max_tokens")).isFalse();
        assertThat(ai.scaigrid.gateway.inference.provider.OpenAiProvider.defaultMaxTokensField(
                new ai.scaigrid.gateway.inference.provider.BackendTarget("b", "gpt-5", "openai", "gpt-5", null, Map.of(), 0, 100)))
                .as("OpenAI's own endpoint").isEqualTo("max_completion_tokens");

        as(ADMIN).body(openAiBackend("openai", "echo", Map.of("max_tokens_field", "max_output_tokens"))).when().post("/v1/backends")
                .then().statusCode(400).body("error.details[0].field", equalTo("connection_config.max_tokens_field"));
    }

    @Test
    void mistralStreamsWithoutStreamOptionsAndOthersDefaultToTheirPublicEndpoints() {
        String model = chatModelOver(List.of(openAiBackend("mistral", "echo", Map.of())));
        String marker = "mistral " + run();
        String body = as(ADMIN).body(with(with(chat(model, marker), "stream", true), "stream_options", Map.of("include_usage", true)))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        JsonObject sent = OpenAiTestUpstream.get().sentContaining(marker);
        assertThat(sent.containsKey("stream_options")).as("Mistral refuses unknown fields").isFalse();
        assertThat(sent.getString("_auth")).isEqualTo("Bearer sk-mistral-secret");
        // no upstream usage: the gateway counts and still gives the caller a usage chunk
        assertThat(body).contains("\"usage\"").endsWith("data: [DONE]\n\n");

        // qwen and google backends route like openai ones (here with a base_url of the test upstream)
        for (String type : List.of("qwen", "google", "custom")) {
            String m = chatModelOver(List.of(openAiBackend(type, "echo", Map.of())));
            as(ADMIN).body(chat(m, type)).when().post("/v1/inference/chat").then().statusCode(200)
                    .body("data.choices[0].message.content", equalTo("echo: " + type))
                    .body("data.choices[0].message.tool_calls", nullValue());
        }
    }
}
