package ai.scaigrid.lookup;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.client.WireMock;
import com.github.tomakehurst.wiremock.http.Fault;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import io.restassured.response.Response;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.nullValue;

/**
 * Seed 002, row by row, against the real service: every endpoint × every credential source (the env
 * fallback in {@link EnvKeyFallbackTest}) × every upstream shape, every error row of the seed's table
 * for every endpoint, 412 when no credential exists, and the permission rules.
 */
@QuarkusTest
class LookupMatrixTest extends LookupTestBase {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Put into upstream error bodies; must never reach the caller. */
    private static final String MARKER = "INTERNAL-MARKER-7f3a";

    /** Callers and credentials, made once through the real gateway. */
    private record Fixture(String jwtViewer, String keyedViewer, String storedKey, String bareViewer, String keyedUser) {
    }

    private static Fixture fixture;

    private static synchronized Fixture fixture() {
        if (fixture == null) {
            TestTenant jwtTenant = newTenant();
            TestTenant keyed = newTenant();
            String storedKey = randomSgk();
            storeTenantKey(userKey(keyed, "tenant_admin"), storedKey);
            TestTenant bare = newTenant();
            fixture = new Fixture(userJwt(jwtTenant, "tenant_viewer"), userKey(keyed, "tenant_viewer"), storedKey,
                    userKey(bare, "tenant_viewer"), userKey(keyed, "tenant_user"));
        }
        return fixture;
    }

    enum Source { JWT, TENANT_KEY }

    static Stream<Arguments> everyEndpointSourceAndShape() {
        List<Arguments> out = new ArrayList<>();
        for (Endpoint e : Endpoint.values()) {
            for (Source s : Source.values()) {
                for (Endpoint.Shape shape : Endpoint.Shape.values()) {
                    out.add(Arguments.of(e, s, shape));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} with {1} from a {2} upstream")
    @MethodSource("everyEndpointSourceAndShape")
    void listsAreNormalisedAndTheRightCredentialIsForwarded(Endpoint endpoint, Source source, Endpoint.Shape shape) throws Exception {
        Fixture f = fixture();
        String caller = source == Source.JWT ? f.jwtViewer() : f.keyedViewer();
        String upstreamCredential = source == Source.JWT ? f.jwtViewer() : f.storedKey();
        endpoint.upstream().register(get(urlPathEqualTo(endpoint.upstreamPath))
                .willReturn(okJson(JSON.writeValueAsString(endpoint.body(shape)))));

        String requestId = "req_matrix_" + endpoint.name().toLowerCase() + "_" + shape.name().toLowerCase();
        List<Map<String, Object>> data = as(caller).header("X-Request-Id", requestId)
                .when().get(endpoint.proxyPath)
                .then().statusCode(200)
                .header("X-Request-Id", requestId)
                .header("X-Lookup-Credential-Source", source == Source.JWT ? "jwt" : "tenant_key")
                .header("Server-Timing", containsString("upstream;dur="))
                .extract().jsonPath().getList("data");

        // one output shape whatever the upstream spoke; unknown fields passed through, nothing invented
        assertThat(data).isEqualTo(endpoint.items);
        // the JWT verbatim, or the tenant's stored key; the request id travels along
        endpoint.upstream().verifyThat(1, getRequestedFor(urlPathEqualTo(endpoint.upstreamPath))
                .withHeader("Authorization", WireMock.equalTo("Bearer " + upstreamCredential))
                .withHeader("X-Request-Id", WireMock.equalTo(requestId)));
    }

    /** Seed 002's error table, plus the transport failures; each answered 502 with a structured detail. */
    enum Row {
        UNAUTHORIZED(401, "{\"error\":{\"code\":\"invalid_token\",\"message\":\"token expired\"},\"trace\":\"" + MARKER + "\"}",
                "auth", "invalid_token: token expired", null, null, 1),
        FORBIDDEN(403, "{\"detail\":{\"error\":\"permission_denied\",\"message\":\"need the view permission\"},\"db\":\"" + MARKER + "\"}",
                "auth", "permission_denied: need the view permission", null, null, 1),
        ECHOED_CREDENTIAL(401, "{\"detail\":\"invalid key {credential} for " + "tenant\"}",
                "auth", "invalid key [redacted] for tenant", null, null, 1),
        NOT_FOUND(404, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"Scope not found\"},\"sql\":\"" + MARKER + "\"}",
                "api", "NOT_FOUND: Scope not found", 404, "NOT_FOUND", 1),
        RATE_LIMITED(429, "{\"error\":{\"code\":\"RATE_LIMITED\",\"message\":\"slow down\"}}",
                "api", "RATE_LIMITED: slow down", 429, "RATE_LIMITED", 1),
        SERVER_ERROR(500, "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"Traceback (most recent call last):\\n  File \\\"/srv/app.py\\\" "
                + MARKER + "\"}}", "api", "INTERNAL", 500, "INTERNAL", 1),
        UNAVAILABLE_HTML(503, "<html><body>" + MARKER + "</body></html>", "api", null, 503, null, 2),
        TIMEOUT(-1, null, "api", null, null, "upstream_timeout", 1),
        CONNECTION_RESET(-2, null, "api", null, null, "upstream_unreachable", 2),
        NOT_A_LIST(200, "{\"data\":\"nope\",\"x\":\"" + MARKER + "\"}", "api", null, 200, "UPSTREAM_SHAPE_MISMATCH", 1),
        NOT_JSON(200, MARKER + " is not json", "api", null, 200, "UPSTREAM_SHAPE_MISMATCH", 1);

        final int upstreamStatus;
        final String upstreamBody;
        final String kind;
        final String message;
        final Integer status;
        final String code;
        /** Upstream requests made: one, or two when the failure is retried (connection failures, 502/503/504). */
        final int attempts;

        Row(int upstreamStatus, String upstreamBody, String kind, String message, Integer status, String code, int attempts) {
            this.upstreamStatus = upstreamStatus;
            this.upstreamBody = upstreamBody;
            this.kind = kind;
            this.message = message;
            this.status = status;
            this.code = code;
            this.attempts = attempts;
        }

        ResponseDefinitionBuilder response(String credential) {
            return switch (this) {
                case TIMEOUT -> okJson("{\"data\":[]}").withFixedDelay(4_000);
                case CONNECTION_RESET -> aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER);
                default -> aResponse().withStatus(upstreamStatus)
                        .withHeader("Content-Type", upstreamBody.startsWith("{") ? "application/json" : "text/html")
                        .withBody(upstreamBody.replace("{credential}", credential));
            };
        }
    }

    static Stream<Arguments> everyEndpointAndErrorRow() {
        List<Arguments> out = new ArrayList<>();
        for (Endpoint e : Endpoint.values()) {
            for (Row r : Row.values()) {
                out.add(Arguments.of(e, r));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} when the upstream gives {1}")
    @MethodSource("everyEndpointAndErrorRow")
    void upstreamErrorsAreStructured502s(Endpoint endpoint, Row row) {
        Fixture f = fixture();
        endpoint.upstream().register(get(urlPathEqualTo(endpoint.upstreamPath)).willReturn(row.response(f.storedKey())));

        long started = System.nanoTime();
        Response response = as(f.keyedViewer()).header("X-Request-Id", "req_err_1").when().get(endpoint.proxyPath);
        long millis = (System.nanoTime() - started) / 1_000_000;

        response.then().statusCode(502)
                .header("X-Request-Id", "req_err_1")
                .body("detail.error", equalTo(endpoint.errorPrefix + "_" + row.kind))
                .body("meta.request_id", equalTo("req_err_1"));
        JsonPath body = response.jsonPath();
        Map<String, Object> root = body.getMap("");
        Map<String, Object> detail = body.getMap("detail");
        // only the documented fields: nothing else from the upstream body reaches the browser
        assertThat(root).containsOnlyKeys("detail", "meta");
        assertThat(detail).containsKeys("error", "message", "fix");
        assertThat(detail.keySet()).isSubsetOf("error", "message", "fix", "status", "code");
        assertThat(response.asString()).doesNotContain(MARKER).doesNotContain(f.storedKey()).doesNotContain("Traceback");
        assertThat((String) detail.get("fix")).isNotBlank();
        if (row.message != null) {
            assertThat(detail.get("message")).isEqualTo(row.message);
        }
        assertThat(detail.get("status")).isEqualTo(row.status);
        assertThat(detail.get("code")).isEqualTo(row.code);
        if (row == Row.FORBIDDEN) {
            String permission = switch (endpoint) {
                case SCOPES, QUEUES -> "scaiqueue:view";
                case BUNKERS -> "scaibunker:view";
                case MODELS -> "models:list";
            };
            assertThat(detail.get("fix")).isEqualTo("Caller needs the `" + permission + "` permission on this tenant.");
        }
        if (row == Row.UNAUTHORIZED) {
            assertThat((String) detail.get("fix")).contains("POST /v1/tenants/me/scaigrid_credentials");
        }
        if (row == Row.TIMEOUT) {
            // bounded by the 1 s attempt timeout of the test profile, and not retried
            assertThat(millis).isLessThan(2_500);
        }
        endpoint.upstream().verifyThat(row.attempts, getRequestedFor(urlPathEqualTo(endpoint.upstreamPath)));
    }

    @ParameterizedTest
    @EnumSource(Endpoint.class)
    void noCredentialAnywhereIs412WithAFix(Endpoint endpoint) {
        as(fixture().bareViewer()).header("X-Request-Id", "req_412").when().get(endpoint.proxyPath)
                .then().statusCode(412)
                .header("X-Request-Id", "req_412")
                .body("detail.error", equalTo("missing_credentials"))
                .body("detail.fix", containsString("POST /v1/tenants/me/scaigrid_credentials"))
                .body("meta.request_id", equalTo("req_412"));
        endpoint.upstream().verifyThat(0, anyRequestedFor(anyUrl()));
    }

    @ParameterizedTest
    @EnumSource(Endpoint.class)
    void scaicoreViewIsRequired(Endpoint endpoint) {
        // tenant_user holds no scaicore:view: the standard 403 envelope, and no upstream call
        as(fixture().keyedUser()).when().get(endpoint.proxyPath)
                .then().statusCode(403)
                .body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"))
                .body("error.details.required_permission", hasItem("scaicore:view"));
        given().when().get(endpoint.proxyPath).then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_MISSING"));
        as("sgk_" + "x".repeat(36)).when().get(endpoint.proxyPath).then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID"));
        endpoint.upstream().verifyThat(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void aMalformedScopeIdIsRefusedBeforeAnyUpstreamCall() {
        as(fixture().keyedViewer()).when().get("/api/v1/scaiqueue/scopes/..%2F..%2Fadmin/queues")
                .then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.details[0].field", equalTo("scope_id"));
        scaiqueue().verifyThat(0, anyRequestedFor(anyUrl()));
    }

    @Test
    void scaigridModelPagesAreFollowedToTheEnd() throws Exception {
        Fixture f = fixture();
        List<Map<String, Object>> all = Endpoint.MODELS.items;
        scaigrid().register(get(urlPathEqualTo("/v1/models")).atPriority(5)
                .willReturn(okJson(JSON.writeValueAsString(Map.of("status", "ok",
                        "data", Map.of("items", all.subList(0, 1), "next_cursor", "page-2"))))));
        scaigrid().register(get(urlPathEqualTo("/v1/models")).atPriority(1)
                .withQueryParam("cursor", WireMock.equalTo("page-2"))
                .willReturn(okJson(JSON.writeValueAsString(Map.of("status", "ok",
                        "data", Map.of("items", all.subList(1, 3), "next_cursor", "page-3"))))));
        scaigrid().register(get(urlPathEqualTo("/v1/models")).atPriority(1)
                .withQueryParam("cursor", WireMock.equalTo("page-3"))
                .willReturn(okJson(JSON.writeValueAsString(Map.of("status", "ok", "data", Map.of("items", List.of()))))));

        List<Map<String, Object>> data = as(f.keyedViewer()).when().get("/api/v1/scaigrid/models")
                .then().statusCode(200).extract().jsonPath().getList("data");
        assertThat(data).isEqualTo(all);
        scaigrid().verifyThat(3, getRequestedFor(urlPathEqualTo("/v1/models")).withQueryParam("limit", WireMock.equalTo("200")));
    }

    @Test
    void anOpenAiListKeepsExtraFieldsButNotItsTypeTag() throws Exception {
        scaigrid().register(get(urlPathEqualTo("/v1/models")).willReturn(okJson(JSON.writeValueAsString(Map.of(
                "object", "list",
                "data", List.of(Map.of("id", "openai/gpt-4o", "object", "model", "owned_by", "openai", "created", 1715367049)))))));
        as(fixture().keyedViewer()).when().get("/api/v1/scaigrid/models")
                .then().statusCode(200)
                .body("data[0].slug", equalTo("openai/gpt-4o"))
                .body("data[0].owned_by", equalTo("openai"))
                .body("data[0].created", equalTo(1715367049))
                .body("data[0].id", nullValue())
                .body("data[0].object", nullValue());
    }
}
