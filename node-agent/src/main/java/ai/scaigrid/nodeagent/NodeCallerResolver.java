package ai.scaigrid.nodeagent;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CallerResolver;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.commons.security.ServiceScopes;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;
import java.util.Set;

/**
 * Only the gateway may call a node. It proves itself with either the shared secret
 * {@code scaigrid.node.inbound-token} or this node's own service token (which the gateway learns
 * from the node's heartbeats; nobody else holds it). Anything else, API keys included, is
 * rejected. Comparisons are constant-time.
 */
@ApplicationScoped
public class NodeCallerResolver implements CallerResolver {

    @Inject
    NodeAgentConfig config;

    @Inject
    ServiceTokenSource ownToken;

    @Override
    public Uni<Caller> resolve(String bearerToken, Channel channel) {
        if (channel == Channel.GRPC && (matches(config.inboundToken(), bearerToken) || matches(ownToken.current(), bearerToken))) {
            return Uni.createFrom().item(new Caller(null, null, "gateway", Set.of(), Set.of(), CredentialType.SERVICE_TOKEN,
                    "gateway", Set.of(), Set.of(ServiceScopes.SCAIINFER_NODE)));
        }
        return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
    }

    private static boolean matches(Optional<String> expected, String presented) {
        return expected.filter(e -> !e.isBlank())
                .map(e -> MessageDigest.isEqual(e.trim().getBytes(StandardCharsets.UTF_8), presented.getBytes(StandardCharsets.UTF_8)))
                .orElse(false);
    }
}
