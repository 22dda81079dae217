package ai.scaigrid.gateway.identity;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.notNullValue;

/** Gateway-issued service tokens: who may issue them, their shape, and that REST refuses them. */
@QuarkusTest
class ServiceTokenTest {

    private static io.restassured.path.json.JsonPath issue(Map<String, Object> body) {
        return given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON).body(body)
                .when().post("/v1/service-tokens").then().statusCode(201).extract().jsonPath();
    }

    @Test
    void superAdminIssuesAScopedTokenThatRestRefuses() {
        var issued = issue(Map.of("name", "node-eu-01", "scopes", List.of("scaiinfer.node"), "ttl_seconds", 3600));
        String token = issued.getString("data.token");
        String kid = given().when().get("/.well-known/jwks.json").then().statusCode(200)
                .body("keys[0].kty", equalTo("RSA")).body("keys[0].d", equalTo(null))
                .extract().path("keys[0].kid");
        String header = new String(java.util.Base64.getUrlDecoder().decode(token.split("\\.")[0]));
        org.assertj.core.api.Assertions.assertThat(header).contains(kid);
        given().header("Authorization", "Bearer " + token).when().get("/v1/me")
                .then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID"));
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/service-tokens")
                .then().statusCode(200).body("data.items.id", hasItem(issued.getString("data.id")))
                .body("data.items[0].token", equalTo(null));
    }

    @Test
    void onlyKnownScopesAndSaneLifetimes() {
        given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "x", "scopes", List.of("everything")))
                .when().post("/v1/service-tokens").then().statusCode(400).body("error.details[0].field", equalTo("scopes"));
        given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "x", "scopes", List.of("scaimind.node"), "ttl_seconds", 5))
                .when().post("/v1/service-tokens").then().statusCode(400).body("error.details[0].field", equalTo("ttl_seconds"));
    }

    @Test
    void revocationIsRecorded() {
        String id = issue(Map.of("name", "temp", "scopes", List.of("scaicore.runtime"))).getString("data.id");
        given().header("Authorization", "Bearer " + ADMIN).when().delete("/v1/service-tokens/" + id).then().statusCode(204);
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/service-tokens")
                .then().body("data.items.find { it.id == '" + id + "' }.revoked_at", notNullValue());
        given().header("Authorization", "Bearer " + ADMIN).when().delete("/v1/service-tokens/svt_unknown").then().statusCode(404);
    }
}
