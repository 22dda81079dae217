package ai.scaigrid.commons.error;

import java.util.Map;
import java.util.Objects;

/**
 * The one error type every service throws. REST mappers turn it into the error envelope, the gRPC
 * exception handler into a status with {@code scaigrid-error-code} metadata.
 *
 * <p>{@code details} is either a list of {@code {field, message}} (validation) or an object
 * (module errors, e.g. {@code {"server_id": "..."}}); it must never carry internals.
 */
public class ApiException extends RuntimeException {
    private final ErrorCode errorCode;
    private final Object details;
    private final Long retryAfterSeconds;

    public ApiException(ErrorCode errorCode) {
        this(errorCode, errorCode.defaultMessage(), null, null, null);
    }

    public ApiException(ErrorCode errorCode, String message) {
        this(errorCode, message, null, null, null);
    }

    public ApiException(ErrorCode errorCode, String message, Object details) {
        this(errorCode, message, details, null, null);
    }

    public ApiException(ErrorCode errorCode, String message, Object details, Long retryAfterSeconds, Throwable cause) {
        // No stack trace needed for expected errors: cheap to throw on hot paths. Causes are kept for logs.
        super(message == null ? errorCode.defaultMessage() : message, cause, false, cause != null);
        this.errorCode = Objects.requireNonNull(errorCode);
        this.details = details;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public static ApiException notFound(String what, String id) {
        return new ApiException(ErrorCode.NOT_FOUND, what + " not found", id == null ? null : Map.of("id", id));
    }

    public static ApiException validation(String field, String message) {
        return new ApiException(ErrorCode.VALIDATION_ERROR, message,
                java.util.List.of(Map.of("field", field, "message", message)));
    }

    public ErrorCode errorCode() {
        return errorCode;
    }

    public Object details() {
        return details;
    }

    public Long retryAfterSeconds() {
        return retryAfterSeconds;
    }

    /**
     * The HTTP headers this error's response carries, for every writer of error responses: {@code Retry-After}
     * when there is one, and for {@code RATE_LIMITED} (reference §2.3) the limit that refused, nothing left,
     * and when the window frees up.
     */
    public Map<String, String> responseHeaders() {
        if (retryAfterSeconds == null) {
            return Map.of();
        }
        Map<String, String> headers = new java.util.LinkedHashMap<>();
        headers.put("Retry-After", Long.toString(retryAfterSeconds));
        if (errorCode == ErrorCode.RATE_LIMITED) {
            if (details instanceof Map<?, ?> d && d.get("limit") != null) {
                headers.put("X-Scaigrid-Ratelimit-Limit", String.valueOf(d.get("limit")));
            }
            headers.put("X-Scaigrid-Ratelimit-Remaining", "0");
            headers.put("X-Scaigrid-Ratelimit-Reset", Long.toString(System.currentTimeMillis() / 1000 + retryAfterSeconds));
        }
        return headers;
    }

    public int httpStatus() {
        return errorCode.httpStatus();
    }
}
