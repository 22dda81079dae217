package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.proto.scaigrid.v1.IdentityService;
import ai.scaigrid.proto.scaigrid.v1.IntrospectRequest;
import ai.scaigrid.proto.scaigrid.v1.IntrospectResponse;
import io.quarkus.arc.DefaultBean;
import io.quarkus.grpc.GrpcClient;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How module services authenticate: every bearer credential is introspected by gateway-core over
 * {@code scaigrid.v1.IdentityService}, and the answer (positive or negative) is cached for the
 * time the gateway allows (seconds, capped by {@code scaigrid.identity.max-cache}) under a hash
 * of the credential, so a revocation is visible within that window. When the gateway cannot be
 * reached the request gets 503 SERVICE_UNAVAILABLE, never a 401. User JWTs are first checked
 * locally when {@link LocalJwtVerifier} is configured. Service tokens are accepted on
 * gRPC only. gateway-core itself replaces this bean with its own resolver.
 */
@DefaultBean
@ApplicationScoped
public class IntrospectingCallerResolver implements CallerResolver {
    private static final Logger LOG = Logger.getLogger(IntrospectingCallerResolver.class);
    private static final int MAX_ENTRIES = 100_000;

    @GrpcClient("scaigrid-identity")
    IdentityService identity;

    @Inject
    LocalJwtVerifier jwts;

    @ConfigProperty(name = "scaigrid.identity.timeout", defaultValue = "3s")
    Duration timeout;

    @ConfigProperty(name = "scaigrid.identity.max-cache", defaultValue = "30s")
    Duration maxCache;

    private record Entry(IntrospectResponse answer, long expiresAtNanos) {
    }

    private final ConcurrentHashMap<String, Entry> cache = new ConcurrentHashMap<>();

    @Override
    public Uni<Caller> resolve(String bearerToken, Channel channel) {
        String key = sha256(bearerToken);
        Entry cached = cache.get(key);
        if (cached != null && cached.expiresAtNanos() > System.nanoTime()) {
            return Uni.createFrom().item(() -> toCaller(cached.answer(), channel));
        }
        if (jwts != null && jwts.active() && LocalJwtVerifier.looksLikeJwt(bearerToken)) {
            // forged, expired or foreign JWTs stop here, without a round trip to gateway-core
            return jwts.verify(bearerToken).flatMap(ok -> introspect(bearerToken, key, channel));
        }
        return introspect(bearerToken, key, channel);
    }

    private Uni<Caller> introspect(String bearerToken, String key, Channel channel) {
        return identity.introspect(IntrospectRequest.newBuilder().setToken(bearerToken).build())
                .ifNoItem().after(timeout).fail()
                .onFailure().transform(e -> {
                    LOG.warnf("identity introspection failed: %s", e.toString());
                    return new ApiException(ErrorCode.SERVICE_UNAVAILABLE, "The identity service is unreachable; please retry");
                })
                .invoke(answer -> remember(key, answer))
                .map(answer -> toCaller(answer, channel));
    }

    /** Forgets every cached answer (e.g. for tests, or after a key rotation). */
    public void clear() {
        cache.clear();
    }

    private void remember(String key, IntrospectResponse answer) {
        long ttlNanos = Math.min(Duration.ofSeconds(answer.getCacheTtl().getSeconds(), answer.getCacheTtl().getNanos()).toNanos(),
                maxCache.toNanos());
        if (ttlNanos <= 0) {
            return;
        }
        if (cache.size() >= MAX_ENTRIES) {
            long now = System.nanoTime();
            cache.values().removeIf(e -> e.expiresAtNanos() <= now);
            if (cache.size() >= MAX_ENTRIES) {
                cache.clear();
            }
        }
        cache.put(key, new Entry(answer, System.nanoTime() + ttlNanos));
    }

    static Caller toCaller(IntrospectResponse answer, Channel channel) {
        if (!answer.getActive()) {
            throw new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
        }
        var c = answer.getCaller();
        CredentialType type = switch (answer.getCredentialType()) {
            case CREDENTIAL_TYPE_API_KEY -> CredentialType.API_KEY;
            case CREDENTIAL_TYPE_USER_JWT -> CredentialType.USER_JWT;
            case CREDENTIAL_TYPE_SERVICE_TOKEN -> CredentialType.SERVICE_TOKEN;
            default -> throw new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
        };
        if (type == CredentialType.SERVICE_TOKEN && channel != Channel.GRPC) {
            throw new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
        }
        String credentialId = switch (type) {
            case API_KEY -> c.getApiKeyId();
            case USER_JWT -> c.getExternalUserId();
            case SERVICE_TOKEN -> c.getClientId();
        };
        return new Caller(blankToNull(c.getPartnerId()), blankToNull(c.getTenantId()), blankToNull(c.getUserId()),
                java.util.Set.copyOf(c.getRolesList()), java.util.Set.copyOf(c.getPermissionsList()), type,
                blankToNull(credentialId), java.util.Set.copyOf(c.getModelGroupIdsList()),
                java.util.Set.copyOf(c.getServiceScopesList()));
    }

    private static String blankToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    private static String sha256(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
