package ai.scaigrid.commons.it;

import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;

/** The shared REST authentication: secure by default, one 401 for every failure, permissions as 403. */
@QuarkusTest
class BearerAuthFilterTest {

    @Test
    void missingTokenIs401Missing() {
        given().when().get("/secured/whoami").then().statusCode(401)
                .body("error.code", equalTo("AUTH_TOKEN_MISSING"))
                .body("meta.request_id", org.hamcrest.Matchers.notNullValue());
    }

    @Test
    void everyBadCredentialGetsTheSameAnswer() {
        String wrongScheme = given().header("Authorization", "Basic dXNlcjpwYXNz").when().get("/secured/whoami")
                .then().statusCode(401).extract().path("error.message");
        String unknown = given().header("Authorization", "Bearer nope").when().get("/secured/whoami")
                .then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID")).extract().path("error.message");
        String empty = given().header("Authorization", "Bearer ").when().get("/secured/whoami")
                .then().statusCode(401).extract().path("error.message");
        org.assertj.core.api.Assertions.assertThat(wrongScheme).isEqualTo(unknown).isEqualTo(empty);
    }

    @Test
    void validTokenReachesTheEndpointAsItsCaller() {
        given().header("Authorization", "Bearer token-user").when().get("/secured/whoami")
                .then().statusCode(200).body("data.user_id", equalTo("usr_tenant_user"));
    }

    @Test
    void permissionIsEnforced() {
        given().header("Authorization", "Bearer token-user").when().get("/secured/manage")
                .then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
        given().header("Authorization", "bearer token-admin").when().get("/secured/manage")
                .then().statusCode(200).body("data", equalTo("managed"));
    }

    @Test
    void identityOutageIsA503NotA401() {
        given().header("Authorization", "Bearer token-down").when().get("/secured/whoami")
                .then().statusCode(503).body("error.code", equalTo("SERVICE_UNAVAILABLE"));
    }

    @Test
    void publicEndpointsNeedNoToken() {
        given().when().get("/test/echo?text=a").then().statusCode(200);
    }
}
