package ai.scaigrid.commons.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/**
 * The success envelope: {@code {"status": "ok", "data": ...}}. Seeds show {@code {"data": ...}};
 * the public reference adds {@code status}, which clients use to tell success from failure.
 */
@JsonPropertyOrder({"status", "data"})
@JsonInclude(JsonInclude.Include.ALWAYS)
public record Envelope<T>(String status, T data) {
    public static <T> Envelope<T> of(T data) {
        return new Envelope<>("ok", data);
    }
}
