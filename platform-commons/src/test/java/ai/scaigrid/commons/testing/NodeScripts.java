package ai.scaigrid.commons.testing;

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
 * Real non-Java clients in tests: Node.js scripts kept in a module's test tree, their npm packages
 * installed from the project's own lock file ({@code npm ci}), run as child processes.
 */
public final class NodeScripts {
    private static final ObjectMapper JSON = new ObjectMapper();

    private NodeScripts() {
    }

    /** What a script printed: its exit code, every stdout line that is a JSON object, and everything raw. */
    public record Run(int exit, List<JsonNode> lines, String raw) {
        public List<JsonNode> with(String field) {
            return lines.stream().filter(l -> l.has(field)).toList();
        }

        public JsonNode last() {
            return lines.get(lines.size() - 1);
        }
    }

    /** Whether {@code node} runs here (tests that need it are skipped, with a message, when not). */
    public static boolean nodeAvailable() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    /** {@code npm ci} in {@code dir} unless {@code installed} (a path under it) is already there. */
    public static synchronized void npmCi(Path dir, String installed) throws Exception {
        if (Files.exists(dir.resolve(installed))) {
            return;
        }
        Process npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund").directory(dir.toFile())
                .redirectErrorStream(true).start();
        String out = new String(npm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(npm.waitFor(300, TimeUnit.SECONDS)).as("npm ci finished").isTrue();
        assertThat(npm.exitValue()).as("npm ci: " + out).isZero();
    }

    /**
     * Runs {@code node <script>} in {@code dir} with {@code env} added to the environment, asserts that it exits 0
     * within {@code timeoutSeconds}, and returns what it printed (stdout and stderr, so a failure shows its message).
     */
    public static String check(Path dir, String script, java.util.Map<String, String> env, int timeoutSeconds) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("node", script).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        java.io.File log = java.nio.file.Files.createTempFile("node-check", ".log").toFile();
        pb.redirectOutput(log);
        Process p = pb.start();
        boolean done = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        String output = java.nio.file.Files.readString(log.toPath(), StandardCharsets.UTF_8);
        if (!done) {
            p.destroyForcibly();
        }
        assertThat(done).as("node %s timed out:%n%s", script, output).isTrue();
        assertThat(p.exitValue()).as("node %s failed:%n%s", script, output).isZero();
        return output;
    }

    /** Runs {@code node <args>} in {@code dir} (at most 60 s) and collects its JSON lines. */
    public static Run run(Path dir, List<String> args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add("node");
        command.addAll(args);
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
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
