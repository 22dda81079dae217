package ai.scaigrid.commons.security;

import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Throttles sources (client addresses) that keep presenting bad credentials: after
 * {@code max-failures} failures inside {@code window-seconds} the source is refused with 429 for the
 * rest of the window. In-process state; a cluster-wide limiter can replace this bean.
 */
@ApplicationScoped
public class AuthFailureLimiter {
    private static final int MAX_TRACKED_SOURCES = 100_000;

    @ConfigProperty(name = "scaigrid.auth.failures.max-failures", defaultValue = "20")
    int maxFailures;

    @ConfigProperty(name = "scaigrid.auth.failures.window-seconds", defaultValue = "60")
    long windowSeconds;

    private final ConcurrentHashMap<String, Window> windows = new ConcurrentHashMap<>();

    private record Window(long startMillis, int failures) {
    }

    public void recordFailure(String source) {
        long now = System.currentTimeMillis();
        if (windows.size() > MAX_TRACKED_SOURCES) {
            windows.entrySet().removeIf(e -> now - e.getValue().startMillis() > windowSeconds * 1000);
        }
        windows.compute(source, (k, w) -> w == null || now - w.startMillis() > windowSeconds * 1000
                ? new Window(now, 1) : new Window(w.startMillis(), w.failures() + 1));
    }

    public boolean isBlocked(String source) {
        Window w = windows.get(source);
        if (w == null) {
            return false;
        }
        if (System.currentTimeMillis() - w.startMillis() > windowSeconds * 1000) {
            windows.remove(source, w);
            return false;
        }
        return w.failures() >= maxFailures;
    }

    public long retryAfterSeconds(String source) {
        Window w = windows.get(source);
        if (w == null) {
            return 1;
        }
        long remaining = windowSeconds - (System.currentTimeMillis() - w.startMillis()) / 1000;
        return Math.max(1, remaining);
    }
}
