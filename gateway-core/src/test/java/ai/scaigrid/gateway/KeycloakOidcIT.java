package ai.scaigrid.gateway;

import ai.scaigrid.commons.testing.EmbeddedPostgresTestResource;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusIntegrationTest;
import org.junit.jupiter.api.Test;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.startsWith;

/**
 * End to end with a real OIDC provider: the packaged gateway (prod profile) discovers Keycloak's
 * JWKS, a user gets a token from Keycloak's token endpoint with a password grant, and calls the
 * gateway with it. The one slow identity test; it runs in the integration-test phase.
 */
@QuarkusIntegrationTest
@QuarkusTestResource(value = EmbeddedPostgresTestResource.class, restrictToAnnotatedClass = true)
@QuarkusTestResource(value = KeycloakTestResource.class, restrictToAnnotatedClass = true)
class KeycloakOidcIT {

    @Test
    void keycloakUserTokenIsAcceptedAndTheUserProvisioned() throws Exception {
        String token = KeycloakTestResource.userToken();
        given().header("Authorization", "Bearer " + token).when().get("/v1/me")
                .then().statusCode(200)
                .body("data.credential_type", equalTo("user_jwt"))
                .body("data.roles", hasItem("tenant_admin"))
                .body("data.user_id", startsWith("usr_"));
        // the role claim from Keycloak grants tenant-admin permissions in ScaiGrid
        given().header("Authorization", "Bearer " + token).when().get("/v1/users")
                .then().statusCode(200).body("data.items.email", hasItem("alice@example.test"));
    }

    @Test
    void tamperedKeycloakTokenIsRefused() throws Exception {
        String token = KeycloakTestResource.userToken();
        String[] parts = token.split("\\.");
        String sig = parts[2];
        String tampered = parts[0] + "." + parts[1] + "." + (sig.charAt(0) == 'A' ? "B" : "A") + sig.substring(1);
        given().header("Authorization", "Bearer " + tampered).when().get("/v1/me")
                .then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID"));
    }
}
