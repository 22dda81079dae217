package ai.scaigrid.gateway.identity;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.matchesPattern;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

/** Key lifecycle against the real gateway and database: create → use → list → revoke → refused. */
@QuarkusTest
class ApiKeyLifecycleTest {
    static final String ADMIN = ai.scaigrid.gateway.TestKeys.ADMIN;

    static String bearer(String key) {
        return "Bearer " + key;
    }

    @Test
    void bootstrapAdminIsASuperAdmin() {
        given().header("Authorization", bearer(ADMIN)).when().get("/v1/me")
                .then().statusCode(200)
                .body("data.roles", hasItem("super_admin"))
                .body("data.permissions", hasItem("models:manage"))
                .body("data.credential_type", equalTo("api_key"));
    }

    @Test
    void createUseListRevoke() {
        var created = given().header("Authorization", bearer(ADMIN)).contentType(ContentType.JSON)
                .body(Map.of("name", "ci key"))
                .when().post("/v1/api-keys")
                .then().statusCode(201)
                .body("data.key", matchesPattern("sgk_[A-Za-z0-9]{40}"))
                .body("data.prefix", startsWith("sgk_"))
                .extract().jsonPath();
        String key = created.getString("data.key");
        String id = created.getString("data.id");
        assertThat(id).startsWith("apikey_");
        assertThat(key).startsWith(created.getString("data.prefix"));

        given().header("Authorization", bearer(key)).when().get("/v1/me")
                .then().statusCode(200).body("data.credential_id", equalTo(id));

        String listing = given().header("Authorization", bearer(ADMIN)).when().get("/v1/api-keys")
                .then().statusCode(200).body("data.items.id", hasItem(id)).extract().asString();
        assertThat(listing).doesNotContain(key).doesNotContain("key_hash");

        given().header("Authorization", bearer(ADMIN)).when().delete("/v1/api-keys/" + id).then().statusCode(204);
        await().atMost(Duration.ofSeconds(8)).untilAsserted(() ->
                given().header("Authorization", bearer(key)).when().get("/v1/me")
                        .then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID")));
        given().header("Authorization", bearer(ADMIN)).when().get("/v1/api-keys")
                .then().body("data.items.find { it.id == '" + id + "' }.revoked_at", not(equalTo(null)));
    }

    @Test
    void permissionSubsetNarrowsTheKey() {
        String key = given().header("Authorization", bearer(ADMIN)).contentType(ContentType.JSON)
                .body(Map.of("name", "inference only", "permissions", List.of("models:use")))
                .when().post("/v1/api-keys").then().statusCode(201).extract().path("data.key");
        given().header("Authorization", bearer(key)).when().get("/v1/me")
                .then().statusCode(200).body("data.permissions", equalTo(List.of("models:use")));
        given().header("Authorization", bearer(key)).when().get("/v1/api-keys")
                .then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
    }

    @Test
    void expiredKeyIsRefused() {
        String key = given().header("Authorization", bearer(ADMIN)).contentType(ContentType.JSON)
                .body(Map.of("name", "short-lived", "expires_at", OffsetDateTime.now().plusSeconds(2).toString()))
                .when().post("/v1/api-keys").then().statusCode(201).extract().path("data.key");
        given().header("Authorization", bearer(key)).when().get("/v1/me").then().statusCode(200);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                given().header("Authorization", bearer(key)).when().get("/v1/me").then().statusCode(401));
    }

    @Test
    void invalidRequestsAreValidationErrors() {
        given().header("Authorization", bearer(ADMIN)).contentType(ContentType.JSON).body(Map.of("name", ""))
                .when().post("/v1/api-keys").then().statusCode(400).body("error.code", equalTo("VALIDATION_ERROR"));
        given().header("Authorization", bearer(ADMIN)).contentType(ContentType.JSON)
                .body(Map.of("name", "x", "permissions", List.of("root:everything")))
                .when().post("/v1/api-keys").then().statusCode(400).body("error.details[0].field", equalTo("permissions"));
        given().header("Authorization", bearer(ADMIN)).contentType(ContentType.JSON)
                .body(Map.of("name", "x", "expires_at", "yesterday"))
                .when().post("/v1/api-keys").then().statusCode(400).body("error.details[0].field", equalTo("expires_at"));
    }

    @Test
    void unknownKeyIdIsNotFound() {
        given().header("Authorization", bearer(ADMIN)).when().delete("/v1/api-keys/apikey_doesnotexist")
                .then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));
    }

    @Test
    void badCredentialsAllLookTheSame() {
        String a = given().header("Authorization", "Bearer sgk_" + "x".repeat(40)).when().get("/v1/me")
                .then().statusCode(401).extract().path("error.message");
        String b = given().header("Authorization", "Bearer not-a-key").when().get("/v1/me")
                .then().statusCode(401).extract().path("error.message");
        assertThat(a).isEqualTo(b);
        given().when().get("/v1/me").then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_MISSING"));
    }
}
