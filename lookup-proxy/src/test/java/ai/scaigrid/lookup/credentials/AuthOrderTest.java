package ai.scaigrid.lookup.credentials;

import org.junit.jupiter.api.Test;

import java.util.List;

import static ai.scaigrid.lookup.credentials.UpstreamCredentials.Source.ENV;
import static ai.scaigrid.lookup.credentials.UpstreamCredentials.Source.JWT;
import static ai.scaigrid.lookup.credentials.UpstreamCredentials.Source.TENANT_KEY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** scaigrid.lookup.auth-order (SCAIFLOW_DEPLOY_AUTH): names, aliases, order, and refusal of nonsense at start-up. */
class AuthOrderTest {

    @Test
    void theSeedsOrderAndReorderings() {
        assertThat(UpstreamCredentials.parseOrder(List.of("jwt", "tenant_key", "env"))).containsExactly(JWT, TENANT_KEY, ENV);
        assertThat(UpstreamCredentials.parseOrder(List.of("tenant_key", "jwt"))).containsExactly(TENANT_KEY, JWT);
        assertThat(UpstreamCredentials.parseOrder(List.of(" Vault ", "SCAIKEY_JWT", "scaigrid-api-key")))
                .containsExactly(TENANT_KEY, JWT, ENV);
        assertThat(UpstreamCredentials.parseOrder(List.of("jwt", "jwt", "env"))).containsExactly(JWT, ENV);
    }

    @Test
    void unknownOrEmptyOrdersStopTheStart() {
        assertThatThrownBy(() -> UpstreamCredentials.parseOrder(List.of("jwt", "password")))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("unknown source 'password'");
        assertThatThrownBy(() -> UpstreamCredentials.parseOrder(List.of(" ")))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("names no credential source");
    }
}
