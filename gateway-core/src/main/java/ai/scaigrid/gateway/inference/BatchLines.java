package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A batch input file: one request per line, {@code {"custom_id", "method": "POST", "url", "body"}} (OpenAI's
 * JSONL). Blank lines are skipped; line numbers are 1-based as an editor shows them.
 */
final class BatchLines {
    private static final int MAX_PROBLEMS = 20;

    private BatchLines() {
    }

    /** One request of a batch: {@code index} is its position among the requests (0-based), {@code line} its line in the file. */
    record Line(int index, int line, String customId, String url, ObjectNode body) {
    }

    /** The requests, or what is wrong with the file ({@code problems}: {@code {line, message, param}}, at most 20). */
    record Parsed(List<Line> lines, List<Map<String, Object>> problems) {
    }

    /**
     * Parses {@code content}; with {@code endpoint} null (at upload) it only checks that every line is a JSON object,
     * and throws a 400 naming the first bad line.
     */
    static Parsed parse(ObjectMapper mapper, Buffer content, String endpoint) {
        List<Line> lines = new ArrayList<>();
        List<Map<String, Object>> problems = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        String[] raw = content.toString(StandardCharsets.UTF_8).split("\n", -1);
        for (int i = 0; i < raw.length && problems.size() < MAX_PROBLEMS; i++) {
            String text = raw[i].strip();
            if (text.isEmpty()) {
                continue;
            }
            int lineNo = i + 1;
            if (lines.size() + problems.size() >= OaiBatchRoutes.MAX_LINES) {
                problems.add(problem(lineNo, "a batch holds at most " + OaiBatchRoutes.MAX_LINES + " requests", null));
                break;
            }
            JsonNode node;
            try {
                node = mapper.readTree(text);
            } catch (Exception e) {
                node = null;
            }
            if (node == null || !node.isObject()) {
                problems.add(problem(lineNo, "line " + lineNo + " is not a JSON object", null));
                continue;
            }
            if (endpoint == null) {
                continue;
            }
            JsonNode customId = node.get("custom_id");
            if (customId == null || !customId.isTextual() || customId.asText().isEmpty() || customId.asText().length() > 512) {
                problems.add(problem(lineNo, "custom_id must be a non-empty string of at most 512 characters", "custom_id"));
            } else if (!ids.add(customId.asText())) {
                problems.add(problem(lineNo, "custom_id " + customId.asText() + " is used twice", "custom_id"));
            } else if (!"POST".equals(node.path("method").asText())) {
                problems.add(problem(lineNo, "method must be POST", "method"));
            } else if (!endpoint.equals(node.path("url").asText())) {
                problems.add(problem(lineNo, "url must be the batch's endpoint, " + endpoint, "url"));
            } else if (!node.path("body").isObject() || !node.path("body").path("model").isTextual()) {
                problems.add(problem(lineNo, "body must be a request object naming its model", "body"));
            } else {
                lines.add(new Line(lines.size(), lineNo, customId.asText(), endpoint, (ObjectNode) node.get("body")));
            }
        }
        if (endpoint == null && !problems.isEmpty()) {
            throw new ApiException(ErrorCode.VALIDATION_ERROR, "A batch file holds one JSON object per line: "
                    + problems.get(0).get("message"), List.of(Map.of("field", "file", "message", problems.get(0).get("message"))));
        }
        if (endpoint != null && lines.isEmpty() && problems.isEmpty()) {
            problems.add(problem(1, "the file holds no requests", null));
        }
        return new Parsed(lines, problems);
    }

    private static Map<String, Object> problem(int line, String message, String param) {
        Map<String, Object> p = new java.util.LinkedHashMap<>();
        p.put("code", "invalid_request");
        p.put("message", message);
        p.put("param", param);
        p.put("line", line);
        return p;
    }
}
