package ai.scaigrid.gateway;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.smallrye.jwt.build.Jwt;
import io.smallrye.jwt.build.JwtClaimsBuilder;

import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Map;

/**
 * A stand-in ScaiKey issuer (a system we do not own): a fresh RSA key pair whose public half the
 * gateway trusts through {@code quarkus.oidc.public-key}; tests sign tokens with the private half.
 * The Keycloak end-to-end test covers a real issuer with JWKS discovery.
 */
public class TestIssuer implements QuarkusTestResourceLifecycleManager {
    public static final String ISSUER = "https://scaikey.test/tenants/default";
    public static final String AUDIENCE = "scaigrid";
    private static final String KEY_PROPERTY = "scaigrid.test.issuer-private-key";

    @Override
    public Map<String, String> start() {
        if (Boolean.getBoolean("scaigrid.black-box")) {
            // black-box runs (failsafe) bring their own issuer: Keycloak
            return Map.of();
        }
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
            generator.initialize(2048);
            KeyPair pair = generator.generateKeyPair();
            // a system property is visible to the tests whatever class loader they run in
            System.setProperty(KEY_PROPERTY, Base64.getEncoder().encodeToString(pair.getPrivate().getEncoded()));
            return Map.of(
                    "quarkus.oidc.tenant-enabled", "true",
                    "scaigrid.jwt.enabled", "true",
                    "quarkus.oidc.public-key", Base64.getEncoder().encodeToString(pair.getPublic().getEncoded()),
                    "quarkus.oidc.token.issuer", ISSUER,
                    "quarkus.oidc.token.audience", AUDIENCE);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void stop() {
        System.clearProperty(KEY_PROPERTY);
    }

    public static PrivateKey privateKey() {
        try {
            byte[] der = Base64.getDecoder().decode(System.getProperty(KEY_PROPERTY));
            return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** A user token for the tenant (id or slug) with the given role claim, valid for five minutes. */
    public static JwtClaimsBuilder userClaims(String subject, String tenant, String role) {
        JwtClaimsBuilder builder = Jwt.issuer(ISSUER).audience(AUDIENCE).subject(subject)
                .claim("tenant_id", tenant).claim("email", subject + "@example.test")
                .expiresIn(300);
        return role == null ? builder : builder.claim("role", role);
    }

    public static String sign(JwtClaimsBuilder claims) {
        return claims.jws().keyId("test-key").sign(privateKey());
    }
}
