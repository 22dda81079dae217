package ai.scaigrid.launcher;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The ports of one run: every service's default ports plus the offset, and the embedded PostgreSQL's.
 * Checked up front: all within 1-65535 and no two the same.
 */
final class PortPlan {

    /** A port the launcher will need, with what it is for ("gateway-core HTTP"). */
    record Needed(String owner, String host, int port) {
    }

    private final int offset;
    private final Integer pgPort;

    private PortPlan(int offset, Integer pgPort) {
        this.offset = offset;
        this.pgPort = pgPort;
    }

    /** The plan for these options; PostgreSQL gets a port only when the embedded one will run. */
    static PortPlan of(Options options) throws UsageException {
        Integer pgPort = options.embeddedDatabase() ? options.effectivePgPort() : null;
        PortPlan plan = new PortPlan(options.portOffset(), pgPort);
        plan.validate(options.pgPort() == null);
        return plan;
    }

    int offset() {
        return offset;
    }

    int http(ServiceSpec s) {
        return s.httpPort() + offset;
    }

    /** 0 when the service has no gRPC server. */
    int grpc(ServiceSpec s) {
        return s.hasGrpc() ? s.grpcPort() + offset : 0;
    }

    /** null when no embedded PostgreSQL runs. */
    Integer pgPort() {
        return pgPort;
    }

    /** Every port to check before starting: the selected services' on the bind host, PostgreSQL's on loopback. */
    List<Needed> needed(List<ServiceSpec> services, String bindHost) {
        List<Needed> needed = new ArrayList<>();
        if (pgPort != null) {
            needed.add(new Needed("PostgreSQL", "127.0.0.1", pgPort));
        }
        for (ServiceSpec s : services) {
            needed.add(new Needed(s.name() + " HTTP", bindHost, http(s)));
            if (s.hasGrpc()) {
                needed.add(new Needed(s.name() + " gRPC", bindHost, grpc(s)));
            }
        }
        return needed;
    }

    /** All services' ports are checked, not just the selected ones: the others' addresses go into every service's environment. */
    private void validate(boolean pgPortFollowsOffset) throws UsageException {
        int maxBase = 0;
        int minBase = Integer.MAX_VALUE;
        for (ServiceSpec s : ServiceSpec.ALL) {
            maxBase = Math.max(maxBase, Math.max(s.httpPort(), s.grpcPort()));
            minBase = Math.min(minBase, s.httpPort());
        }
        if (pgPort != null && pgPortFollowsOffset) {
            maxBase = Math.max(maxBase, ServiceSpec.DEFAULT_PG_PORT);
        }
        int maxOffset = 65535 - maxBase;
        int minOffset = 1024 - minBase;
        Map<Integer, String> seen = new HashMap<>();
        if (pgPort != null) {
            if (pgPort < 1 || pgPort > 65535) {
                throw new UsageException("--port-offset " + offset + " puts PostgreSQL on port " + pgPort
                        + ", outside 1-65535; use an offset between " + minOffset + " and " + maxOffset);
            }
            seen.put(pgPort, "PostgreSQL");
        }
        for (ServiceSpec s : ServiceSpec.ALL) {
            for (int i = 0; i < 2; i++) {
                boolean grpc = i == 1;
                if (grpc && !s.hasGrpc()) {
                    continue;
                }
                int port = grpc ? grpc(s) : http(s);
                String owner = s.name() + (grpc ? " gRPC" : " HTTP");
                if (port < 1024 || port > 65535) {
                    throw new UsageException("--port-offset " + offset + " puts " + owner + " on port " + port
                            + ", outside 1024-65535; use an offset between " + minOffset + " and " + maxOffset);
                }
                String clash = seen.putIfAbsent(port, owner);
                if (clash != null) {
                    throw new UsageException(clash + " and " + owner + " would both use port " + port
                            + "; choose another --pg-port");
                }
            }
        }
    }
}
