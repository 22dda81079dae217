package ai.scaigrid.launcher;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** One running service: its process, its log and its readiness. */
final class ServiceProcess {

    enum Readiness { READY, EXITED, TIMED_OUT, ABORTED }

    private static final Duration POLL_INTERVAL = Duration.ofMillis(250);
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(1);

    private final ServiceSpec spec;
    private final int httpPort;
    private final int grpcPort;
    private final Path log;
    private final URI readyUri;
    private Process process;
    private long logOffset;
    private long startedAt;
    private volatile String lastProbe = "no answer yet";

    ServiceProcess(ServiceSpec spec, int httpPort, int grpcPort, Path log, String probeHost) {
        this.spec = spec;
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
        this.log = log;
        this.readyUri = URI.create("http://" + Launcher.hostForUrl(probeHost) + ":" + httpPort + "/q/health/ready");
    }

    ServiceSpec spec() {
        return spec;
    }

    String name() {
        return spec.name();
    }

    int httpPort() {
        return httpPort;
    }

    int grpcPort() {
        return grpcPort;
    }

    Path log() {
        return log;
    }

    Process process() {
        return process;
    }

    boolean isAlive() {
        return process != null && process.isAlive();
    }

    long startedAt() {
        return startedAt;
    }

    String lastProbe() {
        return lastProbe;
    }

    /** Starts the service with its output appended to its log (after a header line naming this start). */
    void start(List<String> command, Map<String, String> env, Path workDir) throws IOException {
        Files.createDirectories(log.getParent());
        String header = System.lineSeparator() + "===== " + OffsetDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME)
                + " scaigrid launcher: starting " + spec.name() + " =====" + System.lineSeparator();
        Files.writeString(log, header, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        logOffset = Files.size(log);

        ProcessBuilder pb = new ProcessBuilder(command)
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        File devNull = new File("/dev/null");
        if (devNull.exists()) {
            pb.redirectInput(ProcessBuilder.Redirect.from(devNull));
        }
        pb.environment().keySet().removeIf(k -> k.startsWith("QUARKUS_DATASOURCE_"));
        pb.environment().putAll(env);
        startedAt = System.nanoTime();
        process = pb.start();
        if (!devNull.exists()) {
            process.getOutputStream().close();
        }
    }

    /** Polls /q/health/ready every 250 ms until 200, the process exits, the timeout passes or {@code aborted} says stop. */
    Readiness awaitReady(HttpClient http, Duration timeout, BooleanSupplier aborted) {
        long deadline = startedAt + timeout.toNanos();
        HttpRequest request = HttpRequest.newBuilder(readyUri).timeout(PROBE_TIMEOUT).GET().build();
        while (true) {
            if (aborted.getAsBoolean()) {
                return Readiness.ABORTED;
            }
            if (!process.isAlive()) {
                return Readiness.EXITED;
            }
            try {
                HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                lastProbe = "last answer: HTTP " + response.statusCode();
                if (response.statusCode() == 200) {
                    if (spec.readyWhen().map(p -> p.matcher(response.body()).find()).orElse(true)) {
                        return Readiness.READY;
                    }
                    lastProbe += ", but not registered with gateway-core yet" + gatewayProblem(response.body());
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Readiness.ABORTED;
            }
            if (System.nanoTime() - deadline >= 0) {
                return Readiness.TIMED_OUT;
            }
            try {
                Thread.sleep(POLL_INTERVAL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Readiness.ABORTED;
            }
        }
    }

    private static final Pattern GATEWAY_PROBLEM = Pattern.compile("\"gateway_problem\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.){1,300})\"");

    /** node-agent's own account of why the gateway has not registered it (unreachable, token refused), if it gives one. */
    private static String gatewayProblem(String health) {
        Matcher m = GATEWAY_PROBLEM.matcher(health);
        return m.find() ? ": " + m.group(1) : "";
    }

    /** The last lines of this start's part of the log. */
    List<String> tail(int lines) {
        return LogTail.lastLines(log, logOffset, lines);
    }

    String exitDescription() {
        if (process == null || process.isAlive()) {
            return "still running";
        }
        int code = process.exitValue();
        return code > 128 ? "exit code " + code + ", killed by signal " + (code - 128) : "exit code " + code;
    }
}
