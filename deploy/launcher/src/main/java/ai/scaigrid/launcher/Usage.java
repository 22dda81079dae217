package ai.scaigrid.launcher;

/** The text of {@code scaigrid help}. */
final class Usage {
    private Usage() {
    }

    static String text() {
        return """
                Usage: scaigrid [up] [flags]      start PostgreSQL and every service, wait until ready
                       scaigrid build             build everything (./mvnw -B -DskipTests package)
                       scaigrid help              this text

                Flags (each also settable by the environment variable shown; a flag wins):
                  --data-dir DIR         SCAIGRID_DATA_DIR     where data, logs and keys live (default: .scaigrid)
                  --host HOST            SCAIGRID_HOST         address the services listen on (default: 127.0.0.1)
                  --port-offset N        SCAIGRID_PORT_OFFSET  added to every HTTP and gRPC port (default: 0)
                  --pg-port N            SCAIGRID_PG_PORT      embedded PostgreSQL port (default: 54329 + offset)
                  --pg-url URL           SCAIGRID_PG_URL       use this PostgreSQL instead of the embedded one:
                                                               postgresql://user:password@host:port
                  --root DIR             SCAIGRID_ROOT         the checkout holding the module folders
                                                               (default: found above the launcher jar / current dir)
                  --only a,b             SCAIGRID_ONLY         start only these services
                  --rebuild                                    (scaigrid script) build before starting

                Services: gateway-core (8080, gRPC 50051), scaimind-bridge (8081, 50052),
                          scaicore-runtime (8082, 50053), scailink-service (8083), lookup-proxy (8084),
                          node-agent (8090, 50060)

                Ctrl-C or SIGTERM stops the services, then PostgreSQL. Logs: <data-dir>/logs/<service>.log.""";
    }
}
