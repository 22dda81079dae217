package ai.scaigrid.gateway.inference;

import ai.scaigrid.gateway.catalog.BackendHealth;
import ai.scaigrid.gateway.inference.provider.ScaiInferProvider;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/** The catalogue's view of backend health from this replica's dispatcher: read-only, no circuit trial spent. */
@ApplicationScoped
public class DispatcherBackendHealth implements BackendHealth {

    @Inject
    InferencePipeline pipeline;

    @Inject
    ScaiInferProvider scaiinfer;

    @Override
    public boolean available(String backendId, String providerType, String modelName, String pinnedNodeId) {
        if (pipeline.circuitState(backendId) == CircuitBreaker.State.OPEN) {
            return false;
        }
        return !"scaiinfer".equals(providerType) || scaiinfer.canServe(modelName, pinnedNodeId);
    }
}
