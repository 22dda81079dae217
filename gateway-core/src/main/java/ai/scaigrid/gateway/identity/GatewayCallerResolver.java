package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.cache.RefreshingCache;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CallerResolver;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.ServiceScopes;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import io.smallrye.mutiny.Uni;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * gateway-core is the identity authority: API keys from its own database, ScaiKey user JWTs via
 * quarkus-oidc, and service tokens (its own, or ScaiKey client-credentials tokens) on gRPC only.
 */
@ApplicationScoped
public class GatewayCallerResolver implements CallerResolver {

    @Inject
    ApiKeyService apiKeys;

    @Inject
    JwtUserResolver jwtUsers;

    @Inject
    ServiceTokenService serviceTokens;

    @Inject
    Pool pool;

    @ConfigProperty(name = "scaigrid.auth.key-cache-ttl", defaultValue = "5s")
    Duration cacheTtl;

    /** tenant id → its partner while the tenant is active; as short-lived as the API-key cache. */
    private RefreshingCache<String, Optional<String>> tenants;

    @PostConstruct
    void createCache() {
        tenants = new RefreshingCache<>(cacheTtl, 10_000, this::activeTenantPartner);
    }

    @Override
    public Uni<Caller> resolve(String bearerToken, Channel channel) {
        if (bearerToken.startsWith(ApiKeys.PREFIX)) {
            return apiKeys.authenticate(bearerToken);
        }
        if (serviceTokens.isOwnToken(bearerToken)) {
            // service tokens are for node/service gRPC, never a tenant's REST call
            return channel == Channel.GRPC ? serviceTokens.verify(bearerToken).flatMap(this::bindInferenceClient)
                    : Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
        }
        return jwtUsers.verify(bearerToken).flatMap(jwt -> {
            if (JwtUserResolver.isServiceToken(jwt)) {
                return channel == Channel.GRPC ? bindInferenceClient(JwtUserResolver.serviceCaller(jwt))
                        : Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
            }
            return jwtUsers.toCaller(jwt);
        });
    }

    /**
     * A service token scoped {@code scaiinfer.inference} acts for the tenant it names: it gets the tenant's
     * partner (partner-scoped models, partner limits) and the permissions to list and use models, nothing
     * else; a token naming a tenant that is unknown or suspended is refused like a revoked one.
     * Other service tokens pass unchanged.
     */
    private Uni<Caller> bindInferenceClient(Caller service) {
        if (!service.serviceScopes().contains(ServiceScopes.SCAIINFER_INFERENCE) || service.tenantId() == null) {
            return Uni.createFrom().item(service);
        }
        return tenants.get(service.tenantId()).map(partner -> {
            if (partner.isEmpty()) {
                throw new ApiException(ErrorCode.SERVICE_TOKEN_INVALID);
            }
            return new Caller(partner.get(), service.tenantId(), null, Set.of(),
                    Set.of(Permissions.MODELS_LIST, Permissions.MODELS_USE), CredentialType.SERVICE_TOKEN,
                    service.credentialId(), Set.of(), service.serviceScopes());
        });
    }

    private Uni<Optional<String>> activeTenantPartner(String tenantId) {
        return pool.preparedQuery("SELECT partner_id, status FROM tenants WHERE id = $1").execute(Tuple.of(tenantId))
                .map(rows -> {
                    if (rows.size() == 0) {
                        return Optional.empty();
                    }
                    Row r = rows.iterator().next();
                    return "active".equals(r.getString("status")) ? Optional.of(r.getString("partner_id")) : Optional.empty();
                });
    }
}
