package ai.scaigrid.commons.testing;

import ai.scaigrid.commons.embedded.EmbeddedPostgresServer;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The real gateway-core for a module service's tests: identity (API keys, ScaiKey JWTs, the
 * {@code scaigrid.v1.IdentityService} introspection every module service authenticates through) and
 * the model catalogue are our own code, so tests run against them rather than a fake.
 *
 * <p>Starts (once per JVM) an embedded PostgreSQL, creates a fresh database, and launches the packaged
 * gateway ({@code java -jar .../quarkus-app/quarkus-run.jar}, path from the system property
 * {@value #APP_PROPERTY}, default {@code ../gateway-core/target/quarkus-app/quarkus-run.jar} relative to
 * the module) on free HTTP and gRPC ports, bootstrapped with the fixed super-admin key {@link #ADMIN_KEY}.
 * Output goes to {@code target/gateway-core-test.log}. It returns the introspection client's
 * {@code quarkus.grpc.clients.scaigrid-identity.host/port/test-port} plus {@code scaigrid.test.gateway-url},
 * {@code scaigrid.test.gateway-grpc-host/port} and {@code scaigrid.test.gateway-admin-key}, so tests
 * create tenants, users and keys through the gateway's REST API.
 *
 * <p>Init arg {@code oidc=true} makes the gateway trust a test ScaiKey issuer (an RSA key pair made
 * here; a real issuer is a system we do not own): tests then mint user JWTs with {@link #userJwt} /
 * {@link #signJwt}.
 */
public class GatewayCoreTestResource implements QuarkusTestResourceLifecycleManager {
    /** sgk_ + 36 characters: the super admin of the gateway's default tenant. */
    public static final String ADMIN_KEY = "sgk_GatewayCoreTestAdmin0000000000000000";
    public static final String APP_PROPERTY = "scaigrid.gateway-core.app";
    public static final String ISSUER = "https://scaikey.test/tenants/default";
    public static final String AUDIENCE = "scaigrid";
    private static final String PRIVATE_KEY_PROPERTY = "scaigrid.test.oidc-private-key";
    private static final String DEFAULT_APP = "../gateway-core/target/quarkus-app/quarkus-run.jar";
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(120);
    private static final AtomicInteger STARTS = new AtomicInteger();
    private static final ObjectMapper JSON = new ObjectMapper();

    private static EmbeddedPostgresServer postgres;

    /** One platform KEK per database: replicas of one database must open each other's secrets. */
    private static final Map<String, String> KEKS = new java.util.concurrent.ConcurrentHashMap<>();

    private boolean oidc;
    private String sharedDatabase;
    private Process process;

    /**
     * Init args: {@code oidc=true} (see above); {@code database=<name>} to run this gateway on that
     * database, which other instances started with the same name share, as replicas of one deployment
     * do (default: a fresh database per start).
     */
    @Override
    public void init(Map<String, String> initArgs) {
        oidc = Boolean.parseBoolean(initArgs.getOrDefault("oidc", "false"));
        sharedDatabase = initArgs.get("database");
    }

    /** A connection source for one of the test gateways' databases, for tests that look at what a gateway stored. */
    public static javax.sql.DataSource dataSource(String database) throws IOException {
        return sharedPostgres().dataSource(database);
    }

    @Override
    public Map<String, String> start() {
        Path app = installedApp();
        int run = STARTS.incrementAndGet();
        String database = sharedDatabase != null ? sharedDatabase : "gateway_core_test_" + run;
        try {
            sharedPostgres().createDatabaseIfMissing(database);
        } catch (Exception e) {
            throw new IllegalStateException("could not create the gateway's test database", e);
        }
        int httpPort = TestPorts.free();
        int grpcPort = TestPorts.free();

        Map<String, String> env = new LinkedHashMap<>();
        env.put("QUARKUS_DATASOURCE_REACTIVE_URL", postgres.reactiveUrl(database));
        env.put("QUARKUS_DATASOURCE_JDBC_URL", postgres.jdbcUrl(database));
        env.put("QUARKUS_DATASOURCE_USERNAME", EmbeddedPostgresServer.USER);
        env.put("QUARKUS_DATASOURCE_PASSWORD", "");
        env.put("QUARKUS_HTTP_HOST", "127.0.0.1");
        env.put("QUARKUS_HTTP_PORT", Integer.toString(httpPort));
        env.put("QUARKUS_GRPC_SERVER_PORT", Integer.toString(grpcPort));
        env.put("SCAIGRID_BOOTSTRAP_ADMIN_API_KEY", ADMIN_KEY);
        env.put("SCAIGRID_KEK", KEKS.computeIfAbsent(database, d -> Base64.getEncoder().encodeToString(randomBytes())));
        env.put("QUARKUS_LOG_CONSOLE_JSON_ENABLED", "false");
        // fixture set-up goes through the admin key far faster than the default 60 requests a minute;
        // gateway-core's own tests cover its limits
        for (String level : new String[] {"KEY", "USER", "TENANT", "PARTNER"}) {
            env.put("SCAIGRID_LIMIT_" + level + "_RPM", "1000000");
        }
        if (oidc) {
            KeyPair pair = rsaKeyPair();
            // a system property is visible to the tests whatever class loader they run in
            System.setProperty(PRIVATE_KEY_PROPERTY, Base64.getEncoder().encodeToString(pair.getPrivate().getEncoded()));
            env.put("SCAIGRID_OIDC_ENABLED", "true");
            env.put("QUARKUS_OIDC_PUBLIC_KEY", Base64.getEncoder().encodeToString(pair.getPublic().getEncoded()));
            env.put("QUARKUS_OIDC_TOKEN_ISSUER", ISSUER);
            env.put("QUARKUS_OIDC_TOKEN_AUDIENCE", AUDIENCE);
        }

        Path log = Path.of("target", "gateway-core-test.log").toAbsolutePath();
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", app.toString());
        try {
            Files.createDirectories(log.getParent());
            Files.writeString(log, "==== gateway-core start #" + run + ": " + String.join(" ", command) + System.lineSeparator(),
                    StandardCharsets.UTF_8, run == 1 ? new java.nio.file.OpenOption[]{} : new java.nio.file.OpenOption[]{
                            java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND});
            ProcessBuilder builder = new ProcessBuilder(command)
                    .directory(app.getParent().toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            builder.environment().putAll(env);
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not launch gateway-core (" + app + ")", e);
        }
        String url = "http://127.0.0.1:" + httpPort;
        awaitReady(url, log);

        Map<String, String> config = new HashMap<>();
        config.put("quarkus.grpc.clients.scaigrid-identity.host", "127.0.0.1");
        config.put("quarkus.grpc.clients.scaigrid-identity.port", Integer.toString(grpcPort));
        // under test, Quarkus points gRPC clients at test-port instead of port
        config.put("quarkus.grpc.clients.scaigrid-identity.test-port", Integer.toString(grpcPort));
        config.put("scaigrid.test.gateway-url", url);
        config.put("scaigrid.test.gateway-grpc-host", "127.0.0.1");
        config.put("scaigrid.test.gateway-grpc-port", Integer.toString(grpcPort));
        config.put("scaigrid.test.gateway-admin-key", ADMIN_KEY);
        if (oidc) {
            config.put("scaigrid.test.oidc-issuer", ISSUER);
            config.put("scaigrid.test.oidc-audience", AUDIENCE);
        }
        return config;
    }

    @Override
    public void stop() {
        if (process != null) {
            process.destroy();
            try {
                if (!process.waitFor(20, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
            process = null;
        }
        if (oidc) {
            System.clearProperty(PRIVATE_KEY_PROPERTY);
        }
    }

    // ------------------------------------------------------------------ JWTs of the test issuer

    /** A ScaiKey-style user token for the tenant (id or slug), with an optional role claim, valid five minutes. */
    public static String userJwt(String subject, String tenant, String role) {
        Map<String, Object> claims = new LinkedHashMap<>();
        claims.put("sub", subject);
        claims.put("tenant_id", tenant);
        claims.put("email", subject + "@example.test");
        if (role != null) {
            claims.put("role", role);
        }
        return signJwt(claims);
    }

    /** Signs the claims (RS256) with the test issuer's key; iss, aud, iat and exp are added unless given. */
    public static String signJwt(Map<String, Object> claims) {
        String der = System.getProperty(PRIVATE_KEY_PROPERTY);
        if (der == null) {
            throw new IllegalStateException("no test issuer: register GatewayCoreTestResource with initArgs oidc=true");
        }
        long now = System.currentTimeMillis() / 1000;
        Map<String, Object> all = new LinkedHashMap<>();
        all.put("iss", ISSUER);
        all.put("aud", AUDIENCE);
        all.put("iat", now);
        all.put("exp", now + 300);
        all.putAll(claims);
        try {
            Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
            String header = b64.encodeToString(JSON.writeValueAsBytes(Map.of("alg", "RS256", "typ", "JWT", "kid", "test-key")));
            String payload = b64.encodeToString(JSON.writeValueAsBytes(all));
            PrivateKey key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(der)));
            Signature signer = Signature.getInstance("SHA256withRSA");
            signer.initSign(key);
            signer.update((header + "." + payload).getBytes(StandardCharsets.US_ASCII));
            return header + "." + payload + "." + b64.encodeToString(signer.sign());
        } catch (Exception e) {
            throw new IllegalStateException("could not sign a test JWT", e);
        }
    }

    // ------------------------------------------------------------------ helpers

    /**
     * The gateway's quarkus-app, copied once per JVM under this module's target/: gateway-core may be
     * rebuilt by someone else while these tests run, and a running JVM must not lose its jars.
     */
    private static synchronized Path installedApp() {
        Path source = Path.of(System.getProperty(APP_PROPERTY, DEFAULT_APP)).toAbsolutePath().normalize();
        if (!Files.isRegularFile(source)) {
            throw new IllegalStateException("gateway-core is not built: " + source + " does not exist. Build it first: "
                    + "./mvnw -o -q install -DskipTests -pl platform-commons,gateway-core -am "
                    + "(or point -D" + APP_PROPERTY + "=... at a quarkus-run.jar)");
        }
        Path target = Path.of("target", "gateway-core-app").toAbsolutePath();
        Path marker = target.resolve(".copied-from");
        try {
            String stamp = source + "@" + Files.getLastModifiedTime(source).toMillis() + "@"
                    + Files.getLastModifiedTime(source.getParent().resolve("app")).toMillis();
            if (!(Files.isRegularFile(marker) && Files.readString(marker).equals(stamp))) {
                deleteTree(target);
                copyTree(source.getParent(), target);
                Files.writeString(marker, stamp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not copy gateway-core from " + source.getParent(), e);
        }
        return target.resolve(source.getFileName());
    }

    private static synchronized EmbeddedPostgresServer sharedPostgres() throws IOException {
        if (postgres == null) {
            postgres = EmbeddedPostgresServer.start(null, 0);
            EmbeddedPostgresServer started = postgres;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    started.close();
                } catch (IOException ignored) {
                    // the JVM is ending anyway
                }
            }, "gateway-core-test-postgres-stop"));
        }
        return postgres;
    }

    /** Polls /q/health/ready; the wait between polls is a wait on the process, so its death ends it at once. */
    private void awaitReady(String url, Path log) {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest ready = HttpRequest.newBuilder(URI.create(url + "/q/health/ready")).timeout(Duration.ofSeconds(5)).GET().build();
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        try {
            while (System.nanoTime() < deadline) {
                if (process.waitFor(250, TimeUnit.MILLISECONDS)) {
                    throw new IllegalStateException("gateway-core exited with code " + process.exitValue()
                            + " before it was ready; see " + log + System.lineSeparator() + tail(log));
                }
                try {
                    if (http.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                        return;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        stop();
        throw new IllegalStateException("gateway-core was not ready within " + READY_TIMEOUT.toSeconds() + " s; see " + log
                + System.lineSeparator() + tail(log));
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join(System.lineSeparator(), lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }


    private static byte[] randomBytes() {
        byte[] bytes = new byte[32];
        new java.security.SecureRandom().nextBytes(bytes);
        return bytes;
    }

    private static KeyPair rsaKeyPair() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
            generator.initialize(2048);
            return generator.generateKeyPair();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                Path dest = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dest);
                } else {
                    Files.copy(p, dest, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            List<Path> all = new ArrayList<>(paths.toList());
            java.util.Collections.reverse(all);
            for (Path p : all) {
                File f = p.toFile();
                if (!f.delete() && f.exists()) {
                    throw new IOException("could not delete " + p);
                }
            }
        }
    }
}
