package ai.scaigrid.gateway.inference.provider;

import ai.scaigrid.commons.error.ErrorCode;

/**
 * A failed upstream call, already classified. {@code message} is safe to show to callers (no
 * upstream internals); the raw cause is only logged.
 *
 * @param countsAsBackendFailure whether it feeds the backend's circuit breaker and allows failover
 *                               to the next backend (connection errors, timeouts, 5xx, 429); a
 *                               request the upstream rejected as invalid does neither.
 * A failure can also allow failover without feeding the circuit ({@link #sparingCircuit()}): when no
 * upstream was at fault, e.g. no live node serves a ScaiInfer model yet.
 */
public class UpstreamFailure extends RuntimeException {
    private final ErrorCode code;
    private final boolean countsAsBackendFailure;
    private final boolean tripsCircuit;
    private final Integer retryAfterSeconds;

    public UpstreamFailure(ErrorCode code, String message, boolean countsAsBackendFailure, Integer retryAfterSeconds, Throwable cause) {
        this(code, message, countsAsBackendFailure, countsAsBackendFailure, retryAfterSeconds, cause);
    }

    private UpstreamFailure(ErrorCode code, String message, boolean countsAsBackendFailure, boolean tripsCircuit,
                            Integer retryAfterSeconds, Throwable cause) {
        super(message, cause, false, false);
        this.code = code;
        this.countsAsBackendFailure = countsAsBackendFailure;
        this.tripsCircuit = tripsCircuit;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /**
     * The same failure (failover still allowed) without feeding the backend's circuit breaker: nothing
     * upstream failed, so an open circuit would only keep the backend away for its whole delay after
     * it can serve again.
     */
    public UpstreamFailure sparingCircuit() {
        return tripsCircuit ? new UpstreamFailure(code, getMessage(), countsAsBackendFailure, false, retryAfterSeconds, getCause()) : this;
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

    /** Whether this failure counts against the backend's circuit breaker (only ever with {@link #countsAsBackendFailure()}). */
    public boolean tripsCircuit() {
        return tripsCircuit;
    }

    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
