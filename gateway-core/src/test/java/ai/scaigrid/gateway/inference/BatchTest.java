package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
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
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

/** OpenAI's Files and Batch APIs: upload, run through the pipeline as the creator, output files, cancel, isolation. */
@QuarkusTest
class BatchTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @Inject
    OaiBatchRoutes batches;

    private static String upload(String key, String purpose, String content, String filename) {
        return RestAssured.given().header("Authorization", "Bearer " + key)
                .multiPart("file", filename, content.getBytes(StandardCharsets.UTF_8), "application/jsonl")
                .multiPart("purpose", purpose)
                .when().post("/oai/v1/files").then().statusCode(200)
                .body("object", equalTo("file")).body("purpose", equalTo(purpose)).body("filename", equalTo(filename))
                .body("bytes", equalTo(content.getBytes(StandardCharsets.UTF_8).length)).body("status", equalTo("processed"))
                .extract().path("id");
    }

    private static String line(String customId, String url, Map<String, Object> body) {
        try {
            return JSON.writeValueAsString(Map.of("custom_id", customId, "method", "POST", "url", url, "body", body));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, Object> chatBody(String model, String text) {
        return Map.of("model", model, "messages", List.of(Map.of("role", "user", "content", text)));
    }

    private static String create(String key, String fileId, String endpoint) {
        return as(key).body(Map.of("input_file_id", fileId, "endpoint", endpoint, "completion_window", "24h",
                        "metadata", Map.of("job", "nightly")))
                .when().post("/oai/v1/batches").then().statusCode(200)
                .body("object", equalTo("batch")).body("status", equalTo("validating")).body("metadata.job", equalTo("nightly"))
                .body("endpoint", equalTo(endpoint)).body("input_file_id", equalTo(fileId))
                .extract().path("id");
    }

    private static JsonNode awaitStatus(String key, String batchId, String status) {
        JsonNode[] last = new JsonNode[1];
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
            last[0] = JSON.readTree(as(key).when().get("/oai/v1/batches/" + batchId).then().statusCode(200).extract().asString());
            assertThat(last[0].path("status").asText()).isEqualTo(status);
        });
        return last[0];
    }

    private static List<JsonNode> content(String key, String fileId) throws Exception {
        String text = as(key).when().get("/oai/v1/files/" + fileId + "/content").then().statusCode(200).extract().asString();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : text.split("\n")) {
            if (!l.isBlank()) {
                lines.add(JSON.readTree(l));
            }
        }
        return lines;
    }

    @Test
    void aBatchRunsAsItsCreatorAndAnswersInOutputAndErrorFiles() throws Exception {
        String model = chatModel("echo");
        String tenantId = tenant();
        String userKey = key(tenantId, "tenant_user", null);
        String jsonl = line("first", "/v1/chat/completions", chatBody(model, "batch one")) + "\n\n"
                + line("second", "/v1/chat/completions", chatBody("nobody/such-model", "x")) + "\n"
                + line("third", "/v1/chat/completions", chatBody(model, "batch three")) + "\n";
        String fileId = upload(userKey, "batch", jsonl, "requests.jsonl");
        String batchId = create(userKey, fileId, "/v1/chat/completions");
        assertThat(batchId).startsWith("batch_");

        JsonNode done = awaitStatus(userKey, batchId, "completed");
        assertThat(done.path("request_counts").path("total").asInt()).isEqualTo(3);
        assertThat(done.path("request_counts").path("completed").asInt()).isEqualTo(2);
        assertThat(done.path("request_counts").path("failed").asInt()).isEqualTo(1);
        assertThat(done.path("in_progress_at").isNumber()).isTrue();
        assertThat(done.path("completed_at").isNumber()).isTrue();

        List<JsonNode> output = content(userKey, done.path("output_file_id").asText());
        assertThat(output).extracting(n -> n.path("custom_id").asText()).containsExactly("first", "third");
        assertThat(output.get(0).path("id").asText()).startsWith("batch_req_");
        assertThat(output.get(0).at("/response/status_code").asInt()).isEqualTo(200);
        assertThat(output.get(0).at("/response/body/choices/0/message/content").asText()).isEqualTo("echo: batch one");
        assertThat(output.get(1).at("/response/body/model").asText()).isEqualTo(model);
        List<JsonNode> errors = content(userKey, done.path("error_file_id").asText());
        assertThat(errors).hasSize(1);
        assertThat(errors.get(0).path("custom_id").asText()).isEqualTo("second");
        assertThat(errors.get(0).at("/response/status_code").asInt()).isEqualTo(404);
        assertThat(errors.get(0).at("/response/body/error/code").asText()).isEqualTo("model_not_found");

        // the output files are the creator's, listed with purpose batch_output
        as(userKey).when().get("/oai/v1/files?purpose=batch_output").then().statusCode(200)
                .body("data.id", hasItem(done.path("output_file_id").asText()));
        // each line left a usage record of the creator, api "batch"
        String requestId = output.get(0).at("/response/request_id").asText();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            var rows = pool.preparedQuery("SELECT api, tenant_id, status FROM usage_records WHERE request_id = $1")
                    .execute(Tuple.of(requestId)).await().atMost(Duration.ofSeconds(5));
            assertThat(rows.size()).isEqualTo(1);
            assertThat(rows.iterator().next().getString("api")).isEqualTo("batch");
            assertThat(rows.iterator().next().getString("tenant_id")).isEqualTo(tenantId);
        });
        as(userKey).when().get("/oai/v1/batches").then().statusCode(200).body("object", equalTo("list"))
                .body("data[0].id", equalTo(batchId)).body("has_more", equalTo(false));
    }

    /**
     * Files expire as at OpenAI: an upload's expires_after, batch files after 30 days by default, other files never; a
     * batch's output files by its output_expires_after. An expired file is gone for its owner at once and purged later,
     * except the input of a batch still running.
     */
    @Test
    void filesExpireAsAskedAndExpiredOnesAreGone() throws Exception {
        String userKey = key(tenant(), "tenant_user", null);
        JsonNode asked = JSON.readTree(RestAssured.given().header("Authorization", "Bearer " + userKey)
                .multiPart("file", "notes.txt", "short-lived".getBytes(StandardCharsets.UTF_8), "text/plain")
                .multiPart("purpose", "user_data").multiPart("expires_after[anchor]", "created_at")
                .multiPart("expires_after[seconds]", "3600")
                .when().post("/oai/v1/files").then().statusCode(200).extract().asString());
        assertThat(asked.path("expires_at").asLong() - asked.path("created_at").asLong()).isBetween(3599L, 3601L);
        String model = chatModel("echo");
        String batchFile = upload(userKey, "batch", line("a", "/v1/chat/completions", chatBody(model, "expiring batch")) + "\n",
                "in.jsonl");
        JsonNode batchJson = JSON.readTree(as(userKey).when().get("/oai/v1/files/" + batchFile).then().statusCode(200)
                .extract().asString());
        assertThat(batchJson.path("expires_at").asLong() - batchJson.path("created_at").asLong()).as("30 days")
                .isBetween(2_591_999L, 2_592_001L);
        String kept = upload(userKey, "user_data", "kept", "kept.txt");
        as(userKey).when().get("/oai/v1/files/" + kept).then().statusCode(200).body("expires_at", org.hamcrest.Matchers.nullValue());

        // a batch's output files take its output_expires_after
        String batchId = as(userKey).body(Map.of("input_file_id", batchFile, "endpoint", "/v1/chat/completions",
                        "completion_window", "24h", "output_expires_after", Map.of("anchor", "created_at", "seconds", 7200)))
                .when().post("/oai/v1/batches").then().statusCode(200).extract().path("id");
        String output = awaitStatus(userKey, batchId, "completed").path("output_file_id").asText();
        JsonNode outputJson = JSON.readTree(as(userKey).when().get("/oai/v1/files/" + output).then().statusCode(200).extract().asString());
        assertThat(outputJson.path("expires_at").asLong() - outputJson.path("created_at").asLong()).isBetween(7199L, 7201L);

        // bad policies are refused by name
        for (Map<String, Object> bad : List.of(Map.<String, Object>of("anchor", "last_active_at", "seconds", 7200),
                Map.<String, Object>of("anchor", "created_at", "seconds", 60), Map.<String, Object>of("anchor", "created_at"))) {
            as(userKey).body(Map.of("input_file_id", batchFile, "endpoint", "/v1/chat/completions", "completion_window", "24h",
                    "output_expires_after", bad)).when().post("/oai/v1/batches").then().statusCode(400)
                    .body("error.param", startsWith("output_expires_after."));
        }
        RestAssured.given().header("Authorization", "Bearer " + userKey)
                .multiPart("file", "x.txt", "x".getBytes(StandardCharsets.UTF_8), "text/plain").multiPart("purpose", "user_data")
                .multiPart("expires_after[anchor]", "created_at").multiPart("expires_after[seconds]", "forever")
                .when().post("/oai/v1/files").then().statusCode(400).body("error.param", equalTo("expires_after.seconds"));

        // expired: gone for its owner at once, purged later, but a running batch's input stays until the batch ends
        String gone = asked.path("id").asText();
        StringBuilder slow = new StringBuilder(); // twelve lines of 0.9 s, five a round: the batch runs for seconds
        String late = chatModel("late");
        for (int i = 0; i < 12; i++) {
            slow.append(line("b" + i, "/v1/chat/completions", chatBody(late, "x"))).append('\n');
        }
        String runningInput = upload(userKey, "batch", slow.toString(), "running.jsonl");
        String running = create(userKey, runningInput, "/v1/chat/completions");
        pool.preparedQuery("UPDATE oai_files SET expires_at = now() - interval '1 second' WHERE id = ANY($1)")
                .execute(Tuple.of(new String[]{gone, runningInput})).await().atMost(Duration.ofSeconds(5));
        as(userKey).when().get("/oai/v1/files/" + gone).then().statusCode(404);
        as(userKey).when().get("/oai/v1/files/" + gone + "/content").then().statusCode(404);
        as(userKey).when().delete("/oai/v1/files/" + gone).then().statusCode(404);
        as(userKey).when().get("/oai/v1/files").then().statusCode(200).body("data.id", not(hasItem(gone))).body("data.id", hasItem(kept));
        batches.purgeExpiredFiles().await().atMost(Duration.ofSeconds(10));
        var left = pool.preparedQuery("SELECT id FROM oai_files WHERE id = ANY($1)")
                .execute(Tuple.of(new String[]{gone, runningInput, kept})).await().atMost(Duration.ofSeconds(5));
        List<String> ids = new ArrayList<>();
        left.forEach(r -> ids.add(r.getString("id")));
        assertThat(ids).containsExactlyInAnyOrder(runningInput, kept);
        awaitStatus(userKey, running, "completed");
        batches.purgeExpiredFiles().await().atMost(Duration.ofSeconds(10));
        assertThat(pool.preparedQuery("SELECT 1 FROM oai_files WHERE id = $1").execute(Tuple.of(runningInput))
                .await().atMost(Duration.ofSeconds(5)).size()).as("purged once its batch ended").isZero();
    }

    /**
     * A batch runs only while its creator may call: a revoked key, or a tenant that is no longer active, fails it at
     * its next round (lines on a model that takes 0.9 s each, five per round, so the batch is still open then).
     */
    @Test
    void aBatchStopsWhenItsCreatorMayNoLongerCall() throws Exception {
        String model = chatModel("late");
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            jsonl.append(line("l" + i, "/v1/chat/completions", chatBody(model, "late line " + i))).append('\n');
        }
        String revokedTenant = tenant();
        String revokedKey = key(revokedTenant, "tenant_user", null);
        String revokedBatch = create(revokedKey, upload(revokedKey, "batch", jsonl.toString(), "late.jsonl"), "/v1/chat/completions");
        String suspendedTenant = tenant();
        String suspendedKey = key(suspendedTenant, "tenant_user", null);
        String suspendedBatch = create(suspendedKey, upload(suspendedKey, "batch", jsonl.toString(), "late.jsonl"),
                "/v1/chat/completions");
        awaitStatus(revokedKey, revokedBatch, "in_progress");
        awaitStatus(suspendedKey, suspendedBatch, "in_progress");

        String keyId = as(revokedKey).when().get("/v1/me").then().statusCode(200).extract().path("data.credential_id");
        as(ADMIN).when().delete("/v1/api-keys/" + keyId).then().statusCode(204);
        // no API suspends a tenant yet: an operator's change in the database
        pool.preparedQuery("UPDATE tenants SET status = 'suspended' WHERE id = $1").execute(Tuple.of(suspendedTenant))
                .await().atMost(Duration.ofSeconds(5));
        for (String batch : List.of(revokedBatch, suspendedBatch)) {
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
                var row = pool.preparedQuery("SELECT status, errors::text AS errors, completed FROM oai_batches WHERE id = $1")
                        .execute(Tuple.of(batch)).await().atMost(Duration.ofSeconds(5)).iterator().next();
                assertThat(row.getString("status")).isEqualTo("failed");
                assertThat(JSON.readTree(row.getString("errors")).at("/data/0/code").asText()).isEqualTo("invalid_credential");
                assertThat(row.getInteger("completed")).as("the lines of later rounds never ran").isLessThan(12);
            });
        }
    }

    /** A /v1/responses batch: each line a Responses request, stored, and able to continue a stored conversation. */
    @Test
    void aResponsesBatchAnswersAndStoresResponses() throws Exception {
        String model = chatModel("echo");
        String userKey = key(tenant(), "tenant_user", null);
        String earlier = as(userKey).body(Map.of("model", model, "input", "batched memory")).when().post("/oai/v1/responses").then()
                .statusCode(200).extract().path("id");
        String jsonl = line("plain", "/v1/responses", Map.of("model", model, "input", "batched response", "instructions", "Be brief."))
                + "\n" + line("continued", "/v1/responses", Map.of("model", model, "input", "batched follow-up",
                        "previous_response_id", earlier))
                + "\n" + line("unknown", "/v1/responses", Map.of("model", model, "input", "x", "previous_response_id", "resp_nope"))
                + "\n" + line("unstored", "/v1/responses", Map.of("model", model, "input", "batched, not kept", "store", false)) + "\n";
        String batchId = create(userKey, upload(userKey, "batch", jsonl, "responses.jsonl"), "/v1/responses");
        JsonNode done = awaitStatus(userKey, batchId, "completed");
        List<JsonNode> output = content(userKey, done.path("output_file_id").asText());
        assertThat(output).extracting(n -> n.path("custom_id").asText()).containsExactly("plain", "continued", "unstored");
        JsonNode plain = output.get(0).at("/response/body");
        assertThat(plain.path("object").asText()).isEqualTo("response");
        assertThat(plain.at("/output/0/content/0/text").asText()).isEqualTo("echo: batched response");
        as(userKey).when().get("/oai/v1/responses/" + plain.path("id").asText()).then().statusCode(200)
                .body("instructions", equalTo("Be brief.")).body("store", equalTo(true));
        JsonNode continued = output.get(1).at("/response/body");
        assertThat(continued.path("previous_response_id").asText()).isEqualTo(earlier);
        JsonNode sent = JSON.valueToTree(OpenAiTestUpstream.get().sentContaining("batched follow-up").getMap());
        assertThat(sent.at("/messages/0/content").asText()).isEqualTo("batched memory");
        assertThat(sent.at("/messages/1/content").asText()).isEqualTo("echo: batched memory");
        assertThat(output.get(2).at("/response/body/store").asBoolean()).isFalse();
        as(userKey).when().get("/oai/v1/responses/" + output.get(2).at("/response/body/id").asText()).then().statusCode(404);
        List<JsonNode> errors = content(userKey, done.path("error_file_id").asText());
        assertThat(errors).extracting(n -> n.path("custom_id").asText()).containsExactly("unknown");
        assertThat(errors.get(0).at("/response/status_code").asInt()).isEqualTo(400);
        assertThat(errors.get(0).at("/response/body/error/param").asText()).isEqualTo("previous_response_id");
    }

    @Test
    void embeddingAndCompletionBatches() throws Exception {
        String userKey = key(tenant(), "tenant_user", null);
        String embedModel = InferenceFixtures.model("test-" + InferenceFixtures.run() + "/embed", "embedding", null, "embed");
        String embedFile = upload(userKey, "batch", line("e1", "/v1/embeddings", Map.of("model", embedModel, "input", "vector me")),
                "embed.jsonl");
        JsonNode embedded = awaitStatus(userKey, create(userKey, embedFile, "/v1/embeddings"), "completed");
        assertThat(content(userKey, embedded.path("output_file_id").asText()).get(0).at("/response/body/data/0/embedding").size())
                .isEqualTo(3);

        String model = chatModel("echo");
        String textFile = upload(userKey, "batch", line("c1", "/v1/completions", Map.of("model", model, "prompt", "Once")),
                "complete.jsonl");
        JsonNode completed = awaitStatus(userKey, create(userKey, textFile, "/v1/completions"), "completed");
        JsonNode body = content(userKey, completed.path("output_file_id").asText()).get(0).at("/response/body");
        assertThat(body.path("object").asText()).isEqualTo("text_completion");
        assertThat(body.path("id").asText()).startsWith("cmpl-");
    }

    @Test
    void anInvalidInputFileFailsTheBatchNamingItsLines() {
        String userKey = key(tenant(), "tenant_user", null);
        String model = chatModel("echo");
        String jsonl = line("a", "/v1/chat/completions", chatBody(model, "x")) + "\n"
                + line("b", "/v1/embeddings", Map.of("model", model, "input", "x")) + "\n"
                + line("a", "/v1/chat/completions", chatBody(model, "y")) + "\n";
        String batchId = create(userKey, upload(userKey, "batch", jsonl, "bad.jsonl"), "/v1/chat/completions");
        JsonNode failed = awaitStatus(userKey, batchId, "failed");
        assertThat(failed.path("failed_at").isNumber()).isTrue();
        assertThat(failed.at("/errors/data/0/line").asInt()).isEqualTo(2);
        assertThat(failed.at("/errors/data/0/param").asText()).isEqualTo("url");
        assertThat(failed.at("/errors/data/1/line").asInt()).isEqualTo(3);
        assertThat(failed.at("/errors/data/1/message").asText()).contains("custom_id a is used twice");
        as(userKey).when().post("/oai/v1/batches/" + batchId + "/cancel").then().statusCode(409)
                .body("error.type", equalTo("invalid_request_error"));
    }

    @Test
    void cancellingStopsABatchWithWhatWasDone() throws Exception {
        String userKey = key(tenant(), "tenant_user", null);
        String model = chatModel("echo");
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            jsonl.append(line("r" + i, "/v1/chat/completions", chatBody(model, "line " + i))).append('\n');
        }
        String batchId = create(userKey, upload(userKey, "batch", jsonl.toString(), "many.jsonl"), "/v1/chat/completions");
        as(userKey).when().post("/oai/v1/batches/" + batchId + "/cancel").then().statusCode(200)
                .body("status", equalTo("cancelling")).body("cancelling_at", org.hamcrest.Matchers.notNullValue());
        JsonNode cancelled = awaitStatus(userKey, batchId, "cancelled");
        int completed = cancelled.path("request_counts").path("completed").asInt();
        assertThat(completed).isLessThan(400);
        if (completed > 0) {
            assertThat(content(userKey, cancelled.path("output_file_id").asText())).hasSize(completed);
        } else {
            assertThat(cancelled.path("output_file_id").isNull()).isTrue();
        }
    }

    @Test
    void filesAndBatchesAreTheirOwnersAlone() {
        String tenantId = tenant();
        String owner = key(tenantId, "tenant_user", null);
        String neighbour = key(tenantId, "tenant_user", null);
        String stranger = key(tenant(), "tenant_admin", null);
        String model = chatModel("echo");
        String fileId = upload(owner, "batch", line("x", "/v1/chat/completions", chatBody(model, "mine")), "mine.jsonl");
        String batchId = create(owner, fileId, "/v1/chat/completions");
        for (String other : List.of(neighbour, stranger)) {
            as(other).when().get("/oai/v1/files/" + fileId).then().statusCode(404).body("error.type", equalTo("invalid_request_error"));
            as(other).when().get("/oai/v1/files/" + fileId + "/content").then().statusCode(404);
            as(other).when().delete("/oai/v1/files/" + fileId).then().statusCode(404);
            as(other).when().get("/oai/v1/batches/" + batchId).then().statusCode(404);
            as(other).when().post("/oai/v1/batches/" + batchId + "/cancel").then().statusCode(404);
            as(other).when().get("/oai/v1/files").then().statusCode(200).body("data.id", not(hasItem(fileId)));
            as(other).when().get("/oai/v1/batches").then().statusCode(200).body("data.id", not(hasItem(batchId)));
            // nor can they run a batch over it
            as(other).body(Map.of("input_file_id", fileId, "endpoint", "/v1/chat/completions", "completion_window", "24h"))
                    .when().post("/oai/v1/batches").then().statusCode(404);
        }
        as(owner).when().get("/oai/v1/files/" + fileId).then().statusCode(200).body("id", equalTo(fileId));
    }

    @Test
    void badFileAndBatchRequestsAreRefusedByName() {
        String userKey = key(tenant(), "tenant_user", null);
        RestAssured.given().header("Authorization", "Bearer " + userKey).multiPart("file", "a.jsonl", "{}".getBytes(StandardCharsets.UTF_8))
                .multiPart("purpose", "homework").when().post("/oai/v1/files").then().statusCode(400)
                .body("error.param", equalTo("purpose"));
        RestAssured.given().header("Authorization", "Bearer " + userKey).multiPart("purpose", "batch")
                .when().post("/oai/v1/files").then().statusCode(400).body("error.param", equalTo("file"));
        RestAssured.given().header("Authorization", "Bearer " + userKey)
                .multiPart("file", "a.jsonl", "{\"ok\":1}\nnot json\n".getBytes(StandardCharsets.UTF_8)).multiPart("purpose", "batch")
                .when().post("/oai/v1/files").then().statusCode(400).body("error.param", equalTo("file"))
                .body("error.message", org.hamcrest.Matchers.containsString("line 2"));
        RestAssured.given().multiPart("file", "a.jsonl", "{}".getBytes(StandardCharsets.UTF_8)).multiPart("purpose", "batch")
                .when().post("/oai/v1/files").then().statusCode(401);

        String notes = upload(userKey, "user_data", "notes", "notes.txt");
        as(userKey).body(Map.of("input_file_id", notes, "endpoint", "/v1/chat/completions", "completion_window", "24h"))
                .when().post("/oai/v1/batches").then().statusCode(400).body("error.param", equalTo("input_file_id"));
        as(userKey).body(Map.of("input_file_id", notes, "endpoint", "/v1/moderations", "completion_window", "24h"))
                .when().post("/oai/v1/batches").then().statusCode(400).body("error.param", equalTo("endpoint"));
        as(userKey).body(Map.of("input_file_id", notes, "endpoint", "/v1/embeddings", "completion_window", "1h"))
                .when().post("/oai/v1/batches").then().statusCode(400).body("error.param", equalTo("completion_window"));
        as(userKey).body(Map.of("input_file_id", "file-nothing", "endpoint", "/v1/embeddings", "completion_window", "24h"))
                .when().post("/oai/v1/batches").then().statusCode(404);
        as(userKey).when().get("/oai/v1/batches/batch_nothing").then().statusCode(404);
        as(userKey).when().get("/oai/v1/files?limit=0").then().statusCode(400).body("error.param", equalTo("limit"));

        // deleting a file: gone for good
        as(userKey).when().delete("/oai/v1/files/" + notes).then().statusCode(200).body("deleted", equalTo(true));
        as(userKey).when().get("/oai/v1/files/" + notes).then().statusCode(404);
        as(userKey).when().get("/oai/v1/files/" + notes + "/content").then().statusCode(404)
                .header("X-Request-Id", startsWith("req_"));
    }
}
