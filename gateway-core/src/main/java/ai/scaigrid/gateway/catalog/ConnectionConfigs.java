package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.crypto.PlatformKek;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.json.JsonObject;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The {@code connection_config} of backends and providers: secrets split off and sealed with the
 * platform KEK on write (bound to the owning row, so a sealed value cannot be moved to another one),
 * opened only for upstream calls, never returned.
 */
@ApplicationScoped
public class ConnectionConfigs {
    /**
     * Keys that are secrets. {@code headers} (extra upstream headers) is sealed whole: any of them may
     * carry a credential ({@code api-key}, {@code x-api-key}, {@code Authorization}), and their names
     * alone say little.
     */
    static final Set<String> SECRET_KEYS = Set.of("api_key", "token", "password", "secret", "authorization", "client_secret",
            "headers");

    @Inject
    PlatformKek kek;

    @Inject
    ObjectMapper json;

    /** A config as given, split into what is stored in the clear and what is sealed. */
    public record Split(JsonObject plain, JsonObject secrets) {
        String[] secretFields() {
            return secrets.fieldNames().stream().sorted().toArray(String[]::new);
        }
    }

    Split split(JsonNode config) {
        JsonObject plain = new JsonObject();
        JsonObject secrets = new JsonObject();
        if (config == null || config.isNull()) {
            return new Split(plain, secrets);
        }
        if (!config.isObject()) {
            throw ApiException.validation("connection_config", "connection_config must be an object");
        }
        Iterator<Map.Entry<String, JsonNode>> fields = config.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> e = fields.next();
            if (e.getKey().equals("headers") && !isStringMap(e.getValue())) {
                throw ApiException.validation("connection_config.headers", "headers must be an object of header names (HTTP tokens) to string values without control characters");
            }
            if (e.getKey().equals("base_url")) {
                requireHttpUrl(e.getValue());
            }
            // modes the providers read: a typo would silently fall back to the default
            oneOf(e, "thinking", Set.of("adaptive", "budget"),
                    "thinking must be adaptive (Claude 4.6 and later) or budget (earlier Claude models)");
            oneOf(e, "completions", Set.of("native", "chat"),
                    "completions must be native (the upstream's /completions continues a generate prompt as it is) or chat");
            oneOf(e, "max_tokens_field", Set.of("max_tokens", "max_completion_tokens", "as_sent"),
                    "max_tokens_field must be max_completion_tokens (OpenAI's reasoning models), max_tokens or as_sent");
            Object value = json.convertValue(e.getValue(), Object.class);
            (SECRET_KEYS.contains(e.getKey()) ? secrets : plain).put(e.getKey(), value);
        }
        return new Split(plain, secrets);
    }

    /** A 400 on {@code connection_config.<key>} when this entry is that key with a value outside {@code allowed}. */
    private static void oneOf(Map.Entry<String, JsonNode> entry, String key, Set<String> allowed, String message) {
        if (entry.getKey().equals(key) && !(entry.getValue().isTextual() && allowed.contains(entry.getValue().asText()))) {
            throw ApiException.validation("connection_config." + key, message);
        }
    }

    /** Provider types without a public endpoint to default to: their backends and providers must name one. */
    static final Set<String> ENDPOINT_REQUIRED = Set.of("custom", "azure");

    /** A {@code custom} or {@code azure} config without {@code base_url} could never be called: refused when written. */
    static void requireEndpoint(String providerType, JsonObject plain) {
        if (ENDPOINT_REQUIRED.contains(providerType) && !(plain.getValue("base_url") instanceof String)) {
            throw ApiException.validation("connection_config.base_url", "azure".equals(providerType)
                    ? "an azure backend needs connection_config.base_url, the Azure OpenAI resource's endpoint (https://<resource>.openai.azure.com)"
                    : "a custom backend needs connection_config.base_url, the endpoint's URL up to /v1");
        }
    }

    /** Seals the secrets for the row {@code table/id}; null when there are none. */
    String seal(String table, String id, JsonObject secrets) {
        if (secrets.isEmpty()) {
            return null;
        }
        return kek.require(ErrorCode.SERVICE_UNAVAILABLE).seal(secrets.encode(), aad(table, id));
    }

    /** The secrets of the row {@code table/id}, opened for an upstream call (never for a response). */
    public Map<String, Object> open(String table, String id, String sealed) {
        if (sealed == null) {
            return Map.of();
        }
        return new JsonObject(kek.require(ErrorCode.SERVICE_UNAVAILABLE).open(sealed, aad(table, id))).getMap();
    }

    private static String aad(String table, String id) {
        return "gateway/" + table + "/" + id;
    }

    /** A stored config as shown to admins: headers written before they were sealed are hidden all the same. */
    static Map<String, Object> shown(Object stored) {
        Map<String, Object> config = stored instanceof JsonObject o ? o.getMap() : Map.of();
        if (config.containsKey("headers")) {
            config = new LinkedHashMap<>(config);
            config.put("headers", "(hidden)");
        }
        return config;
    }

    /** An absolute http(s) URL with a host: anything else could never be called, and fails later with less to go on. */
    private static void requireHttpUrl(JsonNode value) {
        boolean valid = false;
        if (value.isTextual()) {
            try {
                java.net.URI uri = new java.net.URI(value.asText());
                valid = ("http".equalsIgnoreCase(uri.getScheme()) || "https".equalsIgnoreCase(uri.getScheme()))
                        && uri.getHost() != null && uri.getQuery() == null && uri.getFragment() == null;
            } catch (java.net.URISyntaxException e) {
                valid = false;
            }
        }
        if (!valid) {
            throw ApiException.validation("connection_config.base_url",
                    "base_url must be an absolute http(s) URL without query or fragment, e.g. https://api.openai.com/v1");
        }
    }

    /** Header names that are HTTP tokens, values without control characters (no header injection, nothing Vert.x refuses later). */
    private static boolean isStringMap(JsonNode node) {
        if (!node.isObject()) {
            return false;
        }
        for (Iterator<Map.Entry<String, JsonNode>> headers = node.fields(); headers.hasNext(); ) {
            Map.Entry<String, JsonNode> h = headers.next();
            if (!HEADER_NAME.matcher(h.getKey()).matches() || !h.getValue().isTextual()
                    || !HEADER_VALUE.matcher(h.getValue().asText()).matches()) {
                return false;
            }
        }
        return true;
    }

    private static final java.util.regex.Pattern HEADER_NAME = java.util.regex.Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}");
    private static final java.util.regex.Pattern HEADER_VALUE = java.util.regex.Pattern.compile("[^\\x00-\\x08\\x0a-\\x1f\\x7f]{0,8192}");
}
