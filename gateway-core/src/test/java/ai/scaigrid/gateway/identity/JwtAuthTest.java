package ai.scaigrid.gateway.identity;

import ai.scaigrid.gateway.TestIssuer;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.jwt.build.Jwt;
import org.junit.jupiter.api.Test;

import java.util.UUID;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;

/** ScaiKey user JWTs: valid, expired, wrong issuer, wrong audience, tampered, missing claims; just-in-time users. */
@QuarkusTest
class JwtAuthTest {

    private static String subject() {
        return "usr_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    }

    private static io.restassured.response.ValidatableResponse me(String token) {
        return given().header("Authorization", "Bearer " + token).when().get("/v1/me").then();
    }

    @Test
    void validTokenProvisionsTheUserOnceIntoTheirTenant() {
        String sub = subject();
        String token = TestIssuer.sign(TestIssuer.userClaims(sub, "default", null));
        String userId = me(token).statusCode(200)
                .body("data.credential_type", equalTo("user_jwt"))
                .body("data.credential_id", equalTo(sub))
                .body("data.roles", hasItem("tenant_user"))
                .extract().path("data.user_id");
        assertThat(userId).startsWith("usr_");
        me(token).statusCode(200).body("data.user_id", equalTo(userId));
        given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/users/" + sub)
                .then().statusCode(200).body("data.id", equalTo(userId)).body("data.external_id", equalTo(sub));
    }

    @Test
    void roleClaimGrantsItsPermissions() {
        String token = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", "tenant_admin"));
        given().header("Authorization", "Bearer " + token).when().get("/v1/users").then().statusCode(200);
        String plain = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", null));
        given().header("Authorization", "Bearer " + plain).when().get("/v1/users").then().statusCode(403);
    }

    @Test
    void expiredTokenIsRefused() {
        long now = System.currentTimeMillis() / 1000;
        String token = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", null).issuedAt(now - 3600).expiresAt(now - 600));
        me(token).statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID"));
    }

    @Test
    void wrongIssuerIsRefused() {
        String token = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", null).issuer("https://evil.test"));
        me(token).statusCode(401);
    }

    @Test
    void wrongAudienceIsRefused() {
        String token = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", null).audience("someone-else"));
        me(token).statusCode(401);
    }

    @Test
    void tamperedSignatureIsRefused() {
        String token = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", "tenant_user"));
        String[] parts = token.split("\\.");
        // swap in a payload claiming super_admin, keeping the original signature
        String forged = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", "super_admin")).split("\\.")[1];
        me(parts[0] + "." + forged + "." + parts[2]).statusCode(401);
        String sig = parts[2];
        String flipped = (sig.charAt(5) == 'A' ? "B" : "A");
        me(parts[0] + "." + parts[1] + "." + sig.substring(0, 5) + flipped + sig.substring(6)).statusCode(401);
    }

    @Test
    void missingOrUnknownTenantIsRefused() {
        String noTenant = TestIssuer.sign(Jwt.issuer(TestIssuer.ISSUER).audience(TestIssuer.AUDIENCE).subject(subject()).expiresIn(300));
        me(noTenant).statusCode(401);
        String noSubject = TestIssuer.sign(Jwt.issuer(TestIssuer.ISSUER).audience(TestIssuer.AUDIENCE)
                .claim("tenant_id", "default").expiresIn(300));
        me(noSubject).statusCode(401);
        me(TestIssuer.sign(TestIssuer.userClaims(subject(), "no-such-tenant", null))).statusCode(401);
    }

    @Test
    void serviceTokenIsNotAUserCredential() {
        String token = TestIssuer.sign(TestIssuer.userClaims(subject(), "default", null).claim("token_type", "client_credentials"));
        me(token).statusCode(401).body("error.code", equalTo("AUTH_TOKEN_INVALID"));
    }
}
