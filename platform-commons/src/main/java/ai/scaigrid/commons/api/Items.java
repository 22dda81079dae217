package ai.scaigrid.commons.api;

import java.util.List;

/**
 * A list answer's data: {@code {"items": [...]}} (reference §2.1: "Lists use data.items[]"), so that every
 * list reads the same way and can gain paging fields without changing shape.
 */
public record Items<T>(List<T> items) {
    public static <T> Envelope<Items<T>> envelope(List<T> items) {
        return Envelope.of(new Items<>(items));
    }
}
