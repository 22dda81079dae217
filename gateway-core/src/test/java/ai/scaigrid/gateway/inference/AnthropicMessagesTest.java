package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.restassured.response.Response;
import io.restassured.specification.RequestSpecification;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.namedEvents;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModelOver;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

/**
 * Anthropic's Messages API door ({@code /anthropic/v1}): the translation to chat and back, the event stream, tool use and
 * signed thinking through an Anthropic backend, count_tokens, the model list, and errors in Anthropic's shape.
 */
@QuarkusTest
class AnthropicMessagesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    private static RequestSpecification anthropic(String key) {
        return RestAssured.given().header("x-api-key", key).header("anthropic-version", "2023-06-01").contentType("application/json");
    }

    private static Map<String, Object> message(String model, Object content) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("max_tokens", 100);
        body.put("messages", List.of(Map.of("role", "user", "content", content)));
        return body;
    }

    private static String claude(String upstreamModel) {
        return chatModelOver(List.of(Map.of("name", "claude", "provider_type", "anthropic", "model_name", upstreamModel,
                "connection_config", Map.of("base_url", AnthropicTestUpstream.get().baseUrl(), "api_key", AnthropicTestUpstream.KEY))));
    }

    /** Each event's type (with its delta's or block's type), a run of the same one counted once: chunks may be coalesced. */
    private static List<String> types(List<JsonNode> events) {
        List<String> out = new ArrayList<>();
        for (JsonNode e : events) {
            String type = e.path("type").asText()
                    + (e.has("delta") && e.get("delta").has("type") ? ":" + e.get("delta").get("type").asText() : "")
                    + (e.has("content_block") ? ":" + e.get("content_block").get("type").asText() : "");
            if (out.isEmpty() || !out.get(out.size() - 1).equals(type)) {
                out.add(type);
            }
        }
        return out;
    }

    @Test
    void aMessageIsAnsweredInAnthropicsShape() {
        String model = chatModel("echo");
        Response r = anthropic(ADMIN).header("X-Request-Id", "req_anthropic_plain").body(message(model, "hello there"))
                .when().post("/anthropic/v1/messages");
        r.then().statusCode(200).header("request-id", "req_anthropic_plain")
                .body("type", equalTo("message")).body("role", equalTo("assistant")).body("id", startsWith("msg_"))
                .body("model", equalTo(model))
                .body("content[0].type", equalTo("text")).body("content[0].text", equalTo("echo: hello there"))
                .body("stop_reason", equalTo("end_turn")).body("stop_sequence", equalTo(null))
                .body("usage.input_tokens", equalTo(7)).body("usage.output_tokens", equalTo(3))
                .body("usage.cache_read_input_tokens", equalTo(0));
        io.vertx.mutiny.sqlclient.Row record = InferenceFixtures.usageRecord(pool, usage, "req_anthropic_plain");
        assertThat(record.getString("api")).isEqualTo("anthropic");
        assertThat(record.getString("endpoint")).isEqualTo("chat");
        assertThat(record.getInteger("prompt_tokens")).isEqualTo(7);

        // a bearer token works as well as x-api-key; cached prompt tokens are counted apart from the input
        RestAssured.given().header("Authorization", "Bearer " + ADMIN).contentType("application/json")
                .body(message(chatModel("cached"), "cache me")).when().post("/anthropic/v1/messages").then().statusCode(200)
                .body("usage.input_tokens", equalTo(2)).body("usage.cache_read_input_tokens", equalTo(5));
    }

    /**
     * The request's system blocks, turns, tool use and results, images, tools, tool_choice, stop sequences and user become
     * the chat request the upstream gets; an answer cut by the cap stops with max_tokens.
     */
    @Test
    void theRequestIsTranslatedToChat() throws Exception {
        String model = chatModel("cut");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("max_tokens", 50);
        body.put("system", List.of(Map.of("type", "text", "text", "You are terse.", "cache_control", Map.of("type", "ephemeral"))));
        body.put("messages", List.of(
                Map.of("role", "user", "content", "weather in Oslo?"),
                Map.of("role", "system", "content", List.of(Map.of("type", "text", "text", "# Environment"))),
                Map.of("role", "assistant", "content", List.of(Map.of("type", "text", "text", "Checking."),
                        Map.of("type", "tool_use", "id", "toolu_9", "name", "get_weather", "input", Map.of("city", "Oslo")))),
                Map.of("role", "user", "content", List.of(
                        Map.of("type", "tool_result", "tool_use_id", "toolu_9", "is_error", true, "content", "station offline"),
                        Map.of("type", "image", "source", Map.of("type", "base64", "media_type", "image/png", "data", "iVBORw0K")),
                        Map.of("type", "document", "source", Map.of("type", "text", "media_type", "text/plain", "data", "a note")),
                        Map.of("type", "document", "title", "spec.pdf",
                                "source", Map.of("type", "base64", "media_type", "application/pdf", "data", "JVBERi0x")),
                        Map.of("type", "text", "text", "translate me")))));
        body.put("tools", List.of(Map.of("name", "get_weather", "description", "Weather by city",
                "input_schema", Map.of("type", "object", "properties", Map.of("city", Map.of("type", "string"))))));
        body.put("tool_choice", Map.of("type", "any", "disable_parallel_tool_use", true));
        body.put("stop_sequences", List.of("END"));
        body.put("temperature", 0.5);
        body.put("metadata", Map.of("user_id", "user-42"));
        anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                .body("stop_reason", equalTo("max_tokens"));

        JsonNode sent = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("station offline").getMap());
        JsonNode messages = sent.get("messages");
        assertThat(messages).hasSize(6);
        // a system message in the conversation (as Claude Code sends its environment) stays where it was
        assertThat(((com.fasterxml.jackson.databind.node.ArrayNode) messages).remove(2).path("content").asText())
                .isEqualTo("# Environment");
        assertThat(messages.get(0).path("role").asText()).isEqualTo("system");
        assertThat(messages.get(0).path("content").get(0).path("text").asText()).isEqualTo("You are terse.");
        assertThat(messages.get(1).path("content").asText()).isEqualTo("weather in Oslo?");
        assertThat(messages.get(2).path("content").asText()).isEqualTo("Checking.");
        assertThat(messages.get(2).path("tool_calls").get(0).path("function").path("arguments").asText()).isEqualTo("{\"city\":\"Oslo\"}");
        assertThat(messages.get(3).path("role").asText()).isEqualTo("tool");
        assertThat(messages.get(3).path("tool_call_id").asText()).isEqualTo("toolu_9");
        assertThat(messages.get(3).path("content").asText()).isEqualTo("Error: station offline");
        assertThat(messages.get(4).path("content").get(0).path("image_url").path("url").asText())
                .isEqualTo("data:image/png;base64,iVBORw0K");
        assertThat(messages.get(4).path("content").get(1).path("text").asText()).isEqualTo("a note");
        assertThat(messages.get(4).path("content").get(2).path("file").path("file_data").asText())
                .isEqualTo("data:application/pdf;base64,JVBERi0x");
        assertThat(messages.get(4).path("content").get(2).path("file").path("filename").asText()).isEqualTo("spec.pdf");
        assertThat(messages.get(4).path("content").get(3).path("text").asText()).isEqualTo("translate me");
        assertThat(sent.path("tools").get(0).path("function").path("parameters").path("properties").has("city")).isTrue();
        assertThat(sent.path("tool_choice").asText()).isEqualTo("required");
        assertThat(sent.path("parallel_tool_calls").asBoolean(true)).isFalse();
        assertThat(sent.path("stop").get(0).asText()).isEqualTo("END");
        assertThat(sent.path("max_tokens").asInt()).isEqualTo(50);
        assertThat(sent.path("temperature").asDouble()).isEqualTo(0.5);
        assertThat(sent.path("user").asText()).isEqualTo("user-42");
    }

    @Test
    void aStreamIsAnthropicsEventStream() throws Exception {
        String model = chatModel("echo");
        Map<String, Object> body = message(model, "stream it");
        body.put("stream", true);
        String sse = anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                .header("Content-Type", startsWith("text/event-stream")).extract().asString();
        List<JsonNode> events = namedEvents(sse);
        assertThat(types(events)).containsExactly("message_start", "ping", "content_block_start:text",
                "content_block_delta:text_delta", "content_block_stop", "message_delta", "message_stop");
        JsonNode start = events.get(0).get("message");
        assertThat(start.path("id").asText()).startsWith("msg_");
        assertThat(start.path("model").asText()).isEqualTo(model);
        assertThat(start.path("content")).isEmpty();
        StringBuilder text = new StringBuilder();
        events.stream().filter(e -> e.has("delta") && e.get("delta").has("text"))
                .forEach(e -> text.append(e.get("delta").get("text").asText()));
        assertThat(text).hasToString("echo: stream it");
        JsonNode delta = events.get(events.size() - 2);
        assertThat(delta.path("delta").path("stop_reason").asText()).isEqualTo("end_turn");
        assertThat(delta.path("usage").path("output_tokens").asInt()).isEqualTo(3);
        assertThat(delta.path("usage").path("input_tokens").asInt()).isEqualTo(7);
        assertThat(sse).doesNotContain("[DONE]");
    }

    /** A stop sequence that ended the answer is named where the backend says which (Anthropic, or vLLM's stop_reason). */
    @Test
    void aMatchedStopSequenceIsNamedWhenTheBackendSaysWhichOne() throws Exception {
        for (String model : List.of(claude("claude-echo"), chatModel("stops"))) {
            Map<String, Object> body = message(model, "one two STOP three");
            body.put("stop_sequences", List.of("NEVER", "STOP"));
            anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                    .body("content[0].text", equalTo("echo: one two ")).body("stop_reason", equalTo("stop_sequence"))
                    .body("stop_sequence", equalTo("STOP"));
            body.put("stream", true);
            List<JsonNode> events = namedEvents(anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then()
                    .statusCode(200).extract().asString());
            JsonNode delta = events.get(events.size() - 2);
            assertThat(delta.at("/delta/stop_reason").asText()).as(model).isEqualTo("stop_sequence");
            assertThat(delta.at("/delta/stop_sequence").asText()).isEqualTo("STOP");
        }
        Map<String, Object> many = message(chatModel("stops"), "x");
        many.put("stop_sequences", List.of("a", "b", "c", "d", "e"));
        anthropic(ADMIN).body(many).when().post("/anthropic/v1/messages").then().statusCode(400)
                .body("error.message", equalTo("at most 4 stop_sequences are supported here"));
        // a backend that ended without one: end_turn, and no stop sequence
        Map<String, Object> body = message(chatModel("stops"), "nothing to stop");
        body.put("stop_sequences", List.of("STOP"));
        anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                .body("stop_reason", equalTo("end_turn")).body("stop_sequence", org.hamcrest.Matchers.nullValue());
    }

    /** An Anthropic backend's tool use and signed thinking come back as the same blocks, streamed and not. */
    @Test
    void toolUseAndThinkingPassThroughAnAnthropicBackend() throws Exception {
        String tools = claude("claude-tools");
        Map<String, Object> body = message(tools, "weather?");
        body.put("tools", List.of(Map.of("name", "get_weather", "input_schema", Map.of("type", "object"))));
        anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                .body("content[0].text", equalTo("Let me check.")).body("content[1].type", equalTo("tool_use"))
                .body("content[1].id", equalTo("toolu_01")).body("content[1].name", equalTo("get_weather"))
                .body("content[1].input.city", equalTo("Oslo")).body("stop_reason", equalTo("tool_use"));
        body.put("stream", true);
        List<JsonNode> events = namedEvents(anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                .extract().asString());
        JsonNode use = events.stream().filter(e -> e.path("content_block").path("type").asText().equals("tool_use"))
                .findFirst().orElseThrow();
        assertThat(use.path("content_block").path("id").asText()).isEqualTo("toolu_01");
        StringBuilder json = new StringBuilder();
        events.stream().filter(e -> e.path("index").asInt() == use.path("index").asInt() && e.path("delta").has("partial_json"))
                .forEach(e -> json.append(e.get("delta").get("partial_json").asText()));
        assertThat(JSON.readTree(json.toString()).path("city").asText()).isEqualTo("Oslo");
        assertThat(events.get(events.size() - 2).path("delta").path("stop_reason").asText()).isEqualTo("tool_use");

        String thinking = claude("claude-thinking");
        Map<String, Object> think = message(thinking, "think it over");
        think.put("max_tokens", 900);
        think.put("thinking", Map.of("type", "enabled", "budget_tokens", 1024));
        anthropic(ADMIN).body(think).when().post("/anthropic/v1/messages").then().statusCode(200)
                .body("content[0].type", equalTo("thinking")).body("content[0].thinking", equalTo("The user wants an echo."))
                .body("content[0].signature", equalTo(AnthropicTestUpstream.SIGNATURE))
                .body("content[1].text", equalTo("echo: think it over"));
        think.put("stream", true);
        List<JsonNode> streamed = namedEvents(anthropic(ADMIN).body(think).when().post("/anthropic/v1/messages").then().statusCode(200)
                .extract().asString());
        assertThat(types(streamed))
                .startsWith("message_start", "ping", "content_block_start:thinking", "content_block_delta:thinking_delta")
                .contains("content_block_delta:signature_delta", "content_block_start:text");
        assertThat(streamed.stream().filter(e -> e.path("delta").has("signature")).findFirst().orElseThrow()
                .path("delta").path("signature").asText()).isEqualTo(AnthropicTestUpstream.SIGNATURE);

        // a PDF reaches an Anthropic backend as a document; adaptive thinking at effort max as that effort
        Map<String, Object> pdf = message(claude("claude-echo"), List.of(Map.of("type", "document",
                "source", Map.of("type", "base64", "media_type", "application/pdf", "data", "JVBERi0y")),
                Map.of("type", "text", "text", "read it")));
        pdf.put("thinking", Map.of("type", "adaptive"));
        pdf.put("output_config", Map.of("effort", "max"));
        anthropic(ADMIN).body(pdf).when().post("/anthropic/v1/messages").then().statusCode(200);
        JsonNode sentPdf = JSON.readTree(AnthropicTestUpstream.get().sentContaining("JVBERi0y").encode());
        JsonNode document = sentPdf.get("messages").get(0).get("content").get(0);
        assertThat(document.path("type").asText()).isEqualTo("document");
        assertThat(document.path("source").path("data").asText()).isEqualTo("JVBERi0y");
        assertThat(sentPdf.path("output_config").path("effort").asText()).isEqualTo("max");

        // the signed thinking sent back reaches the backend as it was signed
        Map<String, Object> again = new LinkedHashMap<>(message(thinking, "again"));
        again.put("max_tokens", 900);
        again.put("thinking", Map.of("type", "enabled", "budget_tokens", 1024));
        again.put("messages", List.of(Map.of("role", "user", "content", "think it over"),
                Map.of("role", "assistant", "content", List.of(Map.of("type", "thinking", "thinking", "The user wants an echo.",
                        "signature", AnthropicTestUpstream.SIGNATURE), Map.of("type", "text", "text", "echo: think it over"))),
                Map.of("role", "user", "content", "and once more")));
        anthropic(ADMIN).body(again).when().post("/anthropic/v1/messages").then().statusCode(200);
        JsonNode sent = JSON.readTree(AnthropicTestUpstream.get().sentContaining("and once more").encode());
        JsonNode assistant = sent.get("messages").get(1);
        assertThat(assistant.path("content").get(0).path("type").asText()).isEqualTo("thinking");
        assertThat(assistant.path("content").get(0).path("signature").asText()).isEqualTo(AnthropicTestUpstream.SIGNATURE);
        assertThat(sent.path("thinking").path("type").asText()).isNotEmpty();
    }

    /** A client that leaves a Messages stream cancels the upstream at once, and the request is recorded as cancelled. */
    @Test
    void aClientThatLeavesCancelsTheUpstream() throws Exception {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        int cancelledBefore = up.cancelledStreams.get();
        Map<String, Object> streamed = message(chatModel("slow"), "long");
        streamed.put("stream", true);
        String body = JSON.writeValueAsString(streamed);
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", RestAssured.port)) {
            java.io.OutputStream out = socket.getOutputStream();
            out.write(("POST /anthropic/v1/messages HTTP/1.1\r\nHost: localhost\r\nx-api-key: " + ADMIN
                    + "\r\nContent-Type: application/json\r\nX-Request-Id: req_anthropic_leaves\r\nContent-Length: "
                    + body.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.flush();
            java.io.InputStream in = socket.getInputStream();
            StringBuilder seen = new StringBuilder();
            byte[] buf = new byte[1024];
            while (!seen.toString().contains("tick")) {
                int n = in.read(buf);
                assertThat(n).isPositive();
                seen.append(new String(buf, 0, n, java.nio.charset.StandardCharsets.UTF_8));
            }
            assertThat(seen.toString()).contains("event: content_block_delta");
        }
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(3)).until(() -> up.cancelledStreams.get() > cancelledBefore);
        assertThat(InferenceFixtures.usageRecord(pool, usage, "req_anthropic_leaves").getString("status")).isEqualTo("cancelled");
    }

    @Test
    void aStreamThatBreaksEndsWithAnErrorEvent() throws Exception {
        Map<String, Object> body = message(chatModel("midfail"), "break");
        body.put("stream", true);
        List<JsonNode> events = namedEvents(anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                .extract().asString());
        assertThat(types(events)).startsWith("message_start", "ping", "content_block_start:text").doesNotContain("message_stop");
        JsonNode last = events.get(events.size() - 1);
        assertThat(last.path("type").asText()).isEqualTo("error");
        assertThat(last.path("error").path("type").asText()).isIn("api_error", "overloaded_error");
        assertThat(last.path("error").path("message").asText()).doesNotContain("Exception");
    }

    @Test
    void errorsComeInAnthropicsShape() {
        String model = chatModel("echo");
        Map<String, Object> noCap = message(model, "hi");
        noCap.remove("max_tokens");
        anthropic(ADMIN).header("X-Request-Id", "req_anthropic_bad").body(noCap).when().post("/anthropic/v1/messages").then()
                .statusCode(400).body("type", equalTo("error")).body("error.type", equalTo("invalid_request_error"))
                .body("error.message", equalTo("max_tokens is required: a positive integer"))
                .body("request_id", equalTo("req_anthropic_bad"));
        anthropic("sgk_not_a_key").body(message(model, "hi")).when().post("/anthropic/v1/messages").then().statusCode(401)
                .body("error.type", equalTo("authentication_error"));
        RestAssured.given().contentType("application/json").body(message(model, "hi")).when().post("/anthropic/v1/messages").then()
                .statusCode(401).body("error.type", equalTo("authentication_error"));
        anthropic(ADMIN).body(message("nobody/none", "hi")).when().post("/anthropic/v1/messages").then().statusCode(404)
                .body("error.type", equalTo("not_found_error")).body("error.code", equalTo("MODEL_NOT_FOUND"));
        anthropic(ADMIN).body("{not json").when().post("/anthropic/v1/messages").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"));

        Map<String, Object> serverTool = message(model, "search");
        serverTool.put("tools", List.of(Map.of("type", "web_search_20250305", "name", "web_search")));
        anthropic(ADMIN).body(serverTool).when().post("/anthropic/v1/messages").then().statusCode(400)
                .body("error.message", startsWith("server tools (web_search_20250305) are not supported"));
        anthropic(ADMIN).body(message(model, List.of(Map.of("type", "search_result", "source", "x"))))
                .when().post("/anthropic/v1/messages").then().statusCode(400)
                .body("error.message", equalTo("content blocks of type search_result are not supported here"));
        anthropic(ADMIN).body(message(model, List.of(Map.of("type", "document",
                        "source", Map.of("type", "url", "url", "https://x.test/a.pdf")))))
                .when().post("/anthropic/v1/messages").then().statusCode(400)
                .body("error.message", equalTo("documents must be plain text or a base64 PDF here"));
        Map<String, Object> badRole = message(model, "x");
        badRole.put("messages", List.of(Map.of("role", "tool", "content", "x")));
        anthropic(ADMIN).body(badRole).when().post("/anthropic/v1/messages").then().statusCode(400)
                .body("error.message", equalTo("role must be user, assistant or system"));
        Map<String, Object> overCap = message(model, "x");
        overCap.put("max_tokens", 1_000_000);
        anthropic(ADMIN).body(overCap).when().post("/anthropic/v1/messages").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"));
    }

    /** Each malformed request is a 400 in Anthropic's shape naming what is wrong, never a 500. */
    @Test
    void malformedRequestsAreRefusedByName() {
        String model = chatModel("echo");
        Map<String, Object> base = message(model, "hi");
        List<Map.Entry<String, Object>> cases = List.of(
                Map.entry("messages", List.of()),
                Map.entry("messages", "hi"),
                Map.entry("messages", java.util.Arrays.asList((Object) null)),
                Map.entry("messages", List.of(Map.of("role", "user", "content", List.of(Map.of("type", "text"))))),
                Map.entry("messages", List.of(Map.of("role", "user", "content", java.util.Arrays.asList((Object) null)))),
                Map.entry("messages", List.of(Map.of("role", "user", "content", 5))),
                Map.entry("messages", List.of(Map.of("role", "user", "content", List.of(Map.of("type", "image",
                        "source", Map.of("type", "file", "file_id", "f")))))),
                Map.entry("messages", List.of(Map.of("role", "user", "content", List.of(Map.of("type", "tool_result"))))),
                Map.entry("messages", List.of(Map.of("role", "assistant", "content", List.of(Map.of("type", "tool_use", "id", "t"))))),
                Map.entry("system", 5),
                Map.entry("system", List.of(Map.of("type", "image"))),
                Map.entry("max_tokens", 0),
                Map.entry("max_tokens", "many"),
                Map.entry("max_tokens", 1e12),
                Map.entry("stream", "yes"),
                Map.entry("stop_sequences", "END"),
                Map.entry("stop_sequences", List.of(1)),
                Map.entry("tools", Map.of("name", "x")),
                Map.entry("tools", java.util.Arrays.asList((Object) null)),
                Map.entry("tools", List.of(Map.of("name", "x"))),
                Map.entry("tool_choice", "auto"),
                Map.entry("tool_choice", Map.of("type", "tool")),
                Map.entry("thinking", Map.of("type", "enabled")),
                Map.entry("thinking", "on"),
                Map.entry("output_config", Map.of("format", Map.of("type", "json_object"))),
                Map.entry("temperature", "hot"),
                Map.entry("model", 5));
        for (Map.Entry<String, Object> c : cases) {
            Map<String, Object> body = new LinkedHashMap<>(base);
            body.put(c.getKey(), c.getValue());
            anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages").then().statusCode(400)
                    .body("type", equalTo("error")).body("error.type", equalTo("invalid_request_error"))
                    .body("error.message", org.hamcrest.Matchers.not(org.hamcrest.Matchers.containsString("Exception")));
        }
    }

    /** Rate limits answer with Anthropic's header names, and a refusal is a rate_limit_error with retry-after. */
    @Test
    void rateLimitsUseAnthropicsHeaders() {
        String tenantId = InferenceFixtures.tenant();
        as(ADMIN).body(Map.of("key_requests_per_minute", 2)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        String key = InferenceFixtures.key(tenantId, "tenant_user", null);
        String model = chatModel("echo");
        anthropic(key).body(message(model, "one")).when().post("/anthropic/v1/messages").then().statusCode(200)
                .header("anthropic-ratelimit-requests-limit", "2").header("anthropic-ratelimit-requests-remaining", "1")
                .header("anthropic-ratelimit-requests-reset", org.hamcrest.Matchers.matchesPattern("\\d{4}-\\d\\d-\\d\\dT.*Z"));
        anthropic(key).when().get("/anthropic/v1/models").then().statusCode(200).header("anthropic-ratelimit-requests-remaining", "0");
        anthropic(key).body(message(model, "three")).when().post("/anthropic/v1/messages").then().statusCode(429)
                .body("error.type", equalTo("rate_limit_error")).header("retry-after", org.hamcrest.Matchers.notNullValue())
                .header("anthropic-ratelimit-requests-remaining", "0");
    }

    @Test
    void countTokensEstimatesWithoutCallingABackend() {
        String model = chatModel("echo");
        int before = OpenAiTestUpstream.get().calls("echo");
        Map<String, Object> body = message(model, "x".repeat(400));
        body.remove("max_tokens");
        int tokens = anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages/count_tokens").then().statusCode(200)
                .extract().path("input_tokens");
        assertThat(tokens).isBetween(100, 110);
        assertThat(OpenAiTestUpstream.get().calls("echo")).isEqualTo(before);
        body.put("model", "nobody/none");
        anthropic(ADMIN).body(body).when().post("/anthropic/v1/messages/count_tokens").then().statusCode(404)
                .body("error.type", equalTo("not_found_error"));
    }

    @Test
    void modelsAreListedAndPagedAsAnthropicListsThem() {
        String a = chatModel("echo");
        chatModel("echo");
        List<String> all = anthropic(ADMIN).queryParam("limit", 1000).when().get("/anthropic/v1/models").then().statusCode(200)
                .body("has_more", equalTo(false)).extract().path("data.id");
        assertThat(all).contains(a).hasSizeGreaterThan(1);
        Response first = anthropic(ADMIN).queryParam("limit", 1).when().get("/anthropic/v1/models");
        first.then().statusCode(200).body("data.size()", equalTo(1)).body("has_more", equalTo(true))
                .body("data[0].type", equalTo("model")).body("first_id", equalTo(all.get(0))).body("last_id", equalTo(all.get(0)));
        anthropic(ADMIN).queryParam("limit", 1).queryParam("after_id", all.get(0)).when().get("/anthropic/v1/models").then()
                .statusCode(200).body("data[0].id", equalTo(all.get(1)));
        anthropic(ADMIN).queryParam("limit", 0).when().get("/anthropic/v1/models").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"));
        anthropic(ADMIN).when().get("/anthropic/v1/models/" + a).then().statusCode(200).body("id", equalTo(a))
                .body("type", equalTo("model")).body("created_at", startsWith("20"));
        anthropic(ADMIN).when().get("/anthropic/v1/models/nobody/none").then().statusCode(404)
                .body("error.type", equalTo("not_found_error"));
    }
}
