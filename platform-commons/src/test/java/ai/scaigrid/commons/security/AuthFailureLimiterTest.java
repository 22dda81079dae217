package ai.scaigrid.commons.security;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class AuthFailureLimiterTest {

    private static AuthFailureLimiter limiter(int max, long windowSeconds) {
        AuthFailureLimiter limiter = new AuthFailureLimiter();
        limiter.maxFailures = max;
        limiter.windowSeconds = windowSeconds;
        return limiter;
    }

    @Test
    void blocksASourceAfterTooManyFailures() {
        AuthFailureLimiter limiter = limiter(3, 60);
        for (int i = 0; i < 2; i++) {
            limiter.recordFailure("10.0.0.1");
        }
        assertThat(limiter.isBlocked("10.0.0.1")).isFalse();
        limiter.recordFailure("10.0.0.1");
        assertThat(limiter.isBlocked("10.0.0.1")).isTrue();
        assertThat(limiter.retryAfterSeconds("10.0.0.1")).isBetween(1L, 60L);
        assertThat(limiter.isBlocked("10.0.0.2")).as("other sources are unaffected").isFalse();
    }

    @Test
    void windowExpires() {
        AuthFailureLimiter limiter = limiter(1, 0);
        limiter.recordFailure("s");
        // a zero-second window has always expired by the next check
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(2))
                .until(() -> !limiter.isBlocked("s"));
    }
}
