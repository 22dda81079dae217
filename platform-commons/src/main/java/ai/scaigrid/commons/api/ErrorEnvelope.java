package ai.scaigrid.commons.api;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/**
 * The error envelope every service returns:
 * {@code {"status": "error", "error": {"code", "message", "details", "retry_after"?}, "meta": {"request_id"}}}.
 */
@JsonPropertyOrder({"status", "error", "meta"})
public record ErrorEnvelope(String status, Body error, Meta meta) {

    @JsonPropertyOrder({"code", "message", "details", "retry_after"})
    public record Body(String code, String message,
                       @JsonInclude(JsonInclude.Include.ALWAYS) Object details,
                       @JsonProperty("retry_after") @JsonInclude(JsonInclude.Include.NON_NULL) Long retryAfter) {
    }

    public record Meta(@JsonProperty("request_id") String requestId) {
    }

    public static ErrorEnvelope of(ErrorCode code, String message, Object details, Long retryAfter, String requestId) {
        return new ErrorEnvelope("error", new Body(code.code(), message, details, retryAfter), new Meta(requestId));
    }

    public static ErrorEnvelope of(ApiException e, String requestId) {
        return of(e.errorCode(), e.getMessage(), e.details(), e.retryAfterSeconds(), requestId);
    }
}
