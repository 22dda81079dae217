package ai.scaigrid.commons.security;

import io.smallrye.mutiny.Uni;

/**
 * Turns a bearer credential into a {@link Caller}. gateway-core resolves API keys from its own
 * database; module services ask gateway-core over {@code scaigrid.v1} (cached) and check JWTs
 * locally. Fails with {@code ApiException(AUTH_TOKEN_INVALID)} for a credential it rejects.
 */
public interface CallerResolver {

    /**
     * @param bearerToken the token after {@code Bearer }
     * @param channel     where it was presented; service tokens are only valid on {@link Channel#GRPC}
     */
    Uni<Caller> resolve(String bearerToken, Channel channel);

    enum Channel { REST, GRPC, WEBSOCKET }
}
