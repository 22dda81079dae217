package ai.scaigrid.nodeagent;

import ai.scaigrid.nodeagent.backend.SimulatedBackend;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.List;
import java.util.Map;
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

    /** A file holding the service token; read when {@link #serviceToken()} is unset, re-read until it has one. */
    Optional<String> serviceTokenFile();

    /**
     * A shared secret the gateway may present when it calls this node (besides this node's own service
     * token, which the gateway learns from the heartbeats). Unset: only the node's own token is accepted.
     */
    Optional<String> inboundToken();

    /** host:port the gateway uses to reach this node's gRPC server; defaults to the gRPC host and port. */
    Optional<String> advertisedAddress();

    /** How often to heartbeat until the gateway says otherwise (HeartbeatAck.next_heartbeat_interval). */
    @WithDefault("2s")
    Duration heartbeatInterval();

    /**
     * {@code stream}: one long-lived HeartbeatStream (cheapest for the gateway, and operator drains arrive at
     * once), falling back to unary calls when the gateway does not offer it; {@code unary}: one Heartbeat call
     * per interval.
     */
    @WithDefault("stream")
    String heartbeatMode();

    /** Maximum concurrent generations this node accepts; more are refused with RESOURCE_EXHAUSTED. */
    @WithDefault("16")
    int maxConcurrency();

    /** On SIGTERM: how long to wait for in-flight generations before stopping anyway. */
    @WithDefault("30s")
    Duration drainTimeout();

    /** Free-form routing labels reported in heartbeats (e.g. {@code region=eu-west}). */
    Map<String, String> labels();

    /** TLS towards the gateway's gRPC port. */
    GatewayTls gatewayTls();

    /** The models this node serves. */
    List<Model> models();

    /** GPU figures reported in heartbeats (from nvidia-smi). */
    Gpu gpu();

    interface GatewayTls {
        /** Use TLS for the connection to the gateway. */
        @WithDefault("false")
        boolean enabled();

        /** PEM file with the CA (or server certificate) to trust; unset = the JVM's default trust store. */
        Optional<String> trustCertificate();

        /** PEM client certificate chain, for mTLS. */
        Optional<String> clientCertificate();

        /** PEM (PKCS#8) private key of the client certificate, for mTLS. */
        Optional<String> clientKey();
    }

    interface Gpu {
        /** Report GPUs at all; off: heartbeats carry none and nvidia-smi is never run. */
        @WithDefault("true")
        boolean enabled();

        /** nvidia-smi to run: a path, or a name looked up on PATH. Not found: the node reports no GPUs. */
        @WithDefault("nvidia-smi")
        String nvidiaSmi();

        /** How often nvidia-smi runs; heartbeats carry the last result. */
        @WithDefault("5s")
        Duration interval();

        /** A run taking longer is killed and counts as failed (a wedged driver can hang nvidia-smi). */
        @WithDefault("3s")
        Duration timeout();
    }

    interface Model {
        /** Model name as the gateway's backend refers to it. */
        String name();

        /** {@code simulated} (built-in deterministic model) or {@code openai} (a local OpenAI-compatible server). */
        @WithDefault("simulated")
        String backend();

        /** Base URL of the local OpenAI-compatible server (llama.cpp, vLLM, Ollama), up to and including {@code /v1}. */
        Optional<String> baseUrl();

        /** Model name at the local server, when it differs from {@link #name()}. */
        Optional<String> upstreamModel();

        /** Bearer key for the local server, if it wants one. */
        Optional<String> apiKey();

        /** Per-request limit towards the local server (no byte for this long = failure). */
        @WithDefault("120s")
        Duration upstreamTimeout();

        /** {@code chat} or {@code embedding}. */
        @WithDefault("chat")
        String modality();

        /** Simulated backend: tokens per second (0 = as fast as possible). */
        @WithDefault("200")
        int tokensPerSecond();

        /** Simulated backend: time to first token. */
        @WithDefault("20ms")
        Duration timeToFirstToken();

        /**
         * Simulated backend: {@code shared} advances every running generation on one decode step per model
         * (continuous batching, as vLLM or llama.cpp with parallel slots); {@code per-stream} gives each
         * generation its own timer.
         */
        @WithDefault("shared")
        SimulatedBackend.DecodeClock decodeClock();

        /** Simulated backend: tokens in an answer when max_tokens does not cut it short. */
        @WithDefault("64")
        int outputTokens();

        /**
         * Simulated backend: tokens of "thinking" streamed as reasoning_content before each answer, as a
         * reasoning model does (0 = none); {@code reasoning_effort} scales it.
         */
        @WithDefault("0")
        int reasoningTokens();

        /** Simulated backend: size of the embedding vectors. */
        @WithDefault("64")
        int embeddingDimensions();

        @WithDefault("8192")
        int contextWindow();

        @WithDefault("2048")
        int maxOutputTokens();

        /** Weight quantisation reported to the gateway (e.g. Q4_K_M); empty = unknown. */
        Optional<String> quantization();
    }
}
