package ai.scaigrid.nodeagent;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

import java.util.Locale;

/**
 * Ready only with a usable configuration: at least one model, each with a known backend, and a
 * base URL for models served by a local OpenAI-compatible server. Also shows the live load and the
 * link to the gateway (a node that cannot reach the gateway still serves; the gateway decides), and the
 * GPUs the heartbeats report (none without nvidia-smi; {@code gpu_probe} says why).
 */
@Readiness
@ApplicationScoped
public class NodeConfigHealthCheck implements HealthCheck {

    @Inject
    NodeAgentConfig config;

    @Inject
    NodeRuntime runtime;

    @Inject
    GatewayLink gateway;

    @Inject
    GpuProbe gpus;

    @Override
    public HealthCheckResponse call() {
        var builder = HealthCheckResponse.named("node-config")
                .withData("node_id", runtime.nodeId())
                .withData("gateway", config.gatewayGrpcAddress())
                .withData("gateway_state", gateway.gatewayState().name().replace("NODE_STATE_", ""))
                .withData("gateway_problem", gateway.lastProblem())
                .withData("in_flight", runtime.inFlight())
                .withData("draining", runtime.isDraining())
                .withData("models", config.models().size())
                .withData("gpu_probe", gpus.status())
                .withData("gpus", gpus.gpus().size());
        for (GpuProbe.Gpu gpu : gpus.gpus()) {
            String key = "gpu." + gpu.index() + ".";
            builder.withData(key + "name", gpu.name() == null ? "" : gpu.name());
            if (gpu.memoryTotalMib() != null) {
                builder.withData(key + "memory_total_mib", gpu.memoryTotalMib());
            }
            if (gpu.memoryUsedMib() != null) {
                builder.withData(key + "memory_used_mib", gpu.memoryUsedMib());
            }
        }
        if (config.models().isEmpty()) {
            return builder.down().withData("problem", "no models configured (scaigrid.node.models)").build();
        }
        for (NodeAgentConfig.Model model : config.models()) {
            String backend = model.backend().toLowerCase(Locale.ROOT);
            if (!backend.equals("simulated") && !backend.equals("openai")) {
                return builder.down().withData("problem", "model " + model.name() + ": unknown backend " + backend).build();
            }
            if (backend.equals("openai") && model.baseUrl().isEmpty()) {
                return builder.down().withData("problem", "model " + model.name() + ": openai backend needs base-url").build();
            }
            if (!model.modality().equals("chat") && !model.modality().equals("embedding")) {
                return builder.down().withData("problem", "model " + model.name() + ": modality must be chat or embedding").build();
            }
            builder.withData("model." + model.name(), backend);
        }
        return builder.up().build();
    }
}
