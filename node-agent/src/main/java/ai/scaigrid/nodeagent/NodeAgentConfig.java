package ai.scaigrid.nodeagent;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** Node agent configuration (file or environment, e.g. {@code SCAIGRID_NODE_ID}). */
@ConfigMapping(prefix = "scaigrid.node")
public interface NodeAgentConfig {

    /** Stable id of this node; defaults to the host name. */
    Optional<String> id();

    /** host:port of the gateway's gRPC port (scaiinfer.v1.HeartbeatService). */
    @WithDefault("127.0.0.1:50051")
    String gatewayGrpcAddress();

    /** Service token (scope {@code scaiinfer.node}) presented to the gateway as a bearer token. */
    Optional<String> serviceToken();

    /** host:port the gateway uses to reach this node's gRPC server; defaults to the gRPC host and port. */
    Optional<String> advertisedAddress();

    /** How often to heartbeat. */
    @WithDefault("2s")
    Duration heartbeatInterval();

    /** Maximum concurrent generations this node accepts. */
    @WithDefault("16")
    int maxConcurrency();

    /** The models this node serves. */
    List<Model> models();

    interface Model {
        /** Model name as the gateway's backend refers to it. */
        String name();

        /** {@code simulated} (built-in deterministic model) or {@code openai} (a local OpenAI-compatible server). */
        @WithDefault("simulated")
        String backend();

        /** Base URL of the local OpenAI-compatible server (llama.cpp, vLLM, Ollama) for the {@code openai} backend. */
        Optional<String> baseUrl();

        /** Model name at the local server, when it differs from {@link #name()}. */
        Optional<String> upstreamModel();

        /** Simulated backend: tokens per second. */
        @WithDefault("200")
        int tokensPerSecond();

        /** Simulated backend: time to first token. */
        @WithDefault("20ms")
        Duration timeToFirstToken();

        @WithDefault("8192")
        int contextWindow();

        @WithDefault("2048")
        int maxOutputTokens();
    }
}
