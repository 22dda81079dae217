package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.testing.NodeScripts;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import org.junit.jupiter.api.BeforeAll;
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
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Remote MCP servers as tools of Responses requests ({@link HostedMcp}), against the MCP project's own test server
 * ({@link McpTestServer}) and a model that calls the tools it is offered ({@code agent} of the OpenAI-style test
 * upstream): listing, calls and their results, approvals, the event stream, failures and refusals.
 */
@QuarkusTest
class HostedMcpTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @BeforeAll
    static void node() {
        assumeTrue(NodeScripts.nodeAvailable(), "node is not installed here");
    }

    private static Map<String, Object> mcp(String url, Object approval, Object... more) {
        Map<String, Object> tool = new LinkedHashMap<>();
        tool.put("type", "mcp");
        tool.put("server_label", "everything");
        tool.put("server_url", url);
        if (approval != null) {
            tool.put("require_approval", approval);
        }
        for (int i = 0; i < more.length; i += 2) {
            tool.put((String) more[i], more[i + 1]);
        }
        return tool;
    }

    private static Map<String, Object> request(String model, Object input, Object... tools) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("input", input);
        body.put("tools", List.of(tools));
        return body;
    }

    private static JsonNode post(Map<String, Object> body, int status) throws Exception {
        String answer = as(ADMIN).body(body).when().post("/oai/v1/responses").then().statusCode(status).extract().asString();
        return JSON.readTree(answer);
    }

    private static List<String> types(JsonNode response) {
        List<String> out = new ArrayList<>();
        response.path("output").forEach(item -> out.add(item.path("type").asText()));
        return out;
    }

    @Test
    void theGatewayListsTheToolsCallsOneAndAsksTheModelAgainWithItsResult() throws Exception {
        String url = McpTestServer.streamable().url;
        String model = chatModel("agent");
        JsonNode response = post(request(model, "call echo {\"message\":\"hello mcp\"}", mcp(url, "never",
                "authorization", "secret-token-1", "headers", Map.of("X-Api-Key", "secret-key-2"))), 200);
        assertThat(response.path("status").asText()).isEqualTo("completed");
        // the server's credentials are neither echoed nor stored
        String fetched = as(ADMIN).when().get("/oai/v1/responses/" + response.path("id").asText()).then().statusCode(200)
                .extract().asString();
        for (String answer : List.of(response.toString(), fetched)) {
            assertThat(answer).doesNotContain("secret-token-1").doesNotContain("secret-key-2").contains("\"X-Api-Key\":\"[redacted]\"");
        }
        assertThat(types(response)).containsExactly("mcp_list_tools", "mcp_call", "message");

        JsonNode listed = response.at("/output/0");
        assertThat(listed.path("id").asText()).startsWith("mcpl_");
        assertThat(listed.path("server_label").asText()).isEqualTo("everything");
        List<String> names = new ArrayList<>();
        listed.path("tools").forEach(t -> names.add(t.path("name").asText()));
        assertThat(names).contains("echo", "get-sum");
        JsonNode echo = null;
        for (JsonNode t : listed.path("tools")) {
            echo = "echo".equals(t.path("name").asText()) ? t : echo;
        }
        assertThat(echo.at("/input_schema/properties/message/type").asText()).isEqualTo("string");
        assertThat(echo.at("/annotations/readOnlyHint").asBoolean()).isTrue();

        JsonNode call = response.at("/output/1");
        assertThat(call.path("id").asText()).startsWith("mcp_");
        assertThat(call.path("server_label").asText()).isEqualTo("everything");
        assertThat(call.path("name").asText()).isEqualTo("echo");
        assertThat(JSON.readTree(call.path("arguments").asText()).path("message").asText()).isEqualTo("hello mcp");
        assertThat(call.path("output").asText()).isEqualTo("Echo: hello mcp");
        assertThat(call.path("error").isNull()).isTrue();
        assertThat(call.path("status").asText()).isEqualTo("completed");
        assertThat(response.at("/output/2/content/0/text").asText()).isEqualTo("tool said: Echo: hello mcp");
        // two model calls: their usage added up
        assertThat(response.at("/usage/input_tokens").asInt()).isEqualTo(14);
        assertThat(response.at("/usage/output_tokens").asInt()).isEqualTo(6);

        // the model was offered the server's tools as functions, and was given the result as a tool message
        JsonNode first = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("hello mcp").getMap());
        List<String> offered = new ArrayList<>();
        first.path("tools").forEach(t -> offered.add(t.at("/function/name").asText()));
        assertThat(offered).contains("echo", "get-sum");
        JsonNode second = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("Echo: hello mcp").getMap());
        JsonNode messages = second.path("messages");
        assertThat(messages.get(messages.size() - 2).at("/tool_calls/0/function/name").asText()).isEqualTo("echo");
        assertThat(messages.get(messages.size() - 1).path("role").asText()).isEqualTo("tool");
        assertThat(messages.get(messages.size() - 1).path("content").asText()).isEqualTo("Echo: hello mcp");

        // a later turn replays the calls and their results before its own input
        String followUp = "and now? (after the mcp call)";
        JsonNode next = post(Map.of("model", model, "input", followUp, "previous_response_id", response.path("id").asText()), 200);
        assertThat(next.at("/output/0/content/0/text").asText()).isEqualTo("echo: " + followUp);
        JsonNode replayed = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining(followUp).getMap()).path("messages");
        assertThat(replayed.get(0).path("content").asText()).contains("hello mcp");
        assertThat(replayed.get(1).at("/tool_calls/0/function/name").asText()).isEqualTo("echo");
        assertThat(replayed.get(2).path("content").asText()).isEqualTo("Echo: hello mcp");
        assertThat(replayed.get(3).path("content").asText()).isEqualTo("tool said: Echo: hello mcp");
        assertThat(replayed.get(4).path("content").asText()).isEqualTo(followUp);
    }

    @Test
    void aLaterTurnUsesTheToolListInItsContextInsteadOfListingAgain() throws Exception {
        String url = McpTestServer.streamable().url;
        String model = chatModel("agent");
        JsonNode first = post(request(model, "call echo {\"message\":\"turn one\"}", mcp(url, "never")), 200);
        assertThat(types(first)).containsExactly("mcp_list_tools", "mcp_call", "message");

        // the same server in the next turn: its tools come from the first turn's list, and its tools still work
        Map<String, Object> again = request(model, "call echo {\"message\":\"turn two\"}", mcp(url, "never"));
        again.put("previous_response_id", first.path("id").asText());
        JsonNode second = post(again, 200);
        assertThat(types(second)).containsExactly("mcp_call", "message");
        assertThat(second.at("/output/0/output").asText()).isEqualTo("Echo: turn two");
        JsonNode offered = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("turn two").getMap()).path("tools");
        List<String> names = new ArrayList<>();
        offered.forEach(t -> names.add(t.at("/function/name").asText()));
        assertThat(names).contains("echo", "get-sum");
        JsonNode echoSchema = null;
        for (JsonNode t : offered) {
            echoSchema = "echo".equals(t.at("/function/name").asText()) ? t.at("/function/parameters") : echoSchema;
        }
        assertThat(echoSchema.at("/properties/message/type").asText()).isEqualTo("string");

        // this turn's allowed_tools still narrow the list taken from the context
        Map<String, Object> narrowed = request(model, "call get-sum {\"a\": 17, \"b\": 25}",
                mcp(url, "never", "allowed_tools", List.of("get-sum")));
        narrowed.put("previous_response_id", second.path("id").asText());
        JsonNode third = post(narrowed, 200);
        assertThat(types(third)).containsExactly("mcp_call", "message");
        List<String> offeredNow = new ArrayList<>();
        JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("The sum of 17 and 25 is 42.").getMap()).path("tools")
                .forEach(t -> offeredNow.add(t.at("/function/name").asText()));
        assertThat(offeredNow).containsExactly("get-sum");

        // a tool list given in the input counts too; one that failed (its error set) does not
        Map<String, Object> given = request(model, List.of(
                Map.of("type", "mcp_list_tools", "server_label", "everything", "tools", List.of(Map.of("name", "echo",
                        "input_schema", Map.of("type", "object", "properties", Map.of("message", Map.of("type", "string")))))),
                Map.of("role", "user", "content", "call echo {\"message\":\"from the input\"}")), mcp(url, "never"));
        JsonNode fourth = post(given, 200);
        assertThat(types(fourth)).containsExactly("mcp_call", "message");
        assertThat(fourth.at("/output/0/output").asText()).isEqualTo("Echo: from the input");
        Map<String, Object> failedList = request(model, List.of(
                Map.of("type", "mcp_list_tools", "server_label", "everything", "tools", List.of(), "error", "it broke"),
                Map.of("role", "user", "content", "call echo {\"message\":\"listed afresh\"}")), mcp(url, "never"));
        assertThat(types(post(failedList, 200))).containsExactly("mcp_list_tools", "mcp_call", "message");
    }

    @Test
    void eachModelCallIsOneUsageRecordOfTheRequest() throws Exception {
        String url = McpTestServer.streamable().url;
        as(ADMIN).header("X-Request-Id", "req_mcp_usage")
                .body(request(chatModel("agent"), "call get-sum {\"a\": 2, \"b\": 3}", mcp(url, "never")))
                .when().post("/oai/v1/responses").then().statusCode(200);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            var rows = pool.preparedQuery("SELECT status, prompt_tokens, completion_tokens FROM usage_records "
                    + "WHERE request_id = 'req_mcp_usage'").execute().await().atMost(Duration.ofSeconds(5));
            assertThat(rows.size()).isEqualTo(2);
            rows.forEach(r -> {
                assertThat(r.getString("status")).isEqualTo("ok");
                assertThat(r.getInteger("prompt_tokens")).isEqualTo(7);
            });
        });
    }

    @Test
    void aCallNeedingApprovalEndsTheResponseAndAnApprovalRunsIt() throws Exception {
        String url = McpTestServer.streamable().url;
        String model = chatModel("agent");
        // require_approval is "always" unless said otherwise, as at OpenAI
        JsonNode asked = post(request(model, "call get-sum {\"a\": 2, \"b\": 40}", mcp(url, null)), 200);
        assertThat(types(asked)).containsExactly("mcp_list_tools", "mcp_approval_request");
        JsonNode request = asked.at("/output/1");
        assertThat(request.path("id").asText()).startsWith("mcpr_");
        assertThat(request.path("name").asText()).isEqualTo("get-sum");
        assertThat(JSON.readTree(request.path("arguments").asText()).path("b").asInt()).isEqualTo(40);

        Map<String, Object> approve = request(model, List.of(Map.of("type", "mcp_approval_response", "approve", true,
                "approval_request_id", request.path("id").asText())), mcp(url, null));
        approve.put("previous_response_id", asked.path("id").asText());
        JsonNode approved = post(approve, 200);
        // the server's tools are in the conversation already: not listed again (as at OpenAI)
        assertThat(types(approved)).containsExactly("mcp_call", "message");
        assertThat(approved.at("/output/0/approval_request_id").asText()).isEqualTo(request.path("id").asText());
        assertThat(approved.at("/output/0/output").asText()).isEqualTo("The sum of 2 and 40 is 42.");
        assertThat(approved.at("/output/1/content/0/text").asText()).isEqualTo("tool said: The sum of 2 and 40 is 42.");

        // declined: the model is told so, and nothing is called
        JsonNode again = post(request(model, "call get-sum {\"a\": 1, \"b\": 1}", mcp(url, Map.of("always",
                Map.of("tool_names", List.of("get-sum"))))), 200);
        String requestId = again.at("/output/1/id").asText();
        Map<String, Object> decline = request(model, List.of(Map.of("type", "mcp_approval_response", "approve", false,
                "approval_request_id", requestId, "reason", "not now")), mcp(url, null));
        decline.put("previous_response_id", again.path("id").asText());
        JsonNode declined = post(decline, 200);
        assertThat(types(declined)).containsExactly("message");
        assertThat(declined.at("/output/0/content/0/text").asText())
                .isEqualTo("tool said: The user declined this call of get-sum: not now");

        // an approval of a request this conversation does not have
        Map<String, Object> unknown = request(model, List.of(Map.of("type", "mcp_approval_response", "approve", true,
                "approval_request_id", "mcpr_nosuch")), mcp(url, null));
        JsonNode refused = post(unknown, 400);
        assertThat(refused.at("/error/param").asText()).isEqualTo("input[0].approval_request_id");
    }

    @Test
    void anApprovalInAConversationFindsItsRequestThere() throws Exception {
        String url = McpTestServer.streamable().url;
        String model = chatModel("agent");
        String conversation = JSON.readTree(as(ADMIN).body(Map.of()).when().post("/oai/v1/conversations").then().statusCode(200)
                .extract().asString()).path("id").asText();
        Map<String, Object> ask = request(model, "call echo {\"message\":\"in a conversation\"}", mcp(url, "always"));
        ask.put("conversation", conversation);
        JsonNode asked = post(ask, 200);
        String requestId = asked.at("/output/1/id").asText();
        assertThat(asked.at("/output/1/type").asText()).isEqualTo("mcp_approval_request");

        Map<String, Object> approve = request(model, List.of(Map.of("type", "mcp_approval_response", "approve", true,
                "approval_request_id", requestId)), mcp(url, "always"));
        approve.put("conversation", conversation);
        JsonNode approved = post(approve, 200);
        assertThat(types(approved)).containsExactly("mcp_call", "message");
        assertThat(approved.at("/output/0/output").asText()).isEqualTo("Echo: in a conversation");
        assertThat(approved.at("/output/1/content/0/text").asText()).isEqualTo("tool said: Echo: in a conversation");

        // the conversation's items replay the call for the next turn
        Map<String, Object> next = request(model, "what happened in the conversation?");
        next.remove("tools");
        next.put("conversation", conversation);
        post(next, 200);
        JsonNode replayed = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("what happened in the conversation?").getMap())
                .path("messages");
        List<String> roles = new ArrayList<>();
        replayed.forEach(m -> roles.add(m.path("role").asText()));
        assertThat(roles).containsExactly("user", "assistant", "tool", "assistant", "user");
        assertThat(replayed.get(2).path("content").asText()).isEqualTo("Echo: in a conversation");
    }

    @Test
    void aToolsErrorGoesToTheModelAndTheItemSaysFailed() throws Exception {
        String url = McpTestServer.streamable().url;
        JsonNode response = post(request(chatModel("agent"), "call echo {\"wrong\": 1}", mcp(url, "never")), 200);
        JsonNode call = response.at("/output/1");
        assertThat(call.path("type").asText()).isEqualTo("mcp_call");
        assertThat(call.path("status").asText()).isEqualTo("failed");
        assertThat(call.path("output").isNull()).isTrue();
        assertThat(call.path("error").asText()).isNotBlank();
        assertThat(response.at("/output/2/content/0/text").asText()).startsWith("tool said: Error: ");

        JsonNode notJson = post(request(chatModel("agent"), "call echo not-json", mcp(url, "never")), 200);
        assertThat(notJson.at("/output/1/error").asText()).isEqualTo("the arguments are not valid JSON");
    }

    @Test
    void allowedToolsLimitWhatTheModelIsOfferedAndOtherCallsGoToTheClient() throws Exception {
        String url = McpTestServer.streamable().url;
        Map<String, Object> function = Map.of("type", "function", "name", "lookup", "parameters", Map.of("type", "object"));
        JsonNode response = post(request(chatModel("agent"), "call get-sum {\"a\": 1, \"b\": 2}; call lookup {}",
                mcp(url, "never", "allowed_tools", List.of("get-sum")), function), 200);
        JsonNode listed = response.at("/output/0/tools");
        assertThat(listed.size()).isEqualTo(1);
        assertThat(listed.at("/0/name").asText()).isEqualTo("get-sum");
        // the MCP call is made; the function call is the client's, so the response ends there for it to answer
        assertThat(types(response)).containsExactly("mcp_list_tools", "mcp_call", "function_call");
        assertThat(response.at("/output/1/output").asText()).isEqualTo("The sum of 1 and 2 is 3.");
        assertThat(response.at("/output/2/name").asText()).isEqualTo("lookup");
    }

    @Test
    void theStreamCarriesTheMcpEventsInOrder() throws Exception {
        String url = McpTestServer.streamable().url;
        Map<String, Object> body = request(chatModel("agent"), "call echo {\"message\":\"streamed mcp\"}", mcp(url, "never"));
        body.put("stream", true);
        String sse = as(ADMIN).body(body).when().post("/oai/v1/responses").then().statusCode(200).extract().asString();
        List<JsonNode> events = namedEvents(sse);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < events.size(); i++) {
            names.add(events.get(i).path("type").asText());
            assertThat(events.get(i).path("sequence_number").asInt()).isEqualTo(i);
        }
        assertThat(names.subList(0, 6)).containsExactly("response.created", "response.in_progress", "response.output_item.added",
                "response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed", "response.output_item.done");
        int added = names.indexOf("response.mcp_call_arguments.delta") - 1;
        assertThat(names.get(added)).isEqualTo("response.output_item.added");
        assertThat(events.get(added).at("/item/type").asText()).isEqualTo("mcp_call");
        assertThat(names.subList(added + 1, added + 7)).containsExactly("response.mcp_call_arguments.delta",
                "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done", "response.mcp_call.in_progress",
                "response.mcp_call.completed", "response.output_item.done");
        assertThat(events.get(added + 6).at("/item/output").asText()).isEqualTo("Echo: streamed mcp");
        assertThat(names).contains("response.output_text.delta");
        assertThat(names.get(names.size() - 1)).isEqualTo("response.completed");
        JsonNode done = events.get(events.size() - 1).path("response");
        assertThat(types(done)).containsExactly("mcp_list_tools", "mcp_call", "message");
        assertThat(done.at("/output/2/content/0/text").asText()).isEqualTo("tool said: Echo: streamed mcp");
        assertThat(done.at("/output/2/id").asText()).isNotEqualTo(done.at("/output/1/id").asText());
        assertThat(done.at("/usage/input_tokens").asInt()).isEqualTo(14);

        // stored as streamed
        JsonNode fetched = JSON.readTree(as(ADMIN).when().get("/oai/v1/responses/" + done.path("id").asText()).then()
                .statusCode(200).extract().asString());
        assertThat(types(fetched)).containsExactly("mcp_list_tools", "mcp_call", "message");
    }

    @Test
    void anMcpToolChoiceForcesTheFirstCallOnly() throws Exception {
        String url = McpTestServer.streamable().url;
        Map<String, Object> body = request(chatModel("agent"), "call echo {\"message\":\"forced\"}", mcp(url, "never"));
        body.put("tool_choice", Map.of("type", "mcp", "server_label", "everything", "name", "echo"));
        JsonNode response = post(body, 200);
        assertThat(response.at("/output/2/content/0/text").asText()).isEqualTo("tool said: Echo: forced");
        List<io.vertx.core.json.JsonObject> sent = OpenAiTestUpstream.get().allSentContaining("message\\\":\\\"forced");
        assertThat(sent).hasSize(2);
        JsonNode first = JSON.valueToTree(sent.get(0).getMap());
        assertThat(first.at("/tool_choice/function/name").asText()).isEqualTo("echo");
        JsonNode second = JSON.valueToTree(sent.get(1).getMap());
        assertThat(second.path("tool_choice").asText()).isEqualTo("auto");

        body.put("tool_choice", Map.of("type", "mcp", "server_label", "nobody"));
        assertThat(post(body, 400).at("/error/param").asText()).isEqualTo("tool_choice.server_label");
        body.put("tool_choice", Map.of("type", "mcp", "server_label", "everything", "name", "no-such-tool"));
        assertThat(post(body, 400).at("/error/param").asText()).isEqualTo("tool_choice.name");
    }

    @Test
    void aClientThatLeavesDuringACallEndsTheRunAndItsSessions() throws Exception {
        McpTestServer server = McpTestServer.streamable();
        Map<String, Object> body = request(chatModel("agent"), "call trigger-long-running-operation {\"duration\": 20, \"steps\": 4}",
                mcp(server.url, "never"));
        body.put("stream", true);
        byte[] json = JSON.writeValueAsBytes(body);
        String session;
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", io.restassured.RestAssured.port)) {
            // the call's "in progress" comes as it starts, not when the 20 s operation is over
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(("POST /oai/v1/responses HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ADMIN
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + json.length + "\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            socket.getOutputStream().write(json);
            socket.getOutputStream().flush();
            java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
                    java.nio.charset.StandardCharsets.UTF_8));
            for (String line = in.readLine(); line != null && !line.contains("response.mcp_call.in_progress"); line = in.readLine()) {
                // read until the gateway is making the call
            }
            session = server.lastSession(); // this request's: the tests run one at a time
        } // the client leaves while the 20 s operation runs
        // the run stops: its MCP session is ended at once (the server is told), long before the operation would end and
        // the run would end it itself
        String ended = "Received session termination request for session " + session;
        await().atMost(Duration.ofSeconds(5)).until(() -> server.said(ended) == 1);
    }

    @Test
    void theOlderSseTransportWorksToo() throws Exception {
        String url = McpTestServer.sse().url;
        JsonNode response = post(request(chatModel("agent"), "call echo {\"message\":\"over sse\"}", mcp(url, "never")), 200);
        assertThat(response.at("/output/1/output").asText()).isEqualTo("Echo: over sse");
    }

    @Test
    void maxToolCallsMakesTheModelAnswerOnceSpent() throws Exception {
        String url = McpTestServer.streamable().url;
        Map<String, Object> body = request(chatModel("agent"), "call echo {\"message\":\"one\"}; call echo {\"message\":\"two\"}",
                mcp(url, "never"));
        body.put("max_tool_calls", 1);
        JsonNode response = post(body, 200);
        // the model asked for two calls at once; both are made, then it must answer (tool_choice none)
        assertThat(types(response)).containsExactly("mcp_list_tools", "mcp_call", "mcp_call", "message");
        assertThat(response.at("/output/3/content/0/text").asText()).isEqualTo("tool said: Echo: one | Echo: two");
        JsonNode last = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("Echo: two").getMap());
        assertThat(last.path("tool_choice").asText()).isEqualTo("none");
    }

    @Test
    void aServerThatCannotBeUsedIsA424AndBadToolsAre400s() throws Exception {
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        JsonNode unreachable = post(request(chatModel("agent"), "x", mcp("http://127.0.0.1:" + closed + "/mcp", "never")), 424);
        assertThat(unreachable.at("/error/code").asText()).isEqualTo("mcp_server_error");
        assertThat(unreachable.at("/error/param").asText()).isEqualTo("tools[0].server_url");
        assertThat(unreachable.at("/error/message").asText())
                .isEqualTo("Error retrieving tool list from MCP server 'everything': it could not be reached");

        // one server of two cannot be used: the other's session, opened meanwhile, is ended too
        McpTestServer good = McpTestServer.streamable();
        Map<String, Object> working = mcp(good.url, "never");
        working.put("server_label", "working");
        post(request(chatModel("agent"), "x", working, mcp("http://127.0.0.1:" + closed + "/mcp", "never")), 424);
        String opened = good.lastSession();
        await().atMost(Duration.ofSeconds(5)).until(() -> good.said("Received session termination request for session " + opened) == 1);

        // a server that refuses the credentials: what it said, in the error
        com.sun.net.httpserver.HttpServer locked =
                com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        java.util.Set<String> presented = java.util.concurrent.ConcurrentHashMap.newKeySet();
        locked.createContext("/mcp", exchange -> {
            presented.add(exchange.getRequestHeaders().getFirst("Authorization") + " " + exchange.getRequestHeaders().getFirst("X-Tenant"));
            byte[] refusal = "{\"error\":\"invalid_token\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(401, refusal.length);
            exchange.getResponseBody().write(refusal);
            exchange.close();
        });
        locked.start();
        try {
            JsonNode refused = post(request(chatModel("agent"), "x", mcp("http://127.0.0.1:" + locked.getAddress().getPort() + "/mcp",
                    "never", "authorization", "wrong-token", "headers", Map.of("X-Tenant", "t1"))), 424);
            assertThat(presented).containsExactly("Bearer wrong-token t1"); // what the request gave for the server
            assertThat(refused.at("/error/message").asText()).startsWith("Error retrieving tool list from MCP server 'everything': ")
                    .contains("Authorization error");
        } finally {
            locked.stop(0);
        }

        Map<String, Object> noLabel = mcp(McpTestServer.streamable().url, "never");
        noLabel.remove("server_label");
        assertThat(post(request(chatModel("agent"), "x", noLabel), 400).at("/error/param").asText()).isEqualTo("tools[0].server_label");
        assertThat(post(request(chatModel("agent"), "x", mcp("ftp://example.com/mcp", "never")), 400).at("/error/param").asText())
                .isEqualTo("tools[0].server_url");
        assertThat(post(request(chatModel("agent"), "x", mcp("https://example.com/mcp", "sometimes")), 400).at("/error/param")
                .asText()).isEqualTo("tools[0].require_approval");
        assertThat(post(request(chatModel("agent"), "x", mcp("https://example.com/mcp", "never"), mcp("https://example.org/mcp",
                "never")), 400).at("/error/param").asText()).isEqualTo("tools[1].server_label");
        Map<String, Object> background = request(chatModel("agent"), "x", mcp("https://example.com/mcp", "never"));
        background.put("background", true);
        assertThat(post(background, 400).at("/error/param").asText()).isEqualTo("background");
        List<Object> eleven = new ArrayList<>();
        for (int i = 0; i < 11; i++) {
            Map<String, Object> server = mcp("https://example.com/mcp" + i, "never");
            server.put("server_label", "s" + i);
            eleven.add(server);
        }
        assertThat(post(request(chatModel("agent"), "x", eleven.toArray()), 400).at("/error/param").asText()).isEqualTo("tools[10]");
        Map<String, Object> connector = mcp("https://example.com/mcp", "never", "connector_id", "connector_gmail");
        assertThat(post(request(chatModel("agent"), "x", connector), 400).at("/error/param").asText()).isEqualTo("tools[0].connector_id");
    }

    private static io.restassured.specification.RequestSpecification anthropic() {
        return io.restassured.RestAssured.given().header("x-api-key", ADMIN).header("anthropic-version", "2023-06-01")
                .header("anthropic-beta", "mcp-client-2025-04-04").contentType("application/json");
    }

    private static Map<String, Object> message(String text, Object servers, Object... tools) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", chatModel("agent"));
        body.put("max_tokens", 256);
        body.put("messages", List.of(Map.of("role", "user", "content", text)));
        body.put("mcp_servers", servers);
        if (tools.length > 0) {
            body.put("tools", List.of(tools));
        }
        return body;
    }

    private static Map<String, Object> anthropicServer(String url, Object... more) {
        Map<String, Object> server = new LinkedHashMap<>();
        server.put("type", "url");
        server.put("url", url);
        server.put("name", "everything");
        for (int i = 0; i < more.length; i += 2) {
            server.put((String) more[i], more[i + 1]);
        }
        return server;
    }

    private static List<String> blockTypes(JsonNode message) {
        List<String> out = new ArrayList<>();
        message.path("content").forEach(b -> out.add(b.path("type").asText()));
        return out;
    }

    @Test
    void anthropicsMcpConnectorRunsTheCallsAndShowsThemAsBlocks() throws Exception {
        String url = McpTestServer.streamable().url;
        JsonNode message = JSON.readTree(anthropic().body(message("call get-sum {\"a\": 20, \"b\": 22}", List.of(anthropicServer(url))))
                .when().post("/anthropic/v1/messages").then().statusCode(200).extract().asString());
        assertThat(blockTypes(message)).containsExactly("mcp_tool_use", "mcp_tool_result", "text");
        JsonNode use = message.at("/content/0");
        assertThat(use.path("name").asText()).isEqualTo("get-sum");
        assertThat(use.path("server_name").asText()).isEqualTo("everything");
        assertThat(use.at("/input/a").asInt()).isEqualTo(20);
        JsonNode result = message.at("/content/1");
        assertThat(result.path("tool_use_id").asText()).isEqualTo(use.path("id").asText());
        assertThat(result.path("is_error").asBoolean()).isFalse();
        assertThat(result.at("/content/0/text").asText()).isEqualTo("The sum of 20 and 22 is 42.");
        assertThat(message.at("/content/2/text").asText()).isEqualTo("tool said: The sum of 20 and 22 is 42.");
        assertThat(message.path("stop_reason").asText()).isEqualTo("end_turn");
        assertThat(message.at("/usage/input_tokens").asInt()).isEqualTo(14);
        assertThat(message.at("/usage/output_tokens").asInt()).isEqualTo(6);

        // streamed: the same blocks, one after the other
        Map<String, Object> body = message("call echo {\"message\":\"anthropic stream\"}", List.of(anthropicServer(url)));
        body.put("stream", true);
        List<JsonNode> events = namedEvents(anthropic().body(body).when().post("/anthropic/v1/messages").then().statusCode(200)
                .extract().asString());
        MessagesApi.Accumulator accumulated = new MessagesApi.Accumulator();
        List<String> starts = new ArrayList<>();
        for (JsonNode e : events) {
            accumulated.accept(e.path("type").asText(), (com.fasterxml.jackson.databind.node.ObjectNode) e);
            if ("content_block_start".equals(e.path("type").asText())) {
                starts.add(e.at("/content_block/type").asText());
            }
        }
        assertThat(starts).containsExactly("mcp_tool_use", "mcp_tool_result", "text");
        assertThat(events.get(events.size() - 1).path("type").asText()).isEqualTo("message_stop");
        JsonNode streamed = accumulated.message();
        assertThat(streamed.at("/content/0/input/message").asText()).isEqualTo("anthropic stream");
        assertThat(streamed.at("/content/1/content/0/text").asText()).isEqualTo("Echo: anthropic stream");
        assertThat(streamed.at("/content/2/text").asText()).isEqualTo("tool said: Echo: anthropic stream");
        assertThat(streamed.path("stop_reason").asText()).isEqualTo("end_turn");

        // the turn sent back: the blocks become the call, its result and the answer, in order
        String followUp = "and then? (anthropic mcp)";
        Map<String, Object> next = new LinkedHashMap<>();
        next.put("model", chatModel("agent"));
        next.put("max_tokens", 64);
        // (a newer beta's mcp_tool_listing block, sent back as it came, is taken and not shown to the model)
        com.fasterxml.jackson.databind.node.ArrayNode sentBack = ((com.fasterxml.jackson.databind.node.ArrayNode) message.path("content"))
                .deepCopy();
        sentBack.insertObject(0).put("type", "mcp_tool_listing").put("mcp_server_name", "everything").putArray("tools");
        next.put("messages", List.of(Map.of("role", "user", "content", "call get-sum {\"a\": 20, \"b\": 22}"),
                Map.of("role", "assistant", "content", sentBack), Map.of("role", "user", "content", followUp)));
        anthropic().body(JSON.writeValueAsString(next)).when().post("/anthropic/v1/messages").then().statusCode(200);
        JsonNode replayed = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining(followUp).getMap()).path("messages");
        List<String> roles = new ArrayList<>();
        replayed.forEach(m -> roles.add(m.path("role").asText()));
        assertThat(roles).containsExactly("user", "assistant", "tool", "assistant", "user");
        assertThat(replayed.get(1).at("/tool_calls/0/function/name").asText()).isEqualTo("get-sum");
        assertThat(replayed.get(2).path("content").asText()).isEqualTo("The sum of 20 and 22 is 42.");
    }

    @Test
    void anthropicsToolConfigurationAndToolsetsNarrowTheToolsAndClientToolsStillEndTheTurn() throws Exception {
        String url = McpTestServer.streamable().url;
        Map<String, Object> custom = Map.of("name", "lookup", "input_schema", Map.of("type", "object"));
        JsonNode message = JSON.readTree(anthropic().body(message("call echo {\"message\":\"x\"}; call lookup {}",
                        List.of(anthropicServer(url, "tool_configuration", Map.of("allowed_tools", List.of("echo")))), custom))
                .when().post("/anthropic/v1/messages").then().statusCode(200).extract().asString());
        assertThat(blockTypes(message)).containsExactly("mcp_tool_use", "tool_use", "mcp_tool_result");
        assertThat(message.path("stop_reason").asText()).isEqualTo("tool_use");
        JsonNode offered = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("call lookup").getMap()).path("tools");
        List<String> names = new ArrayList<>();
        offered.forEach(t -> names.add(t.at("/function/name").asText()));
        assertThat(names).containsExactlyInAnyOrder("lookup", "echo");

        // the newer beta's mcp_toolset: every tool off but the one enabled
        Map<String, Object> toolset = Map.of("type", "mcp_toolset", "mcp_server_name", "everything",
                "default_config", Map.of("enabled", false), "configs", Map.of("get-sum", Map.of("enabled", true)));
        anthropic().body(message("list the tools (toolset)", List.of(anthropicServer(url)), toolset))
                .when().post("/anthropic/v1/messages").then().statusCode(200);
        JsonNode narrowed = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("list the tools (toolset)").getMap()).path("tools");
        assertThat(narrowed.size()).isEqualTo(1);
        assertThat(narrowed.at("/0/function/name").asText()).isEqualTo("get-sum");

        // refusals name the field
        assertThat(JSON.readTree(anthropic().body(message("x", List.of(anthropicServer("ftp://x/mcp")))).when()
                .post("/anthropic/v1/messages").then().statusCode(400).extract().asString()).at("/error/message").asText())
                .contains("mcp_servers[0].url");
        Map<String, Object> orphan = Map.of("type", "mcp_toolset", "mcp_server_name", "nobody");
        assertThat(JSON.readTree(anthropic().body(message("x", List.of(anthropicServer(url)), orphan)).when()
                .post("/anthropic/v1/messages").then().statusCode(400).extract().asString()).at("/error/message").asText())
                .contains("nobody");
    }

    @Test
    void privateAddressesAreRefusedUnlessAllowed() {
        for (String url : List.of("http://127.0.0.1:3001/mcp", "http://10.1.2.3/mcp", "http://192.168.0.1/mcp",
                "http://169.254.169.254/mcp", "http://[::1]/mcp", "http://100.64.0.1/mcp", "http://0.0.0.0/mcp")) {
            HostedMcp.Server server = HostedMcp.server(JSON.valueToTree(mcp(url, "never")), "tools[0]");
            assertThatThrownBy(() -> HostedMcp.checkAddress(server, false)).as(url).isInstanceOf(ApiException.class)
                    .hasMessageContaining("private network");
            HostedMcp.checkAddress(server, true); // allowed: no refusal
        }
        HostedMcp.checkAddress(HostedMcp.server(JSON.valueToTree(mcp("http://8.8.8.8/mcp", "never")), "tools[0]"), false);
    }
}
