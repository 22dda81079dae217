package ai.scaigrid.gateway.inference;

import ai.scaigrid.gateway.catalog.BackendHealth;
import ai.scaigrid.gateway.inference.provider.ScaiInferProvider;
import ai.scaigrid.gateway.nodes.NodeRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/** The catalogue's view of backend health from this replica's dispatcher: read-only, no circuit trial spent. */
@ApplicationScoped
public class DispatcherBackendHealth implements BackendHealth {

    @Inject
    InferencePipeline pipeline;

    @Inject
    ScaiInferProvider scaiinfer;

    @Inject
    NodeRegistry nodes;

    @Override
    public boolean available(String backendId, String providerType, String modelName, String pinnedNodeId) {
        if (pipeline.circuitState(backendId) == CircuitBreaker.State.OPEN) {
            return false;
        }
        return !"scaiinfer".equals(providerType) || coverage(modelName, pinnedNodeId).eligible() > 0;
    }

    @Override
    public Diagnosis diagnose(String backendId, String providerType, String modelName, String pinnedNodeId) {
        String circuit = pipeline.circuitState(backendId).name().toLowerCase(java.util.Locale.ROOT);
        if (!"scaiinfer".equals(providerType)) {
            return new Diagnosis(circuit, null, null);
        }
        NodeRegistry.Coverage coverage = coverage(modelName, pinnedNodeId);
        return new Diagnosis(circuit, coverage.eligible(), coverage.known());
    }

    /** The nodes routing would consider for the model, with the provider's node circuits as it applies them. */
    private NodeRegistry.Coverage coverage(String modelName, String pinnedNodeId) {
        String pinned = pinnedNodeId == null || pinnedNodeId.isBlank() ? null : pinnedNodeId;
        return nodes.coverage(modelName, pinned, id -> scaiinfer.nodeCircuit(id) != CircuitBreaker.State.OPEN);
    }
}
