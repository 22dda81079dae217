package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

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

/**
 * Streamed background responses ({@code background} and {@code stream}): the stream outlives its client, and
 * {@code GET /responses/{id}?stream=true&starting_after=N} follows it again, live or replayed, on this replica or from
 * the table (as another replica would).
 */
@QuarkusTest
class BackgroundStreamingTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @Inject
    BackgroundResponses background;

    @Inject
    InferenceRoutes routes;

    private static Map<String, Object> streamedInBackground(String model, String input) {
        Map<String, Object> body = BackgroundResponsesTest.inBackground(model, input);
        body.put("stream", true);
        return body;
    }

    /** A streaming request, its events read as they come. */
    private static final class EventReader implements AutoCloseable {
        final HttpResponse<java.io.InputStream> response;
        private final BufferedReader lines;
        /** SSE comments seen (keep-alives). */
        volatile int comments;

        EventReader(HttpRequest request) throws Exception {
            response = CLIENT.send(request, HttpResponse.BodyHandlers.ofInputStream());
            lines = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8));
        }

        /** The next event, or null at the end of the stream. */
        JsonNode next() throws Exception {
            String type = null;
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                if (line.startsWith(":")) {
                    comments++;
                } else if (line.startsWith("event: ")) {
                    type = line.substring(7);
                } else if (line.startsWith("data: ")) {
                    JsonNode event = JSON.readTree(line.substring(6));
                    assertThat(event.path("type").asText()).isEqualTo(type);
                    return event;
                }
            }
            return null;
        }

        /** Every event to the end of the stream. */
        List<JsonNode> rest() throws Exception {
            List<JsonNode> out = new ArrayList<>();
            for (JsonNode e = next(); e != null; e = next()) {
                out.add(e);
            }
            return out;
        }

        @Override
        public void close() throws Exception {
            response.body().close();
        }
    }

    private static EventReader post(String key, Map<String, Object> body, String requestId) throws Exception {
        return new EventReader(HttpRequest.newBuilder(URI.create("http://localhost:" + RestAssured.port + "/oai/v1/responses"))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json").header("X-Request-Id", requestId)
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build());
    }

    private static EventReader follow(String key, String id, String query) throws Exception {
        return new EventReader(HttpRequest.newBuilder(URI.create("http://localhost:" + RestAssured.port + "/oai/v1/responses/" + id
                        + "?stream=true" + query)).header("Authorization", "Bearer " + key).GET().build());
    }

    private static String statusOf(String id) {
        return as(ADMIN).when().get("/oai/v1/responses/" + id).then().statusCode(200).extract().path("status");
    }

    private static List<String> types(List<JsonNode> events) {
        return events.stream().map(e -> e.path("type").asText()).toList();
    }

    private static String text(List<JsonNode> events) {
        StringBuilder out = new StringBuilder();
        events.stream().filter(e -> "response.output_text.delta".equals(e.path("type").asText()))
                .forEach(e -> out.append(e.path("delta").asText()));
        return out.toString();
    }

    @Test
    void theStreamOutlivesItsClientAndIsFollowedAgainFromAnyEvent() throws Exception {
        // "slow1s": a token every 50 ms for a second
        String model = chatModel("slow1s");
        String tag = run();
        String id;
        try (EventReader first = post(ADMIN, streamedInBackground(model, "go on " + tag), "req_bgs_" + tag)) {
            assertThat(first.response.statusCode()).isEqualTo(200);
            assertThat(first.response.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
            JsonNode created = first.next();
            assertThat(created.path("type").asText()).isEqualTo("response.created");
            assertThat(created.path("sequence_number").asInt()).isZero();
            assertThat(created.at("/response/status").asText()).isEqualTo("queued");
            assertThat(created.at("/response/background").asBoolean()).isTrue();
            id = created.at("/response/id").asText();
            // the client goes away after its first token: the response runs on
            for (JsonNode e = first.next(); !"response.output_text.delta".equals(e.path("type").asText()); e = first.next()) {
                assertThat(e).isNotNull();
            }
        }
        // followed while it runs, from this replica's log: every event, live, to the last
        List<JsonNode> live;
        try (EventReader again = follow(ADMIN, id, "")) {
            assertThat(again.response.statusCode()).isEqualTo(200);
            live = again.rest();
        }
        assertThat(live.get(0).path("type").asText()).isEqualTo("response.created");
        assertThat(live.get(live.size() - 1).path("type").asText()).isEqualTo("response.completed");
        for (int i = 0; i < live.size(); i++) {
            assertThat(live.get(i).path("sequence_number").asInt()).isEqualTo(i);
        }
        assertThat(text(live)).isEqualTo("tick ".repeat(20));
        JsonNode completed = live.get(live.size() - 1).path("response");
        assertThat(completed.path("status").asText()).isEqualTo("completed");
        assertThat(completed.at("/output/0/content/0/text").asText()).isEqualTo("tick ".repeat(20));

        // stored as it ended, and its usage recorded once
        assertThat(statusOf(id)).isEqualTo("completed");
        assertThat(usageRecord(pool, usage, "req_bgs_" + tag).getString("status")).isEqualTo("ok");
        as(ADMIN).when().get("/oai/v1/responses/" + id).then().statusCode(200)
                .body("output[0].content[0].text", equalTo("tick ".repeat(20))).body("background", equalTo(true));

        // replayed from the table once it has ended: the same events; after an event, only those after it
        List<JsonNode> replayed;
        try (EventReader replay = follow(ADMIN, id, "")) {
            replayed = replay.rest();
        }
        assertThat(replayed).isEqualTo(live);
        try (EventReader tail = follow(ADMIN, id, "&starting_after=5")) {
            assertThat(tail.rest()).isEqualTo(live.subList(6, live.size()));
        }
        try (EventReader none = follow(ADMIN, id, "&starting_after=" + (live.size() + 10))) {
            assertThat(none.rest()).isEmpty();
        }
    }

    @Test
    void aFailedStreamEndsWithItsFailureForEveryFollower() throws Exception {
        // "midfail": two tokens, then the upstream connection dies
        String model = chatModel("midfail");
        String tag = run();
        List<JsonNode> events;
        try (EventReader first = post(ADMIN, streamedInBackground(model, "break " + tag), "req_bgs_fail_" + tag)) {
            events = first.rest();
        }
        assertThat(types(events)).startsWith("response.created", "response.in_progress");
        assertThat(types(events).subList(events.size() - 2, events.size())).containsExactly("response.failed", "error");
        JsonNode failed = events.get(events.size() - 2).path("response");
        // the same code as a failed response that was not streamed
        assertThat(failed.at("/error/code").asText()).isEqualTo("server_error");
        String id = failed.path("id").asText();
        assertThat(statusOf(id)).isEqualTo("failed");
        as(ADMIN).when().get("/oai/v1/responses/" + id).then().body("error.code", equalTo("server_error"))
                .body("output[0].status", equalTo("incomplete")).body("output[0].content[0].text", equalTo("Hello wor"));
        try (EventReader replay = follow(ADMIN, id, "")) {
            assertThat(replay.rest()).isEqualTo(events);
        }
        assertThat(usageRecord(pool, usage, "req_bgs_fail_" + tag).getString("status")).isEqualTo("error");
    }

    @Test
    void aCancelledStreamEndsForItsFollowers() throws Exception {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        String model = InferenceFixtures.chatModelOver(List.of(Map.of("name", "slow", "provider_type", "openai", "model_name", "slow",
                "connection_config", Map.of("base_url", up.baseUrl(), "api_key", "sk-upstream-secret", "first_token_timeout_ms", 30000))));
        String tag = run();
        int cancelledBefore = up.cancelledStreams.get();
        try (EventReader first = post(ADMIN, streamedInBackground(model, "endless " + tag), "req_bgs_cancel_" + tag)) {
            String id = first.next().at("/response/id").asText();
            CompletableFuture<List<JsonNode>> rest = CompletableFuture.supplyAsync(() -> {
                try {
                    return first.rest();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> up.sentContaining("endless " + tag));
            as(ADMIN).when().post("/oai/v1/responses/" + id + "/cancel").then().statusCode(200).body("status", equalTo("cancelled"));
            List<JsonNode> tail = rest.get(5, TimeUnit.SECONDS);
            assertThat(types(tail)).doesNotContain("response.completed", "response.failed");
            await().atMost(Duration.ofSeconds(3)).until(() -> up.cancelledStreams.get() > cancelledBefore);
            assertThat(statusOf(id)).isEqualTo("cancelled");
            assertThat(usageRecord(pool, usage, "req_bgs_cancel_" + tag).getString("status")).isEqualTo("cancelled");
            await().atMost(Duration.ofSeconds(3)).until(() -> background.runningHere() == 0);
            // what was sent before the cancel can still be followed, and ends the same way
            try (EventReader replay = follow(ADMIN, id, "")) {
                List<JsonNode> replayed = replay.rest();
                assertThat(types(replayed)).startsWith("response.created", "response.in_progress");
                assertThat(types(replayed)).doesNotContain("response.completed", "response.failed");
            }
        }
    }

    /**
     * A response another replica runs: this one has no log of it and follows it in the table, as its replica writes
     * its events and then its end; one whose replica died is ended by the sweep, and its followers get that failure.
     */
    @Test
    void aResponseRunningElsewhereIsFollowedFromTheTable() throws Exception {
        String tag = run();
        // a finished streamed response of this caller gives the owner's columns to copy
        String mine;
        try (EventReader first = post(ADMIN, streamedInBackground(chatModel("echo"), "owner " + tag), "req_bgs_owner_" + tag)) {
            mine = first.next().at("/response/id").asText();
            first.rest();
        }
        String elsewhere = "resp_" + ResponsesApi.hex();
        pool.preparedQuery("""
                        INSERT INTO oai_responses (id, tenant_id, owner_id, status, response, input_items, context, expires_at,
                                                   background, streamed)
                        SELECT $1, tenant_id, owner_id, 'in_progress', $2::text::json, '[]', '[]', now() + interval '1 day', true, true
                          FROM oai_responses WHERE id = $3""")
                .execute(Tuple.of(elsewhere, "{\"id\":\"" + elsewhere
                        + "\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}", mine))
                .await().atMost(Duration.ofSeconds(5));
        addEvent(elsewhere, 0, "response.created");
        addEvent(elsewhere, 1, "response.in_progress");
        routes.sseKeepAlive(Duration.ofMillis(100));
        try (EventReader follower = follow(ADMIN, elsewhere, "")) {
            assertThat(follower.next().path("sequence_number").asInt()).isEqualTo(0);
            assertThat(follower.next().path("sequence_number").asInt()).isEqualTo(1);
            // a follower waiting for events gets keep-alive comments, so that no proxy cuts it meanwhile
            CompletableFuture<JsonNode> next = CompletableFuture.supplyAsync(() -> {
                try {
                    return follower.next();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            await().atMost(Duration.ofSeconds(5)).until(() -> follower.comments >= 2);
            // the other replica writes more, then its end with the last event, in one transaction
            addEvent(elsewhere, 2, "response.output_text.delta");
            assertThat(next.get(5, TimeUnit.SECONDS).path("type").asText()).isEqualTo("response.output_text.delta");
            pool.withTransaction(conn -> conn.preparedQuery("UPDATE oai_responses SET status = 'completed', "
                                    + "response = $2::text::json WHERE id = $1")
                            .execute(Tuple.of(elsewhere, "{\"id\":\"" + elsewhere + "\",\"status\":\"completed\",\"output\":[]}"))
                            .flatMap(v -> conn.preparedQuery("INSERT INTO oai_response_events VALUES ($1, 3, 'response.completed', $2)")
                                    .execute(Tuple.of(elsewhere, "{\"type\":\"response.completed\",\"sequence_number\":3}"))))
                    .await().atMost(Duration.ofSeconds(5));
            List<JsonNode> rest = follower.rest();
            assertThat(types(rest)).containsExactly("response.completed");
        } finally {
            routes.sseKeepAlive(Duration.ofSeconds(15));
        }

        // its replica died: the sweep fails it, and the follower ends with that failure
        String lost = "resp_" + ResponsesApi.hex();
        pool.preparedQuery("""
                        INSERT INTO oai_responses (id, tenant_id, owner_id, status, response, input_items, context, expires_at,
                                                   background, streamed, updated_at)
                        SELECT $1, tenant_id, owner_id, 'in_progress', $2::text::json, '[]', '[]', now() + interval '1 day', true, true,
                               now() - interval '10 minutes' FROM oai_responses WHERE id = $3""")
                .execute(Tuple.of(lost, "{\"id\":\"" + lost + "\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}", mine))
                .await().atMost(Duration.ofSeconds(5));
        addEvent(lost, 0, "response.created");
        try (EventReader follower = follow(ADMIN, lost, "")) {
            assertThat(follower.next().path("type").asText()).isEqualTo("response.created");
            background.sweep().await().atMost(Duration.ofSeconds(10));
            List<JsonNode> rest = follower.rest();
            assertThat(types(rest)).containsExactly("response.failed");
            assertThat(rest.get(0).path("sequence_number").asInt()).isEqualTo(1);
            assertThat(rest.get(0).at("/response/error/code").asText()).isEqualTo("server_error");
        }
    }

    private void addEvent(String id, int sequence, String type) {
        pool.preparedQuery("INSERT INTO oai_response_events VALUES ($1, $2, $3, $4)")
                .execute(Tuple.of(id, sequence, type, "{\"type\":\"" + type + "\",\"sequence_number\":" + sequence + "}"))
                .await().atMost(Duration.ofSeconds(5));
    }

    @Test
    void followingIsRefusedByNameOrNotFound() {
        String tag = run();
        // a response that was not streamed in the background kept no events
        String plain = as(ADMIN).body(Map.of("model", chatModel("echo"), "input", "plain " + tag)).when().post("/oai/v1/responses")
                .then().statusCode(200).extract().path("id");
        as(ADMIN).when().get("/oai/v1/responses/" + plain + "?stream=true").then().statusCode(400).body("error.param", equalTo("stream"));
        // false, or no stream at all, is the stored response
        as(ADMIN).when().get("/oai/v1/responses/" + plain + "?stream=false").then().statusCode(200).body("id", equalTo(plain));
        as(ADMIN).when().get("/oai/v1/responses/" + plain + "?stream=maybe").then().statusCode(400).body("error.param", equalTo("stream"));
        as(ADMIN).when().get("/oai/v1/responses/" + plain + "?stream=true&starting_after=x").then().statusCode(400)
                .body("error.param", equalTo("starting_after"));
        as(ADMIN).when().get("/oai/v1/responses/" + plain + "?stream=true&starting_after=-1").then().statusCode(400)
                .body("error.param", equalTo("starting_after"));
        as(ADMIN).when().get("/oai/v1/responses/resp_nothing?stream=true").then().statusCode(404).body("error.code", equalTo("not_found"));

        // a streamed background response is its owner's
        String tenantId = tenant();
        String owner = key(tenantId, "tenant_user", null);
        String id = as(owner).body(streamedInBackground(chatModel("echo"), "mine " + tag)).when().post("/oai/v1/responses")
                .then().statusCode(200).extract().body().asString().split("\"id\":\"")[1].split("\"")[0];
        for (String other : List.of(key(tenantId, "tenant_user", null), ADMIN)) {
            as(other).when().get("/oai/v1/responses/" + id + "?stream=true").then().statusCode(404);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> "completed".equals(as(owner).when().get("/oai/v1/responses/" + id)
                .then().statusCode(200).extract().path("status")));
        as(owner).when().get("/oai/v1/responses/" + id + "?stream=true").then().statusCode(200)
                .header("content-type", org.hamcrest.Matchers.startsWith("text/event-stream"));
    }
}
