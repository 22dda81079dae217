package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;

import java.util.Optional;

/**
 * Authentication for WebSocket handshakes, with the same rules as REST and gRPC: the credential
 * becomes a {@link Caller} through the service's {@link CallerResolver} (channel WEBSOCKET, so
 * service tokens are refused), failures are one uniform AUTH_TOKEN_INVALID and are throttled per
 * source. Browsers cannot set headers on a WebSocket, so besides {@code Authorization: Bearer ...}
 * the token may come as the subprotocol pair {@code Sec-WebSocket-Protocol: bearer, <token>} or the
 * {@code access_token} query parameter (avoid the latter where URLs are logged).
 */
@ApplicationScoped
public class WebSocketAuthenticator {

    @Inject
    Instance<CallerResolver> resolver;

    @Inject
    AuthFailureLimiter limiter;

    /** The bearer token of a handshake, from the first of the three places that has one. */
    public static Optional<String> bearer(String authorization, String secWebSocketProtocol, String accessTokenQuery) {
        if (authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7) && authorization.length() > 7) {
            return Optional.of(authorization.substring(7).trim());
        }
        if (secWebSocketProtocol != null) {
            String[] parts = secWebSocketProtocol.split(",");
            for (int i = 0; i + 1 < parts.length; i++) {
                if (parts[i].trim().equalsIgnoreCase("bearer") && !parts[i + 1].isBlank()) {
                    return Optional.of(parts[i + 1].trim());
                }
            }
        }
        if (accessTokenQuery != null && !accessTokenQuery.isBlank()) {
            return Optional.of(accessTokenQuery.trim());
        }
        return Optional.empty();
    }

    /**
     * The caller of a handshake, or a failure with AUTH_TOKEN_MISSING / AUTH_TOKEN_INVALID /
     * RATE_LIMITED / SERVICE_UNAVAILABLE (to be answered before upgrading, or as a close reason).
     */
    public Uni<Caller> authenticate(String source, String authorization, String secWebSocketProtocol, String accessTokenQuery) {
        String from = source == null ? "unknown" : source;
        if (limiter.isBlocked(from)) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.RATE_LIMITED, "Too many failed authentication attempts",
                    null, limiter.retryAfterSeconds(from), null));
        }
        Optional<String> token = bearer(authorization, secWebSocketProtocol, accessTokenQuery);
        if (token.isEmpty()) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_MISSING));
        }
        if (!resolver.isResolvable()) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.SERVICE_UNAVAILABLE, "Authentication is not configured"));
        }
        return resolver.get().resolve(token.get(), CallerResolver.Channel.WEBSOCKET)
                .onFailure().transform(failure -> {
                    if (failure instanceof ApiException api && api.httpStatus() != 401) {
                        return api;
                    }
                    if (!(failure instanceof ApiException)) {
                        return new ApiException(ErrorCode.SERVICE_UNAVAILABLE, "Authentication is temporarily unavailable");
                    }
                    limiter.recordFailure(from);
                    return new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
                });
    }
}
