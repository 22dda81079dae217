package ai.scaigrid.gateway;

import ai.scaigrid.commons.testing.TestPorts;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A real OIDC provider (a system we do not own): the Keycloak server distribution, unpacked by the
 * build from Maven Central and run on a JDK 21+ found on the machine (Keycloak 26 needs one; the
 * machines carry Temurin 25 beside the default JDK 17). Creates a realm, a client that puts
 * {@code tenant_id}, {@code role} and the {@code scaigrid} audience into access tokens, and a user.
 */
public class KeycloakTestResource implements QuarkusTestResourceLifecycleManager {
    public static final String REALM = "scaigrid";
    public static final String CLIENT = "scaigrid-app";
    public static final String USER = "alice";
    public static final String PASSWORD = "wonderland-" + Long.toHexString(System.nanoTime());
    static final String BASE_URL_PROPERTY = "scaigrid.test.keycloak-url";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Process keycloak;

    @Override
    public Map<String, String> start() {
        Path home = Path.of(System.getProperty("keycloak.home", "target/keycloak/missing"));
        if (!Files.isExecutable(home.resolve("bin/kc.sh"))) {
            throw new IllegalStateException("Keycloak distribution not found at " + home + " (the build unpacks it in pre-integration-test)");
        }
        Path javaHome = findJdk21().orElseThrow(() -> new IllegalStateException(
                "Keycloak needs a JDK 21+; none found under /usr/lib/jvm (set KEYCLOAK_JAVA_HOME)"));
        try {
            deleteRecursively(home.resolve("data"));
            int port = TestPorts.free();
            ProcessBuilder pb = new ProcessBuilder(home.resolve("bin/kc.sh").toString(), "start-dev",
                    "--http-port=" + port, "--http-host=127.0.0.1", "--health-enabled=false", "--cache=local")
                    .redirectErrorStream(true)
                    .redirectOutput(home.resolve("keycloak-test.log").toFile());
            pb.environment().put("JAVA_HOME", javaHome.toString());
            pb.environment().put("KC_BOOTSTRAP_ADMIN_USERNAME", "admin");
            pb.environment().put("KC_BOOTSTRAP_ADMIN_PASSWORD", "admin");
            pb.environment().put("JAVA_OPTS_APPEND", "-Xmx512m");
            keycloak = pb.start();
            String base = "http://127.0.0.1:" + port;
            waitUntilUp(base + "/realms/master/.well-known/openid-configuration", home.resolve("keycloak-test.log"));
            configureRealm(base);
            System.setProperty(BASE_URL_PROPERTY, base);
            return Map.of(
                    "quarkus.oidc.tenant-enabled", "true",
                    "scaigrid.jwt.enabled", "true",
                    "quarkus.oidc.auth-server-url", base + "/realms/" + REALM,
                    "quarkus.oidc.token.audience", "scaigrid",
                    "scaigrid.bootstrap.admin-api-key", "sgk_KeycloakItAdminKey0000000000000000000");
        } catch (Exception e) {
            stop();
            throw new IllegalStateException("Keycloak did not start: " + e.getMessage(), e);
        }
    }

    @Override
    public void stop() {
        if (keycloak != null) {
            keycloak.descendants().forEach(ProcessHandle::destroy);
            keycloak.destroy();
            try {
                if (!keycloak.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                    keycloak.descendants().forEach(ProcessHandle::destroyForcibly);
                    keycloak.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** A user access token from Keycloak's token endpoint (password grant). */
    public static String userToken() throws IOException, InterruptedException {
        String base = System.getProperty(BASE_URL_PROPERTY);
        JsonNode token = form(base + "/realms/" + REALM + "/protocol/openid-connect/token", Map.of(
                "grant_type", "password", "client_id", CLIENT, "username", USER, "password", PASSWORD, "scope", "openid"));
        return token.get("access_token").asText();
    }

    private static void configureRealm(String base) throws IOException, InterruptedException {
        String admin = form(base + "/realms/master/protocol/openid-connect/token", Map.of(
                "grant_type", "password", "client_id", "admin-cli", "username", "admin", "password", "admin"))
                .get("access_token").asText();
        post(base + "/admin/realms", admin, Map.of("realm", REALM, "enabled", true));
        post(base + "/admin/realms/" + REALM + "/clients", admin, Map.of(
                "clientId", CLIENT, "enabled", true, "publicClient", true, "directAccessGrantsEnabled", true,
                "standardFlowEnabled", false, "protocol", "openid-connect",
                "protocolMappers", List.of(
                        mapper("audience", "oidc-audience-mapper", Map.of("included.custom.audience", "scaigrid",
                                "access.token.claim", "true", "id.token.claim", "false")),
                        mapper("tenant", "oidc-hardcoded-claim-mapper", Map.of("claim.name", "tenant_id",
                                "claim.value", "default", "jsonType.label", "String", "access.token.claim", "true")),
                        mapper("role", "oidc-hardcoded-claim-mapper", Map.of("claim.name", "role",
                                "claim.value", "tenant_admin", "jsonType.label", "String", "access.token.claim", "true")))));
        post(base + "/admin/realms/" + REALM + "/users", admin, Map.of(
                "username", USER, "enabled", true, "email", "alice@example.test", "emailVerified", true,
                "firstName", "Alice", "lastName", "Liddell",
                "credentials", List.of(Map.of("type", "password", "value", PASSWORD, "temporary", false))));
    }

    private static Map<String, Object> mapper(String name, String type, Map<String, String> config) {
        return Map.of("name", name, "protocol", "openid-connect", "protocolMapper", type, "config", config);
    }

    private static void post(String url, String bearer, Object body) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url))
                .header("Authorization", "Bearer " + bearer).header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) {
            throw new IOException("POST " + url + " -> " + r.statusCode() + ": " + r.body());
        }
    }

    private static JsonNode form(String url, Map<String, String> fields) throws IOException, InterruptedException {
        StringBuilder body = new StringBuilder();
        fields.forEach((k, v) -> body.append(body.length() == 0 ? "" : "&").append(k).append('=')
                .append(URLEncoder.encode(v, StandardCharsets.UTF_8)));
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url))
                .header("Content-Type", "application/x-www-form-urlencoded").timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("token request -> " + r.statusCode() + ": " + r.body());
        }
        return JSON.readTree(r.body());
    }

    private void waitUntilUp(String url, Path log) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(240).toNanos();
        while (System.nanoTime() < deadline) {
            if (!keycloak.isAlive()) {
                throw new IllegalStateException("Keycloak exited: " + tail(log));
            }
            try {
                HttpResponse<Void> r = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // still starting
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("Keycloak not ready after 240 s: " + tail(log));
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log)";
        }
    }

    static Optional<Path> findJdk21() {
        String explicit = System.getenv("KEYCLOAK_JAVA_HOME");
        if (explicit != null && Files.isExecutable(Path.of(explicit, "bin/java"))) {
            return Optional.of(Path.of(explicit));
        }
        try (Stream<Path> jdks = Files.list(Path.of("/usr/lib/jvm"))) {
            return jdks.filter(p -> Files.isExecutable(p.resolve("bin/java")))
                    .filter(p -> featureVersion(p) >= 21)
                    .max(Comparator.comparingInt(KeycloakTestResource::featureVersion));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static int featureVersion(Path jdk) {
        try {
            for (String line : Files.readAllLines(jdk.resolve("release"))) {
                if (line.startsWith("JAVA_VERSION=")) {
                    String v = line.substring("JAVA_VERSION=".length()).replace("\"", "");
                    return Integer.parseInt(v.split("[.+-]")[0]);
                }
            }
        } catch (IOException | NumberFormatException ignored) {
            // not a JDK we can read
        }
        return 0;
    }


    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
