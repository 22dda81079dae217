package ai.scaigrid.gateway.nodes;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The project's Node.js gRPC client (node-agent/src/test/node/stream.js: @grpc/grpc-js and
 * @grpc/proto-loader loading proto-contracts' .proto files), run as a real non-Java caller of the
 * gateway's scaiinfer.v1.InferenceService. Installs its npm packages from the project's lock file.
 */
final class NodeJsGrpcClient {
    static final Path DIR = Path.of("..", "node-agent", "src", "test", "node").toAbsolutePath().normalize();
    private static final ObjectMapper JSON = new ObjectMapper();

    record Run(int exit, List<JsonNode> lines, String raw) {
        List<JsonNode> deltas() {
            return lines.stream().filter(l -> l.has("delta")).toList();
        }

        JsonNode last() {
            return lines.get(lines.size() - 1);
        }
    }

    private NodeJsGrpcClient() {
    }

    static boolean available() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    static synchronized void install() throws Exception {
        if (Files.isDirectory(DIR.resolve("node_modules").resolve("@grpc").resolve("grpc-js"))) {
            return;
        }
        Process npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund").directory(DIR.toFile())
                .redirectErrorStream(true).start();
        String out = new String(npm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(npm.waitFor(300, TimeUnit.SECONDS)).as("npm ci finished").isTrue();
        assertThat(npm.exitValue()).as("npm ci: " + out).isZero();
    }

    static Run stream(String address, String token, String model, String prompt, int seed) throws Exception {
        List<String> command = List.of("node", "stream.js", "--address", address, "--token", token, "--model", model,
                "--prompt", prompt, "--seed", Integer.toString(seed));
        Process p = new ProcessBuilder(command).directory(DIR.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        List<JsonNode> lines = new ArrayList<>();
        for (String line : out.split("\n")) {
            if (line.startsWith("{")) {
                lines.add(JSON.readTree(line));
            }
        }
        return new Run(p.exitValue(), lines, out);
    }
}
