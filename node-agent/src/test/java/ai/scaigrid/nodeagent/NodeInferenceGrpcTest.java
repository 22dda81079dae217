package ai.scaigrid.nodeagent;

import ai.scaigrid.commons.error.GrpcErrors;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.ListModelsRequest;
import ai.scaigrid.proto.scaiinfer.v1.ModelInfo;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;

/** scaiinfer.v1.InferenceService on a real node-agent, over a real gRPC channel, as the gateway calls it. */
@QuarkusTest
@QuarkusTestResource(LocalUpstreamResource.class)
class NodeInferenceGrpcTest {
    static final String TOKEN = "test-gateway-token";
    private static ManagedChannel channel;

    @Inject
    NodeRuntime runtime;

    @BeforeAll
    static void open() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59060).usePlaintext().build();
    }

    @AfterAll
    static void close() {
        channel.shutdownNow();
    }

    @AfterEach
    void resume() {
        runtime.resume();
    }

    @org.junit.jupiter.api.BeforeEach
    void idle() {
        // every test starts on an idle node (a failed test may leave a stream behind for a moment)
        await().atMost(Duration.ofSeconds(5)).until(() -> runtime.inFlight() == 0);
    }

    static InferenceServiceGrpc.InferenceServiceBlockingStub stub(String token) {
        Metadata md = new Metadata();
        if (token != null) {
            md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), token);
        }
        return InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    static InferenceRequest chat(String model, String text) {
        return InferenceRequest.newBuilder().setModel(model).setSeed(1)
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent(text)).build();
    }

    private static String code(StatusRuntimeException e) {
        return e.getTrailers() == null ? null : e.getTrailers().get(GrpcErrors.ERROR_CODE_KEY);
    }

    private static List<InferenceChunk> drain(Iterator<InferenceChunk> it) {
        List<InferenceChunk> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }

    @Test
    void streamsTheSimulatedModelToTheGateway() {
        List<InferenceChunk> chunks = drain(stub("Bearer " + TOKEN).streamInference(chat("scaigrid-sim-1", "hello")));
        assertThat(chunks).hasSizeGreaterThanOrEqualTo(2);
        InferenceChunk last = chunks.get(chunks.size() - 1);
        assertThat(last.getFinishReason()).isEqualTo("stop");
        // tokens of one generation step share a chunk (ChunkCoalescer): at most one chunk per token
        assertThat(last.getUsage().getCompletionTokens()).isGreaterThanOrEqualTo(chunks.size() - 1);
        assertThat(chunks.get(0).getModel()).isEqualTo("scaigrid-sim-1");
        // Infer folds the same deterministic text
        var whole = stub("Bearer " + TOKEN).infer(chat("scaigrid-sim-1", "hello"));
        assertThat(whole.getMessage().getContent())
                .isEqualTo(chunks.stream().map(c -> c.getDelta().getContent()).collect(Collectors.joining()));
        assertThat(whole.getUsage().getTotalTokens()).isEqualTo(last.getUsage().getTotalTokens());
    }

    @Test
    void relaysALocalOpenAiCompatibleServer() {
        List<InferenceChunk> chunks = drain(stub("Bearer " + TOKEN).streamInference(chat("local-llama", "hi")));
        assertThat(chunks.stream().map(c -> c.getDelta().getContent()).collect(Collectors.joining())).isEqualTo("Hello world");
        assertThat(chunks.get(chunks.size() - 1).getUsage().getTotalTokens()).isEqualTo(11);
    }

    @Test
    void onlyTheGatewaysTokenIsAccepted() {
        StatusRuntimeException none = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> drain(stub(null).streamInference(chat("scaigrid-sim-1", "x"))));
        assertThat(none.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(code(none)).isEqualTo("AUTH_TOKEN_MISSING");
        StatusRuntimeException apiKey = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> drain(stub("Bearer sgk_TestSuperAdminKey00000000000000000000").streamInference(chat("scaigrid-sim-1", "x"))));
        assertThat(apiKey.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(code(apiKey)).isEqualTo("SERVICE_TOKEN_INVALID");
        StatusRuntimeException basic = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> stub("Basic dGVzdDp0ZXN0").listModels(ListModelsRequest.getDefaultInstance()));
        assertThat(code(basic)).isEqualTo("SERVICE_TOKEN_INVALID");
    }

    @Test
    void badRequestsGetPreciseCodes() {
        StatusRuntimeException unknown = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> drain(stub("Bearer " + TOKEN).streamInference(chat("no-such-model", "x"))));
        assertThat(unknown.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
        assertThat(code(unknown)).isEqualTo("MODEL_NOT_FOUND");
        StatusRuntimeException empty = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> drain(stub("Bearer " + TOKEN).streamInference(InferenceRequest.newBuilder().setModel("scaigrid-sim-1").build())));
        assertThat(empty.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(code(empty)).isEqualTo("VALIDATION_ERROR");
    }

    @Test
    void listsModelsAndEmbeds() {
        List<ModelInfo> models = stub("Bearer " + TOKEN).listModels(ListModelsRequest.getDefaultInstance()).getModelsList();
        assertThat(models).extracting(ModelInfo::getId).contains("scaigrid-sim-1", "slow-sim", "local-llama");
        assertThat(models).allSatisfy(m -> assertThat(m.getOwnedBy()).isEqualTo("test-node"));
        var embedded = stub("Bearer " + TOKEN).embed(EmbedRequest.newBuilder().setModel("scaigrid-sim-1").addInput("a").build());
        assertThat(embedded.getData(0).getEmbeddingCount()).isEqualTo(64);
    }

    @Test
    void drainingRefusesNewWorkButFinishesInFlightStreams() throws Exception {
        Iterator<InferenceChunk> running = stub("Bearer " + TOKEN).streamInference(chat("slow-sim", "long one"));
        InferenceChunk first = running.next();
        assertThat(first.getDelta().getRole()).isEqualTo("assistant");
        assertThat(runtime.inFlight()).isEqualTo(1);

        runtime.beginDrain("test");
        StatusRuntimeException refused = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> drain(stub("Bearer " + TOKEN).streamInference(chat("scaigrid-sim-1", "new"))));
        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(code(refused)).isEqualTo("SERVICE_DRAINING");
        given().when().get("/q/health/ready").then()
                .body("checks.find { it.name == 'node-config' }.data.draining", org.hamcrest.Matchers.equalTo(true));

        List<InferenceChunk> rest = drain(running);
        assertThat(rest.get(rest.size() - 1).getFinishReason()).isEqualTo("stop");
        assertThat(rest.size()).isBetween(2, 40);
        assertThat(rest.get(rest.size() - 1).getUsage().getCompletionTokens()).isEqualTo(40);
        await().atMost(Duration.ofSeconds(2)).until(() -> runtime.inFlight() == 0);

        runtime.resume();
        assertThat(drain(stub("Bearer " + TOKEN).streamInference(chat("scaigrid-sim-1", "new")))).isNotEmpty();
    }

    @Test
    void cancellationAndDeadlinesFreeTheSlotAtOnce() {
        Context.CancellableContext ctx = Context.current().withCancellation();
        CompletableFuture<Integer> received = new CompletableFuture<>();
        ctx.run(() -> {
            Iterator<InferenceChunk> it = stub("Bearer " + TOKEN).streamInference(chat("slow-sim", "cancel"));
            it.next();
            it.next();
            received.complete(2);
        });
        assertThat(received).isCompleted();
        assertThat(runtime.inFlight()).isEqualTo(1);
        long cancelledAt = System.nanoTime();
        ctx.cancel(null);
        await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(5)).until(() -> runtime.inFlight() == 0);
        assertThat((System.nanoTime() - cancelledAt) / 1_000_000).isLessThan(1000);

        // a deadline shorter than the generation ends it on the node too
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
        var shortStub = InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                .withDeadlineAfter(300, TimeUnit.MILLISECONDS);
        assertThatThrownBy(() -> drain(shortStub.streamInference(chat("slow-sim", "deadline"))))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
        await().atMost(Duration.ofSeconds(1)).until(() -> runtime.inFlight() == 0);
    }

    @Test
    void slotsAreLimited() {
        List<Context.CancellableContext> contexts = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Context.CancellableContext ctx = Context.current().withCancellation();
                contexts.add(ctx);
                ctx.run(() -> stub("Bearer " + TOKEN).streamInference(chat("slow-sim", "busy")).next());
            }
            assertThat(runtime.inFlight()).isEqualTo(3);
            StatusRuntimeException busy = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                    () -> drain(stub("Bearer " + TOKEN).streamInference(chat("scaigrid-sim-1", "one more"))));
            assertThat(busy.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            given().when().get("/q/metrics").then().body(containsString("scaiinfer_node_in_flight 3.0"));
        } finally {
            contexts.forEach(c -> c.cancel(null));
        }
        await().atMost(Duration.ofSeconds(1)).until(() -> runtime.inFlight() == 0);
    }
}
