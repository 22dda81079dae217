package ai.scaigrid.gateway.nodes;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.Optional;

/** The ScaiInfer node registry and the {@code scaiinfer} provider ({@code scaigrid.nodes.*}). */
@ConfigMapping(prefix = "scaigrid.nodes")
public interface NodesConfig {

    /** Interval nodes are told to heartbeat at (HeartbeatAck.next_heartbeat_interval). */
    @WithDefault("2s")
    Duration heartbeatInterval();

    /** A node silent for longer than this is UNAVAILABLE and gets no new work. */
    @WithDefault("10s")
    Duration heartbeatTimeout();

    /** Heartbeats are written to PostgreSQL in batches at this interval. */
    @WithDefault("250ms")
    Duration flushInterval();

    /** How often this replica re-reads the shared registry (nodes that report to other replicas, admin changes). */
    @WithDefault("1s")
    Duration refreshInterval();

    /** A node service token is trusted for this long before it is verified again (revocations show within it). */
    @WithDefault("5s")
    Duration authCacheTtl();

    /**
     * A shared secret presented to every node when calling it (the node's {@code scaigrid.node.inbound-token}).
     * Unset: each node is called with its own service token, learnt from its heartbeats.
     */
    Optional<String> callToken();

    /** Nodes tried for one call before the first token (the dispatcher then fails over to the next backend). */
    @WithDefault("3")
    int maxAttempts();

    /**
     * A node call opened on an event loop with fewer node calls open than this runs on that same loop: the node's
     * tokens are read and written to the client by one thread, with no hand-off between threads per token. From
     * this many on, new calls from the loop use the node connections' own I/O threads, so that reading a decode
     * step's chunks of many streams does not hold up the loop's new requests. 0: always the own threads.
     */
    @WithDefault("32")
    int sameLoopMaxCalls();

    /**
     * At start-up, create the global models {@code scaigrid/sim-1} (chat) and {@code scaigrid/sim-embed-1}
     * (embeddings) on the node model {@code scaigrid-sim-1}, and {@code scaigrid/sim-reasoning-1} (chat, a
     * model that thinks first) on {@code scaigrid-sim-reasoning-1}, if absent.
     */
    @WithDefault("false")
    boolean registerSimulatedCatalogue();

    /** Frontend slug of the simulated model (with register-simulated-catalogue). */
    @WithDefault("scaigrid/sim-1")
    String simulatedSlug();

    /** Frontend slug of the simulated embedding model, on the same node model (with register-simulated-catalogue). */
    @WithDefault("scaigrid/sim-embed-1")
    String simulatedEmbeddingSlug();

    /** Node model name of the simulated model (with register-simulated-catalogue). */
    @WithDefault("scaigrid-sim-1")
    String simulatedModel();

    /** Frontend slug of the simulated reasoning model (with register-simulated-catalogue). */
    @WithDefault("scaigrid/sim-reasoning-1")
    String simulatedReasoningSlug();

    /** Node model name of the simulated reasoning model (with register-simulated-catalogue). */
    @WithDefault("scaigrid-sim-reasoning-1")
    String simulatedReasoningModel();

    /** Per-node circuit breakers. */
    Circuit circuit();

    /** TLS towards the nodes' gRPC servers. */
    Tls tls();

    interface Circuit {
        @WithDefault("5")
        int requestVolumeThreshold();

        @WithDefault("0.5")
        double failureRatio();

        @WithDefault("10s")
        Duration delay();

        @WithDefault("1")
        int successThreshold();
    }

    interface Tls {
        /** Call nodes over TLS. */
        @WithDefault("false")
        boolean enabled();

        /** PEM CA (or node certificate) to trust; unset = the JVM's default trust store. */
        Optional<String> trustCertificate();

        /** PEM client certificate chain presented to nodes (mTLS). */
        Optional<String> clientCertificate();

        /** PEM (PKCS#8) key of the client certificate. */
        Optional<String> clientKey();
    }
}
