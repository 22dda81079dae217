package ai.scaigrid.launcher;

import ai.scaigrid.commons.embedded.EmbeddedPostgresServer;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.SQLException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** The embedded PostgreSQL (platform-commons' {@link EmbeddedPostgresServer}) with its data in {@code <data-dir>/postgres}. */
final class EmbeddedDatabase implements Database {
    private final EmbeddedPostgresServer server;
    private final AtomicBoolean ownHookDisarmed;
    private final String description;

    private EmbeddedDatabase(EmbeddedPostgresServer server, AtomicBoolean ownHookDisarmed, String description) {
        this.server = server;
        this.ownHookDisarmed = ownHookDisarmed;
        this.description = description;
    }

    static EmbeddedDatabase start(Path dataDir, int port, List<String> databases, String description)
            throws IOException, SQLException {
        EmbeddedPostgresServer server = EmbeddedPostgresServer.start(dataDir, port);
        AtomicBoolean disarmed = disarmOwnShutdownHook(server);
        EmbeddedDatabase db = new EmbeddedDatabase(server, disarmed, description);
        try {
            for (String name : databases) {
                server.createDatabaseIfMissing(name);
            }
        } catch (SQLException | RuntimeException e) {
            db.close();
            throw e;
        }
        return db;
    }

    /**
     * A PostgreSQL still running on this data directory although no launcher holds it (the previous
     * launcher was killed with SIGKILL, say): stop it, so that this start can use the directory and
     * the port. Throws when another launcher is running on this data directory right now.
     *
     * @return the pid of the server stopped, or empty when there was none
     */
    static Optional<Long> stopLeftover(Path dataDir, Term term) throws LauncherException {
        Path pidFile = dataDir.resolve("postmaster.pid");
        if (!Files.isRegularFile(pidFile)) {
            return Optional.empty();
        }
        long pid;
        try {
            List<String> lines = Files.readAllLines(pidFile);
            pid = Long.parseLong(lines.isEmpty() ? "" : lines.get(0).trim());
        } catch (IOException | NumberFormatException e) {
            return Optional.empty(); // PostgreSQL itself copes with a stale or broken pid file
        }
        Optional<ProcessHandle> handle = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        if (handle.isEmpty() || !handle.get().info().command().orElse("").endsWith("postgres")) {
            return Optional.empty(); // gone, or the pid now belongs to something else
        }
        Path lockFile = dataDir.resolve("epg-lock"); // held by the launcher whose server it is
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = channel.tryLock()) {
            if (lock == null) {
                throw new LauncherException("another launcher is running on " + term.show(dataDir)
                        + " (its PostgreSQL has pid " + pid + "); stop it first, or use another --data-dir");
            }
        } catch (IOException e) {
            throw new LauncherException("cannot check " + term.show(lockFile) + ": " + e.getMessage(), e);
        }
        term.step("stopping a PostgreSQL left running by an earlier launcher (pid " + pid + ")");
        try {
            // SIGINT = PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect
            new ProcessBuilder("kill", "-INT", Long.toString(pid)).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
            handle.get().onExit().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new LauncherException("could not stop the PostgreSQL left running on " + term.show(dataDir)
                    + " (pid " + pid + "); stop it with: kill " + pid, e);
        }
        return Optional.of(pid);
    }

    @Override
    public String jdbcUrl(String database) {
        return server.jdbcUrl(database);
    }

    @Override
    public String reactiveUrl(String database) {
        return server.reactiveUrl(database);
    }

    @Override
    public String username() {
        return EmbeddedPostgresServer.USER;
    }

    @Override
    public Optional<String> password() {
        return Optional.empty();
    }

    @Override
    public String describe() {
        return description;
    }

    int port() {
        return server.port();
    }

    @Override
    public void close() {
        if (ownHookDisarmed != null) {
            ownHookDisarmed.set(false); // re-arm, so close() below really stops the server
        }
        try {
            server.close();
        } catch (IOException | RuntimeException e) {
            // close() of zonky logs its own failures to postgres.log; there is nothing else to do
        }
    }

    /**
     * zonky's EmbeddedPostgres registers a JVM shutdown hook that stops the server. JVM shutdown
     * hooks run concurrently, so on Ctrl-C / SIGTERM it would stop PostgreSQL while the services are
     * still shutting down. The launcher stops the services first and PostgreSQL last, itself: so the
     * server's own hook is made a no-op by marking it closed (its {@code close()} returns at once when
     * already closed) until {@link #close()} re-arms it. If zonky's internals ever change this just
     * does nothing and the old, concurrent order applies.
     */
    private static AtomicBoolean disarmOwnShutdownHook(EmbeddedPostgresServer server) {
        try {
            Field postgresField = EmbeddedPostgresServer.class.getDeclaredField("postgres");
            postgresField.setAccessible(true);
            Object postgres = postgresField.get(server);
            Field closedField = postgres.getClass().getDeclaredField("closed");
            closedField.setAccessible(true);
            if (closedField.get(postgres) instanceof AtomicBoolean closed && closed.compareAndSet(false, true)) {
                return closed;
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // keep zonky's own hook
        }
        return null;
    }
}
