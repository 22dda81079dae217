package ai.scaigrid.lookup.lookup;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads the three upstream list envelopes of seed 002 into one list of items:
 * <ul>
 *   <li>native: {@code {"data": [{...}]}}</li>
 *   <li>OpenAI-compatible: {@code {"object": "list", "data": [{"id": ..., "object": "model"}]}}; for model
 *       lists the {@code id} becomes {@code slug} and the protocol's type tag {@code "object": "model"} is
 *       dropped, so the canvas sees one shape whichever envelope the upstream speaks</li>
 *   <li>nested pagination: {@code {"data": {"items": [...], "next_cursor": ...}}} (gateway-core's own
 *       {@code GET /v1/models} answers {@code {"status": "ok", "data": {"items": [...], "next_cursor": ...}}})</li>
 * </ul>
 * Items are passed through as the upstream sent them (unknown fields included); nothing is invented.
 */
public final class ListNormalizer {

    /** The body is not one of the three shapes. */
    public static final class ShapeException extends Exception {
        ShapeException(String message) {
            super(message, null, false, false);
        }
    }

    /** One page: its items and, for the nested shape, the cursor of the next page (null at the end). */
    public record Page(List<ObjectNode> items, String nextCursor) {
    }

    private ListNormalizer() {
    }

    /**
     * @param idIsSlug for model lists: OpenAI-compatible items carry the slug in {@code id}
     */
    public static Page read(JsonNode root, boolean idIsSlug) throws ShapeException {
        if (root == null || !root.isObject()) {
            throw new ShapeException("not a JSON object");
        }
        JsonNode data = root.get("data");
        if (data == null) {
            throw new ShapeException("no data field");
        }
        if (data.isArray()) {
            boolean openAi = "list".equals(root.path("object").asText(null));
            return new Page(items(data, openAi && idIsSlug), null);
        }
        if (data.isObject() && data.get("items") != null && data.get("items").isArray()) {
            JsonNode cursor = data.get("next_cursor");
            String next = cursor != null && cursor.isTextual() && !cursor.asText().isEmpty() ? cursor.asText() : null;
            return new Page(items(data.get("items"), false), next);
        }
        throw new ShapeException("data is neither a list nor {items: [...]}");
    }

    private static List<ObjectNode> items(JsonNode array, boolean idToSlug) throws ShapeException {
        List<ObjectNode> out = new ArrayList<>(array.size());
        for (JsonNode item : array) {
            if (!item.isObject()) {
                throw new ShapeException("a list item is not an object");
            }
            ObjectNode object = (ObjectNode) item;
            if (idToSlug && !object.has("slug") && object.path("id").isTextual()) {
                // OpenAI-compatible model ids are slugs ("openai/gpt-4o"); keep field order readable: slug first
                ObjectNode renamed = object.objectNode();
                renamed.set("slug", object.get("id"));
                object.fields().forEachRemaining(e -> {
                    boolean typeTag = e.getKey().equals("object") && "model".equals(e.getValue().asText(null));
                    if (!e.getKey().equals("id") && !typeTag) {
                        renamed.set(e.getKey(), e.getValue());
                    }
                });
                object = renamed;
            }
            out.add(object);
        }
        return out;
    }
}
