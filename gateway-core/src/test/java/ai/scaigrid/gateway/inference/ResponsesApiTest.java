package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.namedEvents;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.run;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static ai.scaigrid.gateway.inference.InferenceFixtures.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

/** OpenAI's Responses API over the chat pipeline: the translation both ways, the event stream, refusals by name. */
@QuarkusTest
class ResponsesApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @Inject
    StoredResponses stored;

    private static Map<String, Object> request(String model, Object input) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("input", input);
        return body;
    }

    private static JsonNode sentContaining(String text) {
        return JSON.valueToTree(OpenAiTestUpstream.get().sentContaining(text).getMap());
    }

    @Test
    void aResponseIsTheChatAnswerInResponsesShape() {
        String model = chatModel("echo");
        Map<String, Object> body = request(model, "hello responses");
        body.put("instructions", "Be brief.");
        body.put("max_output_tokens", 50);
        body.put("metadata", Map.of("ticket", "42"));
        as(ADMIN).header("X-Request-Id", "req_responses_plain").body(body).when().post("/oai/v1/responses").then().statusCode(200)
                .header("X-Request-Id", "req_responses_plain")
                .body("id", startsWith("resp_")).body("object", equalTo("response")).body("status", equalTo("completed"))
                .body("model", equalTo(model)).body("instructions", equalTo("Be brief.")).body("max_output_tokens", equalTo(50))
                .body("output.size()", equalTo(1))
                .body("output[0].type", equalTo("message")).body("output[0].role", equalTo("assistant"))
                .body("output[0].id", startsWith("msg_")).body("output[0].status", equalTo("completed"))
                .body("output[0].content[0].type", equalTo("output_text"))
                .body("output[0].content[0].text", equalTo("echo: hello responses"))
                .body("usage.input_tokens", equalTo(7)).body("usage.output_tokens", equalTo(3)).body("usage.total_tokens", equalTo(10))
                .body("metadata.ticket", equalTo("42")).body("store", equalTo(true))
                .body("previous_response_id", org.hamcrest.Matchers.nullValue());
        JsonNode sent = sentContaining("hello responses");
        assertThat(sent.at("/messages/0/role").asText()).isEqualTo("system");
        assertThat(sent.at("/messages/0/content").asText()).isEqualTo("Be brief.");
        assertThat(sent.at("/messages/1/content").asText()).isEqualTo("hello responses");
        assertThat(sent.path("max_tokens").asInt()).isEqualTo(50);
        assertThat(sent.has("metadata")).isFalse();

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            var rows = pool.preparedQuery("SELECT endpoint, api FROM usage_records WHERE request_id = 'req_responses_plain'")
                    .execute().await().atMost(Duration.ofSeconds(5));
            assertThat(rows.size()).isEqualTo(1);
            assertThat(rows.iterator().next().getString("endpoint")).isEqualTo("responses");
            assertThat(rows.iterator().next().getString("api")).isEqualTo("oai");
        });
    }

    @Test
    void functionCallsGoOutAsItemsAndComeBackAsChatToolMessages() {
        String model = chatModel("tools");
        Map<String, Object> tool = Map.of("type", "function", "name", "get_weather", "description", "Weather for a city",
                "parameters", Map.of("type", "object", "properties", Map.of("city", Map.of("type", "string"))));
        Map<String, Object> body = request(model, "weather in Oslo? (responses)");
        body.put("tools", List.of(tool));
        body.put("tool_choice", Map.of("type", "function", "name", "get_weather"));
        as(ADMIN).body(body).when().post("/oai/v1/responses").then().statusCode(200)
                .body("output.size()", equalTo(1)).body("output[0].type", equalTo("function_call"))
                .body("output[0].call_id", equalTo("call_1")).body("output[0].name", equalTo("get_weather"))
                .body("output[0].arguments", equalTo("{\"city\":\"Oslo\"}")).body("output[0].id", startsWith("fc_"));
        JsonNode sent = sentContaining("weather in Oslo? (responses)");
        assertThat(sent.at("/tools/0/function/name").asText()).isEqualTo("get_weather");
        assertThat(sent.at("/tools/0/function/parameters/type").asText()).isEqualTo("object");
        assertThat(sent.at("/tool_choice/function/name").asText()).isEqualTo("get_weather");

        // the next turn: the call and its output as input items
        List<Object> input = List.of(
                Map.of("role", "user", "content", List.of(Map.of("type", "input_text", "text", "weather in Oslo? (turn two)"))),
                Map.of("type", "function_call", "call_id", "call_1", "name", "get_weather", "arguments", "{\"city\":\"Oslo\"}"),
                Map.of("type", "function_call_output", "call_id", "call_1", "output", "sunny, 18 C"));
        as(ADMIN).body(request(chatModel("echo"), input)).when().post("/oai/v1/responses").then().statusCode(200)
                .body("output[0].content[0].text", equalTo("echo: weather in Oslo? (turn two)"));
        JsonNode second = sentContaining("weather in Oslo? (turn two)");
        assertThat(second.at("/messages/1/role").asText()).isEqualTo("assistant");
        assertThat(second.at("/messages/1/tool_calls/0/id").asText()).isEqualTo("call_1");
        assertThat(second.at("/messages/1/tool_calls/0/function/arguments").asText()).isEqualTo("{\"city\":\"Oslo\"}");
        assertThat(second.at("/messages/2/role").asText()).isEqualTo("tool");
        assertThat(second.at("/messages/2/tool_call_id").asText()).isEqualTo("call_1");
        assertThat(second.at("/messages/2/content").asText()).isEqualTo("sunny, 18 C");
    }

    @Test
    void aStreamIsTheResponsesEventSequence() throws Exception {
        String model = chatModel("echo");
        String sse = as(ADMIN).body(Map.of("model", model, "input", "stream responses", "stream", true))
                .when().post("/oai/v1/responses").then().statusCode(200).contentType(startsWith("text/event-stream"))
                .extract().asString();
        List<JsonNode> events = namedEvents(sse);
        List<String> types = events.stream().map(e -> e.path("type").asText()).toList();
        assertThat(types.get(0)).isEqualTo("response.created");
        assertThat(types.get(1)).isEqualTo("response.in_progress");
        assertThat(types.get(2)).isEqualTo("response.output_item.added");
        assertThat(types.get(3)).isEqualTo("response.content_part.added");
        assertThat(types.subList(types.size() - 4, types.size())).containsExactly("response.output_text.done",
                "response.content_part.done", "response.output_item.done", "response.completed");
        for (int i = 0; i < events.size(); i++) {
            assertThat(events.get(i).path("sequence_number").asInt()).isEqualTo(i);
        }
        StringBuilder text = new StringBuilder();
        events.stream().filter(e -> e.path("type").asText().equals("response.output_text.delta"))
                .forEach(e -> text.append(e.path("delta").asText()));
        assertThat(text.toString()).isEqualTo("echo: stream responses");
        JsonNode completed = events.get(events.size() - 1).path("response");
        assertThat(completed.path("status").asText()).isEqualTo("completed");
        assertThat(completed.at("/output/0/content/0/text").asText()).isEqualTo("echo: stream responses");
        assertThat(completed.at("/usage/total_tokens").asInt()).isPositive();
        assertThat(events.get(0).at("/response/status").asText()).isEqualTo("in_progress");
        assertThat(sse).doesNotContain("[DONE]");
    }

    @Test
    void aStreamedFunctionCallIsAnItemWithItsArguments() throws Exception {
        Map<String, Object> body = request(chatModel("tools"), "stream a tool call");
        body.put("stream", true);
        body.put("tools", List.of(Map.of("type", "function", "name", "get_weather", "parameters", Map.of("type", "object"))));
        List<JsonNode> events = namedEvents(as(ADMIN).body(body).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().asString());
        JsonNode added = events.stream().filter(e -> e.path("type").asText().equals("response.output_item.added")).findFirst().orElseThrow();
        assertThat(added.at("/item/type").asText()).isEqualTo("function_call");
        assertThat(added.at("/item/name").asText()).isEqualTo("get_weather");
        JsonNode done = events.stream().filter(e -> e.path("type").asText().equals("response.function_call_arguments.done"))
                .findFirst().orElseThrow();
        assertThat(done.path("arguments").asText()).isEqualTo("{\"city\":\"Oslo\"}");
        JsonNode completed = events.get(events.size() - 1);
        assertThat(completed.at("/response/output/0/call_id").asText()).isEqualTo("call_1");
        assertThat(completed.at("/response/output/0/status").asText()).isEqualTo("completed");
    }

    @Test
    void aStreamCutShortEndsFailed() throws Exception {
        List<JsonNode> events = namedEvents(as(ADMIN).body(Map.of("model", chatModel("midfail"), "input", "x", "stream", true))
                .when().post("/oai/v1/responses").then().statusCode(200).extract().asString());
        List<String> types = events.stream().map(e -> e.path("type").asText()).toList();
        assertThat(types.subList(types.size() - 2, types.size())).containsExactly("response.failed", "error");
        assertThat(events.get(events.size() - 2).at("/response/status").asText()).isEqualTo("failed");
        assertThat(events.get(events.size() - 2).at("/response/output/0/content/0/text").asText()).isEqualTo("Hello wor");
        assertThat(events.get(events.size() - 1).path("message").asText()).doesNotContain("Exception");
        // stored as failed, with what it had
        String id = events.get(events.size() - 2).at("/response/id").asText();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> as(ADMIN).when().get("/oai/v1/responses/" + id).then()
                .statusCode(200).body("status", equalTo("failed")).body("output[0].content[0].text", equalTo("Hello wor")));
    }

    @Test
    void whatHasNoChatFormIsRefusedByName() {
        String model = chatModel("echo");
        Map<String, Object> unknown = request(model, "x");
        unknown.put("previous_response_id", "resp_123");
        as(ADMIN).body(unknown).when().post("/oai/v1/responses").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error")).body("error.param", equalTo("previous_response_id"))
                .body("error.message", equalTo("Previous response with id 'resp_123' not found."));
        for (Object bad : List.of(42, "")) {
            as(ADMIN).body(with(request(model, "x"), "previous_response_id", bad)).when().post("/oai/v1/responses").then().statusCode(400)
                    .body("error.param", equalTo("previous_response_id"));
        }
        as(ADMIN).body(with(request(model, "x"), "store", "yes")).when().post("/oai/v1/responses").then().statusCode(400)
                .body("error.param", equalTo("store"));
        as(ADMIN).body(with(request(model, "x"), "include", "reasoning.encrypted_content")).when().post("/oai/v1/responses").then()
                .statusCode(400).body("error.param", equalTo("include"));
        as(ADMIN).body(request(model, List.of(Map.of("type", "reasoning", "summary", List.of(), "encrypted_content", "not ours"))))
                .when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("input[0].encrypted_content"));
        as(ADMIN).body(request(model, List.of("just a string"))).when().post("/oai/v1/responses").then().statusCode(400)
                .body("error.param", equalTo("input[0]"));
        Map<String, Object> hosted = request(model, "x");
        hosted.put("tools", List.of(Map.of("type", "web_search")));
        as(ADMIN).body(hosted).when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("tools[0].type"));
        as(ADMIN).body(Map.of("model", model)).when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("input"));
        as(ADMIN).body(request(model, List.of(Map.of("role", "wizard", "content", "x")))).when().post("/oai/v1/responses").then()
                .statusCode(400).body("error.param", equalTo("input[0].role"));
        as(ADMIN).body(request(model, List.of(Map.of("type", "item_reference", "id", "msg_1")))).when().post("/oai/v1/responses")
                .then().statusCode(400).body("error.param", equalTo("input[0].type"));
        Map<String, Object> format = request(model, "x");
        format.put("text", Map.of("format", Map.of("type", "yaml")));
        as(ADMIN).body(format).when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("text.format.type"));
        as(ADMIN).body("{").when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("body"));
        as(ADMIN).body(request("nobody/such-model", "x")).when().post("/oai/v1/responses").then().statusCode(404)
                .body("error.code", equalTo("model_not_found"));
    }

    /** A stored response comes back by id with its input items, and is gone once deleted. */
    @Test
    void aStoredResponseIsRetrievedListedAndDeleted() {
        String model = chatModel("echo");
        String marker = "keep me " + run();
        List<Object> input = List.of(Map.of("role", "developer", "content", "Answer in English."),
                Map.of("role", "user", "content", List.of(Map.of("type", "input_text", "text", marker))));
        JsonNode created = JSON.valueToTree(as(ADMIN).body(request(model, input)).when().post("/oai/v1/responses").then().statusCode(200)
                .body("store", equalTo(true)).extract().jsonPath().getMap(""));
        String id = created.path("id").asText();
        JsonNode fetched = JSON.valueToTree(as(ADMIN).when().get("/oai/v1/responses/" + id).then().statusCode(200)
                .header("X-Request-Id", org.hamcrest.Matchers.notNullValue()).extract().jsonPath().getMap(""));
        assertThat(fetched).isEqualTo(created);

        JsonNode items = JSON.valueToTree(as(ADMIN).when().get("/oai/v1/responses/" + id + "/input_items?order=asc").then()
                .statusCode(200).body("object", equalTo("list")).body("has_more", equalTo(false)).extract().jsonPath().getMap(""));
        assertThat(items.path("data")).hasSize(2);
        assertThat(items.at("/data/0/id").asText()).startsWith("msg_");
        assertThat(items.at("/data/0/role").asText()).isEqualTo("developer");
        assertThat(items.at("/data/0/content/0/type").asText()).isEqualTo("input_text");
        assertThat(items.at("/data/0/content/0/text").asText()).isEqualTo("Answer in English.");
        assertThat(items.at("/data/1/content/0/text").asText()).isEqualTo(marker);
        assertThat(items.path("first_id").asText()).isEqualTo(items.at("/data/0/id").asText());
        // newest first by default; paged with limit and after
        String lastId = items.at("/data/1/id").asText();
        as(ADMIN).when().get("/oai/v1/responses/" + id + "/input_items?limit=1").then().statusCode(200)
                .body("data.size()", equalTo(1)).body("data[0].id", equalTo(lastId)).body("has_more", equalTo(true));
        as(ADMIN).when().get("/oai/v1/responses/" + id + "/input_items?limit=1&after=" + lastId).then().statusCode(200)
                .body("data[0].id", equalTo(items.at("/data/0/id").asText())).body("has_more", equalTo(false));
        as(ADMIN).when().get("/oai/v1/responses/" + id + "/input_items?limit=0").then().statusCode(400)
                .body("error.param", equalTo("limit"));
        as(ADMIN).when().get("/oai/v1/responses/" + id + "/input_items?order=up").then().statusCode(400)
                .body("error.param", equalTo("order"));
        as(ADMIN).when().get("/oai/v1/responses/" + id + "/input_items?after=msg_nope").then().statusCode(400)
                .body("error.param", equalTo("after"));
        // a response that did not run in the background cannot be cancelled
        as(ADMIN).when().post("/oai/v1/responses/" + id + "/cancel").then().statusCode(409)
                .body("error.type", equalTo("invalid_request_error"));

        as(ADMIN).when().delete("/oai/v1/responses/" + id).then().statusCode(200)
                .body("id", equalTo(id)).body("object", equalTo("response")).body("deleted", equalTo(true));
        as(ADMIN).when().get("/oai/v1/responses/" + id).then().statusCode(404).body("error.code", equalTo("not_found"));
        as(ADMIN).when().delete("/oai/v1/responses/" + id).then().statusCode(404);
        as(ADMIN).when().get("/oai/v1/responses/" + id + "/input_items").then().statusCode(404);
    }

    /** previous_response_id puts every earlier turn before the new input; an earlier turn's instructions do not carry over. */
    @Test
    void previousResponseIdContinuesTheConversation() throws Exception {
        String model = chatModel("echo");
        String first = "my name is Ada " + run();
        Map<String, Object> one = request(model, first);
        one.put("instructions", "Be brief.");
        String firstId = as(ADMIN).body(one).when().post("/oai/v1/responses").then().statusCode(200).extract().path("id");

        // the second turn streams: its answer is stored from the stream, before response.completed reaches the client
        String second = "and my surname? " + run();
        Map<String, Object> two = with(request(model, second), "previous_response_id", firstId);
        two.put("stream", true);
        List<JsonNode> events = namedEvents(as(ADMIN).body(two).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().asString());
        JsonNode completed = events.get(events.size() - 1);
        assertThat(completed.path("type").asText()).isEqualTo("response.completed");
        assertThat(completed.at("/response/previous_response_id").asText()).isEqualTo(firstId);
        assertThat(completed.at("/response/store").asBoolean()).isTrue();
        String secondId = completed.at("/response/id").asText();
        JsonNode sentTwo = sentContaining(second);
        assertThat(sentTwo.path("messages")).hasSize(3);
        assertThat(sentTwo.at("/messages/0/role").asText()).isEqualTo("user");
        assertThat(sentTwo.at("/messages/0/content").asText()).isEqualTo(first);
        assertThat(sentTwo.at("/messages/1/role").asText()).isEqualTo("assistant");
        assertThat(sentTwo.at("/messages/1/content").asText()).isEqualTo("echo: " + first);
        assertThat(sentTwo.at("/messages/2/content").asText()).isEqualTo(second);

        String third = "thanks " + run();
        Map<String, Object> three = with(request(model, third), "previous_response_id", secondId);
        three.put("instructions", "Be kind.");
        as(ADMIN).body(three).when().post("/oai/v1/responses").then().statusCode(200)
                .body("previous_response_id", equalTo(secondId)).body("output[0].content[0].text", equalTo("echo: " + third));
        JsonNode sentThree = sentContaining(third);
        List<String> seen = new ArrayList<>();
        sentThree.path("messages").forEach(m -> seen.add(m.path("role").asText() + ":" + m.path("content").asText()));
        assertThat(seen).containsExactly("system:Be kind.", "user:" + first, "assistant:echo: " + first, "user:" + second,
                "assistant:echo: " + second, "user:" + third);

        // a function call and its output survive the round trip as chat tool calls
        String toolsModel = chatModel("tools");
        Map<String, Object> ask = request(toolsModel, "weather in Oslo? " + run());
        ask.put("tools", List.of(Map.of("type", "function", "name", "get_weather", "parameters", Map.of("type", "object"))));
        String callId = as(ADMIN).body(ask).when().post("/oai/v1/responses").then().statusCode(200).extract().path("id");
        String after = "tool answered " + run();
        as(ADMIN).body(with(request(model, List.of(Map.of("type", "function_call_output", "call_id", "call_1", "output", after))),
                "previous_response_id", callId)).when().post("/oai/v1/responses").then().statusCode(200);
        JsonNode sentTool = sentContaining(after);
        assertThat(sentTool.at("/messages/1/tool_calls/0/id").asText()).isEqualTo("call_1");
        assertThat(sentTool.at("/messages/1/tool_calls/0/function/name").asText()).isEqualTo("get_weather");
        assertThat(sentTool.at("/messages/2/role").asText()).isEqualTo("tool");

        // a deleted turn leaves a hole: continuing after it is refused, not silently shortened
        as(ADMIN).when().delete("/oai/v1/responses/" + firstId).then().statusCode(200);
        as(ADMIN).body(with(request(model, "x"), "previous_response_id", secondId)).when().post("/oai/v1/responses").then()
                .statusCode(400).body("error.param", equalTo("previous_response_id"))
                .body("error.message", org.hamcrest.Matchers.containsString(firstId));
    }

    /** store: false keeps nothing; a response is its owner's alone, even within the tenant. */
    @Test
    void unstoredResponsesAreNotKeptAndStoredOnesAreTheOwners() {
        String model = chatModel("echo");
        String unstored = as(ADMIN).body(with(request(model, "forget me"), "store", false)).when().post("/oai/v1/responses").then()
                .statusCode(200).body("store", equalTo(false)).extract().path("id");
        as(ADMIN).when().get("/oai/v1/responses/" + unstored).then().statusCode(404);
        as(ADMIN).body(with(request(model, "x"), "previous_response_id", unstored)).when().post("/oai/v1/responses").then()
                .statusCode(400).body("error.param", equalTo("previous_response_id"));

        String tenantId = tenant();
        String owner = key(tenantId, "tenant_user", null);
        String neighbour = key(tenantId, "tenant_user", null);
        String stranger = key(tenant(), "tenant_admin", null);
        String id = as(owner).body(request(model, "mine " + run())).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().path("id");
        as(owner).when().get("/oai/v1/responses/" + id).then().statusCode(200);
        for (String other : List.of(neighbour, stranger, ADMIN)) {
            as(other).when().get("/oai/v1/responses/" + id).then().statusCode(404);
            as(other).when().get("/oai/v1/responses/" + id + "/input_items").then().statusCode(404);
            as(other).when().delete("/oai/v1/responses/" + id).then().statusCode(404);
            as(other).body(with(request(model, "x"), "previous_response_id", id)).when().post("/oai/v1/responses").then()
                    .statusCode(400).body("error.param", equalTo("previous_response_id"));
        }
        as(owner).when().get("/oai/v1/responses/" + id).then().statusCode(200);
    }

    /**
     * {@code POST /responses/input_tokens} estimates a turn's input, the earlier turns it continues included, without
     * calling a backend; what a response would refuse it refuses, and someone else's response is not continued.
     */
    @Test
    void inputTokensAreCountedWithTheTurnsBefore() {
        String model = chatModel("echo");
        int before = OpenAiTestUpstream.get().calls("echo");
        int alone = as(ADMIN).body(request(model, "x".repeat(400))).when().post("/oai/v1/responses/input_tokens").then().statusCode(200)
                .body("object", equalTo("response.input_tokens")).extract().path("input_tokens");
        assertThat(alone).isBetween(100, 110);
        String tenantId = tenant();
        String owner = key(tenantId, "tenant_user", null);
        String id = as(owner).body(request(model, "y".repeat(400))).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().path("id");
        int continued = as(owner).body(with(request(model, "x".repeat(400)), "previous_response_id", id))
                .when().post("/oai/v1/responses/input_tokens").then().statusCode(200).extract().path("input_tokens");
        assertThat(continued).isGreaterThan(alone + 99);
        // no model named: still counted
        Map<String, Object> unnamed = new LinkedHashMap<>(request(model, "x".repeat(400)));
        unnamed.remove("model");
        as(ADMIN).body(unnamed).when().post("/oai/v1/responses/input_tokens").then().statusCode(200).body("input_tokens", equalTo(alone));
        assertThat(OpenAiTestUpstream.get().calls("echo")).isEqualTo(before + 1);

        as(key(tenantId, "tenant_user", null)).body(with(request(model, "x"), "previous_response_id", id))
                .when().post("/oai/v1/responses/input_tokens").then().statusCode(400).body("error.param", equalTo("previous_response_id"));
        as(ADMIN).body(request("nobody/none", "x")).when().post("/oai/v1/responses/input_tokens").then().statusCode(404)
                .body("error.code", equalTo("model_not_found"));
        as(ADMIN).body(with(request(model, "x"), "tools", List.of(Map.of("type", "web_search")))).when()
                .post("/oai/v1/responses/input_tokens").then().statusCode(400).body("error.param", startsWith("tools"));
        as(ADMIN).body("{").when().post("/oai/v1/responses/input_tokens").then().statusCode(400).body("error.param", equalTo("body"));
    }

    /** A reply cut by max_output_tokens: the response and its message are both incomplete. */
    @Test
    void aCutReplyIsIncompleteThroughout() throws Exception {
        String model = chatModel("cut");
        as(ADMIN).body(with(request(model, "cut me short please"), "max_output_tokens", 1)).when().post("/oai/v1/responses").then()
                .statusCode(200).body("status", equalTo("incomplete")).body("incomplete_details.reason", equalTo("max_output_tokens"))
                .body("output[0].status", equalTo("incomplete"));
        Map<String, Object> streamed = with(request(model, "cut me short please"), "max_output_tokens", 1);
        streamed.put("stream", true);
        List<JsonNode> events = namedEvents(as(ADMIN).body(streamed).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().asString());
        JsonNode itemDone = events.stream().filter(e -> e.path("type").asText().equals("response.output_item.done"))
                .findFirst().orElseThrow();
        assertThat(itemDone.at("/item/status").asText()).isEqualTo("incomplete");
        assertThat(events.get(events.size() - 1).at("/response/status").asText()).isEqualTo("incomplete");
    }

    /** An expired response is gone for GET and for continuing at once, and the purge removes its row. */
    @Test
    void expiredResponsesAreGoneAndPurged() {
        String model = chatModel("echo");
        String id = as(ADMIN).body(request(model, "short-lived " + run())).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().path("id");
        String kept = as(ADMIN).body(request(model, "long-lived " + run())).when().post("/oai/v1/responses").then().statusCode(200)
                .extract().path("id");
        pool.preparedQuery("UPDATE oai_responses SET expires_at = now() - interval '1 second' WHERE id = $1").execute(Tuple.of(id))
                .await().atMost(Duration.ofSeconds(5));
        as(ADMIN).when().get("/oai/v1/responses/" + id).then().statusCode(404);
        as(ADMIN).body(with(request(model, "x"), "previous_response_id", id)).when().post("/oai/v1/responses").then().statusCode(400)
                .body("error.param", equalTo("previous_response_id"));
        stored.purge().await().atMost(Duration.ofSeconds(10));
        assertThat(pool.preparedQuery("SELECT count(*) AS n FROM oai_responses WHERE id = ANY($1)")
                .execute(Tuple.of(new String[]{id, kept})).await().atMost(Duration.ofSeconds(5)).iterator().next().getLong("n"))
                .as("the expired row is deleted, the live one stays").isEqualTo(1L);
        as(ADMIN).when().get("/oai/v1/responses/" + kept).then().statusCode(200);
    }
}
