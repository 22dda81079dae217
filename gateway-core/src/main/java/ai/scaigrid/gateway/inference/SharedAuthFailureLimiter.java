package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.security.AuthFailureLimiter;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Alternative;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * gateway-core's throttle for sources that keep presenting bad credentials, over all replicas: the
 * failures per client address are counted in a one-minute rate window ({@code af:<address>}) that
 * {@link RateLimitSync} shares through PostgreSQL like the request windows, so N replicas together
 * allow {@code max-failures} a minute, not N times as many. Replaces the in-process
 * {@link AuthFailureLimiter} of platform-commons here (the window is always 60 s).
 */
@Alternative
@Priority(1)
@ApplicationScoped
public class SharedAuthFailureLimiter extends AuthFailureLimiter {

    @Inject
    Limits limits;

    @ConfigProperty(name = "scaigrid.auth.failures.max-failures", defaultValue = "20")
    int maxFailures;

    private static long nowSecond() {
        return System.currentTimeMillis() / 1000;
    }

    @Override
    public void recordFailure(String source) {
        limits.authFailures(source, true).tryAcquire(nowSecond(), 0, 0); // no limit: only counts
    }

    @Override
    public boolean isBlocked(String source) {
        SlidingWindow failures = limits.authFailures(source, false);
        return failures != null && failures.requestCount(nowSecond()) >= maxFailures;
    }

    @Override
    public long retryAfterSeconds(String source) {
        SlidingWindow failures = limits.authFailures(source, false);
        return failures == null ? 1 : failures.secondsUntilOldestLeaves(nowSecond());
    }
}
