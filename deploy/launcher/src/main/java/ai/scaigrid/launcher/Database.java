package ai.scaigrid.launcher;

import java.util.Optional;

/** Where the services' databases live: the embedded PostgreSQL or an external one. */
interface Database extends AutoCloseable {

    String jdbcUrl(String database);

    String reactiveUrl(String database);

    String username();

    /** Empty for the embedded server (trust authentication). */
    Optional<String> password();

    /** For the summary: "127.0.0.1:54329 (embedded, data in .scaigrid/postgres)". */
    String describe();

    /** Stops the embedded server; nothing for an external one. Never throws. */
    @Override
    void close();
}
