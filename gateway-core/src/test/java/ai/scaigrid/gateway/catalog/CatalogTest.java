package ai.scaigrid.gateway.catalog;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;

/** Catalogue CRUD, secrets, links, visibility by owner scope and by a key's model groups, paging. */
@QuarkusTest
class CatalogTest {
    @Inject
    Pool pool;

    private static final String RUN = UUID.randomUUID().toString().substring(0, 6);

    private static RequestSpecification as(String key) {
        return given().header("Authorization", "Bearer " + key).contentType(ContentType.JSON);
    }

    private static String create(String path, Map<String, Object> body) {
        return as(ADMIN).body(body).when().post(path).then().statusCode(201).extract().path("data.id");
    }

    private static String userKey(String tenantId, String role, List<String> groups) {
        String user = create("/v1/users", Map.of("tenant_id", tenantId, "email", role + "@x.test", "roles", List.of(role)));
        Map<String, Object> body = groups == null ? Map.of("name", "k", "assigned_user_id", user)
                : Map.of("name", "k", "assigned_user_id", user, "model_group_ids", groups);
        return as(ADMIN).body(body).when().post("/v1/api-keys").then().statusCode(201).extract().path("data.key");
    }

    @Test
    void frontendLifecycleWithSecretBackendAndLinks() {
        String slug = "acme-" + RUN + "/gpt-4o";
        String modelId = create("/v1/models", Map.of("slug", slug, "display_name", "GPT-4o", "modality", "chat",
                "context_window", 128000, "max_output_tokens", 16384, "capabilities", Map.of("tool_use", true, "streaming", true),
                "input_price_per_mtok", "2.50"));
        as(ADMIN).when().get("/v1/models/" + slug).then().statusCode(200).body("data.health_status", equalTo("unavailable"));
        as(ADMIN).body(Map.of("slug", slug, "display_name", "dup")).when().post("/v1/models")
                .then().statusCode(409).body("error.code", equalTo("SLUG_CONFLICT"));
        as(ADMIN).body(Map.of("slug", "Not A Slug", "display_name", "x")).when().post("/v1/models")
                .then().statusCode(400).body("error.details[0].field", equalTo("slug"));

        var backend = as(ADMIN).body(Map.of("name", "openai main", "provider_type", "openai", "model_name", "gpt-4o",
                        "connection_config", Map.of("base_url", "http://127.0.0.1:9/v1", "api_key", "sk-very-secret-123")))
                .when().post("/v1/backends").then().statusCode(201)
                .body("data.connection_config.base_url", equalTo("http://127.0.0.1:9/v1"))
                .body("data.connection_config.api_key", nullValue())
                .body("data.secret_fields", equalTo(List.of("api_key")))
                .extract();
        assertThat(backend.asString()).doesNotContain("sk-very-secret-123");
        String backendId = backend.path("data.id");
        String stored = pool.preparedQuery("SELECT sealed_secrets || connection_config::text FROM backend_models WHERE id = $1")
                .execute(io.vertx.mutiny.sqlclient.Tuple.of(backendId)).await().atMost(Duration.ofSeconds(5))
                .iterator().next().getString(0);
        assertThat(stored).doesNotContain("sk-very-secret-123");

        as(ADMIN).body(Map.of("backend_id", backendId, "priority", 0, "weight", 100))
                .when().post("/v1/models/" + modelId + "/backends").then().statusCode(201);
        as(ADMIN).urlEncodingEnabled(false).when().get("/v1/models/" + slug.replace("/", "%2F")).then().statusCode(200)
                .body("data.active_backend_count", equalTo(1)).body("data.input_price_per_mtok", equalTo("2.5"))
                .body("data.health_status", equalTo("healthy"));
        as(ADMIN).when().get("/v1/backends/" + backendId + "/health").then().statusCode(200)
                .body("data.status", equalTo("healthy")).body("data.circuit", equalTo("closed"))
                .body("data.linked_models", equalTo(1)).body("data.backend_status", equalTo("active"));
        as(ADMIN).when().get("/v1/models/" + slug).then().statusCode(200).body("data.id", equalTo(modelId));
        as(ADMIN).when().delete("/v1/models/" + modelId).then().statusCode(409).body("error.code", equalTo("CONFLICT"));

        as(ADMIN).body(Map.of("description", "OpenAI's flagship", "max_output_tokens", 8192))
                .when().put("/v1/models/" + modelId).then().statusCode(200)
                .body("data.description", equalTo("OpenAI's flagship")).body("data.context_window", equalTo(128000))
                .body("data.max_output_tokens", equalTo(8192));

        as(ADMIN).when().delete("/v1/models/" + modelId + "/backends/" + backendId).then().statusCode(204);
        as(ADMIN).when().delete("/v1/models/" + modelId).then().statusCode(204);
        as(ADMIN).when().get("/v1/models/" + slug).then().statusCode(404).body("error.code", equalTo("MODEL_NOT_FOUND"));
        as(ADMIN).when().delete("/v1/backends/" + backendId).then().statusCode(204);
        as(ADMIN).when().get("/v1/backends/" + backendId).then().statusCode(404).body("error.code", equalTo("BACKEND_NOT_FOUND"));
    }

    @Test
    void tenantModelsAreInvisibleToOtherTenantsAndGroupsRestrictKeys() {
        String tenantA = create("/v1/tenants", Map.of("slug", "ca-" + RUN, "display_name", "A"));
        String tenantB = create("/v1/tenants", Map.of("slug", "cb-" + RUN, "display_name", "B"));
        String privateSlug = "tenant/ca-" + RUN + "/private";
        String publicSlug = "shared-" + RUN + "/open";
        create("/v1/models", Map.of("slug", privateSlug, "display_name", "Private", "owner_scope", "tenant", "owner_tenant_id", tenantA));
        // reference §1.3 namespaces: no tenant takes a platform slug or another tenant's namespace
        as(ADMIN).body(Map.of("slug", "openai/gpt-" + RUN, "display_name", "squat", "owner_scope", "tenant", "owner_tenant_id", tenantA))
                .when().post("/v1/models").then().statusCode(400).body("error.details[0].field", equalTo("slug"));
        as(ADMIN).body(Map.of("slug", "tenant/cb-" + RUN + "/x", "display_name", "x", "owner_scope", "tenant", "owner_tenant_id", tenantA))
                .when().post("/v1/models").then().statusCode(400).body("error.details[0].field", equalTo("slug"));
        as(ADMIN).body(Map.of("slug", "tenant/ca-" + RUN + "/global", "display_name", "x")).when().post("/v1/models")
                .then().statusCode(400).body("error.details[0].field", equalTo("slug"));
        create("/v1/models", Map.of("slug", publicSlug, "display_name", "Open"));
        String group = create("/v1/models/groups", Map.of("name", "only-open", "scope", "tenant", "tenant_id", tenantA,
                "members", List.of(publicSlug)));

        String userA = userKey(tenantA, "tenant_user", null);
        String userB = userKey(tenantB, "tenant_user", null);
        String restrictedA = userKey(tenantA, "tenant_user", List.of(group));

        as(userA).when().get("/v1/models?limit=200").then().statusCode(200)
                .body("data.items.slug", hasItem(privateSlug)).body("data.items.slug", hasItem(publicSlug));
        as(userB).when().get("/v1/models?limit=200").then().statusCode(200)
                .body("data.items.slug", not(hasItem(privateSlug))).body("data.items.slug", hasItem(publicSlug));
        as(userB).when().get("/v1/models/" + privateSlug).then().statusCode(404).body("error.code", equalTo("MODEL_NOT_FOUND"));

        as(restrictedA).when().get("/v1/models?limit=200").then().statusCode(200)
                .body("data.items.slug", equalTo(List.of(publicSlug)));
        as(restrictedA).when().get("/v1/models/" + privateSlug).then().statusCode(403).body("error.code", equalTo("MODEL_ACCESS_DENIED"));

        as(userA).body(Map.of("slug", "x-" + RUN + "/y", "display_name", "no")).when().post("/v1/models")
                .then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
        as(ADMIN).body(Map.of("slugs", List.of("does-not/exist"))).when().post("/v1/models/groups/" + group + "/members")
                .then().statusCode(404).body("error.code", equalTo("MODEL_NOT_FOUND"));
        as(userB).when().get("/v1/models/groups/" + group).then().statusCode(404);
        as(ADMIN).when().delete("/v1/models/groups/" + group + "/members/" + publicSlug).then().statusCode(200)
                .body("data.members", equalTo(List.of()));

        // update: name, description and the whole member list; scope and owner stay; strangers cannot
        as(ADMIN).body(Map.of("name", "renamed", "description", "both", "members", List.of(publicSlug, privateSlug)))
                .when().put("/v1/models/groups/" + group).then().statusCode(200)
                .body("data.name", equalTo("renamed")).body("data.description", equalTo("both"))
                .body("data.members", org.hamcrest.Matchers.containsInAnyOrder(publicSlug, privateSlug))
                .body("data.scope", equalTo("tenant"));
        as(ADMIN).body(Map.of("members", List.of(publicSlug))).when().put("/v1/models/groups/" + group).then().statusCode(200)
                .body("data.name", equalTo("renamed")).body("data.members", equalTo(List.of(publicSlug)));
        as(ADMIN).body(Map.of("scope", "global")).when().put("/v1/models/groups/" + group).then().statusCode(400)
                .body("error.details[0].field", equalTo("scope"));
        as(ADMIN).body(Map.of("members", List.of("does-not/exist"))).when().put("/v1/models/groups/" + group).then().statusCode(404)
                .body("error.code", equalTo("MODEL_NOT_FOUND"));
        as(ADMIN).when().get("/v1/models/groups/" + group).then().body("data.members", equalTo(List.of(publicSlug)));
        as(userA).body(Map.of("name", "mine now")).when().put("/v1/models/groups/" + group).then().statusCode(403);
        as(userB).body(Map.of("name", "theirs")).when().put("/v1/models/groups/" + group).then().statusCode(403);
    }

    /** Reference §1 / seed 003: each tenant has a default model group; restricted keys of the tenant see its members too. */
    @Test
    void everyTenantHasADefaultGroupThatRestrictedKeysAlsoSee() {
        String tenant = create("/v1/tenants", Map.of("slug", "dg-" + RUN, "display_name", "DG"));
        String other = create("/v1/tenants", Map.of("slug", "dh-" + RUN, "display_name", "DH"));
        String defaultGroup = as(ADMIN).when().get("/v1/tenants/" + tenant).then().statusCode(200)
                .extract().path("data.default_model_group_id");
        assertThat(defaultGroup).startsWith("mg_").hasSize(23);
        as(ADMIN).when().get("/v1/models/groups/" + defaultGroup).then().statusCode(200)
                .body("data.is_default", equalTo(true)).body("data.scope", equalTo("tenant"))
                .body("data.tenant_id", equalTo(tenant)).body("data.members", equalTo(List.of()));
        assertThat(as(ADMIN).when().get("/v1/tenants/" + other).then().extract().<String>path("data.default_model_group_id"))
                .isNotEqualTo(defaultGroup).startsWith("mg_");

        String everyone = "tenant/dg-" + RUN + "/everyone";
        String chosen = "tenant/dg-" + RUN + "/chosen";
        String hidden = "tenant/dg-" + RUN + "/hidden";
        for (String slug : List.of(everyone, chosen, hidden)) {
            create("/v1/models", Map.of("slug", slug, "display_name", slug, "owner_scope", "tenant", "owner_tenant_id", tenant));
        }
        String group = create("/v1/models/groups", Map.of("name", "chosen", "scope", "tenant", "tenant_id", tenant,
                "members", List.of(chosen)));
        String restricted = userKey(tenant, "tenant_user", List.of(group));
        as(restricted).when().get("/v1/models?limit=200").then().statusCode(200).body("data.items.slug", equalTo(List.of(chosen)));

        // adding a slug to the tenant's default group makes it visible to the tenant's restricted keys (within the auth cache)
        as(ADMIN).body(Map.of("slugs", List.of(everyone))).when().post("/v1/models/groups/" + defaultGroup + "/members")
                .then().statusCode(200);
        String restrictedLater = userKey(tenant, "tenant_admin", List.of(group));
        as(restrictedLater).when().get("/v1/models?limit=200").then().statusCode(200)
                .body("data.items.slug", org.hamcrest.Matchers.containsInAnyOrder(chosen, everyone));
        as(restrictedLater).when().get("/v1/models/" + hidden).then().statusCode(403).body("error.code", equalTo("MODEL_ACCESS_DENIED"));

        // one default per tenant: making another group the default moves the flag; the default cannot be
        // unflagged or deleted, and global / partner groups cannot be a default
        as(ADMIN).body(Map.of("is_default", false)).when().put("/v1/models/groups/" + defaultGroup).then().statusCode(400)
                .body("error.details[0].field", equalTo("is_default"));
        as(ADMIN).when().delete("/v1/models/groups/" + defaultGroup).then().statusCode(409).body("error.code", equalTo("CONFLICT"));
        as(ADMIN).body(Map.of("name", "g-" + RUN, "scope", "global", "is_default", true)).when().post("/v1/models/groups")
                .then().statusCode(400).body("error.details[0].field", equalTo("is_default"));
        as(ADMIN).body(Map.of("is_default", true)).when().put("/v1/models/groups/" + group).then().statusCode(200)
                .body("data.is_default", equalTo(true));
        as(ADMIN).when().get("/v1/models/groups/" + defaultGroup).then().body("data.is_default", equalTo(false));
        as(ADMIN).when().get("/v1/tenants/" + tenant).then().body("data.default_model_group_id", equalTo(group));
        as(ADMIN).when().delete("/v1/models/groups/" + defaultGroup).then().statusCode(204);
        String newest = create("/v1/models/groups", Map.of("name", "newest", "scope", "tenant", "tenant_id", tenant, "is_default", true));
        as(ADMIN).when().get("/v1/tenants/" + tenant).then().body("data.default_model_group_id", equalTo(newest));

        // concurrent moves of the default run one after the other: every one succeeds, one default remains
        List<String> contenders = new java.util.ArrayList<>();
        for (int i = 0; i < 8; i++) {
            contenders.add(create("/v1/models/groups", Map.of("name", "c" + i, "scope", "tenant", "tenant_id", tenant)));
        }
        java.util.concurrent.ExecutorService pool8 = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<Integer>> moves = new java.util.ArrayList<>();
            for (String c : contenders) {
                moves.add(pool8.submit(() -> {
                    start.await();
                    return as(ADMIN).body(Map.of("is_default", true)).when().put("/v1/models/groups/" + c).statusCode();
                }));
            }
            start.countDown();
            for (java.util.concurrent.Future<Integer> move : moves) {
                assertThat(move.get(30, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(200);
            }
        } catch (Exception e) {
            throw new AssertionError(e);
        } finally {
            pool8.shutdownNow();
        }
        assertThat(contenders).contains(as(ADMIN).when().get("/v1/tenants/" + tenant).then().extract()
                .<String>path("data.default_model_group_id"));
        assertThat(pool.preparedQuery("SELECT count(*) AS n FROM model_groups WHERE tenant_id = $1 AND is_default")
                .execute(io.vertx.mutiny.sqlclient.Tuple.of(tenant)).await().atMost(Duration.ofSeconds(5))
                .iterator().next().getLong("n")).isEqualTo(1);
    }

    /** Reference §1.3: an uploaded avatar becomes the model's avatar_url and is served to anyone, cacheably. */
    @Test
    void backendsHaveUrisAndCanBeCreatedFromOne() {
        // the uri of a backend created from provider_type + model_name
        as(ADMIN).body(Map.of("name", "u1", "provider_type", "openai", "model_name", "meta-llama/Llama-3.3-70B"))
                .when().post("/v1/backends").then().statusCode(201).body("data.uri", equalTo("openai:meta-llama/Llama-3.3-70B"));
        // a uri alone: provider and model from it, the node pinned in connection_config
        String pinned = as(ADMIN).body(Map.of("name", "u2", "uri", "scaiinfer:node-eu-01/llama-3.3",
                        "connection_config", Map.of("max_tokens_cap", 100)))
                .when().post("/v1/backends").then().statusCode(201)
                .body("data.uri", equalTo("scaiinfer:node-eu-01/llama-3.3"))
                .body("data.provider_type", equalTo("scaiinfer"))
                .body("data.model_name", equalTo("llama-3.3"))
                .body("data.connection_config.node_id", equalTo("node-eu-01"))
                .body("data.connection_config.max_tokens_cap", equalTo(100))
                .extract().path("data.id");
        // "*" (or no node) is any node that has the model; a model name with "/" needs the node segment
        as(ADMIN).body(Map.of("name", "u3", "uri", "scaiinfer:*/org/model-7b")).when().post("/v1/backends").then().statusCode(201)
                .body("data.uri", equalTo("scaiinfer:*/org/model-7b")).body("data.model_name", equalTo("org/model-7b"))
                .body("data.connection_config.node_id", nullValue());
        as(ADMIN).body(Map.of("name", "u4", "uri", "scaiinfer:model-7b")).when().post("/v1/backends").then().statusCode(201)
                .body("data.uri", equalTo("scaiinfer:*/model-7b"));
        // re-pinned by a uri in an update, the rest of the stored config kept; then unpinned
        as(ADMIN).body(Map.of("uri", "scaiinfer:node-us-02/llama-3.3")).when().put("/v1/backends/" + pinned).then().statusCode(200)
                .body("data.uri", equalTo("scaiinfer:node-us-02/llama-3.3"))
                .body("data.connection_config.max_tokens_cap", equalTo(100));
        as(ADMIN).body(Map.of("uri", "scaiinfer:*/llama-3.3")).when().put("/v1/backends/" + pinned).then().statusCode(200)
                .body("data.uri", equalTo("scaiinfer:*/llama-3.3"))
                .body("data.connection_config.node_id", nullValue())
                .body("data.connection_config.max_tokens_cap", equalTo(100));
        as(ADMIN).when().get("/v1/backends/" + pinned).then().statusCode(200).body("data.uri", equalTo("scaiinfer:*/llama-3.3"));

        // bad uris and disagreements are 400s on the uri field; nothing is stored or changed by them
        for (String bad : List.of("gpt-4o", "openai:", ":gpt-4o", "nosuch:gpt-4o", "scaiinfer:bad node/x", "scaiinfer:n1/")) {
            as(ADMIN).body(Map.of("name", "bad", "uri", bad)).when().post("/v1/backends").then().statusCode(400)
                    .body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("uri"));
        }
        as(ADMIN).body(Map.of("name", "bad", "uri", "openai:gpt-4o", "provider_type", "mistral")).when().post("/v1/backends")
                .then().statusCode(400).body("error.details[0].field", equalTo("uri"));
        as(ADMIN).body(Map.of("name", "bad", "uri", "openai:gpt-4o", "model_name", "gpt-4o-mini")).when().post("/v1/backends")
                .then().statusCode(400).body("error.details[0].field", equalTo("uri"));
        as(ADMIN).body(Map.of("name", "bad", "uri", "scaiinfer:n1/m", "connection_config", Map.of("node_id", "n2")))
                .when().post("/v1/backends").then().statusCode(400).body("error.details[0].field", equalTo("uri"));
        as(ADMIN).body(Map.of("uri", "openai:")).when().put("/v1/backends/" + pinned).then().statusCode(400);
        as(ADMIN).when().get("/v1/backends/" + pinned).then().statusCode(200).body("data.uri", equalTo("scaiinfer:*/llama-3.3"));
    }

    @Test
    void avatarsUploadAndServePublicly() {
        String modelId = create("/v1/models", Map.of("slug", "avatar-" + RUN + "/m", "display_name", "Face"));
        byte[] png = new byte[300];
        byte[] signature = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        System.arraycopy(signature, 0, png, 0, signature.length);
        String url = given().header("Authorization", "Bearer " + ADMIN).multiPart("file", "face.png", png, "image/png")
                .when().post("/v1/models/" + modelId + "/avatar").then().statusCode(200)
                .body("data.avatar_url", equalTo("/v1/models/" + modelId + "/avatar")).extract().path("data.avatar_url");
        var served = given().when().get(url).then().statusCode(200).contentType("image/png")
                .header("Cache-Control", org.hamcrest.Matchers.containsString("max-age")).extract();
        assertThat(served.asByteArray()).isEqualTo(png);
        given().header("If-None-Match", served.header("ETag")).when().get(url).then().statusCode(304);

        // the declared type counts for nothing: a text file is refused whatever it claims to be
        given().header("Authorization", "Bearer " + ADMIN).multiPart("file", "face.png", "<svg onload=x>".getBytes(), "image/png")
                .when().post("/v1/models/" + modelId + "/avatar").then().statusCode(400).body("error.details[0].field", equalTo("file"));
        given().header("Authorization", "Bearer " + ADMIN).multiPart("file", "big.png", new byte[600_000], "image/png")
                .when().post("/v1/models/" + modelId + "/avatar").then().statusCode(413).body("error.code", equalTo("PAYLOAD_TOO_LARGE"));
        String tenantId = create("/v1/tenants", Map.of("slug", "av-" + RUN, "display_name", "Av"));
        given().header("Authorization", "Bearer " + userKey(tenantId, "tenant_user", null)).multiPart("file", "face.png", png, "image/png")
                .when().post("/v1/models/" + modelId + "/avatar").then().statusCode(403);
        given().when().get("/v1/models/fm_none/avatar").then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));

        // reference §2.3: unauthenticated requests are limited per client address (100/min in tests)
        var first = given().when().get(url).then().statusCode(200).header("X-Scaigrid-Ratelimit-Limit", equalTo("100")).extract();
        long remaining = Long.parseLong(first.header("X-Scaigrid-Ratelimit-Remaining"));
        assertThat(remaining).isBetween(0L, 99L);
        io.restassured.response.Response refused = null;
        for (int i = 0; i <= remaining + 1 && refused == null; i++) {
            var r = given().when().get(url);
            if (r.statusCode() == 429) {
                refused = r;
            } else {
                assertThat(r.statusCode()).isEqualTo(200);
            }
        }
        assertThat(refused).as("the address's limit was reached").isNotNull();
        assertThat(refused.jsonPath().getString("error.code")).isEqualTo("RATE_LIMITED");
        assertThat(refused.jsonPath().getString("error.details.scope")).isEqualTo("ip");
        assertThat(refused.jsonPath().getString("meta.request_id")).startsWith("req_");
        assertThat(Long.parseLong(refused.header("Retry-After"))).isBetween(1L, 60L);
        assertThat(refused.header("X-Scaigrid-Ratelimit-Limit")).isEqualTo("100");
        assertThat(refused.header("X-Scaigrid-Ratelimit-Remaining")).isEqualTo("0");
        // authenticated callers are not affected: their limits are their key's, user's and tenant's
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/models/" + modelId).then().statusCode(200);
    }

    @Test
    void listingPagesWithAnOpaqueCursor() {
        for (int i = 0; i < 3; i++) {
            create("/v1/models", Map.of("slug", "page-" + RUN + "/m" + i, "display_name", "M" + i));
        }
        String cursor = as(ADMIN).when().get("/v1/models?limit=1").then().statusCode(200)
                .body("data.items.size()", equalTo(1)).body("data.next_cursor", notNullValue())
                .extract().path("data.next_cursor");
        String first = as(ADMIN).when().get("/v1/models?limit=1").then().extract().path("data.items[0].slug");
        as(ADMIN).when().get("/v1/models?limit=1&cursor=" + cursor).then().statusCode(200)
                .body("data.items[0].slug", not(equalTo(first)));
        as(ADMIN).when().get("/v1/models?cursor=bogus").then().statusCode(400).body("error.code", equalTo("VALIDATION_ERROR"));
        as(ADMIN).when().get("/v1/models?limit=0").then().statusCode(400);
        as(ADMIN).when().get("/v1/models?modality=smell").then().statusCode(400);
    }
}
