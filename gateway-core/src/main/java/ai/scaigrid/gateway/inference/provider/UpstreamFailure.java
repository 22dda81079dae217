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
    private final String field;
    private Integer httpStatus;

    public UpstreamFailure(ErrorCode code, String message, boolean countsAsBackendFailure, Integer retryAfterSeconds, Throwable cause) {
        this(code, message, countsAsBackendFailure, countsAsBackendFailure, retryAfterSeconds, cause, null);
    }

    private UpstreamFailure(ErrorCode code, String message, boolean countsAsBackendFailure, boolean tripsCircuit,
                            Integer retryAfterSeconds, Throwable cause, String field) {
        super(message, cause, false, false);
        this.code = code;
        this.countsAsBackendFailure = countsAsBackendFailure;
        this.tripsCircuit = tripsCircuit;
        this.retryAfterSeconds = retryAfterSeconds;
        this.field = field;
    }

    /**
     * A request this backend cannot take as meant, found before any upstream call: VALIDATION_ERROR (no
     * failover, no circuit), its message {@code "<field>: <why>"} and the field in the error's details (OpenAI's
     * {@code param}), as the gateway's own validation reports it.
     */
    public static UpstreamFailure invalid(String field, String why) {
        return new UpstreamFailure(ErrorCode.VALIDATION_ERROR, field + ": " + why, false, false, null, null, field);
    }

    /**
     * The same failure (failover still allowed) without feeding the backend's circuit breaker: nothing
     * upstream failed, so an open circuit would only keep the backend away for its whole delay after
     * it can serve again.
     */
    public UpstreamFailure sparingCircuit() {
        if (!tripsCircuit) {
            return this;
        }
        UpstreamFailure spared = new UpstreamFailure(code, getMessage(), countsAsBackendFailure, false, retryAfterSeconds, getCause(), field);
        spared.httpStatus = httpStatus;
        return spared;
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

    /** The upstream's HTTP status, when it answered with an error status; else null. */
    public Integer httpStatus() {
        return httpStatus;
    }

    UpstreamFailure withHttpStatus(int status) {
        this.httpStatus = status; // set once, right after construction, before the failure is published
        return this;
    }

    /** The request field at fault ({@link #invalid}), or null. */
    public String field() {
        return field;
    }

    /** For {@link #invalid}: the field and why, as the error envelope's {@code details}; else null. */
    public Object details() {
        return field == null ? null
                : java.util.List.of(java.util.Map.of("field", field, "message", getMessage().substring(field.length() + 2)));
    }
}
