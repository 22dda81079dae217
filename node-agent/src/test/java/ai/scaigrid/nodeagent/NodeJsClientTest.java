package ai.scaigrid.nodeagent;

import ai.scaigrid.commons.testing.NodeScripts;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import com.fasterxml.jackson.databind.JsonNode;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A real non-Java client: {@code src/test/node/stream.js} (@grpc/grpc-js + @grpc/proto-loader, loading the
 * project's .proto files) streams from this node-agent with a bearer token, and reads the ScaiGrid
 * error code from the trailers when the call fails.
 */
@QuarkusTest
@QuarkusTestResource(LocalUpstreamResource.class)
class NodeJsClientTest {
    private static final Path DIR = Path.of("src", "test", "node").toAbsolutePath();

    @BeforeAll
    static void installClient() throws Exception {
        assumeTrue(NodeScripts.nodeAvailable(), "node (Node.js) is not installed: the Node.js gRPC client check is skipped");
        NodeScripts.npmCi(DIR, "node_modules/@grpc/grpc-js");
    }

    private static NodeScripts.Run stream(String token, String model, String prompt) throws Exception {
        return NodeScripts.run(DIR, List.of("stream.js", "--address", "127.0.0.1:59060", "--token", token,
                "--model", model, "--prompt", prompt, "--seed", "5"));
    }

    @Test
    void streamsDeltasWithABearerToken() throws Exception {
        NodeScripts.Run run = stream(NodeInferenceGrpcTest.TOKEN, "scaigrid-sim-1", "Hello from Node.js");
        assertThat(run.exit()).as(run.raw()).isZero();
        List<JsonNode> deltas = run.lines().stream().filter(l -> l.has("delta")).toList();
        JsonNode last = run.lines().get(run.lines().size() - 1);
        // tokens generated in one step travel in one chunk: at most one chunk per token
        assertThat(deltas.size()).isBetween(1, 64);
        assertThat(last.get("finish_reason").asText()).isEqualTo("stop");
        assertThat(last.at("/usage/completion_tokens").asInt()).isEqualTo(64);

        // the same deterministic text a Java client gets, in the same order
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59060).usePlaintext().build();
        try {
            io.grpc.Metadata md = new io.grpc.Metadata();
            md.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer " + NodeInferenceGrpcTest.TOKEN);
            String expected = ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(md))
                    .withDeadlineAfter(20, TimeUnit.SECONDS).infer(InferenceRequest.newBuilder()
                    .setModel("scaigrid-sim-1").setSeed(5)
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hello from Node.js")).build())
                    .getMessage().getContent();
            StringBuilder streamed = new StringBuilder();
            deltas.forEach(d -> streamed.append(d.get("delta").asText()));
            assertThat(streamed.toString()).isEqualTo(expected);
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void readsTheScaigridErrorCodeFromTheTrailers() throws Exception {
        NodeScripts.Run denied = stream("not-the-gateway", "scaigrid-sim-1", "x");
        assertThat(denied.exit()).isEqualTo(2);
        JsonNode error = denied.lines().get(0).get("error");
        assertThat(error.get("grpc_status").asText()).isEqualTo("UNAUTHENTICATED");
        assertThat(error.get("scaigrid_error_code").asText()).isEqualTo("SERVICE_TOKEN_INVALID");

        NodeScripts.Run unknown = stream(NodeInferenceGrpcTest.TOKEN, "no-such-model", "x");
        assertThat(unknown.exit()).isEqualTo(2);
        assertThat(unknown.lines().get(0).at("/error/grpc_status").asText()).isEqualTo("NOT_FOUND");
        assertThat(unknown.lines().get(0).at("/error/scaigrid_error_code").asText()).isEqualTo("MODEL_NOT_FOUND");
    }
}
