package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.testing.TestPorts;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A real node-agent (our own service, the built {@code node-agent/target/quarkus-app/quarkus-run.jar})
 * run as a child process on free ports, reporting to the gateway under test. Its log goes to
 * {@code target/node-agents/<id>.log}.
 */
final class NodeAgentProcess implements AutoCloseable {
    static final Path JAR = Path.of("..", "node-agent", "target", "quarkus-app", "quarkus-run.jar").toAbsolutePath().normalize();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    final String id;
    final int grpcPort;
    final int httpPort;
    final Process process;
    final Path log;

    /** A model of the node: name plus simulated-backend settings. */
    record Model(String name, int tokensPerSecond, String timeToFirstToken, int outputTokens, int reasoningTokens) {
        Model(String name, int tokensPerSecond, String timeToFirstToken, int outputTokens) {
            this(name, tokensPerSecond, timeToFirstToken, outputTokens, 0);
        }
    }

    private NodeAgentProcess(String id, int grpcPort, int httpPort, Process process, Path log) {
        this.id = id;
        this.grpcPort = grpcPort;
        this.httpPort = httpPort;
        this.process = process;
        this.log = log;
    }

    static NodeAgentProcess start(String id, String serviceToken, int maxConcurrency, List<Model> models) throws IOException {
        if (!Files.isRegularFile(JAR)) {
            throw new IllegalStateException("node-agent is not built: " + JAR
                    + " is missing (build it first: ./mvnw -o install -DskipTests -pl node-agent -am)");
        }
        int grpc = TestPorts.free();
        int http = TestPorts.free();
        Map<String, String> props = new LinkedHashMap<>();
        props.put("quarkus.http.host", "127.0.0.1");
        props.put("quarkus.http.port", Integer.toString(http));
        props.put("quarkus.grpc.server.port", Integer.toString(grpc));
        props.put("quarkus.log.console.json.enabled", "false");
        props.put("scaigrid.node.id", id);
        props.put("scaigrid.node.gateway-grpc-address", "127.0.0.1:59051");
        props.put("scaigrid.node.service-token", serviceToken);
        props.put("scaigrid.node.heartbeat-interval", "500ms");
        props.put("scaigrid.node.max-concurrency", Integer.toString(maxConcurrency));
        props.put("scaigrid.node.drain-timeout", "20s");
        for (int i = 0; i < models.size(); i++) {
            Model m = models.get(i);
            String p = "scaigrid.node.models[" + i + "].";
            props.put(p + "name", m.name());
            props.put(p + "backend", "simulated");
            props.put(p + "tokens-per-second", Integer.toString(m.tokensPerSecond()));
            props.put(p + "time-to-first-token", m.timeToFirstToken());
            props.put(p + "output-tokens", Integer.toString(m.outputTokens()));
            props.put(p + "reasoning-tokens", Integer.toString(m.reasoningTokens()));
        }
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // small and quick to start: several of these run beside the gateway on a 2-core machine
        command.add("-Xmx160m");
        command.add("-XX:+UseSerialGC");
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-Xshare:auto");
        props.forEach((k, v) -> command.add("-D" + k + "=" + v));
        command.add("-jar");
        command.add(JAR.toString());
        Path logDir = Path.of("target", "node-agents");
        Files.createDirectories(logDir);
        Path log = logDir.resolve(id + ".log");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new NodeAgentProcess(id, grpc, http, process, log);
    }


    /** The node's own count of generations in flight (its Prometheus gauge), or -1 when it does not answer. */
    int inFlight() {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/q/metrics"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            for (String line : r.body().split("\n")) {
                if (line.startsWith("scaiinfer_node_in_flight ")) {
                    return (int) Double.parseDouble(line.substring(line.indexOf(' ') + 1).trim());
                }
            }
            return -1;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "";
        }
    }

    /** SIGKILL: the node vanishes without a word (its connections are reset). */
    void kill() {
        process.destroyForcibly();
    }

    /** SIGTERM: the node drains. */
    void terminate() {
        process.destroy();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
        }
    }
}
