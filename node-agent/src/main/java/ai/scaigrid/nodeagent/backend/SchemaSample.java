package ai.scaigrid.nodeagent.backend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Iterator;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A deterministic value that satisfies a JSON Schema, for the simulated model: the arguments of its
 * tool calls follow the tool's {@code parameters}, and {@code response_format: json_schema} answers
 * follow the schema, so that clients which validate what a model returns (OpenAI SDK's {@code parse},
 * agent frameworks) can be tried against a local run. Covers what tool and output schemas use in
 * practice: {@code type} (also as a list), {@code properties}/{@code required}, {@code items} with
 * {@code minItems}/{@code maxItems}, {@code enum}, {@code const}, {@code anyOf}/{@code oneOf}/{@code allOf}
 * (the first branch), local {@code $ref}s ({@code #/$defs/...}, {@code #/definitions/...}), numeric
 * bounds, string lengths and the common string formats. Depth, item counts, string lengths and the
 * number of values are bounded, so neither a recursive nor a hostile schema makes it grow without end.
 */
final class SchemaSample {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final int MAX_DEPTH = 8;
    /** Bounds on what a schema can make the sample grow to: a request's schema is caller input. */
    private static final int MAX_VALUES = 2_000;
    private static final int MAX_ITEMS = 20;
    private static final int MAX_MIN_LENGTH = 1_000;

    private final JsonNode root;
    private final SplittableRandom rng;
    private final String[] words;
    private int valuesLeft = MAX_VALUES;

    private SchemaSample(JsonNode root, SplittableRandom rng, String[] words) {
        this.root = root;
        this.rng = rng;
        this.words = words;
    }

    /**
     * A value for the JSON-encoded schema; an empty, unreadable or non-object schema gives an empty object
     * (what a tool without parameters is called with).
     */
    static String of(String schemaJson, SplittableRandom rng, String[] words) {
        JsonNode schema;
        try {
            schema = schemaJson == null || schemaJson.isBlank() ? null : JSON.readTree(schemaJson);
        } catch (Exception e) {
            schema = null;
        }
        if (schema == null || !schema.isObject() || schema.isEmpty()) {
            return "{}";
        }
        return new SchemaSample(schema, rng, words).value(schema, 0).toString();
    }

    private JsonNode value(JsonNode schema, int depth) {
        if (schema == null || !schema.isObject() || depth > MAX_DEPTH || --valuesLeft < 0) {
            return NODES.nullNode();
        }
        if (schema.has("$ref")) {
            return value(resolve(schema.get("$ref").asText()), depth + 1);
        }
        if (schema.has("const")) {
            return schema.get("const");
        }
        JsonNode options = schema.get("enum");
        if (options != null && options.isArray() && !options.isEmpty()) {
            return options.get(rng.nextInt(options.size()));
        }
        for (String branch : new String[]{"anyOf", "oneOf", "allOf"}) {
            JsonNode branches = schema.get(branch);
            if (branches != null && branches.isArray() && !branches.isEmpty()) {
                return value(firstNotNull(branches), depth + 1);
            }
        }
        return switch (type(schema)) {
            case "object" -> object(schema, depth);
            case "array" -> array(schema, depth);
            case "string" -> string(schema);
            case "integer" -> NODES.numberNode(Math.round(number(schema, true)));
            case "number" -> NODES.numberNode(number(schema, false));
            case "boolean" -> NODES.booleanNode(rng.nextBoolean());
            default -> NODES.nullNode();
        };
    }

    private ObjectNode object(JsonNode schema, int depth) {
        ObjectNode out = NODES.objectNode();
        JsonNode properties = schema.get("properties");
        if (properties != null && properties.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = properties.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> p = it.next();
                out.set(p.getKey(), value(p.getValue(), depth + 1));
            }
        }
        return out;
    }

    private ArrayNode array(JsonNode schema, int depth) {
        int min = Math.min(MAX_ITEMS, Math.max(0, schema.path("minItems").asInt(1)));
        int max = Math.min(MAX_ITEMS, Math.max(min, schema.path("maxItems").asInt(Math.max(min, 3))));
        int count = min + rng.nextInt(Math.min(max, min + 2) - min + 1);
        ArrayNode out = NODES.arrayNode();
        JsonNode items = schema.get("items");
        for (int i = 0; i < count && valuesLeft > 0; i++) {
            out.add(items == null ? NODES.textNode(word()) : value(items, depth + 1));
        }
        return out;
    }

    private JsonNode string(JsonNode schema) {
        String value = switch (schema.path("format").asText("")) {
            case "date-time" -> "2026-01-15T09:30:00Z";
            case "date" -> "2026-01-15";
            case "time" -> "09:30:00";
            case "email" -> word() + "@example.com";
            case "uri", "url" -> "https://example.com/" + word();
            case "uuid" -> "00000000-0000-4000-8000-" + String.format("%012x", rng.nextLong() & 0xFFFFFFFFFFFFL);
            default -> {
                StringBuilder s = new StringBuilder(word());
                for (int i = rng.nextInt(3); i > 0; i--) {
                    s.append(' ').append(word());
                }
                yield s.toString();
            }
        };
        int minLength = Math.min(MAX_MIN_LENGTH, schema.path("minLength").asInt(0));
        while (value.length() < minLength) {
            value = value + " " + word();
        }
        if (schema.has("maxLength") && value.length() > schema.get("maxLength").asInt()) {
            value = value.substring(0, Math.max(0, schema.get("maxLength").asInt()));
        }
        return NODES.textNode(value);
    }

    private double number(JsonNode schema, boolean integer) {
        double low = schema.has("minimum") ? schema.get("minimum").asDouble()
                : schema.has("exclusiveMinimum") ? schema.get("exclusiveMinimum").asDouble() + 1 : 0;
        double high = schema.has("maximum") ? schema.get("maximum").asDouble()
                : schema.has("exclusiveMaximum") ? schema.get("exclusiveMaximum").asDouble() - 1 : low + 100;
        if (high < low) {
            high = low;
        }
        if (integer) {
            long lo = (long) Math.ceil(low);
            long hi = (long) Math.floor(high);
            return hi <= lo ? lo : lo + rng.nextLong(hi - lo + 1);
        }
        return Math.round((low + rng.nextDouble() * (high - low)) * 100) / 100.0;
    }

    private String type(JsonNode schema) {
        JsonNode type = schema.get("type");
        if (type != null && type.isArray()) {
            for (JsonNode t : type) {
                if (!"null".equals(t.asText())) {
                    return t.asText();
                }
            }
            return "null";
        }
        if (type != null && type.isTextual()) {
            return type.asText();
        }
        if (schema.has("properties")) {
            return "object";
        }
        return schema.has("items") ? "array" : "string";
    }

    /** The first branch that is not just {@code {"type": "null"}}, so optional fields get a value. */
    private static JsonNode firstNotNull(JsonNode branches) {
        for (JsonNode b : branches) {
            if (!"null".equals(b.path("type").asText())) {
                return b;
            }
        }
        return branches.get(0);
    }

    private JsonNode resolve(String ref) {
        if (!ref.startsWith("#")) {
            return null; // remote references are not fetched
        }
        JsonNode at = root.at(ref.substring(1));
        return at.isMissingNode() ? null : at;
    }

    private String word() {
        return words[rng.nextInt(words.length)];
    }
}
