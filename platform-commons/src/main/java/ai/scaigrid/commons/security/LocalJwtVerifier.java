package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;
import org.jose4j.jwa.AlgorithmConstraints;
import org.jose4j.jwk.HttpsJwks;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jwt.consumer.InvalidJwtException;
import org.jose4j.jwt.consumer.JwtConsumer;
import org.jose4j.jwt.consumer.JwtConsumerBuilder;
import org.jose4j.keys.resolvers.HttpsJwksVerificationKeyResolver;

import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.Optional;

/**
 * Checks ScaiKey user JWTs locally in module services: signature (the issuer's JWKS, fetched and
 * cached, or a configured public key), issuer, audience and expiry. A forged, expired or foreign
 * token is refused without asking gateway-core; a valid one is then mapped to its caller by
 * introspection (cached), so tenant, user and roles have one source of truth.
 *
 * <p>Configuration ({@code scaigrid.identity.jwt.*}, env {@code SCAIGRID_IDENTITY_JWT_*}):
 * {@code enabled}, {@code jwks-url} or {@code public-key} (base64 SPKI), {@code issuer},
 * {@code audience}. Off by default: then every JWT is checked by gateway-core.
 */
@ApplicationScoped
public class LocalJwtVerifier {
    private static final Logger LOG = Logger.getLogger(LocalJwtVerifier.class);

    private final JwtConsumer consumer;

    LocalJwtVerifier(@ConfigProperty(name = "scaigrid.identity.jwt.enabled", defaultValue = "false") boolean enabled,
                     @ConfigProperty(name = "scaigrid.identity.jwt.jwks-url") Optional<String> jwksUrl,
                     @ConfigProperty(name = "scaigrid.identity.jwt.public-key") Optional<String> publicKey,
                     @ConfigProperty(name = "scaigrid.identity.jwt.issuer") Optional<String> issuer,
                     @ConfigProperty(name = "scaigrid.identity.jwt.audience") Optional<String> audience) {
        this.consumer = enabled ? build(jwksUrl, publicKey, issuer, audience) : null;
    }

    /** For tests and programmatic use: a verifier with these settings (enabled). */
    public static LocalJwtVerifier of(PublicKey key, String issuer, String audience) {
        return new LocalJwtVerifier(true, Optional.empty(),
                Optional.of(Base64.getEncoder().encodeToString(key.getEncoded())), Optional.ofNullable(issuer),
                Optional.ofNullable(audience));
    }

    private static JwtConsumer build(Optional<String> jwksUrl, Optional<String> publicKey, Optional<String> issuer,
                                     Optional<String> audience) {
        JwtConsumerBuilder b = new JwtConsumerBuilder()
                .setRequireExpirationTime()
                .setAllowedClockSkewInSeconds(30)
                .setJwsAlgorithmConstraints(AlgorithmConstraints.ConstraintType.PERMIT,
                        AlgorithmIdentifiers.RSA_USING_SHA256, AlgorithmIdentifiers.RSA_USING_SHA384,
                        AlgorithmIdentifiers.RSA_USING_SHA512, AlgorithmIdentifiers.ECDSA_USING_P256_CURVE_AND_SHA256,
                        AlgorithmIdentifiers.ECDSA_USING_P384_CURVE_AND_SHA384);
        if (jwksUrl.isPresent() && !jwksUrl.get().isBlank()) {
            b.setVerificationKeyResolver(new HttpsJwksVerificationKeyResolver(new HttpsJwks(jwksUrl.get())));
        } else if (publicKey.isPresent() && !publicKey.get().isBlank()) {
            b.setVerificationKey(parseKey(publicKey.get()));
        } else {
            throw new IllegalStateException("scaigrid.identity.jwt.enabled=true needs scaigrid.identity.jwt.jwks-url or public-key");
        }
        issuer.filter(s -> !s.isBlank()).ifPresent(b::setExpectedIssuer);
        if (audience.isPresent() && !audience.get().isBlank()) {
            b.setExpectedAudience(audience.get());
        } else {
            b.setSkipDefaultAudienceValidation();
        }
        return b.build();
    }

    private static PublicKey parseKey(String base64) {
        String clean = base64.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        byte[] der = Base64.getDecoder().decode(clean);
        for (String algorithm : new String[]{"RSA", "EC"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePublic(new X509EncodedKeySpec(der));
            } catch (Exception ignored) {
                // try the next key type
            }
        }
        throw new IllegalStateException("scaigrid.identity.jwt.public-key is not an RSA or EC public key (base64 SPKI)");
    }

    public boolean active() {
        return consumer != null;
    }

    /** A compact JWS (three dot-separated parts), as opposed to an sgk_ key or an opaque token. */
    public static boolean looksLikeJwt(String token) {
        if (token == null || token.startsWith("sgk_")) {
            return false;
        }
        int first = token.indexOf('.');
        return first > 0 && token.indexOf('.', first + 1) > first && token.indexOf('.', token.indexOf('.', first + 1) + 1) < 0;
    }

    /**
     * Succeeds for a token this service may pass on to introspection; AUTH_TOKEN_INVALID otherwise.
     * Runs off the event loop: the first use of a JWKS URL fetches it.
     */
    public Uni<Void> verify(String token) {
        if (consumer == null) {
            return Uni.createFrom().voidItem();
        }
        return Uni.createFrom().<Void>item(() -> {
            try {
                consumer.process(token);
                return null;
            } catch (InvalidJwtException e) {
                LOG.debugf("JWT refused locally: %s", e.getMessage());
                throw new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
            }
        }).runSubscriptionOn(Infrastructure.getDefaultWorkerPool());
    }
}
