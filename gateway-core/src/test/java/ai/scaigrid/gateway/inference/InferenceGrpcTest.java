package ai.scaigrid.gateway.inference;

import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceResponse;
import ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.ListModelsRequest;
import ai.scaigrid.proto.scaiinfer.v1.StreamOptions;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** scaiinfer.v1.InferenceService on the gateway's gRPC port: streaming, unary, errors, deadlines, cancellation. */
@QuarkusTest
class InferenceGrpcTest {
    private static final Metadata.Key<String> AUTH = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> REQUEST_ID = Metadata.Key.of("x-request-id", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> ERROR_CODE = Metadata.Key.of("scaigrid-error-code", Metadata.ASCII_STRING_MARSHALLER);
    private static ManagedChannel channel;

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @BeforeAll
    static void connect() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
    }

    @AfterAll
    static void close() {
        channel.shutdownNow();
    }

    private static InferenceServiceGrpc.InferenceServiceBlockingStub blocking(String token, String requestId) {
        Metadata headers = new Metadata();
        if (token != null) {
            headers.put(AUTH, "Bearer " + token);
        }
        if (requestId != null) {
            headers.put(REQUEST_ID, requestId);
        }
        return InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    private static InferenceRequest request(String model, String text) {
        return InferenceRequest.newBuilder().setModel(model)
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent(text)).build();
    }

    @Test
    void streamsDeltasThenUsage() {
        String model = InferenceFixtures.chatModel("echo");
        Iterator<InferenceChunk> chunks = blocking(ADMIN, "req_grpc_stream_1").streamInference(request(model, "grpc hi").toBuilder()
                .setStreamOptions(StreamOptions.newBuilder().setIncludeUsage(true)).build());
        StringBuilder text = new StringBuilder();
        List<InferenceChunk> all = new ArrayList<>();
        chunks.forEachRemaining(c -> {
            all.add(c);
            text.append(c.getDelta().getContent());
        });
        assertThat(text.toString()).isEqualTo("echo: grpc hi");
        // the upstream sends its usage in a chunk after the finish (OpenAI's way): one final chunk carries both
        assertThat(all.stream().filter(c -> !c.getFinishReason().isEmpty() || c.hasUsage()).toList()).singleElement()
                .satisfies(last -> {
                    assertThat(last.getFinishReason()).isEqualTo("stop");
                    assertThat(last.getUsage().getTotalTokens()).isEqualTo(10);
                });
        assertThat(all.get(all.size() - 1).getUsage().getTotalTokens()).isEqualTo(10);
        assertThat(all.get(0).getModel()).isEqualTo(model);
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            assertThat(pool.preparedQuery("SELECT api FROM usage_records WHERE request_id = 'req_grpc_stream_1'").execute()
                    .await().atMost(Duration.ofSeconds(5)).iterator().next().getString("api")).isEqualTo("grpc");
        });
    }

    @Test
    void unaryInferAndListModels() {
        String model = InferenceFixtures.chatModel("echo");
        InferenceResponse r = blocking(ADMIN, null).infer(request(model, "unary"));
        assertThat(r.getMessage().getContent()).isEqualTo("echo: unary");
        assertThat(r.getFinishReason()).isEqualTo("stop");
        assertThat(r.getUsage().getPromptTokens()).isEqualTo(7);
        assertThat(r.getUsage().getCachedTokens()).isZero();
        // a prompt-cache hit reaches gRPC callers as it reaches HTTP ones
        String cached = InferenceFixtures.chatModel("cached");
        assertThat(blocking(ADMIN, null).infer(request(cached, "again")).getUsage().getCachedTokens()).isEqualTo(5);
        java.util.List<InferenceChunk> streamed = new java.util.ArrayList<>();
        blocking(ADMIN, null).streamInference(request(cached, "again, streamed")).forEachRemaining(streamed::add);
        assertThat(streamed.get(streamed.size() - 1).getUsage().getCachedTokens()).isEqualTo(5);
        assertThat(blocking(ADMIN, null).listModels(ListModelsRequest.newBuilder().setModality("chat").build()).getModelsList())
                .anyMatch(m -> m.getId().equals(model) && m.getMaxOutputTokens() == 1000);
    }

    /** ListModels counts against the caller's request limits like every HTTP request: RESOURCE_EXHAUSTED / RATE_LIMITED. */
    @Test
    void listModelsCountsAgainstTheRequestLimit() {
        String tenantId = InferenceFixtures.tenant();
        InferenceFixtures.as(ADMIN).body(java.util.Map.of("key_requests_per_minute", 2)).when()
                .put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        String key = InferenceFixtures.key(tenantId, "tenant_user", null);
        blocking(key, null).listModels(ListModelsRequest.getDefaultInstance());
        blocking(key, null).listModels(ListModelsRequest.getDefaultInstance());
        assertStatus(() -> blocking(key, null).listModels(ListModelsRequest.getDefaultInstance()),
                Status.Code.RESOURCE_EXHAUSTED, "RATE_LIMITED");
    }

    @Test
    void errorsCarryTheScaigridCode() {
        String model = InferenceFixtures.chatModel("echo");
        assertStatus(() -> blocking(null, null).infer(request(model, "x")), Status.Code.UNAUTHENTICATED, "AUTH_TOKEN_MISSING");
        assertStatus(() -> blocking("sgk_NotARealKey0000000000000000000000000", null).infer(request(model, "x")),
                Status.Code.UNAUTHENTICATED, "AUTH_TOKEN_INVALID");
        assertStatus(() -> blocking(ADMIN, null).infer(request("no/such-model", "x")), Status.Code.NOT_FOUND, "MODEL_NOT_FOUND");
        assertStatus(() -> blocking(ADMIN, null).infer(InferenceRequest.newBuilder().setModel(model)
                .addMessages(ChatMessage.newBuilder().setRole("wizard").setContent("x")).build()), Status.Code.INVALID_ARGUMENT,
                "VALIDATION_ERROR");
        assertStatus(() -> blocking(ADMIN, null).streamInference(request(InferenceFixtures.chatModel("fail500"), "x"))
                .forEachRemaining(c -> { }), Status.Code.UNAVAILABLE, "BACKEND_ERROR");
    }

    @Test
    void hostileValuesAreInvalidArgumentsNeverInternal() {
        String model = InferenceFixtures.chatModel("echo");
        // a model name PostgreSQL cannot even compare (NUL), absurd sizes and malformed embedded JSON
        assertStatus(() -> blocking(ADMIN, null).infer(request("acme/a\u0000b", "x")), Status.Code.INVALID_ARGUMENT, "VALIDATION_ERROR");
        assertStatus(() -> blocking(ADMIN, null).streamInference(request("acme/a\u0000b", "x")).forEachRemaining(c -> { }),
                Status.Code.INVALID_ARGUMENT, "VALIDATION_ERROR");
        assertStatus(() -> blocking(ADMIN, null).listModels(ListModelsRequest.newBuilder().setModality("chat\u0000").build()),
                Status.Code.INVALID_ARGUMENT, "VALIDATION_ERROR");
        assertStatus(() -> blocking(ADMIN, null).infer(request(model, "x").toBuilder().setMaxTokens(-5).build()),
                Status.Code.INVALID_ARGUMENT, "VALIDATION_ERROR");
        assertStatus(() -> blocking(ADMIN, null).infer(request(model, "x").toBuilder().addTools(ai.scaigrid.proto.scaiinfer.v1.Tool
                        .newBuilder().setFunction(ai.scaigrid.proto.scaiinfer.v1.FunctionDefinition.newBuilder().setName("f")
                                .setParametersJson("{not json"))).build()),
                Status.Code.INVALID_ARGUMENT, "VALIDATION_ERROR");
        assertStatus(() -> blocking(ADMIN, null).infer(request("x".repeat(100_000), "x")), Status.Code.INVALID_ARGUMENT,
                "VALIDATION_ERROR");
        // a float JSON cannot carry: it passed the range check before and reached the backend
        assertStatus(() -> blocking(ADMIN, null).infer(request(model, "x").toBuilder().setTemperature(Float.NaN).build()),
                Status.Code.INVALID_ARGUMENT, "VALIDATION_ERROR");
        assertStatus(() -> blocking(ADMIN, null).infer(request(model, "x").toBuilder().putAllMetadata(
                        java.util.stream.IntStream.range(0, 17).boxed().collect(java.util.stream.Collectors.toMap(i -> "k" + i, i -> "v"))).build()),
                Status.Code.INVALID_ARGUMENT, "VALIDATION_ERROR");
    }

    @Test
    void failureAfterTheFirstTokenIsAFinalErrorChunk() {
        List<InferenceChunk> all = new ArrayList<>();
        blocking(ADMIN, null).streamInference(request(InferenceFixtures.chatModel("midfail"), "x")).forEachRemaining(all::add);
        InferenceChunk last = all.get(all.size() - 1);
        assertThat(last.getFinishReason()).isEqualTo("error");
        assertThat(last.getError().getCode()).isEqualTo("BACKEND_ERROR");
        // text that reached the gateway in one read may leave as one chunk (ChunkCoalescer)
        assertThat(all.get(0).getDelta().getContent()).startsWith("Hello");
        assertThat(all.subList(0, all.size() - 1)).allSatisfy(c -> assertThat(c.getFinishReason()).isEmpty());
    }

    @Test
    void deadlineIsHonouredAndCancelsTheUpstream() {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        int before = up.cancelledStreams.get();
        String model = InferenceFixtures.chatModel("slow");
        long start = System.nanoTime();
        assertThatThrownBy(() -> blocking(ADMIN, null).withDeadlineAfter(400, TimeUnit.MILLISECONDS)
                .streamInference(request(model, "x")).forEachRemaining(c -> { }))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
        await().atMost(Duration.ofSeconds(3)).until(() -> up.cancelledStreams.get() > before);
    }

    @Test
    void clientCancellationReachesTheUpstream() throws Exception {
        OpenAiTestUpstream up = OpenAiTestUpstream.get();
        int before = up.cancelledStreams.get();
        String model = InferenceFixtures.chatModel("slow");
        Metadata headers = new Metadata();
        headers.put(AUTH, "Bearer " + ADMIN);
        CountDownLatch firstChunk = new CountDownLatch(1);
        ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
        InferenceServiceGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .streamInference(request(model, "x"), new ClientResponseObserver<InferenceRequest, InferenceChunk>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<InferenceRequest> requestStream) {
                        call[0] = requestStream;
                    }

                    @Override
                    public void onNext(InferenceChunk value) {
                        firstChunk.countDown();
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        assertThat(firstChunk.await(5, TimeUnit.SECONDS)).isTrue();
        call[0].cancel("client went away", null);
        await().atMost(Duration.ofSeconds(3)).until(() -> up.cancelledStreams.get() > before);
    }

    private static String serviceToken(java.util.Map<String, Object> body) {
        return InferenceFixtures.as(ADMIN).body(body).when().post("/v1/service-tokens").then().statusCode(201)
                .extract().path("data.token");
    }

    /**
     * Seed 000: gRPC clients authenticate with a service token. One scoped {@code scaiinfer.inference} acts
     * for its tenant (catalogue, accounting); other scopes, a token without a tenant and a suspended
     * tenant are refused, and such tokens still never work on REST.
     */
    @Test
    void aTenantsServiceTokenStreamsAsThatTenant() {
        String model = InferenceFixtures.chatModel("echo");
        String tenant = InferenceFixtures.tenant();
        String token = serviceToken(java.util.Map.of("name", "svc-client", "scopes", List.of("scaiinfer.inference"),
                "tenant_id", tenant));
        StringBuilder text = new StringBuilder();
        blocking(token, "req_grpc_svc_1").streamInference(request(model, "svc hi")).forEachRemaining(c -> text.append(c.getDelta().getContent()));
        assertThat(text.toString()).isEqualTo("echo: svc hi");
        assertThat(blocking(token, null).listModels(ListModelsRequest.getDefaultInstance()).getModelsList())
                .anyMatch(m -> m.getId().equals(model));
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            usage.flush().await().atMost(Duration.ofSeconds(5));
            var row = pool.preparedQuery("SELECT tenant_id, user_id, api_key_id FROM usage_records WHERE request_id = 'req_grpc_svc_1'")
                    .execute().await().atMost(Duration.ofSeconds(5)).iterator().next();
            assertThat(row.getString("tenant_id")).isEqualTo(tenant);
            assertThat(row.getString("user_id")).isNull();
            assertThat(row.getString("api_key_id")).startsWith("svt_");
        });
        InferenceFixtures.as(token).when().get("/v1/models").then().statusCode(401);

        String nodeToken = serviceToken(java.util.Map.of("name", "svc-node", "scopes", List.of("scaiinfer.node")));
        assertStatus(() -> blocking(nodeToken, null).infer(request(model, "x")), Status.Code.PERMISSION_DENIED, "AUTH_INSUFFICIENT_SCOPE");
        InferenceFixtures.as(ADMIN).body(java.util.Map.of("name", "no-tenant", "scopes", List.of("scaiinfer.inference")))
                .when().post("/v1/service-tokens").then().statusCode(400).body("error.details[0].field",
                        org.hamcrest.Matchers.equalTo("tenant_id"));

        String suspended = InferenceFixtures.tenant();
        String suspendedToken = serviceToken(java.util.Map.of("name", "svc-susp", "scopes", List.of("scaiinfer.inference"),
                "tenant_id", suspended));
        pool.preparedQuery("UPDATE tenants SET status = 'suspended' WHERE id = $1").execute(io.vertx.mutiny.sqlclient.Tuple.of(suspended))
                .await().atMost(Duration.ofSeconds(5));
        assertStatus(() -> blocking(suspendedToken, null).infer(request(model, "x")), Status.Code.UNAUTHENTICATED, "AUTH_TOKEN_INVALID");
    }

    private static void assertStatus(Runnable call, Status.Code code, String scaigridCode) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(code);
            assertThat(e.getTrailers().get(ERROR_CODE)).isEqualTo(scaigridCode);
        });
    }

}
