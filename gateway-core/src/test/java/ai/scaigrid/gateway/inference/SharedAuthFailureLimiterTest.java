package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.security.AuthFailureLimiter;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * gateway-core's auth-failure throttle counts over all replicas. Another replica is played by writing
 * its rows in {@code rate_limit_counts}; the addresses are documentation ranges, so the test never
 * blocks the 127.0.0.1 the other tests call from.
 */
@QuarkusTest
class SharedAuthFailureLimiterTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @Inject
    AuthFailureLimiter limiter;

    @Inject
    RateLimitSync sync;

    @Inject
    Limits limits;

    @Inject
    Pool pool;

    /** The test profile's limit, far above the failures the whole suite makes from 127.0.0.1 on purpose. */
    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "scaigrid.auth.failures.max-failures")
    int maxFailures;

    @Test
    void theGatewayUsesTheSharedLimiter() {
        assertThat(limiter).isInstanceOf(SharedAuthFailureLimiter.class);
    }

    @Test
    void failuresSeenByAnotherReplicaBlockTheSourceHere() {
        String source = "203.0.113." + (System.nanoTime() % 200 + 1);
        long now = System.currentTimeMillis() / 1000;
        pool.preparedQuery("INSERT INTO rate_limit_counts (window_key, second, replica, requests, tokens) VALUES ($1, $2, 'gw-other', $3, 0)")
                .execute(Tuple.of("af:" + source, now, maxFailures - 1)).await().atMost(WAIT);
        limiter.recordFailure(source); // the first failure here; all the others happened on the other replica
        sync.sync().await().atMost(WAIT);
        assertThat(limiter.isBlocked(source)).isTrue();
        assertThat(limiter.retryAfterSeconds(source)).isBetween(1L, 60L);
        assertThat(limiter.isBlocked("203.0.113.254")).isFalse();
    }

    @io.quarkus.test.common.http.TestHTTPResource("/")
    java.net.URL base;

    /** A raw HTTP/1.1 GET from another loopback address (all of 127/8 reaches this host): the status line. */
    private String getFrom(String localAddress, String path, String token) throws Exception {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.bind(new java.net.InetSocketAddress(localAddress, 0));
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", base.getPort()), 5000);
            socket.setSoTimeout(5000);
            socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token
                    + "\r\nConnection: close\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            return new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    @Test
    void overHttpAnAddressWithTooManyFailuresIsRefusedAndOthersAreNot() throws Exception {
        String address = "127.0.0." + (System.nanoTime() % 200 + 20);
        // all but ten failures on another replica, ten here: the limit is reached over both
        pool.preparedQuery("INSERT INTO rate_limit_counts (window_key, second, replica, requests, tokens) VALUES ($1, $2, 'gw-other', $3, 0)")
                .execute(Tuple.of("af:" + address, System.currentTimeMillis() / 1000, maxFailures - 10)).await().atMost(WAIT);
        limiter.recordFailure(address);
        sync.sync().await().atMost(WAIT);
        for (int i = 0; i < 9; i++) {
            assertThat(getFrom(address, "/v1/me", "sgk_wrong" + i)).startsWith("HTTP/1.1 401");
        }
        String refused = getFrom(address, "/v1/me", "sgk_wrong");
        assertThat(refused).startsWith("HTTP/1.1 429").contains("RATE_LIMITED").containsIgnoringCase("retry-after");
        // even a good key from that address waits; other addresses are not affected
        assertThat(getFrom(address, "/v1/me", ai.scaigrid.gateway.TestKeys.ADMIN)).startsWith("HTTP/1.1 429");
        assertThat(getFrom("127.0.0.1", "/v1/me", ai.scaigrid.gateway.TestKeys.ADMIN)).startsWith("HTTP/1.1 200");
    }

    @Test
    void failuresSeenHereArePublished() {
        String source = "198.51.100." + (System.nanoTime() % 200 + 1);
        for (int i = 0; i < 3; i++) {
            limiter.recordFailure(source);
        }
        assertThat(limiter.isBlocked(source)).isFalse();
        sync.sync().await().atMost(WAIT);
        long published = pool.preparedQuery("SELECT coalesce(sum(requests), 0)::bigint AS n FROM rate_limit_counts WHERE window_key = $1 AND replica = $2")
                .execute(Tuple.of("af:" + source, limits.replicaId())).await().atMost(WAIT).iterator().next().getLong("n");
        assertThat(published).isEqualTo(3);
    }
}
