package ai.scaigrid.lookup;

import ai.scaigrid.commons.testing.GatewayCoreTestResource;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import io.smallrye.faulttolerance.api.CircuitBreakerMaintenance;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.BeforeEach;

import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static io.restassured.RestAssured.given;

/**
 * What every lookup-proxy test shares: the real gateway-core (identity, introspection, JWTs of a test
 * issuer, the catalogue) and the WireMock stand-ins for the systems we do not own, reset before each
 * test together with the circuit breakers. Helpers create tenants, users and keys through the
 * gateway's own REST API.
 */
@QuarkusTestResource(value = GatewayCoreTestResource.class, initArgs = @ResourceArg(name = "oidc", value = "true"))
@QuarkusTestResource(UpstreamStandIns.class)
public abstract class LookupTestBase {
    protected static final String CREDENTIALS = "/v1/tenants/me/scaigrid_credentials";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final char[] ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".toCharArray();

    @Inject
    CircuitBreakerMaintenance breakers;

    @BeforeEach
    void resetUpstreamsAndBreakers() {
        for (String name : UpstreamStandIns.NAMES) {
            WireMock wm = upstream(name);
            wm.resetMappings();
            wm.resetRequests();
            wm.resetScenarios();
        }
        breakers.resetAll();
    }

    protected static WireMock upstream(String name) {
        return new WireMock("127.0.0.1", Integer.getInteger(UpstreamStandIns.portProperty(name)));
    }

    protected static WireMock scaiqueue() {
        return upstream("scaiqueue");
    }

    protected static WireMock scaibunker() {
        return upstream("scaibunker");
    }

    protected static WireMock scaigrid() {
        return upstream("scaigrid");
    }

    /** A request to this proxy as the holder of the token. */
    protected static RequestSpecification as(String token) {
        return given().header("Authorization", "Bearer " + token);
    }

    // ------------------------------------------------------------------ the real gateway-core

    protected static String gatewayUrl() {
        return ConfigProvider.getConfig().getValue("scaigrid.test.gateway-url", String.class);
    }

    protected static String gatewayAdminKey() {
        return ConfigProvider.getConfig().getValue("scaigrid.test.gateway-admin-key", String.class);
    }

    /** A request to gateway-core as the holder of the key. */
    protected static RequestSpecification gateway(String key) {
        return given().baseUri(gatewayUrl()).header("Authorization", "Bearer " + key).contentType(ContentType.JSON);
    }

    protected record TestTenant(String id, String slug) {
    }

    /** A fresh tenant in the gateway's default partner. */
    protected static TestTenant newTenant() {
        String slug = "t-" + UUID.randomUUID().toString().substring(0, 12);
        String id = gateway(gatewayAdminKey()).body(Map.of("slug", slug, "display_name", "Tenant " + slug))
                .when().post("/v1/tenants").then().statusCode(201).extract().path("data.id");
        return new TestTenant(id, slug);
    }

    /** A user with the role in the tenant, and an API key of theirs (a real gateway key). */
    protected static String userKey(TestTenant tenant, String role) {
        String userId = gateway(gatewayAdminKey())
                .body(Map.of("tenant_id", tenant.id(), "email", role + "-" + UUID.randomUUID().toString().substring(0, 8) + "@x.test",
                        "roles", List.of(role)))
                .when().post("/v1/users").then().statusCode(201).extract().path("data.id");
        return gateway(gatewayAdminKey()).body(Map.of("name", "lookup test", "assigned_user_id", userId))
                .when().post("/v1/api-keys").then().statusCode(201).extract().path("data.key");
    }

    /** A ScaiKey user JWT of the test issuer for the tenant, with the role claim. */
    protected static String userJwt(TestTenant tenant, String role) {
        return GatewayCoreTestResource.userJwt("usr_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12),
                tenant.id(), role);
    }

    /** A tenant admin stores the tenant's ScaiGrid API key in this proxy. */
    protected static void storeTenantKey(String adminToken, String key) {
        as(adminToken).contentType(ContentType.JSON).body(Map.of("api_key", key))
                .when().post(CREDENTIALS).then().statusCode(org.hamcrest.Matchers.anyOf(
                        org.hamcrest.Matchers.is(201), org.hamcrest.Matchers.is(200)));
    }

    /** A well-formed sgk_ key the stand-ins accept (not a gateway key). */
    protected static String randomSgk() {
        StringBuilder sb = new StringBuilder("sgk_");
        for (int i = 0; i < 36; i++) {
            sb.append(ALNUM[RANDOM.nextInt(ALNUM.length)]);
        }
        return sb.toString();
    }
}
