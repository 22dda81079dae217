package ai.scaigrid.gateway.inference;

import ai.scaigrid.gateway.health.Drain;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Graceful shutdown: once the gateway drains, new requests get 503 SERVICE_DRAINING (gRPC UNAVAILABLE) in
 * each API's own error format, health and metrics still answer, and the streams already running finish
 * normally. The drain is started here the way Quarkus' shutdown announcement starts it ({@link Drain#begin});
 * the real SIGTERM path is checked end to end in deploy/launcher's LauncherEndToEndIT. Running gRPC inference calls
 * are waited for (bounded) before the server stops.
 */
@QuarkusTest
class DrainTest {
    private static final Metadata.Key<String> AUTH = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> ERROR_CODE = Metadata.Key.of("scaigrid-error-code", Metadata.ASCII_STRING_MARSHALLER);

    @Inject
    Drain drain;

    @Inject
    BackgroundResponses background;

    /** A background response running when the drain begins is let finish, and is stored, before the drain returns. */
    @Test
    void aDrainLetsBackgroundResponsesFinish() throws Exception {
        String late = InferenceFixtures.chatModel("late"); // answers after 900 ms
        String id = InferenceFixtures.as(ADMIN).body(java.util.Map.of("model", late, "input", "finish in the drain", "background", true))
                .when().post("/oai/v1/responses").then().statusCode(200).extract().path("id");
        assertThat(background.runningHere()).isPositive();
        drain.drainAndAwait(Duration.ZERO, Duration.ofSeconds(10));
        assertThat(background.runningHere()).isZero();
        drain.end();
        InferenceFixtures.as(ADMIN).when().get("/oai/v1/responses/" + id).then().statusCode(200)
                .body("status", org.hamcrest.Matchers.equalTo("completed"));
    }

    @AfterEach
    void serveAgain() {
        drain.end();
    }

    @Test
    void refusesNewRequestsWhileRunningStreamsFinish() throws Exception {
        String slow = InferenceFixtures.chatModel("slow1s");
        String echo = InferenceFixtures.chatModel("echo");
        HttpClient http = HttpClient.newHttpClient();
        String chat = new io.vertx.core.json.JsonObject(InferenceFixtures.with(InferenceFixtures.chat(slow, "hi"), "stream", true)).encode();
        HttpRequest streaming = HttpRequest.newBuilder(URI.create("http://localhost:" + RestAssured.port + "/v1/inference/chat"))
                .header("Authorization", "Bearer " + ADMIN).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(chat)).build();
        // a stream is running (its first frame arrived) when the drain begins
        HttpResponse<java.io.InputStream> running = http.send(streaming, HttpResponse.BodyHandlers.ofInputStream());
        assertThat(running.statusCode()).isEqualTo(200);
        CompletableFuture<String> rest = CompletableFuture.supplyAsync(() -> {
            try (var in = running.body()) {
                return new String(in.readAllBytes());
            } catch (java.io.IOException e) {
                throw new RuntimeException(e);
            }
        });

        drain.begin(Duration.ZERO);

        Response refused = given().header("Authorization", "Bearer " + ADMIN).header("X-Request-Id", "req_drain_native")
                .contentType("application/json").body(InferenceFixtures.chat(echo, "new")).post("/v1/inference/chat");
        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(refused.header("Retry-After")).isEqualTo("1");
        assertThat(refused.header("X-Request-Id")).isEqualTo("req_drain_native");
        assertThat(refused.jsonPath().getString("status")).isEqualTo("error");
        assertThat(refused.jsonPath().getString("error.code")).isEqualTo("SERVICE_DRAINING");
        assertThat(refused.jsonPath().getInt("error.retry_after")).isEqualTo(1);
        assertThat(refused.jsonPath().getString("meta.request_id")).isEqualTo("req_drain_native");

        Response oai = given().header("Authorization", "Bearer " + ADMIN).contentType("application/json")
                .body(InferenceFixtures.chat(echo, "new")).post("/oai/v1/chat/completions");
        assertThat(oai.statusCode()).isEqualTo(503);
        assertThat(oai.jsonPath().getString("error.type")).isEqualTo("server_error");
        assertThat(oai.jsonPath().getString("error.code")).isEqualTo("service_draining");

        Response admin = given().header("Authorization", "Bearer " + ADMIN).get("/v1/models");
        assertThat(admin.statusCode()).isEqualTo(503);
        assertThat(admin.jsonPath().getString("error.code")).isEqualTo("SERVICE_DRAINING");

        // probes and metrics still answer; the platform's readiness reports the drain (Quarkus' own is DOWN once
        // shutdown is announced, checked with a real SIGTERM in LauncherEndToEndIT)
        given().get("/q/health/live").then().statusCode(200);
        given().get("/q/metrics").then().statusCode(200);
        given().get("/health").then().statusCode(200);
        given().get("/health/ready").then().statusCode(503)
                .body("status", org.hamcrest.Matchers.equalTo("not_ready"))
                .body("checks.shutdown", org.hamcrest.Matchers.equalTo("draining"))
                .body("checks.database", org.hamcrest.Matchers.equalTo("ok"));

        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        try {
            Metadata headers = new Metadata();
            headers.put(AUTH, "Bearer " + ADMIN);
            var stub = InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            InferenceRequest request = InferenceRequest.newBuilder().setModel(echo)
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("new")).build();
            assertThatThrownBy(() -> stub.streamInference(request).forEachRemaining(c -> { }))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                        assertThat(e.getTrailers().get(ERROR_CODE)).isEqualTo("SERVICE_DRAINING");
                    });

            // the stream that was running when the drain began ends normally
            String body = rest.get(10, TimeUnit.SECONDS);
            assertThat(body).contains("tick ").endsWith("data: [DONE]\n\n").doesNotContain("event: error");

            // and once serving again (tests only: a real shutdown does not turn back), so do new calls
            drain.end();
            Iterator<InferenceChunk> chunks = stub.streamInference(request);
            StringBuilder text = new StringBuilder();
            chunks.forEachRemaining(c -> text.append(c.getDelta().getContent()));
            assertThat(text.toString()).isEqualTo("echo: new");
        } finally {
            channel.shutdownNow();
        }
        given().header("Authorization", "Bearer " + ADMIN).get("/v1/models").then().statusCode(200);
    }

    /** Quarkus waits only for HTTP requests before it stops the gRPC server (which cuts streams): the drain waits for these. */
    @Test
    void shutdownWaitsForGrpcInferenceCallsInFlight() throws Exception {
        String slow = InferenceFixtures.chatModel("slow1s");
        String endless = InferenceFixtures.chatModel("slow");
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        try {
            Metadata headers = new Metadata();
            headers.put(AUTH, "Bearer " + ADMIN);
            var async = InferenceServiceGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            var blocking = InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            Recorder running = new Recorder();
            async.streamInference(request(slow), running);
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> running.text.length() > 0);
            assertThat(drain.grpcInFlight()).isEqualTo(1);

            CompletableFuture<Void> draining = CompletableFuture.runAsync(() -> drain.drainAndAwait(Duration.ZERO, Duration.ofSeconds(15)));
            // the drain starts on another thread: the call below must come after it has begun
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(drain::draining);
            assertThatThrownBy(() -> blocking.infer(request(slow)))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getTrailers().get(ERROR_CODE)).isEqualTo("SERVICE_DRAINING"));
            assertThat(draining).as("the drain waits while the stream runs").isNotDone();
            draining.get(15, TimeUnit.SECONDS);
            assertThat(drain.grpcInFlight()).isZero();
            assertThat(running.done.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(running.failure).as("the stream ran to its end").isNull();
            assertThat(running.text.toString()).contains("tick ");

            // bounded: a call that outlives the timeout does not hold the shutdown
            drain.end();
            Recorder longOne = new Recorder();
            async.streamInference(request(endless), longOne);
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> longOne.text.length() > 0);
            long started = System.nanoTime();
            drain.drainAndAwait(Duration.ZERO, Duration.ofMillis(300));
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isBetween(Duration.ofMillis(250), Duration.ofSeconds(5));
            assertThat(drain.grpcInFlight()).isEqualTo(1);
        } finally {
            channel.shutdownNow();
        }
        // the client went away: its call is no longer counted
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> drain.grpcInFlight() == 0);
    }

    private static InferenceRequest request(String model) {
        return InferenceRequest.newBuilder().setModel(model)
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("hi")).build();
    }

    /** Collects a streaming call's text and how it ended. */
    private static final class Recorder implements io.grpc.stub.StreamObserver<InferenceChunk> {
        final StringBuffer text = new StringBuffer();
        final java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        volatile Throwable failure;

        @Override
        public void onNext(InferenceChunk chunk) {
            text.append(chunk.getDelta().getContent());
        }

        @Override
        public void onError(Throwable t) {
            failure = t;
            done.countDown();
        }

        @Override
        public void onCompleted() {
            done.countDown();
        }
    }

    @Test
    void aShutdownDelayKeepsServingUntilItEnds() {
        given().get("/health/ready").then().statusCode(200).body("checks.shutdown", org.hamcrest.Matchers.equalTo("serving"));
        drain.begin(Duration.ofMinutes(5));
        assertThat(drain.draining()).isFalse();
        given().header("Authorization", "Bearer " + ADMIN).get("/v1/models").then().statusCode(200);
        // not ready from the announcement on, so the balancer stops sending while requests are still served
        given().get("/health/ready").then().statusCode(503);
        drain.begin(Duration.ZERO);
        assertThat(drain.draining()).isTrue();
    }
}
