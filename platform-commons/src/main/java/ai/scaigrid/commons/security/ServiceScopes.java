package ai.scaigrid.commons.security;

import java.util.Set;

/** Scopes a service token can carry; each names the service-to-service surface it unlocks. */
public final class ServiceScopes {
    private ServiceScopes() {
    }

    /** An inference node: heartbeats and serving ScaiInfer traffic to the gateway. */
    public static final String SCAIINFER_NODE = "scaiinfer.node";
    /**
     * A tenant's service client (seed 000: gRPC callers authenticate with service tokens): calls the gateway's
     * {@code scaiinfer.v1.InferenceService} as the tenant the token is bound to, with that tenant's catalogue,
     * limits, budget and accounting. Tokens with this scope must name a tenant.
     */
    public static final String SCAIINFER_INFERENCE = "scaiinfer.inference";
    /** A training node: registers with and reports to the MindCoordinator. */
    public static final String SCAIMIND_NODE = "scaimind.node";
    /** The ScaiCore runtime: publishes Cores into the catalogue. */
    public static final String SCAICORE_RUNTIME = "scaicore.runtime";

    public static final Set<String> ALL = Set.of(SCAIINFER_NODE, SCAIINFER_INFERENCE, SCAIMIND_NODE, SCAICORE_RUNTIME);
}
