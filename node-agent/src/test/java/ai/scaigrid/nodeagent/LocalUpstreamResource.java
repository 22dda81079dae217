package ai.scaigrid.nodeagent;

import ai.scaigrid.nodeagent.backend.SseUpstream;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/** A local OpenAI-compatible server (a system we do not own) behind the node's model {@code local-llama}. */
public class LocalUpstreamResource implements QuarkusTestResourceLifecycleManager {
    private SseUpstream upstream;

    @Override
    public Map<String, String> start() {
        upstream = new SseUpstream();
        return Map.of(
                "scaigrid.node.models[2].name", "local-llama",
                "scaigrid.node.models[2].backend", "openai",
                "scaigrid.node.models[2].base-url", upstream.baseUrl(),
                "scaigrid.node.models[2].upstream-model", "llama-ok");
    }

    @Override
    public void stop() {
        if (upstream != null) {
            upstream.close();
        }
    }
}
