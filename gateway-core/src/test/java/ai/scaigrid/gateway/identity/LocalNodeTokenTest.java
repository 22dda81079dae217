package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.ServiceScopes;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** The single-machine install's node token: written at start, owner-only, a valid node-scoped service token. */
@QuarkusTest
class LocalNodeTokenTest {
    @Inject
    ServiceTokenService tokens;

    @Test
    void startWritesAUsableNodeToken() throws Exception {
        Path file = Path.of("target/local-node-token.txt");
        assertThat(file).exists();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        Caller caller = tokens.verify(Files.readString(file).trim()).await().atMost(Duration.ofSeconds(5));
        assertThat(caller.serviceScopes()).contains(ServiceScopes.SCAIINFER_NODE, ServiceScopes.SCAIMIND_NODE);
    }
}
