package ai.scaigrid.lookup;

import com.github.tomakehurst.wiremock.client.WireMock;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The four lookups of seed 002: the proxy path, the stand-in and path it reaches, and list items as the seed shows them. */
enum Endpoint {
    SCOPES("/api/v1/scaiqueue/scopes", "scaiqueue", "/v1/scopes", "scaiqueue", List.of(
            item("id", "sc_support", "slug", "support", "display_name", "Support workflows", "description", "Tickets"),
            item("id", "sc_billing", "slug", "billing", "display_name", "Billing", "description", "Invoices",
                    "created_at", "2026-01-02T03:04:05Z"))),
    QUEUES("/api/v1/scaiqueue/scopes/sc_support/queues", "scaiqueue", "/v1/scopes/sc_support/queues", "scaiqueue", List.of(
            item("id", "q_review", "scope_id", "sc_support", "slug", "review", "display_name", "Review queue",
                    "consumer_mode", "fifo", "max_retries", 5),
            item("id", "q_triage", "scope_id", "sc_support", "slug", "triage", "display_name", "Triage",
                    "consumer_mode", "competing", "max_retries", 3, "dead_letter", true))),
    BUNKERS("/api/v1/scaibunker/bunkers", "scaibunker", "/v1/bunkers", "scaibunker", List.of(
            item("bunker_id", "bnk_a1", "image_ref", "python-3.12", "lifecycle", "ephemeral", "status", "ready"),
            item("bunker_id", "bnk_b2", "image_ref", "node-22", "lifecycle", "persistent", "status", "running",
                    "resources", Map.of("cpu", 2, "memory_mb", 4096)))),
    MODELS("/api/v1/scaigrid/models", "scaigrid", "/v1/models", "scaigrid", List.of(
            item("slug", "openai/gpt-4o", "display_name", "GPT-4o", "modality", "chat", "context_window", 128000,
                    "max_output_tokens", 16384),
            item("slug", "scailabs/poolnoodle-omni", "display_name", "Poolnoodle Omni", "modality", "chat",
                    "context_window", 256000),
            item("slug", "openai/gpt-4o-mini", "display_name", "GPT-4o mini", "modality", "chat", "context_window", 128000)));

    final String proxyPath;
    final String upstreamName;
    final String upstreamPath;
    /** The seed's error prefix: scaiqueue_auth, scaibunker_api ... */
    final String errorPrefix;
    final List<Map<String, Object>> items;

    Endpoint(String proxyPath, String upstreamName, String upstreamPath, String errorPrefix, List<Map<String, Object>> items) {
        this.proxyPath = proxyPath;
        this.upstreamName = upstreamName;
        this.upstreamPath = upstreamPath;
        this.errorPrefix = errorPrefix;
        this.items = items;
    }

    WireMock upstream() {
        return LookupTestBase.upstream(upstreamName);
    }

    boolean models() {
        return this == MODELS;
    }

    /** The upstream body of this endpoint's items in one of seed 002's three envelopes. */
    Map<String, Object> body(Shape shape) {
        return switch (shape) {
            case NATIVE -> Map.of("data", items);
            case OPENAI -> {
                List<Map<String, Object>> openAi = new ArrayList<>();
                for (Map<String, Object> item : items) {
                    Map<String, Object> copy = new LinkedHashMap<>(item);
                    if (models()) {
                        // OpenAI-compatible model entries: the slug is the id, tagged "object": "model"
                        copy.put("id", copy.remove("slug"));
                        copy.put("object", "model");
                    }
                    openAi.add(copy);
                }
                yield Map.of("object", "list", "data", openAi);
            }
            case NESTED -> {
                Map<String, Object> page = new LinkedHashMap<>();
                page.put("items", items);
                page.put("next_cursor", null);
                Map<String, Object> root = new LinkedHashMap<>();
                root.put("status", "ok");
                root.put("data", page);
                yield root;
            }
        };
    }

    enum Shape { NATIVE, OPENAI, NESTED }

    private static Map<String, Object> item(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
