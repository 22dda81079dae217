package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.testing.NodeScripts;

import java.nio.file.Path;
import java.util.List;

/**
 * The project's Node.js gRPC client (node-agent/src/test/node/stream.js: @grpc/grpc-js and
 * @grpc/proto-loader loading proto-contracts' .proto files), run as a real non-Java caller of the
 * gateway's scaiinfer.v1.InferenceService. Installs its npm packages from the project's lock file.
 */
final class NodeJsGrpcClient {
    static final Path DIR = Path.of("..", "node-agent", "src", "test", "node").toAbsolutePath().normalize();

    private NodeJsGrpcClient() {
    }

    static void install() throws Exception {
        NodeScripts.npmCi(DIR, "node_modules/@grpc/grpc-js");
    }

    static NodeScripts.Run stream(String address, String token, String model, String prompt, int seed) throws Exception {
        return NodeScripts.run(DIR, List.of("stream.js", "--address", address, "--token", token, "--model", model,
                "--prompt", prompt, "--seed", Integer.toString(seed)));
    }
}
