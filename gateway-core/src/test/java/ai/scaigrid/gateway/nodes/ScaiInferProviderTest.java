package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.testing.NodeScripts;
import ai.scaigrid.gateway.inference.provider.BackendTarget;
import ai.scaigrid.gateway.inference.provider.ProviderCall;
import ai.scaigrid.gateway.inference.provider.ScaiInferProvider;
import ai.scaigrid.gateway.inference.provider.UpstreamFailure;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The scaiinfer provider against REAL node-agents (the built jar, started as child processes on free
 * ports, heartbeating to this gateway with a service token it issued): streaming, failover before the
 * first token, a node dying mid-stream, cancellation and deadlines reaching the node, operator drain
 * and re-enable, and a node draining on SIGTERM.
 */
@QuarkusTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ScaiInferProviderTest {
    private static final String RUN = UUID.randomUUID().toString().substring(0, 6);
    private static final String FAST = "m-fast-" + RUN;
    private static final String SLOW = "m-slow-" + RUN;
    private static final String FAILOVER = "m-fo-" + RUN;
    private static final String MID = "m-mid-" + RUN;
    private static final String DRAIN = "m-term-" + RUN;
    private static final String WIDE = "m-wide-" + RUN;
    private static final String THINK = "m-think-" + RUN;

    @Inject
    ScaiInferProvider provider;

    @Inject
    NodeRegistry registry;

    @Inject
    ObjectMapper mapper;

    @Inject
    io.vertx.mutiny.sqlclient.Pool pool;

    @Inject
    ai.scaigrid.gateway.inference.UsageRecorder usage;

    @Inject
    io.vertx.core.Vertx vertx;

    @Inject
    NodeChannels channels;

    @Inject
    NodesConfig nodesConfig;

    private final List<NodeAgentProcess> processes = new ArrayList<>();
    private NodeAgentProcess main;
    private NodeAgentProcess big;
    private NodeAgentProcess small;
    private NodeAgentProcess mid;
    private NodeAgentProcess terminating;

    @BeforeEach
    void startNodes() throws Exception {
        if (main != null) {
            return; // once for the class (RestAssured is only set up per test, hence not @BeforeAll)
        }
        String token = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "provider-test-nodes", "scopes", List.of("scaiinfer.node"), "ttl_seconds", 3600))
                .when().post("/v1/service-tokens").then().statusCode(201).extract().path("data.token");
        main = start("main-" + RUN, token, 8, List.of(new NodeAgentProcess.Model(FAST, 400, "10ms", 24),
                new NodeAgentProcess.Model(SLOW, 10, "10ms", 200), new NodeAgentProcess.Model(THINK, 400, "10ms", 12, 6)));
        // failover pair: with equal load the larger headroom wins, so "big" (slow to answer) is tried first
        big = start("big-" + RUN, token, 16, List.of(new NodeAgentProcess.Model(FAILOVER, 200, "8s", 20)));
        small = start("small-" + RUN, token, 4, List.of(new NodeAgentProcess.Model(FAILOVER, 200, "10ms", 20)));
        mid = start("mid-" + RUN, token, 4, List.of(new NodeAgentProcess.Model(MID, 10, "10ms", 200)));
        terminating = start("term-" + RUN, token, 4, List.of(new NodeAgentProcess.Model(DRAIN, 20, "10ms", 40)));
        start("wide-" + RUN, token, 512, List.of(new NodeAgentProcess.Model(WIDE, 400, "10ms", 24)));
        for (NodeAgentProcess p : processes) {
            await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200))
                    .failFast("node-agent " + p.id + " exited:\n" + p.logText(), () -> !p.process.isAlive())
                    .until(() -> registry.node(p.id).map(n -> "ACTIVE".equals(n.state(System.nanoTime(), 4000))).orElse(false));
        }
    }

    private NodeAgentProcess start(String id, String token, int capacity, List<NodeAgentProcess.Model> models) throws Exception {
        NodeAgentProcess p = NodeAgentProcess.start(id, token, capacity, models);
        processes.add(p);
        return p;
    }

    @AfterAll
    void stopNodes() {
        processes.forEach(NodeAgentProcess::close);
    }

    private BackendTarget backend(String model) {
        return new BackendTarget("bm_" + model, model, "scaiinfer", model, mapper.createObjectNode(), Map.of(), 0, 100);
    }

    private ProviderCall call(String text, long timeoutMillis) {
        ObjectNode body = mapper.createObjectNode();
        body.putArray("messages").addObject().put("role", "user").put("content", text);
        body.put("seed", 11);
        return new ProviderCall("req-" + UUID.randomUUID(), "tenant_x", "partner_x", "user_x", "test/scaiinfer", body,
                timeoutMillis <= 0 ? 0 : System.nanoTime() + timeoutMillis * 1_000_000L);
    }

    /**
     * A finished stream of {@code tokens} tokens: nodes send the tokens of one step in one chunk
     * (ChunkCoalescer), so there are between one and {@code tokens} text chunks, then the final one.
     */
    private static void assertFinished(List<ObjectNode> chunks, int tokens) {
        assertThat(chunks.size()).isBetween(2, tokens + 1);
        ObjectNode last = chunks.get(chunks.size() - 1);
        assertThat(last.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        assertThat(last.at("/usage/completion_tokens").asInt()).isEqualTo(tokens);
    }

    private static String text(List<ObjectNode> chunks) {
        return chunks.stream().map(c -> c.path("choices").path(0).path("delta").path("content").asText(""))
                .collect(Collectors.joining());
    }

    /** gRPC calls to the gateway with the admin key. */
    private static io.grpc.ClientInterceptor asAdmin() {
        io.grpc.Metadata headers = new io.grpc.Metadata();
        headers.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer " + ADMIN);
        return io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers);
    }

    /** A frontend model {@code slug} served by the scaiinfer backend for the nodes' model {@code nodeModel}. */
    private static String publish(String slug, String nodeModel) {
        String modelId = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("slug", slug, "display_name", "sim", "modality", "chat")).when().post("/v1/models")
                .then().statusCode(201).extract().path("data.id");
        String backendId = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "nodes", "provider_type", "scaiinfer", "model_name", nodeModel)).when().post("/v1/backends")
                .then().statusCode(201).extract().path("data.id");
        given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(Map.of("backend_id", backendId))
                .when().post("/v1/models/" + modelId + "/backends").then().statusCode(201);
        return backendId;
    }

    /** The whole path: HTTP client → gateway (/v1/inference/chat, SSE) → node-agent (simulated) → back; and gRPC. */
    @Test
    void endToEndThroughTheHttpAndGrpcApis() throws Exception {
        String slug = "e2e-" + RUN + "/sim";
        String backendId = publish(slug, FAST);
        // the backend's health counts the nodes that could serve it; the model is healthy through them
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/backends/" + backendId + "/health").then().statusCode(200)
                .body("data.status", org.hamcrest.Matchers.equalTo("healthy"))
                .body("data.nodes_serving", org.hamcrest.Matchers.greaterThanOrEqualTo(1));
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/models/" + slug).then()
                .body("data.health_status", org.hamcrest.Matchers.equalTo("healthy"));
        Map<String, Object> chat = Map.of("model", slug, "stream", true, "seed", 11,
                "messages", List.of(Map.of("role", "user", "content", "hello nodes")));
        String sse = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(chat)
                .when().post("/v1/inference/chat").then().statusCode(200)
                .header("Content-Type", org.hamcrest.Matchers.startsWith("text/event-stream")).extract().asString();
        assertThat(sse).startsWith("data: {").endsWith("data: [DONE]\n\n").doesNotContain("event: error");
        List<String> frames = java.util.Arrays.stream(sse.split("\n\n")).map(f -> f.substring("data: ".length())).toList();
        StringBuilder streamed = new StringBuilder();
        for (String frame : frames.subList(0, frames.size() - 1)) {
            ObjectNode chunk = (ObjectNode) mapper.readTree(frame);
            assertThat(chunk.get("object").asText()).isEqualTo("chat.completion.chunk");
            assertThat(chunk.get("model").asText()).isEqualTo(slug);
            streamed.append(chunk.at("/choices/0/delta/content").asText(""));
        }
        ObjectNode usageChunk = (ObjectNode) mapper.readTree(frames.get(frames.size() - 2));
        assertThat(usageChunk.at("/usage/completion_tokens").asInt()).isEqualTo(24);
        // the node's text is deterministic for the same prompt and seed: streamed = non-streamed
        String whole = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("model", slug, "seed", 11, "messages", List.of(Map.of("role", "user", "content", "hello nodes"))))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().path("choices[0].message.content");
        assertThat(streamed.toString()).isEqualTo(whole).isNotEmpty();
        // a node answers one choice per request: n > 1 on a model with only node backends is a clear 400
        given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("model", slug, "n", 2, "messages", List.of(Map.of("role", "user", "content", "twice"))))
                .when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.code", org.hamcrest.Matchers.equalTo("VALIDATION_ERROR"))
                .body("error.details[0].field", org.hamcrest.Matchers.equalTo("n"));
        // structured output: the simulated model answers JSON that follows the schema it was given
        Map<String, Object> schema = Map.of("type", "object", "required", List.of("city", "days"), "properties",
                Map.of("city", Map.of("type", "string"), "days", Map.of("type", "integer", "minimum", 1, "maximum", 7)));
        String structured = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("model", slug, "messages", List.of(Map.of("role", "user", "content", "forecast")),
                        "response_format", Map.of("type", "json_schema", "json_schema", Map.of("name", "forecast", "schema", schema))))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().path("choices[0].message.content");
        com.fasterxml.jackson.databind.JsonNode forecast = mapper.readTree(structured);
        assertThat(forecast.path("city").isTextual()).isTrue();
        assertThat(forecast.path("days").asInt()).isBetween(1, 7);

        io.grpc.ManagedChannel channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        try {
            StringBuilder viaGrpc = new StringBuilder();
            ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(asAdmin())
                    .streamInference(ai.scaigrid.proto.scaiinfer.v1.InferenceRequest.newBuilder().setModel(slug).setSeed(11)
                            .addMessages(ai.scaigrid.proto.scaiinfer.v1.ChatMessage.newBuilder().setRole("user").setContent("hello nodes"))
                            .build())
                    .forEachRemaining(c -> viaGrpc.append(c.getDelta().getContent()));
            assertThat(viaGrpc.toString()).isEqualTo(whole);
        } finally {
            channel.shutdownNow();
        }

        // a real non-Java client (Node.js, @grpc/grpc-js, the project's .proto files) against the gateway
        org.junit.jupiter.api.Assumptions.assumeTrue(NodeScripts.nodeAvailable(), "node is not installed");
        NodeJsGrpcClient.install();
        NodeScripts.Run run = NodeJsGrpcClient.stream("127.0.0.1:59051", ADMIN, slug, "hello nodes", 11);
        assertThat(run.exit()).as(run.raw()).isZero();
        assertThat(run.with("delta").size()).isBetween(1, 24);
        assertThat(run.with("delta").stream().map(d -> d.get("delta").asText()).collect(Collectors.joining())).isEqualTo(whole);
        assertThat(run.last().get("finish_reason").asText()).isEqualTo("stop");
        assertThat(run.last().at("/usage/completion_tokens").asInt()).isEqualTo(24);
        // errors: the ScaiGrid code travels in the trailers
        NodeScripts.Run unknown = NodeJsGrpcClient.stream("127.0.0.1:59051", ADMIN, "no-such/model-" + RUN, "hi", 1);
        assertThat(unknown.exit()).as(unknown.raw()).isEqualTo(2);
        assertThat(unknown.last().at("/error/grpc_status").asText()).isEqualTo("NOT_FOUND");
        assertThat(unknown.last().at("/error/scaigrid_error_code").asText()).isEqualTo("MODEL_NOT_FOUND");
        NodeScripts.Run denied = NodeJsGrpcClient.stream("127.0.0.1:59051", "sgk_NotARealKey000000000000000000000000", slug, "hi", 1);
        assertThat(denied.exit()).as(denied.raw()).isEqualTo(2);
        assertThat(denied.last().at("/error/grpc_status").asText()).isEqualTo("UNAUTHENTICATED");
        assertThat(denied.last().at("/error/scaigrid_error_code").asText()).isEqualTo("AUTH_TOKEN_INVALID");
    }

    /**
     * A reasoning model on a node (the simulated one, thinking 6 tokens before 12 of answer): its thinking
     * reaches HTTP callers as {@code reasoning_content} (deltas before the answer's, or on the message)
     * and gRPC callers in the chunks' reasoning_content; it counts as output; {@code reasoning_effort}
     * travels to the node.
     */
    @Test
    void aReasoningModelsThinkingReachesEveryCallerApartFromItsAnswer() throws Exception {
        String slug = "think-" + RUN + "/sim";
        publish(slug, THINK);
        Map<String, Object> chat = Map.of("model", slug, "stream", true, "seed", 5,
                "stream_options", Map.of("include_usage", true), "messages", List.of(Map.of("role", "user", "content", "why?")));
        String sse = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(chat)
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        assertThat(sse).endsWith("data: [DONE]\n\n").doesNotContain("event: error");
        StringBuilder reasoning = new StringBuilder();
        StringBuilder answer = new StringBuilder();
        int completionTokens = -1;
        int reasoningTokens = -1;
        for (String frame : sse.split("\n\n")) {
            if (frame.equals("data: [DONE]")) {
                continue;
            }
            JsonNode chunk = mapper.readTree(frame.substring("data: ".length()));
            JsonNode delta = chunk.at("/choices/0/delta");
            if (delta.hasNonNull("reasoning_content")) {
                assertThat(answer).as("all thinking comes before the answer").isEmpty();
                reasoning.append(delta.get("reasoning_content").asText());
            }
            answer.append(delta.path("content").asText(""));
            if (chunk.hasNonNull("usage")) {
                completionTokens = chunk.at("/usage/completion_tokens").asInt();
                reasoningTokens = chunk.at("/usage/completion_tokens_details/reasoning_tokens").asInt();
            }
        }
        assertThat(reasoning.toString().split(" ")).hasSize(6);
        assertThat(answer.toString().split(" ")).hasSize(12);
        assertThat(completionTokens).as("thinking is output").isEqualTo(18);
        assertThat(reasoningTokens).as("and counted apart, as OpenAI reports it").isEqualTo(6);

        JsonNode whole = mapper.readTree(given().header("Authorization", "Bearer " + ADMIN).header("X-Request-Id", "req_think_reported")
                .contentType(ContentType.JSON)
                .body(Map.of("model", slug, "seed", 5, "messages", List.of(Map.of("role", "user", "content", "why?"))))
                .when().post("/v1/inference/chat").then().statusCode(200).extract().asString()).path("data");
        assertThat(whole.at("/choices/0/message/reasoning_content").asText()).isEqualTo(reasoning.toString());
        assertThat(whole.at("/choices/0/message/content").asText()).isEqualTo(answer.toString());
        assertThat(whole.at("/usage/completion_tokens_details/reasoning_tokens").asInt()).isEqualTo(6);
        // the node's own figure is what the usage record keeps
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).untilAsserted(() -> {
            usage.flush().await().atMost(java.time.Duration.ofSeconds(5));
            var row = pool.preparedQuery("SELECT reasoning_tokens FROM usage_records WHERE request_id = 'req_think_reported'")
                    .execute().await().atMost(java.time.Duration.ofSeconds(5)).iterator().next();
            assertThat(row.getInteger("reasoning_tokens")).isEqualTo(6);
        });
        JsonNode none = mapper.readTree(given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("model", slug, "seed", 5, "reasoning_effort", "none",
                        "messages", List.of(Map.of("role", "user", "content", "why?"))))
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString());
        assertThat(none.at("/choices/0/message").has("reasoning_content")).isFalse();
        assertThat(none.at("/choices/0/message/content").asText()).isEqualTo(answer.toString());
        assertThat(none.at("/usage/completion_tokens").asInt()).isEqualTo(12);
        assertThat(none.at("/usage").has("completion_tokens_details")).isFalse();

        io.grpc.ManagedChannel channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        try {
            var stub = ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(asAdmin());
            var request = ai.scaigrid.proto.scaiinfer.v1.InferenceRequest.newBuilder().setModel(slug).setSeed(5)
                    .addMessages(ai.scaigrid.proto.scaiinfer.v1.ChatMessage.newBuilder().setRole("user").setContent("why?"));
            StringBuilder grpcReasoning = new StringBuilder();
            StringBuilder grpcAnswer = new StringBuilder();
            int[] grpcTokens = {-1, -1};
            stub.streamInference(request.build()).forEachRemaining(c -> {
                grpcReasoning.append(c.getDelta().getReasoningContent());
                grpcAnswer.append(c.getDelta().getContent());
                if (c.hasUsage()) {
                    grpcTokens[0] = c.getUsage().getCompletionTokens();
                    grpcTokens[1] = c.getUsage().getReasoningTokens();
                }
            });
            assertThat(grpcReasoning.toString()).isEqualTo(reasoning.toString());
            assertThat(grpcAnswer.toString()).isEqualTo(answer.toString());
            assertThat(grpcTokens[0]).isEqualTo(18);
            assertThat(grpcTokens[1]).isEqualTo(6);
            var unary = stub.infer(request.setReasoningEffort("high").build());
            assertThat(unary.getMessage().getReasoningContent().split(" ")).as("high: twice the thinking").hasSize(12);
            assertThat(unary.getMessage().getContent()).isEqualTo(answer.toString());
            assertThat(unary.getUsage().getCompletionTokens()).isEqualTo(24);
            assertThat(unary.getUsage().getReasoningTokens()).isEqualTo(12);
        } finally {
            channel.shutdownNow();
        }
    }

    /**
     * Many concurrent gRPC streams through the gateway to one node, each new one started as another
     * finishes: every one completes with all its tokens (no call cancelled or refused because of
     * another call's life cycle, no lost capacity accounting). The io.grpc.Context leak fixed in the
     * provider (node calls cancelled when an unrelated inbound call completed) showed at this load
     * from a separate client process (bench/scaiinfer/run.sh, SECTIONS=relay), not from this in-JVM
     * client.
     */
    /**
     * Token log probabilities from a node (the simulated model's own odds: each word one of its vocabulary, equally
     * likely) reach every caller: chat streamed and not, text completions in their own shape, and gRPC clients.
     */
    @Test
    void tokenLogprobsFromANodeReachEveryCaller() throws Exception {
        String slug = "lp-" + RUN + "/sim";
        publish(slug, FAST);
        double uniform = Math.log(1.0 / 73); // the simulated model draws from 73 words
        Map<String, Object> chat = new java.util.HashMap<>(Map.of("model", slug, "seed", 5, "logprobs", true, "top_logprobs", 2,
                "messages", List.of(Map.of("role", "user", "content", "odds please"))));
        io.restassured.path.json.JsonPath whole = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(chat).when().post("/oai/v1/chat/completions").then().statusCode(200).extract().jsonPath();
        List<Map<String, Object>> content = whole.getList("choices[0].logprobs.content");
        assertThat(content).hasSize(24);
        assertThat(content.stream().map(t -> (String) t.get("token")).collect(Collectors.joining()))
                .isEqualTo(whole.getString("choices[0].message.content"));
        assertThat(whole.getDouble("choices[0].logprobs.content[0].logprob")).isCloseTo(uniform, org.assertj.core.data.Offset.offset(1e-6));
        assertThat(whole.getList("choices[0].logprobs.content[0].top_logprobs")).hasSize(2);
        assertThat(whole.getList("choices[0].logprobs.content[0].bytes")).isNotEmpty();

        chat.put("stream", true);
        String sse = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(chat)
                .when().post("/oai/v1/chat/completions").then().statusCode(200).extract().asString();
        StringBuilder streamedTokens = new StringBuilder();
        int streamed = 0;
        for (String frame : sse.split("\n\n")) {
            if (!frame.startsWith("data: {")) {
                continue;
            }
            for (com.fasterxml.jackson.databind.JsonNode t : mapper.readTree(frame.substring(6)).at("/choices/0/logprobs/content")) {
                streamedTokens.append(t.path("token").asText());
                streamed++;
            }
        }
        assertThat(streamed).isEqualTo(24);
        assertThat(streamedTokens.toString()).isEqualTo(whole.getString("choices[0].message.content"));

        // a text completion: the completions shape, with offsets
        io.restassured.path.json.JsonPath text = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("model", slug, "prompt", "Once upon a time", "logprobs", 1, "seed", 5))
                .when().post("/oai/v1/completions").then().statusCode(200).extract().jsonPath();
        assertThat(text.getList("choices[0].logprobs.tokens")).hasSize(24);
        assertThat(text.getList("choices[0].logprobs.text_offset").get(0)).isEqualTo(0);
        assertThat(text.getList("choices[0].logprobs.top_logprobs")).hasSize(24);
        assertThat(text.getFloat("choices[0].logprobs.token_logprobs[3]"))
                .isCloseTo((float) uniform, org.assertj.core.data.Offset.offset(1e-4f));

        // and over gRPC, from the gateway's own InferenceService
        io.grpc.ManagedChannel channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        try {
            var request = ai.scaigrid.proto.scaiinfer.v1.InferenceRequest.newBuilder().setModel(slug).setSeed(5).setLogprobs(true)
                    .setTopLogprobs(3).addMessages(ai.scaigrid.proto.scaiinfer.v1.ChatMessage.newBuilder().setRole("user")
                            .setContent("odds please")).build();
            List<ai.scaigrid.proto.scaiinfer.v1.TokenLogprob> viaStream = new ArrayList<>();
            ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(asAdmin())
                    .streamInference(request).forEachRemaining(c -> viaStream.addAll(c.getLogprobsList()));
            assertThat(viaStream).hasSize(24);
            assertThat(viaStream).allSatisfy(t -> assertThat(t.getTopLogprobsCount()).isEqualTo(3));
            var unary = ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(asAdmin())
                    .infer(request);
            assertThat(unary.getLogprobsList()).isEqualTo(viaStream);
            assertThat(unary.getLogprobsList().stream().map(t -> t.getToken()).collect(Collectors.joining()))
                    .isEqualTo(unary.getMessage().getContent());
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void concurrentGrpcStreamsThroughTheGatewayDoNotCancelEachOther() throws Exception {
        String slug = "conc-" + RUN + "/sim";
        publish(slug, WIDE);

        int total = 600;
        int concurrency = 150;
        io.grpc.ManagedChannel channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        try {
            var stub = ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc.newStub(channel)
                    .withInterceptors(asAdmin());
            java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(total);
            java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
            java.util.Map<String, Integer> failures = new java.util.concurrent.ConcurrentHashMap<>();
            java.util.concurrent.atomic.AtomicInteger completeStreams = new java.util.concurrent.atomic.AtomicInteger();
            var withUsage = ai.scaigrid.proto.scaiinfer.v1.StreamOptions.newBuilder().setIncludeUsage(true).build();
            Runnable[] launch = new Runnable[1];
            launch[0] = () -> {
                int i = next.getAndIncrement();
                if (i >= total) {
                    return;
                }
                stub.withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS).streamInference(
                        ai.scaigrid.proto.scaiinfer.v1.InferenceRequest.newBuilder().setModel(slug).setSeed(i)
                                .setStreamOptions(withUsage)
                                .addMessages(ai.scaigrid.proto.scaiinfer.v1.ChatMessage.newBuilder().setRole("user")
                                        .setContent("concurrent " + i)).build(),
                        new io.grpc.stub.StreamObserver<>() {
                            int tokens;
                            String finish = "";

                            @Override
                            public void onNext(ai.scaigrid.proto.scaiinfer.v1.InferenceChunk c) {
                                tokens += c.getUsage().getCompletionTokens();
                                finish = c.getFinishReason();
                            }

                            @Override
                            public void onError(Throwable t) {
                                failures.merge(io.grpc.Status.fromThrowable(t).getCode() + " "
                                        + io.grpc.Status.fromThrowable(t).getDescription(), 1, Integer::sum);
                                done.countDown();
                                launch[0].run();
                            }

                            @Override
                            public void onCompleted() {
                                if (tokens == 24 && finish.equals("stop")) {
                                    completeStreams.incrementAndGet();
                                }
                                done.countDown();
                                launch[0].run();
                            }
                        });
            };
            for (int c = 0; c < concurrency; c++) {
                launch[0].run();
            }
            assertThat(done.await(90, java.util.concurrent.TimeUnit.SECONDS)).as("all streams ended").isTrue();
            assertThat(failures).as("failed streams").isEmpty();
            assertThat(completeStreams.get()).isEqualTo(total);
        } finally {
            channel.shutdownNow();
        }
    }

    /** A raw text completion (generate) goes to the node as its prompt, which the node continues. */
    @Test
    void aRawTextCompletionGoesToTheNodeAsItsPrompt() {
        ObjectNode body = mapper.createObjectNode();
        body.putArray("messages").addObject().put("role", "user").put("content", "Once upon a time");
        ProviderCall raw = new ProviderCall("req-raw", "tenant_x", "partner_x", "user_x", "test/scaiinfer", body, 0, 0,
                java.util.Set.of(), "Once upon a time");
        var request = provider.inferenceRequest(backend(FAST), raw, true);
        assertThat(request.getPrompt()).isEqualTo("Once upon a time");
        assertThat(request.getMessagesCount()).isZero();
        List<ObjectNode> chunks = provider.streamChat(backend(FAST), raw).collect().asList().await().atMost(Duration.ofSeconds(20));
        assertFinished(chunks, 24);
        ProviderCall chat = new ProviderCall("req-chat", "tenant_x", "partner_x", "user_x", "test/scaiinfer", body, 0, 0, java.util.Set.of());
        assertThat(provider.inferenceRequest(backend(FAST), chat, true).getMessagesCount()).isEqualTo(1);
    }

    @Test
    void streamsDeltasInOrderWithUsageAtTheEnd() {
        List<ObjectNode> chunks = provider.streamChat(backend(FAST), call("hello nodes", 0))
                .collect().asList().await().atMost(Duration.ofSeconds(20));
        assertFinished(chunks, 24);
        ObjectNode first = chunks.get(0);
        assertThat(first.get("object").asText()).isEqualTo("chat.completion.chunk");
        assertThat(first.get("model").asText()).isEqualTo("test/scaiinfer");
        assertThat(first.at("/choices/0/delta/role").asText()).isEqualTo("assistant");
        assertThat(chunks.stream().map(c -> c.get("id").asText()).distinct()).hasSize(1);
        assertThat(chunks.subList(0, chunks.size() - 1)).allSatisfy(c -> {
            assertThat(c.at("/choices/0/finish_reason").isNull()).isTrue();
            assertThat(c.has("usage")).isFalse();
        });
        ObjectNode last = chunks.get(chunks.size() - 1);
        assertThat(last.at("/usage/total_tokens").asInt()).isEqualTo(24 + last.at("/usage/prompt_tokens").asInt());
        // deltas in order: the same deterministic text as the node's non-streaming answer
        ObjectNode whole = provider.chat(backend(FAST), call("hello nodes", 0)).await().atMost(Duration.ofSeconds(20));
        assertThat(whole.get("object").asText()).isEqualTo("chat.completion");
        assertThat(whole.at("/choices/0/message/content").asText()).isEqualTo(text(chunks)).hasSizeGreaterThan(24);
        assertThat(whole.at("/usage/completion_tokens").asInt()).isEqualTo(24);
        assertThat(whole.get("model").asText()).isEqualTo("test/scaiinfer");
    }

    @Test
    void embeddingsAndPinnedNodes() {
        ObjectNode body = mapper.createObjectNode();
        body.putArray("input").add("alpha").add("beta");
        JsonNode list = provider.embed(backend(FAST), new ProviderCall("req-e", null, null, null, "test/embed", body, 0))
                .await().atMost(Duration.ofSeconds(20));
        assertThat(list.get("object").asText()).isEqualTo("list");
        assertThat(list.get("data")).hasSize(2);
        assertThat(list.at("/data/1/index").asInt()).isEqualTo(1);
        assertThat(list.at("/data/0/embedding")).hasSize(64);
        assertThat(list.at("/usage/prompt_tokens").asInt()).isPositive();

        ObjectNode pin = mapper.createObjectNode().put("node_id", "nobody-" + RUN);
        BackendTarget pinned = new BackendTarget("bm_pin", "pin", "scaiinfer", FAST, pin, Map.of(), 0, 100);
        Throwable none = org.junit.jupiter.api.Assertions.assertThrows(Throwable.class,
                () -> provider.chat(pinned, call("x", 0)).await().atMost(Duration.ofSeconds(10)));
        assertThat(none).isInstanceOfSatisfying(UpstreamFailure.class, f -> {
            assertThat(f.code()).isEqualTo(ErrorCode.MODEL_UNAVAILABLE);
            assertThat(f.countsAsBackendFailure()).as("another backend may serve").isTrue();
            assertThat(f.tripsCircuit()).as("no node failed").isFalse();
        });
    }

    /**
     * No live node with the model (as right after a start, before the node's first heartbeat) fails
     * each request with 503, but must not open the backend's circuit: once a node arrives the model
     * serves at once, not only after the circuit's delay. A node that fails still counts.
     */
    @Test
    void noNodeWithTheModelLeavesTheBackendsCircuitClosed() {
        String backendId = publish("test/no-node-" + RUN, "no-node-" + RUN);
        for (int i = 0; i < 8; i++) { // twice the test profile's request-volume threshold
            given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                    .body(Map.of("model", "test/no-node-" + RUN, "messages", List.of(Map.of("role", "user", "content", "hi"))))
                    .when().post("/v1/inference/chat")
                    .then().statusCode(503).body("error.code", org.hamcrest.Matchers.equalTo("MODEL_UNAVAILABLE"));
        }
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/backends/" + backendId + "/health")
                .then().statusCode(200).body("data.circuit", org.hamcrest.Matchers.equalTo("closed"))
                .body("data.nodes_serving", org.hamcrest.Matchers.equalTo(0));
    }

    @Test
    void aNodeKilledBeforeTheFirstTokenIsReplacedByAnother() {
        AssertSubscriber<ObjectNode> sub = provider.streamChat(backend(FAILOVER), call("fail over", 0))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        // the call sits on "big" (8 s to the first token); kill it there
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).until(() -> big.inFlight() == 1);
        assertThat(sub.getItems()).isEmpty();
        big.kill();
        sub.awaitCompletion(Duration.ofSeconds(15));
        assertFinished(sub.getItems(), 20);
        assertThat(small.logText()).doesNotContain("ERROR");
    }

    @Test
    void aNodeKilledMidStreamEndsTheStreamWithAnErrorPromptly() {
        AssertSubscriber<ObjectNode> sub = provider.streamChat(backend(MID), call("mid stream", 0))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        await().atMost(Duration.ofSeconds(10)).until(() -> sub.getItems().size() >= 3);
        long killedAt = System.nanoTime();
        mid.kill();
        sub.awaitFailure(Duration.ofSeconds(5));
        assertThat((System.nanoTime() - killedAt) / 1_000_000).isLessThan(3000);
        assertThat(sub.getFailure()).isInstanceOfSatisfying(UpstreamFailure.class, f -> {
            assertThat(f.code()).isEqualTo(ErrorCode.BACKEND_ERROR);
            assertThat(f.getMessage()).doesNotContain("127.0.0.1");
        });
        assertThat(sub.getItems().size()).isLessThan(201);
    }

    @Test
    void cancellationReachesTheNodeWithinMilliseconds() {
        AssertSubscriber<ObjectNode> sub = provider.streamChat(backend(SLOW), call("cancel me", 0))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        await().atMost(Duration.ofSeconds(10)).until(() -> sub.getItems().size() >= 2);
        assertThat(main.inFlight()).isEqualTo(1);
        long cancelledAt = System.nanoTime();
        sub.cancel();
        await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(10)).until(() -> main.inFlight() == 0);
        long millis = (System.nanoTime() - cancelledAt) / 1_000_000;
        assertThat(millis).as("cancellation to free node slot (ms)").isLessThan(1000);
        assertThat(registry.localInFlight(main.id)).isZero();
    }

    /**
     * A call opened on a quiet event loop runs on that loop: its chunks arrive on the loop's thread (no hand-off per
     * token), and cancelling it still frees the node's slot at once. A call opened off the event loops runs on the
     * node connections' own threads. Every ended call gives its place in the loop's count back, however it ended.
     */
    @Test
    void aCallFromAQuietEventLoopRunsOnThatLoop() throws Exception {
        io.vertx.core.Context loop = vertx.getOrCreateContext(); // a new event-loop context (this is not a Vert.x thread)
        String loopThread = onLoop(loop, () -> Thread.currentThread().getName());
        Set<String> threads = ConcurrentHashMap.newKeySet();
        AssertSubscriber<ObjectNode> finished = onLoop(loop, () -> provider.streamChat(backend(FAST), call("on the loop", 0))
                .onItem().invoke(c -> threads.add(Thread.currentThread().getName()))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
        finished.awaitCompletion(Duration.ofSeconds(20));
        assertFinished(finished.getItems(), 24);
        assertThat(threads).containsExactly(loopThread);

        Set<String> elsewhere = ConcurrentHashMap.newKeySet();
        List<ObjectNode> offLoop = provider.streamChat(backend(FAST), call("off the loop", 0))
                .onItem().invoke(c -> elsewhere.add(Thread.currentThread().getName()))
                .collect().asList().await().atMost(Duration.ofSeconds(20));
        assertFinished(offLoop, 24);
        assertThat(elsewhere).isNotEmpty().allSatisfy(t -> assertThat(t).startsWith("scaigrid-node-io"));

        AssertSubscriber<ObjectNode> cancelled = onLoop(loop, () -> provider.streamChat(backend(SLOW), call("cancel on the loop", 0))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
        await().atMost(Duration.ofSeconds(10)).until(() -> cancelled.getItems().size() >= 2);
        assertThat(main.inFlight()).isEqualTo(1);
        cancelled.cancel();
        await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(10)).until(() -> main.inFlight() == 0);

        // both calls on the loop have given their places back: the loop still takes its whole share, and no more
        int max = nodesConfig.sameLoopMaxCalls();
        assertThat(max).isPositive();
        String address = registry.node(main.id).orElseThrow().address();
        List<NodeChannels.Use> uses = onLoop(loop, () -> {
            List<NodeChannels.Use> opened = new ArrayList<>();
            for (int i = 0; i <= max; i++) {
                opened.add(channels.open(address));
            }
            return opened;
        });
        try {
            assertThat(uses.subList(0, max)).allMatch(NodeChannels.Use::sameLoop);
            assertThat(uses.get(0).channel()).isSameAs(uses.get(max - 1).channel());
            assertThat(uses.get(max).sameLoop()).isFalse();
            assertThat(uses.get(max).channel()).isNotSameAs(uses.get(0).channel());
            // the count is of every call the loop opened, on whichever channel: one in and one over the share end
            uses.get(max).close();
            uses.get(0).close();
            uses.get(0).close(); // twice: counted once
            NodeChannels.Use again = onLoop(loop, () -> channels.open(address));
            NodeChannels.Use over = onLoop(loop, () -> channels.open(address));
            assertThat(again.sameLoop()).isTrue();
            assertThat(over.sameLoop()).isFalse();
            again.close();
            over.close();
        } finally {
            uses.forEach(NodeChannels.Use::close);
        }
    }

    private static <T> T onLoop(io.vertx.core.Context loop, java.util.concurrent.Callable<T> work) throws Exception {
        java.util.concurrent.CompletableFuture<T> result = new java.util.concurrent.CompletableFuture<>();
        loop.runOnContext(v -> {
            try {
                result.complete(work.call());
            } catch (Exception e) {
                result.completeExceptionally(e);
            }
        });
        return result.get(10, java.util.concurrent.TimeUnit.SECONDS);
    }

    @Test
    void theCallersDeadlineTravelsToTheNode() {
        AssertSubscriber<ObjectNode> sub = provider.streamChat(backend(SLOW), call("deadline", 1200))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        sub.awaitFailure(Duration.ofSeconds(10));
        assertThat(sub.getItems()).isNotEmpty();
        assertThat(sub.getFailure()).isInstanceOfSatisfying(UpstreamFailure.class,
                f -> assertThat(f.code()).isEqualTo(ErrorCode.BACKEND_TIMEOUT));
        // the node stopped generating too: its slot is free
        await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20)).until(() -> main.inFlight() == 0);
    }

    @Test
    void anOperatorDrainReachesTheNodeAndReEnablingBringsItBack() {
        given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(Map.of("reason", "test"))
                .when().post("/v1/nodes/" + main.id + "/drain").then().statusCode(200);
        // the node hears DRAIN in its next ack and reports DRAINING itself
        await().atMost(Duration.ofSeconds(10)).until(() -> registry.node(main.id).map(n -> "DRAINING".equals(n.health())).orElse(false));
        Throwable refused = org.junit.jupiter.api.Assertions.assertThrows(Throwable.class,
                () -> provider.chat(backend(FAST), call("while drained", 0)).await().atMost(Duration.ofSeconds(10)));
        assertThat(refused).isInstanceOfSatisfying(UpstreamFailure.class, f -> assertThat(f.code()).isEqualTo(ErrorCode.MODEL_UNAVAILABLE));

        given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .when().post("/v1/nodes/" + main.id + "/enable").then().statusCode(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> registry.node(main.id)
                .map(n -> "ACTIVE".equals(n.state(System.nanoTime(), 4000))).orElse(false));
        assertThat(provider.chat(backend(FAST), call("back", 0)).await().atMost(Duration.ofSeconds(20))
                .at("/choices/0/finish_reason").asText()).isEqualTo("stop");
    }

    @Test
    void sigtermDrainsTheNodeAfterItsInFlightStream() throws Exception {
        AssertSubscriber<ObjectNode> sub = provider.streamChat(backend(DRAIN), call("finish me", 0))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        await().atMost(Duration.ofSeconds(10)).until(() -> sub.getItems().size() >= 2);
        terminating.terminate();
        // it tells the gateway at once that it drains: no new work goes there
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.node(terminating.id)
                .map(n -> "DRAINING".equals(n.health())).orElse(false));
        Throwable refused = org.junit.jupiter.api.Assertions.assertThrows(Throwable.class,
                () -> provider.chat(backend(DRAIN), call("new work", 0)).await().atMost(Duration.ofSeconds(10)));
        assertThat(refused).isInstanceOf(UpstreamFailure.class);
        // the stream it was running finishes normally
        sub.awaitCompletion(Duration.ofSeconds(15));
        assertFinished(sub.getItems(), 40);
        assertThat(terminating.process.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(registry.node(terminating.id).map(NodeSnapshot::inFlight)).hasValue(0);
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/nodes/" + terminating.id).then().statusCode(200)
                .body("data.health", org.hamcrest.Matchers.equalTo("DRAINING"))
                .body("data.state", org.hamcrest.Matchers.equalTo("DRAINING"));
    }
}
