package ai.scaigrid.gateway.identity;

import ai.scaigrid.proto.scaigrid.v1.CredentialType;
import ai.scaigrid.proto.scaigrid.v1.IdentityServiceGrpc;
import ai.scaigrid.proto.scaigrid.v1.IntrospectRequest;
import ai.scaigrid.proto.scaigrid.v1.IntrospectResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

/** scaigrid.v1.IdentityService over a real gRPC channel: what module services learn about a credential. */
@QuarkusTest
class IdentityIntrospectionTest {
    private static ManagedChannel channel;
    private static IdentityServiceGrpc.IdentityServiceBlockingStub identity;

    @BeforeAll
    static void open() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
        identity = IdentityServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void close() {
        channel.shutdownNow();
    }

    private static IntrospectResponse introspect(String token, String service) {
        return identity.introspect(IntrospectRequest.newBuilder().setToken(token).setRequiredService(service).build());
    }

    @Test
    void apiKeyResolvesToItsCaller() {
        IntrospectResponse r = introspect(ADMIN, "");
        assertThat(r.getActive()).isTrue();
        assertThat(r.getCredentialType()).isEqualTo(CredentialType.CREDENTIAL_TYPE_API_KEY);
        assertThat(r.getCaller().getRolesList()).contains("super_admin");
        assertThat(r.getCaller().getPermissionsList()).contains("scaimind:manage", "models:use");
        assertThat(r.getCaller().getApiKeyId()).startsWith("apikey_");
        assertThat(r.getCacheTtl().getSeconds()).isBetween(1L, 30L);
    }

    @Test
    void unknownAndRevokedCredentialsAreInactiveNotErrors() {
        IntrospectResponse unknown = introspect("sgk_" + "Z".repeat(40), "");
        assertThat(unknown.getActive()).isFalse();
        assertThat(unknown.getErrorCode()).isEqualTo("AUTH_TOKEN_INVALID");
        assertThat(unknown.getCaller().getUserId()).isEmpty();

        var created = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "to revoke")).when().post("/v1/api-keys").then().statusCode(201).extract().jsonPath();
        assertThat(introspect(created.getString("data.key"), "").getActive()).isTrue();
        given().header("Authorization", "Bearer " + ADMIN).when().delete("/v1/api-keys/" + created.getString("data.id"))
                .then().statusCode(204);
        assertThat(introspect(created.getString("data.key"), "").getActive()).isFalse();
    }

    @Test
    void serviceTokensCarryScopesAndAreCheckedAgainstTheRequiredOne() {
        String token = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "mind-node", "scopes", List.of("scaimind.node")))
                .when().post("/v1/service-tokens").then().statusCode(201).extract().path("data.token");
        IntrospectResponse ok = introspect(token, "scaimind.node");
        assertThat(ok.getActive()).isTrue();
        assertThat(ok.getCredentialType()).isEqualTo(CredentialType.CREDENTIAL_TYPE_SERVICE_TOKEN);
        assertThat(ok.getCaller().getServiceScopesList()).containsExactly("scaimind.node");
        IntrospectResponse wrongScope = introspect(token, "scaiinfer.node");
        assertThat(wrongScope.getActive()).isFalse();
        assertThat(wrongScope.getErrorCode()).isEqualTo("AUTH_INSUFFICIENT_SCOPE");
        // an API key is never a service credential
        assertThat(introspect(ADMIN, "scaimind.node").getActive()).isFalse();
    }
}
