package ai.scaigrid.launcher;

import ai.scaigrid.commons.embedded.EmbeddedPostgresServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** --pg-url against a real PostgreSQL (an embedded one standing in for "yours"). */
class ExternalDatabaseTest {
    static EmbeddedPostgresServer server;

    @BeforeAll
    static void start() throws Exception {
        server = EmbeddedPostgresServer.start(null, 0);
        try (Connection c = server.dataSource("postgres").getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE ROLE limited LOGIN");
        }
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private static List<String> databases() throws Exception {
        List<String> names = new ArrayList<>();
        try (Connection c = server.dataSource("postgres").getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT datname FROM pg_database")) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        }
        return names;
    }

    @Test
    void createsMissingDatabasesOnceAndHandsOutUrls() throws Exception {
        PgUrl url = PgUrl.parse("postgresql://postgres:pw@127.0.0.1:" + server.port());
        ExternalDatabase db = ExternalDatabase.connect(url, List.of("ext_a", "ext_b"));
        assertThat(databases()).contains("ext_a", "ext_b");
        ExternalDatabase.connect(url, List.of("ext_a", "ext_b")); // again: nothing to do, no error

        assertThat(db.jdbcUrl("ext_a")).isEqualTo("jdbc:postgresql://127.0.0.1:" + server.port() + "/ext_a");
        assertThat(db.reactiveUrl("ext_a")).isEqualTo("postgresql://127.0.0.1:" + server.port() + "/ext_a");
        assertThat(db.username()).isEqualTo("postgres");
        assertThat(db.password()).contains("pw");
        assertThat(db.describe()).isEqualTo("127.0.0.1:" + server.port() + " (external, user postgres)");
    }

    @Test
    void unreachableServerIsExplainedWithoutThePassword() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        PgUrl url = PgUrl.parse("postgresql://postgres:hunter2@127.0.0.1:" + closedPort);
        assertThatThrownBy(() -> ExternalDatabase.connect(url, List.of("ext_c"))).isInstanceOf(LauncherException.class)
                .hasMessageContaining("cannot use the PostgreSQL at postgresql://postgres:***@127.0.0.1:" + closedPort)
                .hasMessageNotContaining("hunter2");
    }

    @Test
    void missingCreatedbPrivilegeIsExplained() throws Exception {
        PgUrl url = PgUrl.parse("postgresql://limited@127.0.0.1:" + server.port());
        assertThatThrownBy(() -> ExternalDatabase.connect(url, List.of("ext_d")))
                .hasMessageContaining("CREATEDB privilege").hasMessageContaining("ext_d");
    }
}
