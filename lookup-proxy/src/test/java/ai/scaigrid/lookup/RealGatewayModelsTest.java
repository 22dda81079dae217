package ai.scaigrid.lookup;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;

/**
 * The Model Picker against our own gateway-core, as in {@code ./scaigrid up}: the proxy runs in the
 * prod profile, ScaiGrid is the real gateway (tenant catalogue, real API keys, real ScaiKey JWT
 * validation, cursor pagination), the credential order is reconfigured (tenant_key before jwt), and the
 * SCAIGRID_API_KEY fallback is set but refused because this is prod.
 */
@QuarkusTest
@TestProfile(RealGatewayModelsTest.ProdAgainstGateway.class)
class RealGatewayModelsTest extends LookupTestBase {

    public static class ProdAgainstGateway implements QuarkusTestProfile {
        @Override
        public String getConfigProfile() {
            return "prod";
        }

        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "scaigrid.kek", "q3bM6xJd0Yb1Yw8m1lqz0m3bq2n0Vq2rV9m0Qm8yq1k=",
                    "scaigrid.lookup.scaiqueue-url", "${scaigrid.test.scaiqueue-url}",
                    "scaigrid.lookup.scaibunker-url", "${scaigrid.test.scaibunker-url}",
                    "scaigrid.lookup.scaigrid-url", "${scaigrid.test.gateway-url}",
                    "scaigrid.lookup.env-api-key", "sgk_EnvFallbackMustBeRefusedInProd000000",
                    "scaigrid.lookup.auth-order", "tenant_key,jwt,env",
                    "scaigrid.lookup.scaigrid-page-size", "2",
                    "quarkus.log.console.json.enabled", "false");
        }
    }

    /** A tenant-scoped model in the gateway catalogue. */
    private static void createModel(TestTenant owner, String slug, int contextWindow) {
        gateway(gatewayAdminKey()).body(Map.of("slug", slug, "display_name", "Model " + slug, "modality", "chat",
                        "context_window", contextWindow, "owner_scope", "tenant", "owner_tenant_id", owner.id()))
                .when().post("/v1/models").then().statusCode(201);
    }

    @Test
    void theModelPickerShowsTheTenantsRealCatalogueThroughItsStoredKey() {
        TestTenant tenant = newTenant();
        TestTenant other = newTenant();
        String prefix = tenant.slug();
        for (int i = 1; i <= 5; i++) {
            createModel(tenant, prefix + "/model-" + i, 1000 * i);
        }
        createModel(other, other.slug() + "/theirs", 4096);
        storeTenantKey(userKey(tenant, "tenant_admin"), userKey(tenant, "tenant_viewer"));

        List<Map<String, Object>> data = as(userKey(tenant, "tenant_viewer")).when().get("/api/v1/scaigrid/models")
                .then().statusCode(200).header("X-Lookup-Credential-Source", "tenant_key")
                .extract().jsonPath().getList("data");
        List<Object> slugs = data.stream().map(m -> m.get("slug")).toList();
        // five models over three pages of two: every page followed; the other tenant's model is not visible
        assertThat(slugs).contains(prefix + "/model-1", prefix + "/model-2", prefix + "/model-3", prefix + "/model-4",
                prefix + "/model-5").doesNotContain(other.slug() + "/theirs");
        Map<String, Object> third = data.stream().filter(m -> (prefix + "/model-3").equals(m.get("slug"))).findFirst().orElseThrow();
        assertThat(third).containsEntry("display_name", "Model " + prefix + "/model-3")
                .containsEntry("modality", "chat").containsEntry("context_window", 3000);
    }

    @Test
    void aScaiKeyJwtIsForwardedVerbatimAndAcceptedByTheGateway() {
        TestTenant tenant = newTenant();
        createModel(tenant, tenant.slug() + "/jwt-visible", 8192);
        // no stored key: tenant_key is skipped, the caller's JWT is the credential
        as(userJwt(tenant, "tenant_viewer")).when().get("/api/v1/scaigrid/models")
                .then().statusCode(200).header("X-Lookup-Credential-Source", "jwt")
                .body("data.slug", org.hamcrest.Matchers.hasItem(tenant.slug() + "/jwt-visible"));
    }

    @Test
    void theConfiguredOrderPutsTheTenantKeyBeforeTheJwt() {
        TestTenant tenant = newTenant();
        storeTenantKey(userKey(tenant, "tenant_admin"), userKey(tenant, "tenant_viewer"));
        as(userJwt(tenant, "tenant_viewer")).when().get("/api/v1/scaigrid/models")
                .then().statusCode(200).header("X-Lookup-Credential-Source", "tenant_key");
    }

    @Test
    void aRevokedStoredKeyIsAScaigridAuthErrorWithAFix() {
        TestTenant tenant = newTenant();
        String admin = userKey(tenant, "tenant_admin");
        String userId = gateway(gatewayAdminKey())
                .body(Map.of("tenant_id", tenant.id(), "email", "k-" + UUID.randomUUID().toString().substring(0, 8) + "@x.test",
                        "roles", List.of("tenant_viewer")))
                .when().post("/v1/users").then().statusCode(201).extract().path("data.id");
        var created = gateway(gatewayAdminKey()).body(Map.of("name", "for the canvas", "assigned_user_id", userId))
                .when().post("/v1/api-keys").then().statusCode(201).extract();
        String key = created.path("data.key");
        String keyId = created.path("data.id");
        storeTenantKey(admin, key);
        String viewer = userKey(tenant, "tenant_viewer");
        as(viewer).when().get("/api/v1/scaigrid/models").then().statusCode(200);

        gateway(gatewayAdminKey()).when().delete("/v1/api-keys/" + keyId).then().statusCode(204);
        // the gateway caches key lookups for a few seconds; then the proxy reports the rejection
        await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(500)).untilAsserted(() ->
                as(viewer).when().get("/api/v1/scaigrid/models").then().statusCode(502)
                        .body("detail.error", equalTo("scaigrid_auth"))
                        .body("detail.fix", containsString("POST /v1/tenants/me/scaigrid_credentials")));
    }

    @Test
    void theEnvFallbackIsRefusedInProd() {
        as(userKey(newTenant(), "tenant_viewer")).when().get("/api/v1/scaiqueue/scopes")
                .then().statusCode(412).body("detail.error", equalTo("missing_credentials"))
                .body("detail.message", containsString("tenant_key, jwt, env"));
        scaiqueue().verifyThat(0, anyRequestedFor(anyUrl()));
    }
}
