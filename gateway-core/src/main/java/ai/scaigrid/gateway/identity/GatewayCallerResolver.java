package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CallerResolver;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

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

    @Override
    public Uni<Caller> resolve(String bearerToken, Channel channel) {
        if (bearerToken.startsWith(ApiKeys.PREFIX)) {
            return apiKeys.authenticate(bearerToken);
        }
        if (serviceTokens.isOwnToken(bearerToken)) {
            // service tokens are for node/service gRPC, never a tenant's REST call
            return channel == Channel.GRPC ? serviceTokens.verify(bearerToken)
                    : Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
        }
        return jwtUsers.verify(bearerToken).flatMap(jwt -> {
            if (JwtUserResolver.isServiceToken(jwt)) {
                return channel == Channel.GRPC ? Uni.createFrom().item(JwtUserResolver.serviceCaller(jwt))
                        : Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
            }
            return jwtUsers.toCaller(jwt);
        });
    }
}
