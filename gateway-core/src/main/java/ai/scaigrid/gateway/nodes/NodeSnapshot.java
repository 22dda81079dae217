package ai.scaigrid.gateway.nodes;

import java.util.List;

/**
 * What this replica knows about one node: its last report, the operator's state, and when it was
 * last heard of ({@code heardNanos}, on this JVM's monotonic clock, so replicas need no synchronised
 * clocks). Immutable; the registry swaps whole snapshots.
 *
 * @param models        the node's models as stored and shown (snake_case JSON objects)
 * @param adminState    ACTIVE or DRAINING (set by operators through the admin API)
 */
public record NodeSnapshot(String id, String address, String version, String engine, String health, String healthMessage,
                           String adminState, String adminReason, int maxConcurrency, int inFlight, int queueDepth,
                           List<Model> models, long sequence, long startedAtMillis, long heardNanos, String sealedCallToken,
                           String owner) {

    /** A model on the node, as routing needs it. */
    public record Model(String name, String state, String modality) {
    }

    public static final String ACTIVE = "ACTIVE";
    public static final String DRAINING = "DRAINING";
    public static final String DISABLED = "DISABLED";
    public static final String UNAVAILABLE = "UNAVAILABLE";

    /** The registry state (REST strings of scaiinfer.v1.NodeState): DISABLED, UNAVAILABLE, DRAINING or ACTIVE. */
    public static String state(String adminState, String health, long silentMillis, long timeoutMillis) {
        if (DISABLED.equals(adminState)) {
            return DISABLED;
        }
        if (silentMillis > timeoutMillis || "UNHEALTHY".equals(health)) {
            return UNAVAILABLE;
        }
        if (DRAINING.equals(adminState) || "DRAINING".equals(health)) {
            return DRAINING;
        }
        return ACTIVE;
    }

    public String state(long nowNanos, long timeoutMillis) {
        return state(adminState, health, (nowNanos - heardNanos) / 1_000_000L, timeoutMillis);
    }

    /** Heard from within the timeout: its registration is in use and no other identity may take the id over. */
    public boolean live(long nowNanos, long timeoutMillis) {
        return (nowNanos - heardNanos) / 1_000_000L <= timeoutMillis;
    }

    public boolean serves(String model) {
        for (Model m : models) {
            if (m.name().equals(model) && "READY".equals(m.state())) {
                return true;
            }
        }
        return false;
    }

    public NodeSnapshot withAdmin(String state, String reason) {
        return new NodeSnapshot(id, address, version, engine, health, healthMessage, state, reason, maxConcurrency, inFlight,
                queueDepth, models, sequence, startedAtMillis, heardNanos, sealedCallToken, owner);
    }
}
