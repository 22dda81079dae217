package ai.scaigrid.commons.it;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CallerResolver;
import ai.scaigrid.commons.security.CredentialType;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.Set;

/**
 * Test-only resolver for exercising the shared filter: the real resolvers (API keys, JWTs,
 * introspection) live in the services and are tested there.
 */
@ApplicationScoped
public class TestCallerResolver implements CallerResolver {
    @Override
    public Uni<Caller> resolve(String bearerToken, Channel channel) {
        return switch (bearerToken) {
            case "token-admin" -> Uni.createFrom().item(caller("tenant_admin"));
            case "token-user" -> Uni.createFrom().item(caller("tenant_user"));
            case "svc-node", "svc-mind" -> channel == Channel.GRPC
                    ? Uni.createFrom().item(new Caller(null, null, null, null, null, CredentialType.SERVICE_TOKEN, bearerToken,
                    null, Set.of(bearerToken.equals("svc-node") ? "scaiinfer.node" : "scaimind.node")))
                    : Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
            case "token-down" -> Uni.createFrom().failure(new ApiException(ErrorCode.SERVICE_UNAVAILABLE,
                    "Identity service unreachable"));
            default -> Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
        };
    }

    private static Caller caller(String role) {
        return new Caller("ptn_1", "tnt_1", "usr_" + role, Set.of(role), Caller.permissionsOf(Set.of(role), null),
                CredentialType.API_KEY, "key_" + role, null, null);
    }
}
