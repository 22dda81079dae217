package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;

import java.util.Map;

/**
 * Authentication inside gRPC service methods. Call it at the start of the method (the bearer token
 * is read from the call's context there). Node and service RPCs take service tokens only; tenant
 * RPCs take API keys and user JWTs, and the inference RPCs also a tenant's service token
 * ({@link ServiceScopes#SCAIINFER_INFERENCE}); a token never unlocks a surface its scope does not name.
 */
@ApplicationScoped
public class GrpcCallers {

    @Inject
    Instance<CallerResolver> resolver;

    /** A service token carrying {@code scope}; anything else is UNAUTHENTICATED, a wrong scope PERMISSION_DENIED. */
    public Uni<Caller> requireService(String scope) {
        return requireService(resolve(ErrorCode.SERVICE_TOKEN_INVALID), scope);
    }

    /**
     * The same check for a token already in hand, outside any call's context: a long-lived stream
     * verifying its token again.
     */
    public Uni<Caller> requireService(String bearerToken, String scope) {
        return requireService(resolve(bearerToken, ErrorCode.SERVICE_TOKEN_INVALID), scope);
    }

    private static Uni<Caller> requireService(Uni<Caller> resolved, String scope) {
        return resolved.map(caller -> {
            if (caller.credentialType() != CredentialType.SERVICE_TOKEN) {
                throw new ApiException(ErrorCode.SERVICE_TOKEN_INVALID, "This RPC needs a service token");
            }
            requireScope(caller, scope);
            return caller;
        });
    }

    private static void requireScope(Caller caller, String scope) {
        if (!caller.serviceScopes().contains(scope)) {
            throw new ApiException(ErrorCode.AUTH_INSUFFICIENT_SCOPE, "Service token lacks scope " + scope,
                    Map.of("required_scope", scope));
        }
    }

    /** An API key or user JWT holding {@code permission}; service tokens are UNAUTHENTICATED here. */
    public Uni<Caller> requireUser(String permission) {
        return resolve(ErrorCode.AUTH_TOKEN_INVALID).map(caller -> {
            if (caller.credentialType() == CredentialType.SERVICE_TOKEN) {
                throw new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
            }
            if (permission != null) {
                caller.require(permission);
            }
            return caller;
        });
    }

    /**
     * The tenant inference RPCs: an API key or user JWT, or a service token carrying {@code scope} (the
     * identity layer binds it to its tenant and grants it that tenant's inference permissions); either way
     * the caller must hold {@code permission} (null: no check).
     */
    public Uni<Caller> requireUserOrService(String permission, String scope) {
        return resolve(ErrorCode.AUTH_TOKEN_INVALID).map(caller -> {
            if (caller.credentialType() == CredentialType.SERVICE_TOKEN) {
                requireScope(caller, scope);
                if (caller.tenantId() == null) {
                    throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Service token is not bound to a tenant");
                }
            }
            if (permission != null) {
                caller.require(permission);
            }
            return caller;
        });
    }

    private Uni<Caller> resolve(ErrorCode invalid) {
        String token = GrpcBearerInterceptor.BEARER.get();
        if (token == null) {
            ErrorCode code = Boolean.TRUE.equals(GrpcBearerInterceptor.MALFORMED.get()) ? invalid : ErrorCode.AUTH_TOKEN_MISSING;
            return Uni.createFrom().failure(new ApiException(code));
        }
        return resolve(token, invalid);
    }

    private Uni<Caller> resolve(String token, ErrorCode invalid) {
        if (!resolver.isResolvable()) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.SERVICE_UNAVAILABLE, "Authentication is not configured"));
        }
        return resolver.get().resolve(token, CallerResolver.Channel.GRPC)
                .onFailure(e -> e instanceof ApiException api && api.httpStatus() == 401)
                .transform(e -> new ApiException(invalid));
    }
}
