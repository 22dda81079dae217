package ai.scaigrid.commons.error;

import io.grpc.Status;

import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The one table of ScaiGrid error codes: each code with its HTTP status and its gRPC status.
 *
 * <p>Sources: seed 000 (gRPC status per error class), seed 001 (gRPC status to HTTP status for the
 * ScaiMind bridge), seed 002 (lookup proxy), seed 003 ({@code VALIDATION_ERROR} is 400), seed 004
 * (ScaiLink codes) and the public error-code reference. Where the reference and a seed disagree the
 * seed wins: {@code VALIDATION_ERROR} is 400, like {@code INVALID_ARGUMENT} in seed 001.
 */
public enum ErrorCode {
    // --- authentication (gRPC UNAUTHENTICATED) ---
    AUTH_TOKEN_MISSING(401, Status.Code.UNAUTHENTICATED, "Authentication required"),
    AUTH_TOKEN_INVALID(401, Status.Code.UNAUTHENTICATED, "Invalid or expired credentials"),
    AUTH_FLOW_INVALID(401, Status.Code.UNAUTHENTICATED, "Authentication flow is invalid or expired"),
    SESSION_EXPIRED(401, Status.Code.UNAUTHENTICATED, "Session expired"),
    SERVICE_TOKEN_INVALID(401, Status.Code.UNAUTHENTICATED, "Invalid service token"),
    UNAUTHENTICATED(401, Status.Code.UNAUTHENTICATED, "Authentication failed"),

    // --- authorisation and budgets (gRPC PERMISSION_DENIED, seed 000: "Permission/budget errors") ---
    AUTH_INSUFFICIENT_SCOPE(403, Status.Code.PERMISSION_DENIED, "Token lacks a required scope"),
    AUTHZ_PERMISSION_DENIED(403, Status.Code.PERMISSION_DENIED, "Permission denied"),
    PERMISSION_DENIED(403, Status.Code.PERMISSION_DENIED, "Permission denied"),
    MODEL_ACCESS_DENIED(403, Status.Code.PERMISSION_DENIED, "Model is not enabled for this caller"),
    /** 402: the budget is spent; not retryable until the period rolls over (gRPC PERMISSION_DENIED per seed 000). */
    BUDGET_EXCEEDED(402, Status.Code.PERMISSION_DENIED, "Budget exceeded"),

    // --- not found (gRPC NOT_FOUND) ---
    NOT_FOUND(404, Status.Code.NOT_FOUND, "Not found"),
    MODEL_NOT_FOUND(404, Status.Code.NOT_FOUND, "Model not found"),
    BACKEND_NOT_FOUND(404, Status.Code.NOT_FOUND, "Backend not found"),
    PROVIDER_NOT_FOUND(404, Status.Code.NOT_FOUND, "Provider not found"),
    AUTH_IDENTITY_NOT_FOUND(404, Status.Code.NOT_FOUND, "No account for this identity"),
    SCAILINK_REMOTE_SERVER_NOT_FOUND(404, Status.Code.NOT_FOUND, "Remote MCP server not found"),

    // --- validation (gRPC INVALID_ARGUMENT) ---
    VALIDATION_ERROR(400, Status.Code.INVALID_ARGUMENT, "Request validation failed"),
    SCAILINK_REMOTE_INVALID_CONFIG(400, Status.Code.INVALID_ARGUMENT, "Invalid remote MCP server configuration"),
    METHOD_NOT_ALLOWED(405, Status.Code.UNIMPLEMENTED, "Method not allowed"),
    NOT_ACCEPTABLE(406, Status.Code.INVALID_ARGUMENT, "Requested media type is not available"),
    UNSUPPORTED_MEDIA_TYPE(415, Status.Code.INVALID_ARGUMENT, "Unsupported media type"),
    PAYLOAD_TOO_LARGE(413, Status.Code.INVALID_ARGUMENT, "Request body too large"),

    // --- conflicts (seed 001: ALREADY_EXISTS and FAILED_PRECONDITION are 409) ---
    ALREADY_EXISTS(409, Status.Code.ALREADY_EXISTS, "Already exists"),
    SLUG_CONFLICT(409, Status.Code.ALREADY_EXISTS, "Slug already exists"),
    CONFLICT(409, Status.Code.FAILED_PRECONDITION, "Conflict with the current state"),
    FAILED_PRECONDITION(409, Status.Code.FAILED_PRECONDITION, "Operation not allowed in the current state"),
    PROVIDER_HAS_BACKENDS(409, Status.Code.FAILED_PRECONDITION, "Provider still has backends"),
    /** seed 002: no upstream credential for the lookup proxy. */
    MISSING_CREDENTIALS(412, Status.Code.FAILED_PRECONDITION, "No upstream credentials configured"),
    /** 424 (OpenAI's status for it): a remote MCP server named in a request's tools could not be reached or used. */
    MCP_SERVER_ERROR(424, Status.Code.FAILED_PRECONDITION, "A remote MCP server could not be used"),

    // --- rate limits and quotas (gRPC RESOURCE_EXHAUSTED) ---
    RATE_LIMITED(429, Status.Code.RESOURCE_EXHAUSTED, "Rate limit exceeded"),
    BACKEND_RATE_LIMITED(429, Status.Code.RESOURCE_EXHAUSTED, "Upstream rate limit exceeded"),
    QUOTA_EXCEEDED(429, Status.Code.RESOURCE_EXHAUSTED, "Quota exhausted"),
    RESOURCE_EXHAUSTED(429, Status.Code.RESOURCE_EXHAUSTED, "Resource exhausted"),
    SCAILINK_REMOTE_LIMIT_EXCEEDED(429, Status.Code.RESOURCE_EXHAUSTED, "Remote MCP server limit reached"),

    // --- upstream and availability (gRPC UNAVAILABLE / DEADLINE_EXCEEDED) ---
    BACKEND_ERROR(502, Status.Code.UNAVAILABLE, "Upstream returned an error"),
    UPSTREAM_SHAPE_MISMATCH(502, Status.Code.UNAVAILABLE, "Upstream reply could not be parsed"),
    PROVIDER_DISCOVERY_ERROR(502, Status.Code.UNAVAILABLE, "Provider discovery failed"),
    MODEL_UNAVAILABLE(503, Status.Code.UNAVAILABLE, "No healthy backend for this model"),
    SERVICE_UNAVAILABLE(503, Status.Code.UNAVAILABLE, "Service temporarily unavailable"),
    SERVICE_DRAINING(503, Status.Code.UNAVAILABLE, "Service is draining"),
    SCAILINK_REGISTRY_DISABLED(503, Status.Code.UNAVAILABLE, "Cloud MCP registry is disabled in this deployment"),
    BACKEND_TIMEOUT(504, Status.Code.DEADLINE_EXCEEDED, "Upstream timed out"),
    DEADLINE_EXCEEDED(504, Status.Code.DEADLINE_EXCEEDED, "The request timed out"),

    // --- server faults (gRPC INTERNAL / UNKNOWN / UNIMPLEMENTED): message always sanitised ---
    NOT_IMPLEMENTED(501, Status.Code.UNIMPLEMENTED, "Not implemented"),
    INTERNAL_ERROR(500, Status.Code.INTERNAL, "An internal error occurred"),
    UNKNOWN_ERROR(500, Status.Code.UNKNOWN, "An unexpected error occurred");

    private static final Map<String, ErrorCode> BY_CODE = Arrays.stream(values())
            .collect(Collectors.toUnmodifiableMap(ErrorCode::code, Function.identity()));

    private final int httpStatus;
    private final Status.Code grpcStatus;
    private final String defaultMessage;

    ErrorCode(int httpStatus, Status.Code grpcStatus, String defaultMessage) {
        this.httpStatus = httpStatus;
        this.grpcStatus = grpcStatus;
        this.defaultMessage = defaultMessage;
    }

    /** The wire code; {@code missing_credentials} keeps the lower-case spelling of seed 002. */
    public String code() {
        return this == MISSING_CREDENTIALS ? "missing_credentials" : name();
    }

    public int httpStatus() {
        return httpStatus;
    }

    public Status.Code grpcStatus() {
        return grpcStatus;
    }

    public String defaultMessage() {
        return defaultMessage;
    }

    /** Server faults never show their detail to a caller. */
    public boolean isServerFault() {
        return grpcStatus == Status.Code.INTERNAL || grpcStatus == Status.Code.UNKNOWN || this == NOT_IMPLEMENTED;
    }

    public static Optional<ErrorCode> fromCode(String code) {
        return code == null ? Optional.empty() : Optional.ofNullable(BY_CODE.get(code));
    }

    /**
     * The code a gRPC status stands for when the peer sent no {@code scaigrid-error-code}
     * (seed 001's table, read from gRPC to HTTP).
     */
    public static ErrorCode forGrpcStatus(Status.Code status) {
        return switch (status) {
            case NOT_FOUND -> NOT_FOUND;
            case INVALID_ARGUMENT, OUT_OF_RANGE -> VALIDATION_ERROR;
            case PERMISSION_DENIED -> PERMISSION_DENIED;
            case UNAUTHENTICATED -> UNAUTHENTICATED;
            case ALREADY_EXISTS -> ALREADY_EXISTS;
            case FAILED_PRECONDITION, ABORTED -> FAILED_PRECONDITION;
            case RESOURCE_EXHAUSTED -> RESOURCE_EXHAUSTED;
            case DEADLINE_EXCEEDED -> DEADLINE_EXCEEDED;
            case UNAVAILABLE, CANCELLED -> SERVICE_UNAVAILABLE;
            case UNIMPLEMENTED -> NOT_IMPLEMENTED;
            case UNKNOWN -> UNKNOWN_ERROR;
            default -> INTERNAL_ERROR;
        };
    }

    /** The code for an HTTP status that arrived without one of ours (e.g. a framework 404/405). */
    public static ErrorCode forHttpStatus(int status) {
        return switch (status) {
            case 400, 422 -> VALIDATION_ERROR;
            case 401 -> AUTH_TOKEN_INVALID;
            case 402 -> BUDGET_EXCEEDED;
            case 403 -> PERMISSION_DENIED;
            case 404 -> NOT_FOUND;
            case 405 -> METHOD_NOT_ALLOWED;
            case 406 -> NOT_ACCEPTABLE;
            case 409 -> CONFLICT;
            case 412 -> MISSING_CREDENTIALS;
            case 413 -> PAYLOAD_TOO_LARGE;
            case 415 -> UNSUPPORTED_MEDIA_TYPE;
            case 429 -> RATE_LIMITED;
            case 501 -> NOT_IMPLEMENTED;
            case 502 -> BACKEND_ERROR;
            case 503 -> SERVICE_UNAVAILABLE;
            case 504 -> DEADLINE_EXCEEDED;
            default -> status >= 500 ? INTERNAL_ERROR : VALIDATION_ERROR;
        };
    }
}
