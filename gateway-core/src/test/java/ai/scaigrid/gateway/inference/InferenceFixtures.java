package ai.scaigrid.gateway.inference;

import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;

/** Catalogue and identity set-up through the gateway's own admin API. */
final class InferenceFixtures {
    private InferenceFixtures() {
    }

    static String run() {
        return UUID.randomUUID().toString().substring(0, 8);
    }

    static RequestSpecification as(String key) {
        return given().header("Authorization", "Bearer " + key).contentType(ContentType.JSON);
    }

    static String create(String path, Map<String, Object> body) {
        return as(ADMIN).body(body).when().post(path).then().statusCode(201).extract().path("data.id");
    }

    /** A global frontend model linked to test-upstream backends ("echo", "drop" ...) in priority order. */
    static String model(String slug, String modality, Integer maxOutput, String... upstreamModels) {
        List<Map<String, Object>> backends = new ArrayList<>();
        for (String upstreamModel : upstreamModels) {
            backends.add(Map.of("name", upstreamModel, "provider_type", "openai", "model_name", upstreamModel, "connection_config",
                    Map.of("base_url", OpenAiTestUpstream.get().baseUrl(), "api_key", "sk-upstream-secret",
                            "first_token_timeout_ms", 2000)));
        }
        return modelOver(slug, modality, maxOutput, backends);
    }

    /** A global chat model linked, in priority order, to backends created from these bodies (any provider type). */
    static String chatModelOver(List<Map<String, Object>> backends) {
        return modelOver("test-" + run() + "/chat", "chat", 1000, backends);
    }

    private static String modelOver(String slug, String modality, Integer maxOutput, List<Map<String, Object>> backends) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("slug", slug);
        body.put("display_name", slug);
        body.put("modality", modality);
        body.put("input_price_per_mtok", "1.00");
        body.put("output_price_per_mtok", "2.00");
        if (maxOutput != null) {
            body.put("max_output_tokens", maxOutput);
        }
        String id = create("/v1/models", body);
        for (int i = 0; i < backends.size(); i++) {
            String backend = create("/v1/backends", backends.get(i));
            as(ADMIN).body(Map.of("backend_id", backend, "priority", i, "weight", 100))
                    .when().post("/v1/models/" + id + "/backends").then().statusCode(201);
        }
        return slug;
    }

    /** A model of this modality whose one backend is Anthropic's (unreachable): a provider that can only chat. */
    static String modelOverAnthropicOnly(String modality) {
        return modelOver("test-" + run() + "/anthropic-only", modality, null, List.of(Map.of("name", "claude", "provider_type", "anthropic",
                "model_name", "claude-x", "connection_config", Map.of("base_url", "http://127.0.0.1:9", "api_key", "k"))));
    }

    static String chatModel(String... upstreamModels) {
        return model("test-" + run() + "/chat", "chat", 1000, upstreamModels);
    }

    /** The one usage record of a request, once the recorder has written it (flushing until it is there). */
    static io.vertx.mutiny.sqlclient.Row usageRecord(io.vertx.mutiny.sqlclient.Pool pool, UsageRecorder usage, String requestId) {
        io.vertx.mutiny.sqlclient.Row[] found = new io.vertx.mutiny.sqlclient.Row[1];
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).untilAsserted(() -> {
            usage.flush().await().atMost(java.time.Duration.ofSeconds(5));
            var rows = pool.preparedQuery("SELECT * FROM usage_records WHERE request_id = $1")
                    .execute(io.vertx.mutiny.sqlclient.Tuple.of(requestId)).await().atMost(java.time.Duration.ofSeconds(5));
            org.assertj.core.api.Assertions.assertThat(rows.size()).isEqualTo(1);
            found[0] = rows.iterator().next();
        });
        return found[0];
    }

    /** A new tenant; returns its id. */
    static String tenant() {
        return create("/v1/tenants", Map.of("slug", "inf-" + run(), "display_name", "Inference tenant"));
    }

    /** A key for a new user with that role in that tenant (optionally limited to model groups). */
    static String key(String tenantId, String role, List<String> groups) {
        String user = create("/v1/users", Map.of("tenant_id", tenantId, "email", role + "-" + run() + "@x.test",
                "roles", List.of(role)));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", "k");
        body.put("assigned_user_id", user);
        if (groups != null) {
            body.put("model_group_ids", groups);
        }
        return as(ADMIN).body(body).when().post("/v1/api-keys").then().statusCode(201).extract().path("data.key");
    }

    static Map<String, Object> chat(String model, String text) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", List.of(Map.of("role", "user", "content", text)));
        return body;
    }

    static Map<String, Object> with(Map<String, Object> body, String k, Object v) {
        Map<String, Object> copy = new LinkedHashMap<>(body);
        copy.put(k, v);
        return copy;
    }

    /** The JSON payloads of an SSE body's data lines, and the event names seen. */
    record Sse(List<String> data, List<String> events) {
    }

    /**
     * The events of a named-event stream (Responses, Anthropic Messages) in order, each data line parsed; asserts that
     * each event's name is its data's {@code type}.
     */
    static List<com.fasterxml.jackson.databind.JsonNode> namedEvents(String sse) throws Exception {
        List<com.fasterxml.jackson.databind.JsonNode> out = new ArrayList<>();
        for (String frame : sse.split("\n\n")) {
            String type = null;
            String data = null;
            for (String line : frame.split("\n")) {
                if (line.startsWith("event: ")) {
                    type = line.substring(7);
                } else if (line.startsWith("data: ")) {
                    data = line.substring(6);
                }
            }
            if (data != null) {
                com.fasterxml.jackson.databind.JsonNode node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(data);
                org.assertj.core.api.Assertions.assertThat(node.path("type").asText()).as("the event name is the data's type")
                        .isEqualTo(type);
                out.add(node);
            }
        }
        return out;
    }

    static Sse parseSse(String body) {
        List<String> data = new ArrayList<>();
        List<String> events = new ArrayList<>();
        for (String frame : body.split("\n\n")) {
            for (String line : frame.split("\n")) {
                if (line.startsWith("data: ")) {
                    data.add(line.substring(6));
                } else if (line.startsWith("event: ")) {
                    events.add(line.substring(7));
                }
            }
        }
        return new Sse(data, events);
    }
}
