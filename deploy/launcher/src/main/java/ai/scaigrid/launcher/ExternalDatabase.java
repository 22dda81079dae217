package ai.scaigrid.launcher;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

/** A PostgreSQL the user runs (--pg-url); the launcher only creates the per-service databases in it. */
final class ExternalDatabase implements Database {
    private final PgUrl url;

    private ExternalDatabase(PgUrl url) {
        this.url = url;
    }

    static ExternalDatabase connect(PgUrl url, List<String> databases) throws LauncherException {
        Properties props = new Properties();
        props.setProperty("user", url.user());
        if (!url.password().isEmpty()) {
            props.setProperty("password", url.password());
        }
        props.setProperty("connectTimeout", "10");
        props.setProperty("loginTimeout", "15");
        props.setProperty("ApplicationName", "scaigrid-launcher");
        String adminUrl = url.jdbcUrl(url.adminDatabase());
        try (Connection c = new org.postgresql.Driver().connect(adminUrl, props)) {
            if (c == null) {
                throw new LauncherException("the PostgreSQL driver does not accept " + url);
            }
            for (String name : databases) {
                createIfMissing(c, name);
            }
        } catch (SQLException e) {
            throw new LauncherException("cannot use the PostgreSQL at " + url + ": " + e.getMessage()
                    + (e.getSQLState() != null && e.getSQLState().startsWith("42")
                    ? " (the user needs the CREATEDB privilege, or create the databases " + String.join(", ", databases) + " yourself)"
                    : ""), e);
        }
        return new ExternalDatabase(url);
    }

    private static void createIfMissing(Connection c, String name) throws SQLException {
        try (PreparedStatement exists = c.prepareStatement("SELECT 1 FROM pg_database WHERE datname = ?")) {
            exists.setString(1, name);
            try (ResultSet rs = exists.executeQuery()) {
                if (rs.next()) {
                    return;
                }
            }
        }
        try (Statement create = c.createStatement()) {
            // names are the launcher's own constants ([a-z_]+), never user input
            create.execute("CREATE DATABASE \"" + name + "\"");
        }
    }

    @Override
    public String jdbcUrl(String database) {
        return url.jdbcUrl(database);
    }

    @Override
    public String reactiveUrl(String database) {
        return url.reactiveUrl(database);
    }

    @Override
    public String username() {
        return url.user();
    }

    @Override
    public Optional<String> password() {
        return url.password().isEmpty() ? Optional.empty() : Optional.of(url.password());
    }

    @Override
    public String describe() {
        return url.hostPort() + " (external, user " + url.user() + ")";
    }

    @Override
    public void close() {
        // not ours to stop
    }
}
