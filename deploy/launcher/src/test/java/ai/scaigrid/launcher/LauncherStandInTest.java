package ai.scaigrid.launcher;

import ai.scaigrid.commons.embedded.EmbeddedPostgresServer;
import ai.scaigrid.launcher.standin.StandInRoot;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The launcher process against stand-in services (a tiny HTTP server started from a fake
 * quarkus-run.jar): start-up, failures, the port check, the stop order. Fast; the real services are
 * covered by {@link LauncherEndToEndIT}.
 */
class LauncherStandInTest {
    private static final int OFFSET = 11100;
    private static final Duration START = Duration.ofSeconds(120);
    private static final Duration STOP = Duration.ofSeconds(60);

    @TempDir
    static Path shared;
    static Path root;

    @TempDir
    Path dataDir;

    @BeforeAll
    static void fakeCheckout() throws Exception {
        root = StandInRoot.create(shared.resolve("checkout"),
                ServiceSpec.ALL.stream().map(ServiceSpec::module).toList());
    }

    private LauncherRun launch(String label, Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(LauncherRun.javaBinary(), "-cp", System.getProperty("java.class.path"),
                Launcher.class.getName()));
        cmd.addAll(List.of(args));
        return LauncherRun.start(label, cmd, env, dataDir.getParent());
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    @Test
    void wholeSuiteStartsAndStopsInOrder() throws Exception {
        try (LauncherRun run = launch("standin-suite", Map.of("LANG", "C.UTF-8"), "up", "--root", root.toString(),
                "--data-dir", dataDir.toString(), "--port-offset", Integer.toString(OFFSET))) {
            assertThat(run.awaitReady(START)).as(run.output()).isTrue();
            String out = run.output();
            assertThat(out).contains("▶ starting PostgreSQL 17 (embedded, data in ", "port " + (54329 + OFFSET) + ")…",
                    "✓ PostgreSQL ready (", "▶ starting gateway-core (http :" + (8080 + OFFSET) + ", grpc :" + (50051 + OFFSET) + ")…",
                    "▶ starting lookup-proxy (http :" + (8084 + OFFSET) + ")…", "✓ node-agent ready (",
                    "http://127.0.0.1:" + (8083 + OFFSET), "127.0.0.1:" + (50060 + OFFSET),
                    "First start: super-admin API key: sgk_Fake", "store it and delete the file", "Press Ctrl-C to stop.");
            assertThat(run.lines()).filteredOn(Launcher.READY_MARKER::equals).hasSize(1);
            for (ServiceSpec s : ServiceSpec.ALL) {
                assertThat(accepts(s.httpPort() + OFFSET)).as(s.name()).isTrue();
            }
            // the services got their databases (created by the launcher) and the key-encryption key
            assertThat(Files.readString(dataDir.resolve("logs/scaicore-runtime.log"))).contains("connected to database scaigrid_scaicore");
            assertThat(dataDir.resolve(Launcher.KEK_FILE)).exists();
            assertThat(dataDir.resolve("postgres/PG_VERSION")).exists();
            assertThat(run.captureDescendants()).hasSizeGreaterThanOrEqualTo(6);

            run.sigterm();
            assertThat(run.awaitExit(STOP)).as(run.output()).isTrue();
            List<String> lines = run.lines();
            assertThat(lines).contains("▶ stopping node-agent, lookup-proxy, scailink-service, scaicore-runtime, scaimind-bridge, gateway-core…",
                    "▶ stopping PostgreSQL…", "✓ stopped");
            assertThat(lines.indexOf("▶ stopping PostgreSQL…")).isGreaterThan(lines.indexOf("▶ stopping node-agent, lookup-proxy, scailink-service, scaicore-runtime, scaimind-bridge, gateway-core…"));
            assertThat(run.survivors()).isEmpty();
            for (ServiceSpec s : ServiceSpec.ALL) {
                assertThat(accepts(s.httpPort() + OFFSET)).as(s.name()).isFalse();
            }
            assertThat(accepts(54329 + OFFSET)).as("PostgreSQL").isFalse();
            // SIGTERM, not a kill: each stand-in ran its own shutdown hook
            assertThat(Files.readString(dataDir.resolve("logs/gateway-core.log"))).contains("fake gateway-core stopping");
        }
    }

    @Test
    void serviceExitingDuringStartStopsEverything() throws Exception {
        try (LauncherRun run = launch("standin-fail", Map.of("FAKE_SERVICE_FAIL", "node-agent"), "--root", root.toString(),
                "--data-dir", dataDir.toString(), "--port-offset", Integer.toString(OFFSET), "--only", "gateway-core,node-agent")) {
            assertThat(run.awaitExit(START)).isTrue();
            assertThat(run.process().exitValue()).isEqualTo(1);
            String out = run.output();
            assertThat(out).contains("[!!] node-agent stopped during start-up (exit code 3). Last 40 lines of ",
                    "    | fake node-agent: failing on purpose", "[ok] stopped")
                    .doesNotContain(Launcher.READY_MARKER);
            assertThat(run.survivors()).isEmpty();
            assertThat(accepts(8080 + OFFSET)).isFalse();
            assertThat(accepts(54329 + OFFSET)).isFalse();
        }
    }

    @Test
    void serviceNeverReadyTimesOut() throws Exception {
        try (LauncherRun run = launch("standin-timeout", Map.of("FAKE_SERVICE_NEVER_READY", "node-agent",
                "SCAIGRID_READY_TIMEOUT_SECONDS", "5"), "--root", root.toString(), "--data-dir", dataDir.toString(),
                "--port-offset", Integer.toString(OFFSET), "--only", "node-agent")) {
            assertThat(run.awaitExit(START)).isTrue();
            assertThat(run.process().exitValue()).isEqualTo(1);
            assertThat(run.output()).contains("node-agent not ready after 5s (last answer: HTTP 503 on /q/health/ready)",
                    "fake node-agent listening on", "[ok] stopped");
            assertThat(accepts(8090 + OFFSET)).isFalse();
        }
    }

    /** A node-agent the gateway never registers serves nothing: the launcher does not call the suite ready, and says why. */
    @Test
    void nodeAgentNotRegisteredWithTheGatewayIsNotReady() throws Exception {
        try (LauncherRun run = launch("standin-unregistered", Map.of("FAKE_NODE_UNREGISTERED", "1",
                "SCAIGRID_READY_TIMEOUT_SECONDS", "5"), "--root", root.toString(), "--data-dir", dataDir.toString(),
                "--port-offset", Integer.toString(OFFSET), "--only", "node-agent")) {
            assertThat(run.awaitExit(START)).isTrue();
            assertThat(run.process().exitValue()).isEqualTo(1);
            assertThat(run.output()).contains("node-agent not ready after 5s (last answer: HTTP 200, but not registered with "
                    + "gateway-core yet: gateway unreachable: Connection refused on /q/health/ready)", "[ok] stopped");
            assertThat(run.output()).doesNotContain(Launcher.READY_MARKER);
        }
    }

    @Test
    void takenPortIsReportedBeforeAnythingStarts() throws Exception {
        try (ServerSocket busy = new ServerSocket(50060 + OFFSET, 50, InetAddress.getByName("127.0.0.1"));
             LauncherRun run = launch("standin-port", Map.of(), "--root", root.toString(), "--data-dir", dataDir.toString(),
                     "--port-offset", Integer.toString(OFFSET), "--only", "node-agent,lookup-proxy")) {
            assertThat(run.awaitExit(START)).isTrue();
            assertThat(run.process().exitValue()).isEqualTo(1);
            assertThat(run.output()).contains("port " + (50060 + OFFSET) + " (node-agent gRPC) on 127.0.0.1 is not available",
                    "Nothing was started").doesNotContain("starting");
            assertThat(dataDir.resolve("logs/node-agent.log")).doesNotExist();
            assertThat(dataDir.resolve("postgres")).doesNotExist();
        }
    }

    @Test
    void missingJarPointsToTheBuild() throws Exception {
        Path partial = StandInRoot.create(shared.resolve("partial"), List.of("gateway-core"));
        try (LauncherRun run = launch("standin-missing", Map.of(), "--root", partial.toString(),
                "--data-dir", dataDir.toString(), "--only", "gateway-core,lookup-proxy")) {
            assertThat(run.awaitExit(START)).isTrue();
            assertThat(run.process().exitValue()).isEqualTo(1);
            assertThat(run.output()).contains("not built yet: ", "lookup-proxy/target/quarkus-app/quarkus-run.jar", "./scaigrid build")
                    .doesNotContain("gateway-core/target");
        }
    }

    @Test
    void serviceDyingLaterIsReportedAndTheRestKeepsRunning() throws Exception {
        try (LauncherRun run = launch("standin-dies", Map.of(), "--root", root.toString(), "--data-dir", dataDir.toString(),
                "--port-offset", Integer.toString(OFFSET), "--only", "lookup-proxy,node-agent")) {
            assertThat(run.awaitReady(START)).as(run.output()).isTrue();
            assertThat(run.output()).contains("[..] starting node-agent").doesNotContain("API key");
            ProcessHandle nodeAgent = run.process().children()
                    .filter(c -> c.info().arguments().map(a -> String.join(" ", a).contains("node-agent")).orElse(false))
                    .findFirst().orElseThrow();
            nodeAgent.destroyForcibly();
            assertThat(run.awaitLine(l -> l.contains("node-agent stopped unexpectedly"), STOP)).as(run.output()).isTrue();
            assertThat(run.process().isAlive()).isTrue();
            assertThat(accepts(8084 + OFFSET)).isTrue();

            run.sigterm();
            assertThat(run.awaitExit(STOP)).isTrue();
            assertThat(run.lines()).contains("[..] stopping lookup-proxy...", "[ok] stopped");
        }
    }

    @Test
    void externalPostgresIsUsedAndLeftRunning() throws Exception {
        try (EmbeddedPostgresServer external = EmbeddedPostgresServer.start(null, 0);
             LauncherRun run = launch("standin-external", Map.of(), "--root", root.toString(), "--data-dir", dataDir.toString(),
                     "--port-offset", Integer.toString(OFFSET), "--only", "scaicore-runtime",
                     "--pg-url", "postgresql://postgres:secret@127.0.0.1:" + external.port())) {
            assertThat(run.awaitReady(START)).as(run.output()).isTrue();
            assertThat(run.output()).contains("[..] using the external PostgreSQL at 127.0.0.1:" + external.port() + " (user postgres)",
                    "PostgreSQL: 127.0.0.1:" + external.port() + " (external, user postgres)").doesNotContain("secret");
            assertThat(Files.readString(dataDir.resolve("logs/scaicore-runtime.log"))).contains("connected to database scaigrid_scaicore");
            assertThat(dataDir.resolve("postgres")).doesNotExist();

            run.sigterm();
            assertThat(run.awaitExit(STOP)).isTrue();
            assertThat(run.lines()).contains("[ok] stopped").doesNotContain("[..] stopping PostgreSQL...");
            assertThat(accepts(external.port())).as("not ours to stop").isTrue();
        }
    }

    @Test
    void leftoversOfAKilledLauncherAreStoppedByTheNextStart() throws Exception {
        LauncherRun killed = launch("standin-killed", Map.of(), "--root", root.toString(), "--data-dir", dataDir.toString(),
                "--port-offset", Integer.toString(OFFSET), "--only", "lookup-proxy,node-agent");
        try {
            assertThat(killed.awaitReady(START)).as(killed.output()).isTrue();
            Set<ProcessHandle> services = killed.captureDescendants();
            killed.process().destroyForcibly(); // SIGKILL: no shutdown hook runs
            assertThat(killed.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(services).as("the services outlive a killed launcher").filteredOn(ProcessHandle::isAlive).hasSize(2);
            assertThat(accepts(54329 + OFFSET)).as("and so does its PostgreSQL").isTrue();

            try (LauncherRun next = launch("standin-next", Map.of(), "--root", root.toString(), "--data-dir", dataDir.toString(),
                    "--port-offset", Integer.toString(OFFSET), "--only", "lookup-proxy,node-agent")) {
                assertThat(next.awaitReady(START)).as(next.output()).isTrue();
                assertThat(next.output()).contains("[..] stopping services left running by an earlier launcher: lookup-proxy (pid ",
                        "[ok] stopped 2 leftover services", "[..] stopping a PostgreSQL left running by an earlier launcher (pid ");
                assertThat(services).noneMatch(ProcessHandle::isAlive);
                next.sigterm();
                assertThat(next.awaitExit(STOP)).isTrue();
                assertThat(next.survivors()).isEmpty();
            }
        } finally {
            killed.close();
        }
    }

    @Test
    void secondLauncherOnTheSameDataDirectoryIsRefused() throws Exception {
        try (LauncherRun first = launch("standin-first", Map.of(), "--root", root.toString(), "--data-dir", dataDir.toString(),
                "--port-offset", Integer.toString(OFFSET), "--only", "node-agent")) {
            assertThat(first.awaitReady(START)).as(first.output()).isTrue();
            try (LauncherRun second = launch("standin-second", Map.of(), "--root", root.toString(), "--data-dir", dataDir.toString(),
                    "--port-offset", Integer.toString(OFFSET + 50), "--only", "node-agent")) {
                assertThat(second.awaitExit(START)).isTrue();
                assertThat(second.process().exitValue()).isEqualTo(1);
                assertThat(second.output()).contains("another launcher is already running on").doesNotContain("starting");
            }
            assertThat(first.process().isAlive()).isTrue();
            assertThat(accepts(8090 + OFFSET)).isTrue();
        }
    }

    @Test
    void badFlagExitsWithUsageError() throws Exception {
        try (LauncherRun run = launch("standin-usage", Map.of(), "--port-offset", "lots")) {
            assertThat(run.awaitExit(START)).isTrue();
            assertThat(run.process().exitValue()).isEqualTo(2);
            assertThat(run.output()).contains("--port-offset / SCAIGRID_PORT_OFFSET must be a whole number", "scaigrid help");
        }
    }
}
