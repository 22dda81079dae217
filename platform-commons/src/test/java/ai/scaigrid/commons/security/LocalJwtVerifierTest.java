package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.NumericDate;
import org.junit.jupiter.api.Test;

import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Local JWT checks: valid, expired, wrong issuer, wrong audience, tampered, foreign key, wrong shape. */
class LocalJwtVerifierTest {
    private static final String ISSUER = "https://scaikey.test/tenants/t1";
    private static final KeyPair KEYS = generate();
    private static final KeyPair OTHER = generate();
    private final LocalJwtVerifier verifier = LocalJwtVerifier.of(KEYS.getPublic(), ISSUER, "scaigrid");

    private static KeyPair generate() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(2048);
            return g.generateKeyPair();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String token(PrivateKey key, String issuer, String audience, long expiresInSeconds) throws Exception {
        JwtClaims claims = new JwtClaims();
        claims.setIssuer(issuer);
        claims.setAudience(audience);
        claims.setSubject("usr_1");
        claims.setClaim("tenant_id", "t1");
        claims.setExpirationTime(NumericDate.fromSeconds(System.currentTimeMillis() / 1000 + expiresInSeconds));
        claims.setIssuedAtToNow();
        JsonWebSignature jws = new JsonWebSignature();
        jws.setPayload(claims.toJson());
        jws.setKey(key);
        jws.setAlgorithmHeaderValue(AlgorithmIdentifiers.RSA_USING_SHA256);
        return jws.getCompactSerialization();
    }

    private void refused(String token) {
        assertThatThrownBy(() -> verifier.verify(token).await().atMost(Duration.ofSeconds(5)))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.errorCode()).isEqualTo(ErrorCode.AUTH_TOKEN_INVALID));
    }

    @Test
    void acceptsAValidToken() throws Exception {
        verifier.verify(token(KEYS.getPrivate(), ISSUER, "scaigrid", 300)).await().atMost(Duration.ofSeconds(5));
    }

    @Test
    void refusesExpiredForeignAndTamperedTokens() throws Exception {
        refused(token(KEYS.getPrivate(), ISSUER, "scaigrid", -120));
        refused(token(KEYS.getPrivate(), "https://evil.test", "scaigrid", 300));
        refused(token(KEYS.getPrivate(), ISSUER, "someone-else", 300));
        refused(token(OTHER.getPrivate(), ISSUER, "scaigrid", 300));
        String good = token(KEYS.getPrivate(), ISSUER, "scaigrid", 300);
        String[] parts = good.split("\\.");
        String forgedPayload = java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(
                new String(java.util.Base64.getUrlDecoder().decode(parts[1])).replace("usr_1", "usr_2").getBytes());
        refused(parts[0] + "." + forgedPayload + "." + parts[2]);
        refused("not.a.jwt");
    }

    @Test
    void tellsJwtsFromOtherCredentials() {
        assertThat(LocalJwtVerifier.looksLikeJwt("eyJh.eyJi.c2ln")).isTrue();
        assertThat(LocalJwtVerifier.looksLikeJwt("sgk_abc.def.ghi")).isFalse();
        assertThat(LocalJwtVerifier.looksLikeJwt("opaque")).isFalse();
        assertThat(LocalJwtVerifier.looksLikeJwt("a.b.c.d")).isFalse();
        assertThat(new LocalJwtVerifier(false, java.util.Optional.empty(), java.util.Optional.empty(),
                java.util.Optional.empty(), java.util.Optional.empty()).active()).isFalse();
    }
}
