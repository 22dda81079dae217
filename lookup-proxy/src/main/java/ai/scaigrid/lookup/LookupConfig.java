package ai.scaigrid.lookup;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** lookup-proxy settings ({@code scaigrid.lookup.*}; every key can be set from the environment, e.g. SCAIGRID_LOOKUP_SCAIQUEUE_URL). */
@ConfigMapping(prefix = "scaigrid.lookup")
public interface LookupConfig {

    /** Base URL of the ScaiQueue API (no default: we do not run ScaiQueue). */
    Optional<String> scaiqueueUrl();

    /** Base URL of the ScaiBunker API (no default: we do not run ScaiBunker). */
    Optional<String> scaibunkerUrl();

    /** Base URL of ScaiGrid; application.properties points it at our own gateway-core. */
    Optional<String> scaigridUrl();

    /** Upstream paths, appended to the base URLs. */
    UpstreamPaths paths();

    /**
     * Upstream credential sources in the order they are tried: {@code jwt} (the caller's ScaiKey JWT,
     * forwarded verbatim), {@code tenant_key} (the tenant's stored sgk_ key), {@code env} (SCAIGRID_API_KEY).
     */
    @WithDefault("jwt,tenant_key,env")
    List<String> authOrder();

    /** The SCAIGRID_API_KEY fallback: a development convenience, never meant for production. */
    Optional<String> envApiKey();

    /** Whether the env fallback may be used; true in dev and test, false (refused) in prod unless set. */
    @WithDefault("false")
    boolean allowEnvApiKey();

    /** Bound on one upstream attempt (connect + answer). */
    @WithDefault("3s")
    Duration timeout();

    @WithDefault("1s")
    Duration connectTimeout();

    /** Pooled connections per upstream host, per event loop (each loop has its own pool). */
    @WithDefault("64")
    int maxConnections();

    /** Larger upstream bodies are refused (502) rather than relayed. */
    @WithDefault("4194304")
    int maxResponseBytes();

    Retry retry();

    CircuitBreaker circuitBreaker();

    /** How long a tenant's stored key (or its absence) is remembered; writes on this replica apply at once. */
    @WithDefault("10s")
    Duration secretCacheTtl();

    /** Page size asked of ScaiGrid's paginated model list (0: do not send {@code limit}). */
    @WithDefault("200")
    int scaigridPageSize();

    /** Most pages followed through {@code next_cursor} for one model list. */
    @WithDefault("20")
    int maxPages();

    interface UpstreamPaths {
        @WithDefault("/v1/scopes")
        String scaiqueueScopes();

        /** {scope_id} is replaced by the (validated, encoded) scope id. */
        @WithDefault("/v1/scopes/{scope_id}/queues")
        String scaiqueueQueues();

        @WithDefault("/v1/bunkers")
        String scaibunkerBunkers();

        @WithDefault("/v1/models")
        String scaigridModels();
    }

    interface Retry {
        /** Extra attempts for a GET that failed to connect or got 502/503/504 (never after a timeout). */
        @WithDefault("1")
        int maxRetries();

        @WithDefault("50ms")
        Duration delay();
    }

    interface CircuitBreaker {
        /** Rolling window of attempts the failure ratio is computed over. */
        @WithDefault("20")
        int requestVolumeThreshold();

        @WithDefault("0.5")
        double failureRatio();

        /** How long an open breaker refuses calls before letting a trial through. */
        @WithDefault("10s")
        Duration delay();

        @WithDefault("1")
        int successThreshold();
    }
}
