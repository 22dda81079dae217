package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.crypto.EnvelopeEncryption;
import ai.scaigrid.commons.crypto.PlatformKek;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.commons.security.ServiceScopes;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.jwt.build.Jwt;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.RsaJsonWebKey;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.consumer.InvalidJwtException;
import org.jose4j.jwt.consumer.JwtConsumer;
import org.jose4j.jwt.consumer.JwtConsumerBuilder;
import org.jose4j.keys.resolvers.JwksVerificationKeyResolver;

import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Service tokens the gateway issues itself (the embedded default; in production ScaiKey issues
 * them): RS256 JWTs with {@code token_type=client_credentials} and a {@code scope} claim, signed
 * with a key whose private half is sealed with the platform KEK and whose public half is
 * published at {@code /.well-known/jwks.json}. Without a KEK the key lives in memory only and
 * tokens die with the process (logged at start).
 */
@ApplicationScoped
public class ServiceTokenService {
    private static final Logger LOG = Logger.getLogger(ServiceTokenService.class);
    private static final String AAD = "gateway/signing_keys/";

    @Inject
    Pool pool;

    @ConfigProperty(name = "scaigrid.service-tokens.issuer", defaultValue = "urn:scaigrid:gateway")
    String issuer;

    @ConfigProperty(name = "scaigrid.service-tokens.audience", defaultValue = "scaigrid")
    String audience;

    @ConfigProperty(name = "scaigrid.service-tokens.max-ttl", defaultValue = "P365D")
    Duration maxTtl;

    @Inject
    PlatformKek kek;

    private volatile String activeKid;
    private volatile PrivateKey signingKey;
    private volatile JsonWebKeySet jwks = new JsonWebKeySet();
    private volatile JwtConsumer consumer;
    /** Revoked token ids seen by this replica; others are checked against the database. */
    private final Set<String> revoked = ConcurrentHashMap.newKeySet();
    /** Token id → its subject ({@code svc:<name>}), learnt when a token is verified. */
    private final Map<String, String> subjects = new ConcurrentHashMap<>();

    public record IssuedToken(String id, String name, String token, List<String> scopes, String tenantId,
                              OffsetDateTime expiresAt) {
    }

    public record TokenInfo(String id, String name, List<String> scopes, String tenantId, OffsetDateTime expiresAt,
                            OffsetDateTime revokedAt, OffsetDateTime createdAt) {
    }

    void onStart(@Observes StartupEvent event) {
        loadKeys().await().atMost(Duration.ofSeconds(30));
    }

    Uni<Void> loadKeys() {
        if (!kek.isConfigured()) {
            LOG.warn("scaigrid.kek is not set: service tokens are signed with an in-memory key and stop working at restart");
            return Uni.createFrom().item(generate()).invoke(pair -> install(List.of(new KeyRow("mem-" + ApiKeys.newId("k"),
                    (RSAPublicKey) pair.getPublic(), pair.getPrivate())))).replaceWithVoid();
        }
        EnvelopeEncryption crypto = kek.encryption().orElseThrow();
        return pool.query("SELECT * FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC").execute()
                .flatMap(rows -> {
                    List<KeyRow> keys = new ArrayList<>();
                    for (Row r : rows) {
                        String kid = r.getString("kid");
                        keys.add(new KeyRow(kid, publicKey(r.getString("public_key")),
                                privateKey(crypto.open(r.getString("private_key"), AAD + kid))));
                    }
                    if (!keys.isEmpty()) {
                        install(keys);
                        return Uni.createFrom().voidItem();
                    }
                    KeyPair pair = generate();
                    String kid = ApiKeys.newId("sk");
                    String sealed = crypto.seal(Base64.getEncoder().encodeToString(pair.getPrivate().getEncoded()), AAD + kid);
                    return pool.preparedQuery("INSERT INTO signing_keys (kid, public_key, private_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                            .execute(Tuple.of(kid, Base64.getEncoder().encodeToString(pair.getPublic().getEncoded()), sealed))
                            .flatMap(x -> pool.query("SELECT * FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC").execute())
                            .invoke(all -> {
                                List<KeyRow> loaded = new ArrayList<>();
                                for (Row r : all) {
                                    String k = r.getString("kid");
                                    loaded.add(new KeyRow(k, publicKey(r.getString("public_key")),
                                            privateKey(crypto.open(r.getString("private_key"), AAD + k))));
                                }
                                install(loaded);
                            })
                            .replaceWithVoid();
                });
    }

    private record KeyRow(String kid, RSAPublicKey publicKey, PrivateKey privateKey) {
    }

    private void install(List<KeyRow> keys) {
        JsonWebKeySet set = new JsonWebKeySet();
        for (KeyRow k : keys) {
            RsaJsonWebKey jwk = new RsaJsonWebKey(k.publicKey());
            jwk.setKeyId(k.kid());
            jwk.setAlgorithm("RS256");
            jwk.setUse("sig");
            set.addJsonWebKey(jwk);
        }
        KeyRow newest = keys.get(0);
        this.activeKid = newest.kid();
        this.signingKey = newest.privateKey();
        this.jwks = set;
        this.consumer = new JwtConsumerBuilder()
                .setRequireExpirationTime()
                .setAllowedClockSkewInSeconds(30)
                .setExpectedIssuer(issuer)
                .setExpectedAudience(audience)
                .setVerificationKeyResolver(new JwksVerificationKeyResolver(set.getJsonWebKeys()))
                .build();
    }

    /** The public keys, for {@code /.well-known/jwks.json}. */
    public String jwksJson() {
        return jwks.toJson(JsonWebKey.OutputControlLevel.PUBLIC_ONLY);
    }

    public boolean isOwnToken(String token) {
        try {
            String[] parts = token.split("\\.");
            if (parts.length != 3) {
                return false;
            }
            String payload = new String(Base64.getUrlDecoder().decode(parts[1]), java.nio.charset.StandardCharsets.UTF_8);
            return payload.contains("\"iss\":\"" + issuer + "\"");
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    public Uni<IssuedToken> issue(Caller caller, String name, List<String> scopes, Long ttlSeconds, String tenantId) {
        if (!caller.isSuperAdmin()) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Only super admins issue service tokens"));
        }
        if (name == null || name.isBlank() || name.length() > 200) {
            return Uni.createFrom().failure(ApiException.validation("name", "name is required (1-200 characters)"));
        }
        if (scopes == null || scopes.isEmpty() || !ServiceScopes.ALL.containsAll(scopes)) {
            return Uni.createFrom().failure(ApiException.validation("scopes", "scopes must be a non-empty subset of " + ServiceScopes.ALL));
        }
        if (scopes.contains(ServiceScopes.SCAIINFER_INFERENCE) && (tenantId == null || tenantId.isBlank())) {
            return Uni.createFrom().failure(ApiException.validation("tenant_id",
                    "a token with scope " + ServiceScopes.SCAIINFER_INFERENCE + " acts for a tenant: tenant_id is required"));
        }
        long ttl = ttlSeconds == null ? Duration.ofDays(90).toSeconds() : ttlSeconds;
        if (ttl < 60 || ttl > maxTtl.toSeconds()) {
            return Uni.createFrom().failure(ApiException.validation("ttl_seconds", "ttl_seconds must be between 60 and " + maxTtl.toSeconds()));
        }
        String id = ApiKeys.newId("svt");
        OffsetDateTime expiresAt = OffsetDateTime.now(ZoneOffset.UTC).plusSeconds(ttl).withNano(0);
        var claims = Jwt.issuer(issuer).audience(audience).subject("svc:" + name.trim())
                .claim("jti", id).claim("token_type", "client_credentials")
                .claim("scope", String.join(" ", scopes))
                .expiresAt(expiresAt.toEpochSecond());
        if (tenantId != null) {
            claims.claim("tenant_id", tenantId);
        }
        String token = claims.jws().keyId(activeKid).algorithm(io.smallrye.jwt.algorithm.SignatureAlgorithm.RS256).sign(signingKey);
        return pool.preparedQuery("INSERT INTO service_tokens (id, name, scopes, tenant_id, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .execute(Tuple.from(Arrays.asList(id, name.trim(), scopes.toArray(String[]::new), tenantId, caller.userId(), expiresAt)))
                .onFailure().transform(e -> e instanceof io.vertx.pgclient.PgException pg && "23503".equals(pg.getSqlState())
                        ? new ApiException(ErrorCode.NOT_FOUND, "Tenant not found", Map.of("tenant_id", tenantId)) : e)
                .map(x -> new IssuedToken(id, name.trim(), token, scopes, tenantId, expiresAt));
    }

    /** A caller for one of our own service tokens, or AUTH_TOKEN_INVALID (SERVICE_TOKEN_INVALID on gRPC). */
    public Uni<Caller> verify(String token) {
        JwtClaims claims;
        try {
            claims = consumer.processToClaims(token);
        } catch (InvalidJwtException e) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.SERVICE_TOKEN_INVALID));
        }
        String id;
        Set<String> scopes;
        String tenantId;
        try {
            if (!"client_credentials".equals(claims.getClaimValueAsString("token_type"))) {
                return Uni.createFrom().failure(new ApiException(ErrorCode.SERVICE_TOKEN_INVALID));
            }
            id = claims.getJwtId();
            scopes = new HashSet<>(Arrays.asList(String.valueOf(claims.getClaimValueAsString("scope")).split(" ")));
            tenantId = claims.getClaimValueAsString("tenant_id");
            if (id != null && claims.getSubject() != null) {
                if (subjects.size() > 100_000) {
                    subjects.clear();
                }
                subjects.put(id, claims.getSubject());
            }
        } catch (org.jose4j.jwt.MalformedClaimException e) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.SERVICE_TOKEN_INVALID));
        }
        if (id == null || revoked.contains(id)) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.SERVICE_TOKEN_INVALID));
        }
        return pool.preparedQuery("SELECT revoked_at FROM service_tokens WHERE id = $1").execute(Tuple.of(id))
                .map(rows -> {
                    if (rows.size() == 0 || rows.iterator().next().getOffsetDateTime("revoked_at") != null) {
                        revoked.add(id);
                        throw new ApiException(ErrorCode.SERVICE_TOKEN_INVALID);
                    }
                    return new Caller(null, tenantId, null, Set.of(), Set.of(), CredentialType.SERVICE_TOKEN, id, null, scopes);
                });
    }

    /**
     * Who a service-token caller is, beyond one token: the subject of our own tokens ({@code svc:<name>},
     * the same for every token issued under that name, so reissuing rotates without changing identity),
     * or the credential id (a ScaiKey token's subject) otherwise.
     */
    public String identityOf(Caller caller) {
        String subject = caller.credentialId() == null ? null : subjects.get(caller.credentialId());
        return subject != null ? subject : caller.credentialId();
    }

    public Uni<List<TokenInfo>> list(Caller caller) {
        if (!caller.isSuperAdmin()) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Only super admins manage service tokens"));
        }
        return pool.query("SELECT * FROM service_tokens ORDER BY created_at DESC").execute().map(rows -> {
            List<TokenInfo> out = new ArrayList<>();
            for (Row r : rows) {
                out.add(new TokenInfo(r.getString("id"), r.getString("name"), List.of(r.getArrayOfStrings("scopes")),
                        r.getString("tenant_id"), r.getOffsetDateTime("expires_at"), r.getOffsetDateTime("revoked_at"),
                        r.getOffsetDateTime("created_at")));
            }
            return out;
        });
    }

    public Uni<Void> revoke(Caller caller, String id) {
        if (!caller.isSuperAdmin()) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Only super admins manage service tokens"));
        }
        return pool.preparedQuery("UPDATE service_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1")
                .execute(Tuple.of(id))
                .map(rows -> {
                    if (rows.rowCount() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Service token not found", Map.of("id", id));
                    }
                    revoked.add(id);
                    return null;
                });
    }

    private static KeyPair generate() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
            generator.initialize(2048);
            return generator.generateKeyPair();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static RSAPublicKey publicKey(String base64) {
        try {
            return (RSAPublicKey) KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(base64)));
        } catch (Exception e) {
            throw new IllegalStateException("stored signing key is unreadable", e);
        }
    }

    private static PrivateKey privateKey(String base64) {
        try {
            return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(base64)));
        } catch (Exception e) {
            throw new IllegalStateException("stored signing key is unreadable", e);
        }
    }
}
