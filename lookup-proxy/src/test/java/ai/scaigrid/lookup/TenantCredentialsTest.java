package ai.scaigrid.lookup;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;

/**
 * {@code /v1/tenants/me/scaigrid_credentials}: a tenant admin stores, replaces and deletes the tenant's
 * key; it is sealed at rest, never returned, never logged; only admins may touch it; and a tenant never
 * reads another tenant's key or gets results fetched with it.
 */
@QuarkusTest
class TenantCredentialsTest extends LookupTestBase {
    private static final String SCOPES = "/api/v1/scaiqueue/scopes";

    @Inject
    Pool pool;

    private static void stubScopes() {
        scaiqueue().register(get(urlPathEqualTo("/v1/scopes")).willReturn(okJson("{\"data\":[{\"id\":\"sc_1\",\"slug\":\"s\"}]}")));
    }

    private static void assertLookupUsed(String caller, String key) {
        scaiqueue().resetRequests();
        as(caller).when().get(SCOPES).then().statusCode(200).header("X-Lookup-Credential-Source", "tenant_key");
        scaiqueue().verifyThat(1, getRequestedFor(urlPathEqualTo("/v1/scopes"))
                .withHeader("Authorization", com.github.tomakehurst.wiremock.client.WireMock.equalTo("Bearer " + key)));
    }

    @Test
    void anAdminStoresReplacesAndDeletesTheKeyWhichIsSealedAndNeverShown() {
        TestTenant tenant = newTenant();
        String admin = userKey(tenant, "tenant_admin");
        String viewer = userKey(tenant, "tenant_viewer");
        stubScopes();

        as(admin).when().get(CREDENTIALS).then().statusCode(200)
                .body("data.configured", equalTo(false)).body("data.tenant_id", equalTo(tenant.id()));

        String first = randomSgk();
        String created = as(admin).contentType(ContentType.JSON).body(Map.of("api_key", first))
                .when().post(CREDENTIALS).then().statusCode(201)
                .body("data.configured", equalTo(true))
                .body("data.tenant_id", equalTo(tenant.id()))
                .body("data.hint", equalTo(first.substring(0, 8)))
                .body("data.created_at", notNullValue())
                .extract().asString();
        assertThat(created).doesNotContain(first);
        assertThat(as(admin).when().get(CREDENTIALS).then().statusCode(200)
                .body("data.configured", equalTo(true)).body("data.api_key", nullValue())
                .extract().asString()).doesNotContain(first);

        // at rest: an envelope-encrypted value, not the key
        String sealed = pool.preparedQuery("SELECT sealed_value FROM tenant_secrets WHERE tenant_id = $1 AND name = 'scaigrid_api_key'")
                .execute(Tuple.of(tenant.id())).await().atMost(Duration.ofSeconds(5)).iterator().next().getString(0);
        assertThat(sealed).startsWith("v1.").doesNotContain(first).doesNotContain(first.substring(4));

        assertLookupUsed(viewer, first);

        String second = randomSgk();
        as(admin).contentType(ContentType.JSON).body(Map.of("api_key", second))
                .when().post(CREDENTIALS).then().statusCode(200).body("data.hint", equalTo(second.substring(0, 8)));
        // replaced on this replica at once, despite the cache
        assertLookupUsed(viewer, second);

        as(admin).when().delete(CREDENTIALS).then().statusCode(204);
        as(viewer).when().get(SCOPES).then().statusCode(412).body("detail.error", equalTo("missing_credentials"));
        as(admin).when().delete(CREDENTIALS).then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));
        as(admin).when().get(CREDENTIALS).then().statusCode(200).body("data.configured", equalTo(false));
    }

    @Test
    void badInputIsAPrecise400ThatNeverEchoesTheValue() {
        String admin = userKey(newTenant(), "tenant_admin");
        as(admin).contentType(ContentType.JSON).when().post(CREDENTIALS)
                .then().statusCode(400).body("error.code", equalTo("VALIDATION_ERROR")).body("error.details[0].field", equalTo("body"));
        as(admin).contentType(ContentType.JSON).body(Map.of("other", "x")).when().post(CREDENTIALS)
                .then().statusCode(400).body("error.details[0].field", equalTo("api_key"));
        String pasted = "sk-live-0123456789abcdefSECRET";
        String answer = as(admin).contentType(ContentType.JSON).body(Map.of("api_key", pasted)).when().post(CREDENTIALS)
                .then().statusCode(400).body("error.details[0].field", equalTo("api_key")).extract().asString();
        assertThat(answer).doesNotContain(pasted);
        as(admin).contentType(ContentType.JSON).body("{\"api_key\": ").when().post(CREDENTIALS)
                .then().statusCode(400).body("error.code", equalTo("VALIDATION_ERROR"));
        as(admin).contentType(ContentType.JSON).body(Map.of("api_key", List.of("sgk_x"))).when().post(CREDENTIALS)
                .then().statusCode(400).body("error.code", equalTo("VALIDATION_ERROR"));
    }

    @Test
    void onlyTenantAdminsManageTheKey() {
        TestTenant tenant = newTenant();
        for (String role : List.of("tenant_viewer", "tenant_user")) {
            String key = userKey(tenant, role);
            as(key).contentType(ContentType.JSON).body(Map.of("api_key", randomSgk())).when().post(CREDENTIALS)
                    .then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
            as(key).when().get(CREDENTIALS).then().statusCode(403);
            as(key).when().delete(CREDENTIALS).then().statusCode(403);
        }
        given().contentType(ContentType.JSON).body(Map.of("api_key", randomSgk())).when().post(CREDENTIALS)
                .then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_MISSING"));
        as(userKey(tenant, "tenant_viewer")).when().get(CREDENTIALS).then().statusCode(403);

        // a tenant admin signed in with ScaiKey may, for their own tenant
        String adminJwt = userJwt(tenant, "tenant_admin");
        as(adminJwt).contentType(ContentType.JSON).body(Map.of("api_key", randomSgk())).when().post(CREDENTIALS)
                .then().statusCode(201).body("data.tenant_id", equalTo(tenant.id()));
        as(adminJwt).when().delete(CREDENTIALS).then().statusCode(204);
    }

    @Test
    void aTenantNeverReadsAnotherTenantsKeyNorGetsResultsFetchedWithIt() {
        TestTenant a = newTenant();
        TestTenant b = newTenant();
        String adminA = userKey(a, "tenant_admin");
        String adminB = userKey(b, "tenant_admin");
        String viewerA = userKey(a, "tenant_viewer");
        String viewerB = userKey(b, "tenant_viewer");
        String keyA = randomSgk();
        storeTenantKey(adminA, keyA);
        stubScopes();

        // B has none: 412, and nothing was fetched with A's key
        as(viewerB).when().get(SCOPES).then().statusCode(412);
        scaiqueue().verifyThat(0, anyRequestedFor(anyUrl()));
        as(adminB).when().get(CREDENTIALS).then().statusCode(200)
                .body("data.configured", equalTo(false)).body("data.tenant_id", equalTo(b.id())).body("data.hint", nullValue());
        // "me" is always the caller's tenant: B's delete cannot touch A's key
        as(adminB).when().delete(CREDENTIALS).then().statusCode(404);
        assertLookupUsed(viewerA, keyA);

        String keyB = randomSgk();
        storeTenantKey(adminB, keyB);
        assertLookupUsed(viewerB, keyB);
        assertLookupUsed(viewerA, keyA);
        as(adminB).when().get(CREDENTIALS).then().body("data.hint", equalTo(keyB.substring(0, 8)))
                .body("data.hint", not(equalTo(keyA.substring(0, 8))));
    }

    @Test
    void aCiphertextCopiedIntoAnotherTenantsRowDoesNotOpen() {
        TestTenant a = newTenant();
        TestTenant b = newTenant();
        String keyA = randomSgk();
        storeTenantKey(userKey(a, "tenant_admin"), keyA);
        String viewerB = userKey(b, "tenant_viewer");
        stubScopes();
        // someone with database access copies A's sealed key into B's row
        pool.preparedQuery("""
                        INSERT INTO tenant_secrets (tenant_id, name, sealed_value, hint, created_by)
                        SELECT $2, name, sealed_value, hint, 'attacker' FROM tenant_secrets WHERE tenant_id = $1""")
                .execute(Tuple.of(a.id(), b.id())).await().atMost(Duration.ofSeconds(5));

        // the value is bound to tenants/A/scaigrid_api_key: for B it is no key at all
        as(viewerB).when().get(SCOPES).then().statusCode(412).body("detail.error", equalTo("missing_credentials"));
        scaiqueue().verifyThat(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void theKeyIsNeverLogged() {
        TestTenant tenant = newTenant();
        String admin = userKey(tenant, "tenant_admin");
        String viewer = userKey(tenant, "tenant_viewer");
        String key = randomSgk();
        LogCapture capture = new LogCapture();
        try {
            storeTenantKey(admin, key);
            stubScopes();
            as(viewer).when().get(SCOPES).then().statusCode(200);
            // an upstream that echoes the key in its error
            scaiqueue().register(get(urlPathEqualTo("/v1/scopes")).atPriority(1).willReturn(aResponse().withStatus(401)
                    .withHeader("Content-Type", "application/json").withBody("{\"detail\":\"bad key " + key + "\"}")));
            String answer = as(viewer).when().get(SCOPES).then().statusCode(502)
                    .body("detail.error", equalTo("scaiqueue_auth")).extract().asString();
            assertThat(answer).doesNotContain(key);
            as(admin).when().delete(CREDENTIALS).then().statusCode(204);
        } finally {
            capture.close();
        }
        assertThat(capture.lines()).isNotEmpty()
                .noneMatch(line -> line.message().contains(key) || line.message().contains(key.substring(4)));
    }
}
