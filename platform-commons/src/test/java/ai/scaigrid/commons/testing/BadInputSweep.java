package ai.scaigrid.commons.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sends every operation of a service's OpenAPI document the inputs a careless or hostile client
 * sends (NUL and other odd bytes in path and query values, numbers out of range, malformed and
 * wrongly typed JSON, NUL in every string field, deep nesting) and collects every answer that breaks
 * the rule "bad input gets a clear error in the standard envelope, never a 500, a stack trace, SQL or
 * an upstream's internals". The caller asserts the list is empty.
 * <p>
 * Only garbage identifiers are used, and a DELETE is sent only to paths that name a (garbage)
 * resource, so a sweep never removes anything another test created.
 */
public final class BadInputSweep {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern TEMPLATE = Pattern.compile("\\{([^}]+)}");
    private static final Pattern LEAK = Pattern.compile(
            "Exception|\\bat (java|io|org|ai)\\.|\\borg\\.[a-z]|io\\.vertx|SQLSTATE|syntax error|postgres|Caused by|com\\.fasterxml|invalid byte sequence",
            Pattern.CASE_INSENSITIVE);
    private static final List<String> PATH_VALUES = List.of("%00", "a%00b", "a".repeat(1000), "%C3%BC%F0%9F%98%80", "..%2F..%2Fetc",
            "-1", "99999999999999999999", "%27%20OR%201%3D1--", "%FF%FE");
    private static final List<String> QUERY_VALUES = List.of("%00", "-1", "abc", "99999999999999999999", "1e400", "2026-13-45T99:99",
            "%27", "");
    private static final List<String> RAW_BODIES = List.of("{", "[]", "null", "123", "\"s\"", "{\"a\":1e999999}",
            "{\"a\":".repeat(3000) + "1" + "}".repeat(3000), "\u00ff\u00fe");

    private final String baseUrl;
    private final String bearer;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<String> findings = new ArrayList<>();
    private int requests;

    public BadInputSweep(String baseUrl, String bearer) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.bearer = bearer;
    }

    /** Runs the sweep over every operation in {@code /q/openapi}; returns the findings (empty = all good). */
    public List<String> run() throws Exception {
        JsonNode spec = JSON.readTree(send("GET", "/q/openapi?format=json", null, null).body());
        JsonNode schemas = spec.path("components").path("schemas");
        for (Iterator<Map.Entry<String, JsonNode>> paths = spec.path("paths").fields(); paths.hasNext(); ) {
            Map.Entry<String, JsonNode> path = paths.next();
            for (Iterator<Map.Entry<String, JsonNode>> ops = path.getValue().fields(); ops.hasNext(); ) {
                Map.Entry<String, JsonNode> op = ops.next();
                sweep(op.getKey().toUpperCase(), path.getKey(), op.getValue(), schemas);
            }
        }
        return findings;
    }

    public int requests() {
        return requests;
    }

    private void sweep(String method, String template, JsonNode op, JsonNode schemas) throws Exception {
        if (!Set.of("GET", "POST", "PUT", "PATCH", "DELETE").contains(method)) {
            return;
        }
        boolean templated = TEMPLATE.matcher(template).find();
        if ("DELETE".equals(method) && !templated) {
            return; // would act on the caller's own resource (e.g. its stored credentials)
        }
        boolean hasBody = Set.of("POST", "PUT", "PATCH").contains(method);
        if (templated) {
            for (String value : PATH_VALUES) {
                String path = fill(template, value);
                check(method, path, "path value " + abbreviate(value), send(method, path, hasBody ? "{}" : null, "application/json"));
            }
        }
        String path = fill(template, "zz_missing");
        for (JsonNode p : op.path("parameters")) {
            if (!"query".equals(p.path("in").asText())) {
                continue;
            }
            for (String value : QUERY_VALUES) {
                String q = path + "?" + p.path("name").asText() + "=" + value;
                check(method, q, "query " + p.path("name").asText() + "=" + abbreviate(value), send(method, q, hasBody ? "{}" : null,
                        "application/json"));
            }
        }
        if (!hasBody) {
            return;
        }
        for (String raw : RAW_BODIES) {
            check(method, path, "body " + abbreviate(raw), send(method, path, raw, "application/json"));
        }
        check(method, path, "text/plain body", send(method, path, "{}", "text/plain"));
        JsonNode content = op.path("requestBody").path("content");
        JsonNode schema = resolve(content.path("application/json").path("schema"), schemas);
        List<String> fields = new ArrayList<>();
        schema.path("properties").fieldNames().forEachRemaining(fields::add);
        if (fields.isEmpty()) {
            return;
        }
        // every field at once with NUL in it, then each field with values of the wrong type
        ObjectNode nul = JSON.createObjectNode();
        fields.forEach(f -> nul.put(f, "a\u0000b"));
        check(method, path, "NUL in every field", send(method, path, JSON.writeValueAsString(nul), "application/json"));
        for (String field : fields) {
            for (String wrong : List.of("{\"%s\": {\"x\": [1, {\"y\": null}]}}", "{\"%s\": [\"\\u0000\", -1e308]}",
                    "{\"%s\": 123456789012345678901234567890}", "{\"%s\": \"" + "x".repeat(70_000) + "\"}")) {
                String body = wrong.formatted(field);
                check(method, path, "field " + field + " " + abbreviate(body), send(method, path, body, "application/json"));
            }
        }
    }

    private static JsonNode resolve(JsonNode schema, JsonNode schemas) {
        String ref = schema.path("$ref").asText("");
        return ref.isEmpty() ? schema : schemas.path(ref.substring(ref.lastIndexOf('/') + 1));
    }

    private static String fill(String template, String value) {
        Matcher m = TEMPLATE.matcher(template);
        return m.replaceAll(Matcher.quoteReplacement(value));
    }

    private HttpResponse<String> send(String method, String path, String body, String contentType) throws Exception {
        requests++;
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofSeconds(30));
        if (bearer != null) {
            b.header("Authorization", "Bearer " + bearer);
        }
        if (body != null) {
            b.header("Content-Type", contentType);
            b.method(method, HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        try {
            return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            findings.add(method + " " + abbreviate(path) + ": no answer (" + e + ")");
            return null;
        }
    }

    private void check(String method, String path, String what, HttpResponse<String> response) {
        if (response == null) {
            return;
        }
        int status = response.statusCode();
        Set<String> problems = new LinkedHashSet<>();
        if (status >= 500 && status != 502 && status != 503 && status != 504) {
            problems.add("HTTP " + status);
        }
        if (status >= 400) {
            Matcher leak = LEAK.matcher(response.body());
            if (leak.find()) {
                problems.add("leaks '" + leak.group() + "'");
            }
            try {
                JsonNode error = JSON.readTree(response.body());
                if (error == null || !(error.has("error") || error.has("detail"))) {
                    problems.add("not an error envelope");
                }
            } catch (Exception e) {
                problems.add("error body is not JSON");
            }
            if (response.headers().firstValue("X-Request-Id").isEmpty()) {
                problems.add("no X-Request-Id");
            }
        }
        if (!problems.isEmpty()) {
            findings.add(method + " " + abbreviate(path) + " [" + what + "] -> " + status + " " + String.join(", ", problems)
                    + ": " + abbreviate(response.body()));
        }
    }

    private static String abbreviate(String s) {
        String clean = s.replace("\u0000", "\\u0000");
        return clean.length() <= 80 ? clean : clean.substring(0, 60) + "...(" + clean.length() + " chars)";
    }
}
