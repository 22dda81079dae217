package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.run;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;
import static org.hamcrest.Matchers.startsWith;

/** OpenAI's Conversations API: the objects, their items, and Responses made in a conversation. */
@QuarkusTest
class ConversationsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Map<String, Object> userMessage(String text) {
        return Map.of("type", "message", "role", "user", "content", text);
    }

    /** The ids of a conversation's items, in the order asked. */
    private static List<String> itemIds(String key, String conversation, String query) {
        return as(key).when().get("/oai/v1/conversations/" + conversation + "/items" + query).then().statusCode(200)
                .extract().jsonPath().getList("data.id");
    }

    private static JsonNode sentContaining(String text) {
        return JSON.valueToTree(OpenAiTestUpstream.get().sentContaining(text).getMap());
    }

    @Test
    void conversationsAndTheirItemsAsOpenAiShapesThem() {
        String conv = as(ADMIN).body(Map.of("metadata", Map.of("topic", "demo"),
                        "items", List.of(userMessage("first"), Map.of("type", "message", "role", "assistant", "content", "second"),
                                Map.of("id", "msg_mine", "type", "message", "role", "user",
                                        "content", List.of(Map.of("type", "input_text", "text", "third"))))))
                .when().post("/oai/v1/conversations").then().statusCode(200)
                .body("id", startsWith("conv_")).body("object", equalTo("conversation")).body("metadata.topic", equalTo("demo"))
                .extract().path("id");
        as(ADMIN).when().get("/oai/v1/conversations/" + conv).then().statusCode(200)
                .body("id", equalTo(conv)).body("metadata.topic", equalTo("demo")).body("created_at", org.hamcrest.Matchers.greaterThan(0));
        as(ADMIN).body(Map.of("metadata", Map.of("topic", "renamed"))).when().post("/oai/v1/conversations/" + conv).then()
                .statusCode(200).body("metadata.topic", equalTo("renamed"));

        // newest first by default; each item listed with an id, messages with content parts
        JsonPath listed = as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items").then().statusCode(200)
                .body("object", equalTo("list")).body("has_more", equalTo(false)).extract().jsonPath();
        assertThat(listed.getList("data.id")).hasSize(3).first().isEqualTo("msg_mine");
        assertThat(listed.getString("first_id")).isEqualTo("msg_mine");
        assertThat(listed.getString("data[1].content[0].type")).isEqualTo("output_text");
        assertThat(listed.getString("data[1].content[0].text")).isEqualTo("second");
        assertThat(listed.getString("data[2].content[0].type")).isEqualTo("input_text");
        List<String> ascending = itemIds(ADMIN, conv, "?order=asc");
        assertThat(ascending).containsExactly(listed.getString("data[2].id"), listed.getString("data[1].id"), "msg_mine");

        // paging: limit, has_more, after
        as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items?order=asc&limit=2").then().statusCode(200)
                .body("data.size()", equalTo(2)).body("has_more", equalTo(true)).body("last_id", equalTo(ascending.get(1)));
        assertThat(itemIds(ADMIN, conv, "?order=asc&after=" + ascending.get(1))).containsExactly("msg_mine");
        assertThat(itemIds(ADMIN, conv, "?after=msg_mine")).containsExactly(ascending.get(1), ascending.get(0));
        assertThat(itemIds(ADMIN, conv, "?order=asc&after=msg_mine")).isEmpty();
        as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items?after=msg_unknown").then().statusCode(400)
                .body("error.param", equalTo("after"));

        // adding items: the added ones come back; an id already held is refused and nothing of that request is added
        as(ADMIN).body(Map.of("items", List.of(userMessage("fourth")))).when().post("/oai/v1/conversations/" + conv + "/items")
                .then().statusCode(200).body("object", equalTo("list")).body("data.size()", equalTo(1))
                .body("data[0].content[0].text", equalTo("fourth"));
        as(ADMIN).body(Map.of("items", List.of(userMessage("fifth"), Map.of("id", "msg_mine", "type", "message", "role", "user",
                        "content", "again")))).when().post("/oai/v1/conversations/" + conv + "/items")
                .then().statusCode(400).body("error.param", equalTo("items[1].id"));
        assertThat(itemIds(ADMIN, conv, "")).hasSize(4);

        as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items/msg_mine").then().statusCode(200)
                .body("id", equalTo("msg_mine")).body("content[0].text", equalTo("third"));
        as(ADMIN).when().delete("/oai/v1/conversations/" + conv + "/items/msg_mine").then().statusCode(200)
                .body("id", equalTo(conv)).body("object", equalTo("conversation"));
        as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items/msg_mine").then().statusCode(404);
        as(ADMIN).when().delete("/oai/v1/conversations/" + conv + "/items/msg_mine").then().statusCode(404);
        assertThat(itemIds(ADMIN, conv, "")).hasSize(3);

        as(ADMIN).when().delete("/oai/v1/conversations/" + conv).then().statusCode(200)
                .body("id", equalTo(conv)).body("object", equalTo("conversation.deleted")).body("deleted", equalTo(true));
        as(ADMIN).when().get("/oai/v1/conversations/" + conv).then().statusCode(404).body("error.type", equalTo("invalid_request_error"));
        as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items").then().statusCode(404);
        as(ADMIN).when().delete("/oai/v1/conversations/" + conv).then().statusCode(404);

        // an empty body makes an empty conversation
        as(ADMIN).when().post("/oai/v1/conversations").then().statusCode(200).body("metadata.size()", equalTo(0));
    }

    @Test
    void badRequestsAreRefusedByName() {
        List<Object> many = new ArrayList<>();
        for (int i = 0; i < 21; i++) {
            many.add(userMessage("m" + i));
        }
        for (Object[] bad : new Object[][]{
                {Map.of("items", "a string"), "items"},
                {Map.of("items", many), "items"},
                {Map.of("items", List.of(Map.of("type", "web_search_call"))), "items[0].type"},
                {Map.of("items", List.of(Map.of("type", "message", "role", "robot", "content", "x"))), "items[0].role"},
                {Map.of("metadata", Map.of("k", 1)), "metadata"},
                {Map.of("metadata", "x"), "metadata"}}) {
            as(ADMIN).body(bad[0]).when().post("/oai/v1/conversations").then().statusCode(400).body("error.param", equalTo(bad[1]));
        }
        as(ADMIN).body("{not json").when().post("/oai/v1/conversations").then().statusCode(400).body("error.param", equalTo("body"));
        String conv = as(ADMIN).body(Map.of()).when().post("/oai/v1/conversations").then().statusCode(200).extract().path("id");
        as(ADMIN).body(Map.of()).when().post("/oai/v1/conversations/" + conv).then().statusCode(400).body("error.param", equalTo("metadata"));
        as(ADMIN).body(Map.of()).when().post("/oai/v1/conversations/" + conv + "/items").then().statusCode(400)
                .body("error.param", equalTo("items"));
        as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items?order=sideways").then().statusCode(400)
                .body("error.param", equalTo("order"));
        as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items?limit=0").then().statusCode(400)
                .body("error.param", equalTo("limit"));
        as(ADMIN).body(Map.of("items", List.of(userMessage("x")))).when().post("/oai/v1/conversations/conv_nothing/items").then()
                .statusCode(404);
    }

    @Test
    void aConversationIsItsOwnersAlone() {
        String tenantId = tenant();
        String owner = key(tenantId, "tenant_user", null);
        String neighbour = key(tenantId, "tenant_user", null);
        String stranger = key(tenant(), "tenant_admin", null);
        String model = chatModel("echo");
        String conv = as(owner).body(Map.of("items", List.of(userMessage("private " + run())))).when().post("/oai/v1/conversations")
                .then().statusCode(200).extract().path("id");
        String item = itemIds(owner, conv, "").get(0);
        for (String other : List.of(neighbour, stranger, ADMIN)) {
            as(other).when().get("/oai/v1/conversations/" + conv).then().statusCode(404);
            as(other).when().get("/oai/v1/conversations/" + conv + "/items").then().statusCode(404);
            as(other).when().get("/oai/v1/conversations/" + conv + "/items/" + item).then().statusCode(404);
            as(other).when().delete("/oai/v1/conversations/" + conv + "/items/" + item).then().statusCode(404);
            as(other).body(Map.of("metadata", Map.of("k", "v"))).when().post("/oai/v1/conversations/" + conv).then().statusCode(404);
            as(other).body(Map.of("items", List.of(userMessage("intrude")))).when().post("/oai/v1/conversations/" + conv + "/items")
                    .then().statusCode(404);
            as(other).when().delete("/oai/v1/conversations/" + conv).then().statusCode(404);
            as(other).body(Map.of("model", model, "input", "x", "conversation", conv)).when().post("/oai/v1/responses").then()
                    .statusCode(400).body("error.param", equalTo("conversation"));
        }
        assertThat(itemIds(owner, conv, "")).containsExactly(item);
        as(owner).when().get("/oai/v1/conversations/" + conv).then().statusCode(200).body("metadata.size()", equalTo(0));
    }

    @Test
    void responsesMadeInAConversationReplayItAndJoinIt() throws Exception {
        String model = chatModel("echo");
        String tag = run();
        String conv = as(ADMIN).body(Map.of("items", List.of(userMessage("remember " + tag)))).when().post("/oai/v1/conversations")
                .then().statusCode(200).extract().path("id");

        String first = as(ADMIN).body(Map.of("model", model, "input", "turn one " + tag, "conversation", conv))
                .when().post("/oai/v1/responses").then().statusCode(200)
                .body("conversation.id", equalTo(conv)).body("previous_response_id", nullValue())
                .body("output[0].content[0].text", equalTo("echo: turn one " + tag)).extract().path("id");
        JsonNode sent = sentContaining("turn one " + tag);
        assertThat(sent.at("/messages/0/content").asText()).isEqualTo("remember " + tag);
        assertThat(sent.at("/messages/1/content").asText()).isEqualTo("turn one " + tag);

        // the conversation now holds the turn's input and answer, after what it held
        JsonPath items = as(ADMIN).when().get("/oai/v1/conversations/" + conv + "/items?order=asc").then().statusCode(200)
                .extract().jsonPath();
        assertThat(items.getList("data.role")).containsExactly("user", "user", "assistant");
        assertThat(items.getString("data[2].content[0].text")).isEqualTo("echo: turn one " + tag);
        assertThat(items.getString("data[2].id")).isEqualTo(as(ADMIN).when().get("/oai/v1/responses/" + first).then()
                .statusCode(200).extract().path("output[0].id"));

        // the object form, streamed, with instructions: the whole conversation goes along, and the turn joins it
        Map<String, Object> streamed = new LinkedHashMap<>();
        streamed.put("model", model);
        streamed.put("instructions", "Be brief.");
        streamed.put("input", "turn two " + tag);
        streamed.put("conversation", Map.of("id", conv));
        streamed.put("stream", true);
        String sse = as(ADMIN).body(streamed).when().post("/oai/v1/responses").then().statusCode(200).extract().asString();
        assertThat(sse).contains("event: response.completed").contains("\"conversation\":{\"id\":\"" + conv + "\"}");
        sent = sentContaining("turn two " + tag);
        assertThat(sent.at("/messages/0/role").asText()).isEqualTo("system");
        assertThat(sent.at("/messages/3/content").asText()).isEqualTo("echo: turn one " + tag);
        assertThat(sent.at("/messages/3/role").asText()).isEqualTo("assistant");
        assertThat(sent.at("/messages/4/content").asText()).isEqualTo("turn two " + tag);
        assertThat(itemIds(ADMIN, conv, "")).hasSize(5);

        // store: false keeps no response, but the conversation still takes the turn
        String unstored = as(ADMIN).body(Map.of("model", model, "input", "turn three " + tag, "conversation", conv, "store", false))
                .when().post("/oai/v1/responses").then().statusCode(200).body("store", equalTo(false)).extract().path("id");
        as(ADMIN).when().get("/oai/v1/responses/" + unstored).then().statusCode(404);
        assertThat(itemIds(ADMIN, conv, "")).hasSize(7);

        // a deleted item is no longer replayed
        String turnOneInput = itemIds(ADMIN, conv, "?order=asc").get(1);
        as(ADMIN).when().delete("/oai/v1/conversations/" + conv + "/items/" + turnOneInput).then().statusCode(200);
        as(ADMIN).body(Map.of("model", model, "input", "turn four " + tag, "conversation", conv)).when().post("/oai/v1/responses")
                .then().statusCode(200);
        sent = sentContaining("turn four " + tag);
        assertThat(sent.toString()).doesNotContain("\"turn one " + tag + "\"");
        assertThat(sent.path("messages").size()).isEqualTo(7);

        as(ADMIN).body(Map.of("model", model, "input", "x", "conversation", conv, "previous_response_id", first))
                .when().post("/oai/v1/responses").then().statusCode(400).body("error.param", equalTo("conversation"));
        as(ADMIN).body(Map.of("model", model, "input", "x", "conversation", "conv_unknown")).when().post("/oai/v1/responses")
                .then().statusCode(400).body("error.param", equalTo("conversation"));
        as(ADMIN).body(Map.of("model", model, "input", "x", "conversation", Map.of("name", "no id"))).when().post("/oai/v1/responses")
                .then().statusCode(400).body("error.param", equalTo("conversation"));
    }
}
