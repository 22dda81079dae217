package ai.scaigrid.gateway.catalog;

/**
 * Whether a backend can take calls right now, as the dispatcher sees it (circuit breakers, for ScaiInfer
 * backends also a healthy node with the model). The catalogue asks it for each model's
 * {@code health_status}; the catalogue itself knows only which backends are linked and enabled.
 */
public interface BackendHealth {

    boolean available(String backendId, String providerType, String modelName, String pinnedNodeId);

    /** What this replica knows about a backend: its circuit, and for ScaiInfer the nodes that could serve it. */
    record Diagnosis(String circuit, Integer nodesServing, Integer nodesKnown) {
    }

    Diagnosis diagnose(String backendId, String providerType, String modelName, String pinnedNodeId);

    /**
     * {@code healthy} (every active backend can take calls), {@code degraded} (some can),
     * {@code unhealthy} (none can) or {@code unavailable} (no active backend at all).
     */
    static String of(int active, int available) {
        if (active == 0) {
            return "unavailable";
        }
        return available == active ? "healthy" : available == 0 ? "unhealthy" : "degraded";
    }
}
