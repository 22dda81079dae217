package ai.scaigrid.gateway.inference;

import ai.scaigrid.gateway.catalog.BackendHealth;
import ai.scaigrid.gateway.inference.provider.ScaiInferProvider;
import ai.scaigrid.gateway.nodes.NodeRegistry;
import ai.scaigrid.gateway.nodes.NodeSnapshot;
import ai.scaigrid.gateway.nodes.NodesConfig;
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

    @Inject
    NodesConfig nodesConfig;

    @Override
    public boolean available(String backendId, String providerType, String modelName, String pinnedNodeId) {
        if (pipeline.circuitState(backendId) == CircuitBreaker.State.OPEN) {
            return false;
        }
        return !"scaiinfer".equals(providerType) || scaiinfer.canServe(modelName, pinnedNodeId);
    }

    @Override
    public Diagnosis diagnose(String backendId, String providerType, String modelName, String pinnedNodeId) {
        String circuit = pipeline.circuitState(backendId).name().toLowerCase(java.util.Locale.ROOT);
        if (!"scaiinfer".equals(providerType)) {
            return new Diagnosis(circuit, null, null);
        }
        long now = System.nanoTime();
        long timeout = nodesConfig.heartbeatTimeout().toMillis();
        int known = 0;
        int serving = 0;
        for (NodeSnapshot n : nodes.snapshot()) {
            if (pinnedNodeId != null && !pinnedNodeId.isBlank() && !pinnedNodeId.equals(n.id())) {
                continue;
            }
            if (n.models().stream().anyMatch(m -> m.name().equals(modelName))) {
                known++;
                if (n.serves(modelName) && NodeSnapshot.ACTIVE.equals(n.state(now, timeout))
                        && scaiinfer.nodeCircuit(n.id()) != CircuitBreaker.State.OPEN) {
                    serving++;
                }
            }
        }
        return new Diagnosis(circuit, serving, known);
    }
}
