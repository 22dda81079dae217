package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CallerResolver;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.proto.scaigrid.v1.IdentityService;
import ai.scaigrid.proto.scaigrid.v1.IntrospectRequest;
import ai.scaigrid.proto.scaigrid.v1.IntrospectResponse;
import com.google.protobuf.Duration;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * {@code scaigrid.v1.IdentityService}: module services turn the bearer credentials they receive
 * into callers here. The credential in the request is itself the proof: the answer tells no more
 * than {@code GET /v1/me} tells the credential's holder. An inactive credential is a normal
 * answer ({@code active=false}); a gRPC error means introspection itself failed.
 */
@GrpcService
public class IdentityGrpcService implements IdentityService {

    @Inject
    GatewayCallerResolver resolver;

    @ConfigProperty(name = "scaigrid.introspection.cache-ttl", defaultValue = "5s")
    java.time.Duration cacheTtl;

    @ConfigProperty(name = "scaigrid.introspection.negative-cache-ttl", defaultValue = "2s")
    java.time.Duration negativeCacheTtl;

    @Override
    public Uni<IntrospectResponse> introspect(IntrospectRequest request) {
        if (request.getToken().isBlank()) {
            return Uni.createFrom().item(inactive("AUTH_TOKEN_MISSING"));
        }
        // every credential type is resolved; the asking service decides where each may be used
        return resolver.resolve(request.getToken(), CallerResolver.Channel.GRPC)
                .map(caller -> {
                    if (!request.getRequiredService().isBlank() && !caller.serviceScopes().contains(request.getRequiredService())) {
                        return inactive("AUTH_INSUFFICIENT_SCOPE");
                    }
                    return active(caller);
                })
                .onFailure(e -> e instanceof ApiException api && api.httpStatus() == 401)
                .recoverWithItem(e -> inactive(((ApiException) e).errorCode().code()));
    }

    private IntrospectResponse active(Caller caller) {
        var proto = ai.scaigrid.proto.scaigrid.v1.Caller.newBuilder()
                .addAllRoles(caller.roles())
                .addAllPermissions(caller.permissions())
                .addAllModelGroupIds(caller.modelGroupIds())
                .addAllServiceScopes(caller.serviceScopes());
        if (caller.partnerId() != null) {
            proto.setPartnerId(caller.partnerId());
        }
        if (caller.tenantId() != null) {
            proto.setTenantId(caller.tenantId());
        }
        if (caller.userId() != null) {
            proto.setUserId(caller.userId());
        }
        if (caller.credentialType() == CredentialType.API_KEY && caller.credentialId() != null) {
            proto.setApiKeyId(caller.credentialId());
        }
        if (caller.credentialType() == CredentialType.USER_JWT && caller.credentialId() != null) {
            proto.setExternalUserId(caller.credentialId());
        }
        if (caller.credentialType() == CredentialType.SERVICE_TOKEN && caller.credentialId() != null) {
            proto.setClientId(caller.credentialId());
        }
        return IntrospectResponse.newBuilder()
                .setActive(true)
                .setCredentialType(switch (caller.credentialType()) {
                    case API_KEY -> ai.scaigrid.proto.scaigrid.v1.CredentialType.CREDENTIAL_TYPE_API_KEY;
                    case USER_JWT -> ai.scaigrid.proto.scaigrid.v1.CredentialType.CREDENTIAL_TYPE_USER_JWT;
                    case SERVICE_TOKEN -> ai.scaigrid.proto.scaigrid.v1.CredentialType.CREDENTIAL_TYPE_SERVICE_TOKEN;
                })
                .setCaller(proto)
                .setCacheTtl(duration(cacheTtl))
                .build();
    }

    private IntrospectResponse inactive(String code) {
        return IntrospectResponse.newBuilder().setActive(false).setErrorCode(code).setCacheTtl(duration(negativeCacheTtl)).build();
    }

    private static Duration duration(java.time.Duration d) {
        return Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
    }
}
