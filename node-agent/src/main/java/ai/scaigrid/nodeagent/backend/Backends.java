package ai.scaigrid.nodeagent.backend;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.nodeagent.NodeAgentConfig;
import io.vertx.core.Vertx;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** The configured models, each with the backend that serves it. */
@ApplicationScoped
public class Backends {

    @Inject
    NodeAgentConfig config;

    @Inject
    Vertx vertx;

    public record Served(NodeAgentConfig.Model config, InferenceBackend backend) {
        public String name() {
            return config.name();
        }
    }

    private final Map<String, Served> byName = new LinkedHashMap<>();

    @PostConstruct
    void init() {
        for (NodeAgentConfig.Model m : config.models()) {
            String kind = m.backend().toLowerCase(Locale.ROOT);
            InferenceBackend backend = switch (kind) {
                case "openai" -> m.baseUrl().map(url -> (InferenceBackend) new OpenAiCompatibleBackend(vertx, m.name(),
                        m.upstreamModel().orElse(m.name()), url, m.apiKey().orElse(null), m.upstreamTimeout())).orElse(null);
                case "simulated" -> new SimulatedBackend(vertx, m.name(), m.tokensPerSecond(), m.timeToFirstToken(),
                        m.outputTokens(), m.maxOutputTokens(), m.embeddingDimensions(), m.decodeClock(), m.reasoningTokens());
                default -> null;
            };
            if (backend != null) { // a broken entry keeps the readiness check down (NodeConfigHealthCheck) instead of crashing
                byName.put(m.name(), new Served(m, backend));
            }
        }
    }

    @PreDestroy
    void close() {
        byName.values().forEach(s -> {
            if (s.backend() instanceof OpenAiCompatibleBackend o) {
                o.close();
            }
        });
    }

    public Collection<Served> all() {
        return byName.values();
    }

    /** The model, or MODEL_NOT_FOUND (the gateway then tries another node). */
    public Served require(String model) {
        Served s = byName.get(model);
        if (s == null) {
            throw new ApiException(ErrorCode.MODEL_NOT_FOUND, "This node does not serve model " + model,
                    Map.of("model", model));
        }
        return s;
    }

    /** The engine name reported in heartbeats: one engine, or "mixed". */
    public String engine() {
        return byName.values().stream().map(s -> s.backend().engine()).distinct()
                .reduce((a, b) -> "mixed").orElse("none");
    }
}
