package ai.scaigrid.launcher;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

class LauncherHelpersTest {
    @TempDir
    Path tmp;

    /** A database stand-in: the URLs it hands out are what the services get. */
    private static final Database EXTERNAL = new Database() {
        public String jdbcUrl(String db) { return "jdbc:postgresql://db:5432/" + db; }
        public String reactiveUrl(String db) { return "postgresql://db:5432/" + db; }
        public String username() { return "sg"; }
        public Optional<String> password() { return Optional.of("pw"); }
        public String describe() { return "db:5432"; }
        public void close() { }
    };

    private static PortPlan plan(String... args) throws UsageException {
        return PortPlan.of(Options.parse(List.of(args), Map.of(), Path.of("/tmp")));
    }

    @Test
    void gatewayEnvironment() throws Exception {
        Map<String, String> env = Launcher.serviceEnv(ServiceSpec.named("gateway-core"), plan("--port-offset", "100"),
                "127.0.0.1", EXTERNAL, Path.of("/data"), "KEK", Map.of());
        assertThat(env).contains(
                entry("QUARKUS_HTTP_HOST", "127.0.0.1"),
                entry("QUARKUS_HTTP_PORT", "8180"),
                entry("QUARKUS_GRPC_SERVER_HOST", "127.0.0.1"),
                entry("QUARKUS_GRPC_SERVER_PORT", "50151"),
                entry("QUARKUS_DATASOURCE_REACTIVE_URL", "postgresql://db:5432/scaigrid_gateway"),
                entry("QUARKUS_DATASOURCE_JDBC_URL", "jdbc:postgresql://db:5432/scaigrid_gateway"),
                entry("QUARKUS_DATASOURCE_USERNAME", "sg"),
                entry("QUARKUS_DATASOURCE_PASSWORD", "pw"),
                entry("SCAIGRID_GATEWAY_HTTP_URL", "http://127.0.0.1:8180"),
                entry("SCAIGRID_GATEWAY_GRPC_ADDRESS", "127.0.0.1:50151"),
                entry("SCAIGRID_SCAIMIND_GRPC_ADDRESS", "127.0.0.1:50152"),
                entry("SCAIGRID_SCAICORE_GRPC_ADDRESS", "127.0.0.1:50153"),
                entry("SCAIGRID_BOOTSTRAP_KEY_FILE", "/data/bootstrap-admin-key.txt"),
                entry("SCAIGRID_GATEWAY_GRPC_HOST", "127.0.0.1"),
                entry("SCAIGRID_GATEWAY_GRPC_PORT", "50151"),
                entry("SCAIGRID_LOCAL_NODE_TOKEN_FILE", "/data/node-service-token.txt"),
                entry("SCAIGRID_NODES_REGISTER_SIMULATED_CATALOGUE", "true"),
                entry("SCAIGRID_KEK", "KEK"),
                entry("QUARKUS_LOG_CONSOLE_JSON_ENABLED", "false"));
    }

    @Test
    void serviceWithoutGrpcOrDatabase() throws Exception {
        Map<String, String> lookup = Launcher.serviceEnv(ServiceSpec.named("lookup-proxy"), plan(), "0.0.0.0",
                EXTERNAL, Path.of("/data"), null, Map.of("QUARKUS_LOG_CONSOLE_JSON_ENABLED", "true"));
        assertThat(lookup).containsEntry("QUARKUS_HTTP_HOST", "0.0.0.0").containsEntry("QUARKUS_HTTP_PORT", "8084")
                .doesNotContainKeys("QUARKUS_GRPC_SERVER_PORT", "SCAIGRID_BOOTSTRAP_KEY_FILE", "SCAIGRID_KEK",
                        "QUARKUS_LOG_CONSOLE_JSON_ENABLED")
                // clients of a service bound to every interface connect through loopback
                .containsEntry("SCAIGRID_GATEWAY_GRPC_ADDRESS", "127.0.0.1:50051");

        Map<String, String> node = Launcher.serviceEnv(ServiceSpec.named("node-agent"), plan(), "127.0.0.1",
                EXTERNAL, Path.of("/data"), null, Map.of());
        assertThat(node).containsEntry("QUARKUS_GRPC_SERVER_PORT", "50060")
                .containsEntry("SCAIGRID_NODE_GATEWAY_GRPC_ADDRESS", "127.0.0.1:50051")
                .containsEntry("SCAIGRID_NODE_SERVICE_TOKEN_FILE", "/data/node-service-token.txt")
                .doesNotContainKeys("QUARKUS_DATASOURCE_JDBC_URL", "QUARKUS_DATASOURCE_REACTIVE_URL");
    }

    @Test
    void findRoot() throws Exception {
        Path checkout = Files.createDirectories(tmp.resolve("checkout"));
        Files.createDirectories(checkout.resolve("gateway-core"));
        Path jarDir = Files.createDirectories(checkout.resolve("deploy/launcher/target"));
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));

        assertThat(Launcher.findRoot(null, jarDir.resolve("scaigrid-launcher.jar"), elsewhere)).isEqualTo(checkout);
        assertThat(Launcher.findRoot(null, null, checkout.resolve("deploy"))).isEqualTo(checkout);
        assertThat(Launcher.findRoot(elsewhere, jarDir, checkout)).isEqualTo(elsewhere);
        assertThatThrownBy(() -> Launcher.findRoot(null, elsewhere, elsewhere)).isInstanceOf(LauncherException.class)
                .hasMessageContaining("pass --root DIR");
        assertThatThrownBy(() -> Launcher.findRoot(tmp.resolve("nope"), null, elsewhere))
                .hasMessageContaining("is not a directory");
    }

    @Test
    void kekIsGeneratedOnceAndKeptPrivate() throws Exception {
        String first = Launcher.ensureKek(tmp, Map.of());
        assertThat(Base64.getDecoder().decode(first)).hasSize(32);
        assertThat(Launcher.ensureKek(tmp, Map.of())).isEqualTo(first);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tmp.resolve(Launcher.KEK_FILE))))
                .isEqualTo("rw-------");
        // one given in the environment is inherited by the services as it is
        assertThat(Launcher.ensureKek(tmp.resolve("other"), Map.of("SCAIGRID_KEK", "abc"))).isNull();
        assertThat(tmp.resolve("other")).doesNotExist();
    }

    @Test
    void brokenKekFileIsReported() throws Exception {
        Files.writeString(tmp.resolve(Launcher.KEK_FILE), "dG9vIHNob3J0");
        assertThatThrownBy(() -> Launcher.ensureKek(tmp, Map.of())).isInstanceOf(LauncherException.class)
                .hasMessageContaining("32 bytes");
    }

    @Test
    void adminKeyFile() throws Exception {
        Path file = tmp.resolve(Launcher.KEY_FILE);
        assertThat(Launcher.readKey(file)).isEmpty();
        Files.writeString(file, "\nsgk_abc123\n");
        assertThat(Launcher.readKey(file)).contains("sgk_abc123");
    }

    @Test
    void utf8SymbolsOnlyForUtf8Locales() {
        assertThat(Term.isUtf8Locale(Map.of("LANG", "en_US.UTF-8"))).isTrue();
        assertThat(Term.isUtf8Locale(Map.of("LANG", "C.utf8"))).isTrue();
        assertThat(Term.isUtf8Locale(Map.of("LANG", "C"))).isFalse();
        assertThat(Term.isUtf8Locale(Map.of())).isFalse();
        // LC_ALL overrides LANG
        assertThat(Term.isUtf8Locale(Map.of("LC_ALL", "C", "LANG", "en_US.UTF-8"))).isFalse();
        assertThat(Term.isUtf8Locale(Map.of("LC_ALL", "de_DE.UTF-8", "LANG", "C"))).isTrue();

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Term ascii = new Term(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, tmp);
        ascii.step("starting gateway-core");
        ascii.ok("stopped");
        ascii.fail("broken");
        Term fancy = new Term(new PrintStream(bytes, true, StandardCharsets.UTF_8), true, tmp);
        fancy.step("starting gateway-core");
        fancy.ok("stopped");
        assertThat(bytes.toString(StandardCharsets.UTF_8).lines()).containsExactly(
                "[..] starting gateway-core...", "[ok] stopped", "[!!] broken",
                "▶ starting gateway-core…", "✓ stopped");
        assertThat(ascii.show(tmp.resolve(".scaigrid/logs/a.log"))).isEqualTo(".scaigrid/logs/a.log");
        assertThat(ascii.show(Path.of("/elsewhere/x"))).isEqualTo("/elsewhere/x");
    }

    @Test
    void logTailShowsOnlyThisStartsLines() throws Exception {
        Path log = tmp.resolve("svc.log");
        Files.writeString(log, "old run line\n");
        long offset = Files.size(log);
        Files.writeString(log, IntStream.rangeClosed(1, 100).mapToObj(i -> "line " + i).collect(Collectors.joining("\n", "", "\n")),
                java.nio.file.StandardOpenOption.APPEND);
        List<String> tail = LogTail.lastLines(log, offset, 40);
        assertThat(tail).hasSize(40).startsWith("line 61").endsWith("line 100");
        assertThat(LogTail.lastLines(log, 0, 1000)).first().isEqualTo("old run line");
        assertThat(LogTail.lastLines(tmp.resolve("missing.log"), 0, 40)).isEmpty();
    }

    @Test
    void portCheckSeesAListener() throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            int port = busy.getLocalPort();
            assertThat(PortCheck.bindProblem("127.0.0.1", port)).isNotNull();
            List<PortCheck.Problem> problems = PortCheck.problems(List.of(
                    new PortPlan.Needed("gateway-core HTTP", "127.0.0.1", port)));
            assertThat(problems).singleElement().satisfies(p -> assertThat(p.port().owner()).isEqualTo("gateway-core HTTP"));
        }
    }

    @Test
    void serviceJvmOptionsComeFromTheEnvironmentAfterTheDefaultHeap() {
        assertThat(Launcher.javaCommand("java", "lookup-proxy", "svc.jar", Map.of()))
                .containsExactly("java", Launcher.SERVICE_HEAP, "-jar", "svc.jar");
        assertThat(Launcher.javaCommand("java", "lookup-proxy", "svc.jar",
                Map.of("SCAIGRID_SERVICE_JAVA_OPTS", "  -Xmx1g   -XX:+UseParallelGC ")))
                .containsExactly("java", Launcher.SERVICE_HEAP, "-Xmx1g", "-XX:+UseParallelGC", "-jar", "svc.jar");
        // gateway-core's young generation is a default too, and the operator's options still come last
        assertThat(Launcher.javaCommand("java", "gateway-core", "svc.jar", Map.of("SCAIGRID_SERVICE_JAVA_OPTS", "-Xmn64m")))
                .containsExactly("java", Launcher.SERVICE_HEAP, Launcher.GATEWAY_YOUNG_GEN, "-Xmn64m", "-jar", "svc.jar");
    }
}
