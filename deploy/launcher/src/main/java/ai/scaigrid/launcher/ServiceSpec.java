package ai.scaigrid.launcher;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * One service of the suite: its module folder, default ports and database.
 *
 * @param grpcPort 0 when the service has no gRPC server
 * @param database null when the service has no database
 */
record ServiceSpec(String name, String module, int httpPort, int grpcPort, String database) {

    /** Every service, in start order (the gateway first: the others call it). */
    static final List<ServiceSpec> ALL = List.of(
            new ServiceSpec("gateway-core", "gateway-core", 8080, 50051, "scaigrid_gateway"),
            new ServiceSpec("scaimind-bridge", "scaimind-bridge", 8081, 50052, "scaigrid_scaimind"),
            new ServiceSpec("scaicore-runtime", "scaicore-runtime", 8082, 50053, "scaigrid_scaicore"),
            new ServiceSpec("scailink-service", "scailink-service", 8083, 0, "scaigrid_scailink"),
            new ServiceSpec("lookup-proxy", "lookup-proxy", 8084, 0, "scaigrid_lookup"),
            new ServiceSpec("node-agent", "node-agent", 8090, 50060, null));

    static final String GATEWAY = "gateway-core";
    static final String SCAIMIND = "scaimind-bridge";
    static final String SCAICORE = "scaicore-runtime";

    /** The embedded PostgreSQL's port before the offset. */
    static final int DEFAULT_PG_PORT = 54329;

    static Optional<ServiceSpec> byName(String name) {
        return ALL.stream().filter(s -> s.name.equals(name)).findFirst();
    }

    static ServiceSpec named(String name) {
        return byName(name).orElseThrow();
    }

    boolean hasGrpc() {
        return grpcPort > 0;
    }

    boolean hasDatabase() {
        return database != null;
    }

    /**
     * What a 200 from /q/health/ready must also say before the launcher counts the service as ready.
     * node-agent is ready to serve as soon as its configuration is usable, but nothing reaches it
     * until gateway-core has registered it (its first heartbeat's ack); only then does a first chat
     * completion on the simulated model work, which is what READY promises.
     */
    Optional<Pattern> readyWhen() {
        return name.equals(NODE_AGENT) ? Optional.of(NODE_REGISTERED) : Optional.empty();
    }

    static final String NODE_AGENT = "node-agent";
    private static final Pattern NODE_REGISTERED = Pattern.compile("\"gateway_state\"\\s*:\\s*\"ACTIVE\"");

    /** The runnable Quarkus builds with {@code ./mvnw package}. */
    Path jar(Path root) {
        return root.resolve(module).resolve("target").resolve("quarkus-app").resolve("quarkus-run.jar");
    }
}
