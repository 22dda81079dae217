package ai.scaigrid.commons.testing;

import ai.scaigrid.commons.embedded.EmbeddedPostgresServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/**
 * One embedded PostgreSQL per module test run: every service's tests register this once and share
 * the server (Quarkus boots once per profile, the server with it). Provides both the reactive URL
 * and the JDBC URL (Flyway).
 */
public class EmbeddedPostgresTestResource implements QuarkusTestResourceLifecycleManager {
    public static final String DATABASE = "scaigrid_test";
    private EmbeddedPostgresServer server;

    @Override
    public Map<String, String> start() {
        try {
            server = EmbeddedPostgresServer.start(null, 0);
            server.createDatabaseIfMissing(DATABASE);
        } catch (Exception e) {
            throw new IllegalStateException("embedded PostgreSQL did not start", e);
        }
        return Map.of(
                "quarkus.datasource.reactive.url", server.reactiveUrl(DATABASE),
                "quarkus.datasource.jdbc.url", server.jdbcUrl(DATABASE),
                "quarkus.datasource.username", EmbeddedPostgresServer.USER,
                "quarkus.datasource.password", "");
    }

    @Override
    public void stop() {
        if (server != null) {
            try {
                server.close();
            } catch (Exception ignored) {
                // the JVM is ending anyway
            }
        }
    }
}
