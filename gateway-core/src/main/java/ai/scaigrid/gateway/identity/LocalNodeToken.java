package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.commons.security.ServiceScopes;
import io.quarkus.runtime.StartupEvent;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * For a single-machine install ({@code ./scaigrid up}): on start, issues a service token for the
 * local node-agent (scopes {@code scaiinfer.node}, {@code scaimind.node}) and writes it to
 * {@code scaigrid.local-node.token-file} (owner-only permissions), revoking the one of the previous
 * start. The node-agent reads that file, so a first chat completion works without any manual step.
 * Unset (the default, and what production uses): nothing happens; nodes get tokens from ScaiKey or
 * from an admin via {@code POST /v1/service-tokens}.
 */
@ApplicationScoped
public class LocalNodeToken {
    private static final Logger LOG = Logger.getLogger(LocalNodeToken.class);
    static final String NAME = "local node-agent (written to the launcher's data directory)";

    @ConfigProperty(name = "scaigrid.local-node.token-file")
    Optional<String> file;

    @Inject
    ServiceTokenService tokens;

    @Inject
    Pool pool;

    // after ServiceTokenService has loaded its signing keys
    void onStart(@Observes @Priority(6000) StartupEvent event) {
        if (file.isEmpty() || file.get().isBlank()) {
            return;
        }
        Caller system = new Caller(null, null, null, Set.of("super_admin"), Caller.permissionsOf(Set.of("super_admin"), null),
                CredentialType.SERVICE_TOKEN, "system", null, null);
        var issued = pool.preparedQuery("UPDATE service_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL")
                .execute(Tuple.of(NAME))
                .flatMap(x -> tokens.issue(system, NAME, List.of(ServiceScopes.SCAIINFER_NODE, ServiceScopes.SCAIMIND_NODE),
                        Duration.ofDays(30).toSeconds(), null))
                .await().atMost(Duration.ofSeconds(30));
        Path target = Path.of(file.get());
        try {
            Files.createDirectories(target.toAbsolutePath().getParent());
            Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
            Files.writeString(tmp, issued.token() + "\n", StandardCharsets.UTF_8);
            try {
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException ignored) {
                // not a POSIX file system
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            LOG.infof("wrote a service token for the local node-agent to %s (expires %s)", target, issued.expiresAt());
        } catch (Exception e) {
            LOG.errorf("could not write the local node-agent token to %s: %s", target, e.getMessage());
        }
    }
}
