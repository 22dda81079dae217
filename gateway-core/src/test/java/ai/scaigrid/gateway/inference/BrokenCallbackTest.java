package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.security.Caller;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.arc.ClientProxy;
import io.quarkus.test.junit.QuarkusMock;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.usageRecord;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A callback in a request's asynchronous chain that throws, an {@link Error} included (seen when classes changed under a
 * running gateway), is answered: a 500 in the API's shape before the answer began, a reset connection after it; never
 * a request left waiting until its client gives up. The faults are injected by replacing beans for one test.
 */
@QuarkusTest
class BrokenCallbackTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @Inject
    StoredResponses stored;

    /** Sends a request; its whole answer must come within ten seconds (a hang fails the test, it does not stall it). */
    private static CompletableFuture<HttpResponse<String>> send(String path, String contentType, byte[] body, String requestId) {
        return CLIENT.sendAsync(HttpRequest.newBuilder(URI.create("http://localhost:" + RestAssured.port + path))
                .header("Authorization", "Bearer " + ADMIN).header("Content-Type", contentType).header("X-Request-Id", requestId)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> answer(CompletableFuture<HttpResponse<String>> sent) throws Exception {
        return sent.get(10, TimeUnit.SECONDS);
    }

    private static byte[] json(Object body) throws Exception {
        return JSON.writeValueAsBytes(body);
    }

    @Test
    void aThrowingStepBeforeAdmissionIsAnsweredOnEveryDoor() throws Exception {
        QuarkusMock.installMockForType(new InferencePipeline() {
            @Override
            public Uni<InferenceExchange> admit(Caller caller, String requestId, String api, String endpoint, JsonNode body, long deadlineNanos) {
                throw new NoClassDefFoundError("ai/scaigrid/gateway/inference/Gone");
            }
        }, InferencePipeline.class);

        HttpResponse<String> nativeChat = answer(send("/v1/inference/chat", "application/json",
                json(Map.of("model", "any/model", "messages", java.util.List.of(Map.of("role", "user", "content", "hi")))), "req_broken_native"));
        assertThat(nativeChat.statusCode()).isEqualTo(500);
        JsonNode error = JSON.readTree(nativeChat.body());
        assertThat(error.at("/error/code").asText()).isEqualTo("INTERNAL_ERROR");
        assertThat(error.at("/meta/request_id").asText()).isEqualTo("req_broken_native");
        assertThat(nativeChat.body()).doesNotContain("NoClassDefFoundError").doesNotContain("Gone");

        HttpResponse<String> oaiChat = answer(send("/oai/v1/chat/completions", "application/json",
                json(Map.of("model", "any/model", "messages", java.util.List.of(Map.of("role", "user", "content", "hi")))), "req_broken_oai"));
        assertThat(oaiChat.statusCode()).isEqualTo(500);
        assertThat(JSON.readTree(oaiChat.body()).at("/error/type").asText()).isEqualTo("server_error");
        assertThat(oaiChat.headers().firstValue("X-Request-Id")).hasValue("req_broken_oai");

        // a multipart request breaks in the callback that decodes its form
        String boundary = "broken-boundary";
        String form = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nany/model\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nspeech\r\n--"
                + boundary + "--\r\n";
        HttpResponse<String> upload = answer(send("/oai/v1/audio/transcriptions", "multipart/form-data; boundary=" + boundary,
                form.getBytes(StandardCharsets.UTF_8), "req_broken_upload"));
        assertThat(upload.statusCode()).isEqualTo(500);
        assertThat(JSON.readTree(upload.body()).at("/error/type").asText()).isEqualTo("server_error");
    }

    @Test
    void aStreamWhoseLastStepThrowsIsCutNotLeftOpen() throws Exception {
        String model = chatModel("echo");
        StoredResponses real = ClientProxy.unwrap(stored);
        QuarkusMock.installMockForType(new StoredResponses() {
            @Override
            Uni<ObjectNode> chat(Caller caller, ResponsesApi.Turn turn) {
                return real.chat(caller, turn);
            }

            @Override
            Uni<ObjectNode> respond(Caller caller, ResponsesApi.Turn turn, ObjectNode completion) {
                return real.respond(caller, turn, completion);
            }

            @Override
            Uni<Boolean> save(Caller caller, ResponsesApi.Turn turn, ObjectNode response, com.fasterxml.jackson.databind.JsonNode answer) {
                throw new NoClassDefFoundError("ai/scaigrid/gateway/inference/Gone");
            }
        }, StoredResponses.class);

        // streamed: completing the stream throws. Its events are queued for the end of the upstream's read: when none
        // were written yet, the answer is a 500; when some were, the connection is reset. It never looks complete.
        CompletableFuture<HttpResponse<String>> streamed = send("/oai/v1/responses", "application/json",
                json(Map.of("model", model, "input", "a stream that breaks", "stream", true)), "req_broken_stream");
        try {
            HttpResponse<String> refused = answer(streamed);
            assertThat(refused.statusCode()).isEqualTo(500);
            assertThat(JSON.readTree(refused.body()).at("/error/type").asText()).isEqualTo("server_error");
        } catch (ExecutionException cut) {
            assertThat(cut.getCause()).isInstanceOf(IOException.class).isNotInstanceOf(HttpTimeoutException.class);
        }
        // the upstream's answer was whole before the step broke: the request stays recorded as it ended, tokens and all
        var record = usageRecord(pool, usage, "req_broken_stream");
        assertThat(record.getString("status")).isEqualTo("ok");
        assertThat(record.getInteger("completion_tokens")).isPositive();
    }

    @Test
    void aThrowingStepOfAResponsesRequestIsAnswered() throws Exception {
        QuarkusMock.installMockForType(new StoredResponses() {
            @Override
            Uni<ObjectNode> chat(Caller caller, ResponsesApi.Turn turn) {
                throw new NoClassDefFoundError("ai/scaigrid/gateway/inference/Gone");
            }
        }, StoredResponses.class);
        HttpResponse<String> refused = answer(send("/oai/v1/responses", "application/json",
                json(Map.of("model", "any/model", "input", "hello")), "req_broken_responses"));
        assertThat(refused.statusCode()).isEqualTo(500);
        assertThat(JSON.readTree(refused.body()).at("/error/type").asText()).isEqualTo("server_error");
    }
}
