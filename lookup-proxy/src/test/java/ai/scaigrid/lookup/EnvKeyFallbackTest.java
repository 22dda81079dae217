package ai.scaigrid.lookup;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.WireMock;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.stream.Stream;

import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The third credential source: the SCAIGRID_API_KEY fallback (allowed in dev and test), for every
 * endpoint and upstream shape; the seed's precedence when several sources exist; and the loud log
 * line on every use.
 */
@QuarkusTest
@TestProfile(EnvKeyFallbackTest.EnvKeyProfile.class)
class EnvKeyFallbackTest extends LookupTestBase {
    static final String ENV_KEY = "sgk_EnvFallbackKeyForTests00000000000000";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static class EnvKeyProfile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("scaigrid.lookup.env-api-key", ENV_KEY);
        }
    }

    static Stream<Arguments> everyEndpointAndShape() {
        List<Arguments> out = new ArrayList<>();
        for (Endpoint e : Endpoint.values()) {
            for (Endpoint.Shape shape : Endpoint.Shape.values()) {
                out.add(Arguments.of(e, shape));
            }
        }
        return out.stream();
    }

    private static String bareViewer;

    private static synchronized String bareViewer() {
        if (bareViewer == null) {
            bareViewer = userKey(newTenant(), "tenant_viewer");
        }
        return bareViewer;
    }

    @ParameterizedTest(name = "{0} from a {1} upstream")
    @MethodSource("everyEndpointAndShape")
    void withoutJwtOrTenantKeyTheEnvKeyIsUsed(Endpoint endpoint, Endpoint.Shape shape) throws Exception {
        endpoint.upstream().register(get(urlPathEqualTo(endpoint.upstreamPath))
                .willReturn(okJson(JSON.writeValueAsString(endpoint.body(shape)))));
        List<Map<String, Object>> data = as(bareViewer()).when().get(endpoint.proxyPath)
                .then().statusCode(200).header("X-Lookup-Credential-Source", "env")
                .extract().jsonPath().getList("data");
        assertThat(data).isEqualTo(endpoint.items);
        endpoint.upstream().verifyThat(1, getRequestedFor(urlPathEqualTo(endpoint.upstreamPath))
                .withHeader("Authorization", WireMock.equalTo("Bearer " + ENV_KEY)));
    }

    @Test
    void theSeedsPrecedenceJwtThenTenantKeyThenEnv() {
        TestTenant tenant = newTenant();
        String stored = randomSgk();
        storeTenantKey(userKey(tenant, "tenant_admin"), stored);
        String jwt = userJwt(tenant, "tenant_viewer");
        scaiqueue().register(get(urlPathEqualTo("/v1/scopes")).willReturn(okJson("{\"data\":[]}")));

        as(jwt).when().get("/api/v1/scaiqueue/scopes").then().statusCode(200).header("X-Lookup-Credential-Source", "jwt");
        as(userKey(tenant, "tenant_viewer")).when().get("/api/v1/scaiqueue/scopes")
                .then().statusCode(200).header("X-Lookup-Credential-Source", "tenant_key");
        as(bareViewer()).when().get("/api/v1/scaiqueue/scopes")
                .then().statusCode(200).header("X-Lookup-Credential-Source", "env");

        scaiqueue().verifyThat(1, getRequestedFor(urlPathEqualTo("/v1/scopes")).withHeader("Authorization", WireMock.equalTo("Bearer " + jwt)));
        scaiqueue().verifyThat(1, getRequestedFor(urlPathEqualTo("/v1/scopes")).withHeader("Authorization", WireMock.equalTo("Bearer " + stored)));
        scaiqueue().verifyThat(1, getRequestedFor(urlPathEqualTo("/v1/scopes")).withHeader("Authorization", WireMock.equalTo("Bearer " + ENV_KEY)));
    }

    @Test
    void everyUseOfTheEnvKeyIsLoggedAsAWarningWithoutTheKey() {
        scaibunker().register(get(urlPathEqualTo("/v1/bunkers")).willReturn(okJson("{\"data\":[]}")));
        try (LogCapture capture = new LogCapture()) {
            as(bareViewer()).when().get("/api/v1/scaibunker/bunkers").then().statusCode(200);
            as(bareViewer()).when().get("/api/v1/scaibunker/bunkers").then().statusCode(200);
            List<LogCapture.Line> warnings = capture.lines().stream()
                    .filter(l -> l.level().intValue() >= Level.WARNING.intValue() && l.message().startsWith("using the SCAIGRID_API_KEY fallback"))
                    .toList();
            assertThat(warnings).hasSize(2);
            assertThat(capture.lines()).noneMatch(l -> l.message().contains(ENV_KEY));
        }
    }
}
