package ai.scaigrid.commons.it;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.WebSocketAuthenticator;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** WebSocket handshakes authenticate like REST and gRPC: same resolver, uniform 401, no service tokens. */
@QuarkusTest
class WebSocketAuthenticatorTest {

    @Inject
    WebSocketAuthenticator auth;

    @Test
    void findsTheTokenInHeaderSubprotocolOrQuery() {
        assertThat(WebSocketAuthenticator.bearer("Bearer abc", null, null)).contains("abc");
        assertThat(WebSocketAuthenticator.bearer(null, "jsonrpc, bearer, abc", null)).contains("abc");
        assertThat(WebSocketAuthenticator.bearer(null, null, "abc")).contains("abc");
        assertThat(WebSocketAuthenticator.bearer("Basic x", "jsonrpc", "")).isEmpty();
    }

    @Test
    void resolvesCallersAndRefusesTheRest() {
        Caller caller = auth.authenticate("10.0.0.1", null, "bearer, token-user", null).await().atMost(Duration.ofSeconds(5));
        assertThat(caller.roles()).contains("tenant_user");
        assertCode(() -> auth.authenticate("10.0.0.2", null, null, null), ErrorCode.AUTH_TOKEN_MISSING);
        assertCode(() -> auth.authenticate("10.0.0.2", "Bearer nonsense", null, null), ErrorCode.AUTH_TOKEN_INVALID);
        // a service token is for gRPC only
        assertCode(() -> auth.authenticate("10.0.0.2", "Bearer svc-node", null, null), ErrorCode.AUTH_TOKEN_INVALID);
        assertCode(() -> auth.authenticate("10.0.0.2", "Bearer token-down", null, null), ErrorCode.SERVICE_UNAVAILABLE);
    }

    @Test
    void repeatedFailuresFromOneSourceAreThrottled() {
        for (int i = 0; i < 25; i++) {
            try {
                auth.authenticate("10.9.9.9", "Bearer wrong-" + i, null, null).await().atMost(Duration.ofSeconds(5));
            } catch (ApiException ignored) {
                // expected
            }
        }
        assertCode(() -> auth.authenticate("10.9.9.9", "Bearer token-user", null, null), ErrorCode.RATE_LIMITED);
    }

    private static void assertCode(java.util.function.Supplier<io.smallrye.mutiny.Uni<Caller>> call, ErrorCode code) {
        assertThatThrownBy(() -> call.get().await().atMost(Duration.ofSeconds(5)))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.errorCode()).isEqualTo(code));
    }
}
