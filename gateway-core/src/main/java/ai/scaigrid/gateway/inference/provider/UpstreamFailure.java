package ai.scaigrid.gateway.inference.provider;

import ai.scaigrid.commons.error.ErrorCode;

/**
 * A failed upstream call, already classified. {@code message} is safe to show to callers (no
 * upstream internals); the raw cause is only logged.
 *
 * @param countsAsBackendFailure whether it feeds the backend's circuit breaker and allows failover
 *                               to the next backend (connection errors, timeouts, 5xx, 429); a
 *                               request the upstream rejected as invalid does neither.
 */
public class UpstreamFailure extends RuntimeException {
    private final ErrorCode code;
    private final boolean countsAsBackendFailure;
    private final Integer retryAfterSeconds;

    public UpstreamFailure(ErrorCode code, String message, boolean countsAsBackendFailure, Integer retryAfterSeconds, Throwable cause) {
        super(message, cause, false, false);
        this.code = code;
        this.countsAsBackendFailure = countsAsBackendFailure;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public static UpstreamFailure unavailable(String message, Throwable cause) {
        return new UpstreamFailure(ErrorCode.BACKEND_ERROR, message, true, null, cause);
    }

    public static UpstreamFailure timeout(String message) {
        return new UpstreamFailure(ErrorCode.BACKEND_TIMEOUT, message, true, null, null);
    }

    public ErrorCode code() {
        return code;
    }

    public boolean countsAsBackendFailure() {
        return countsAsBackendFailure;
    }

    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
