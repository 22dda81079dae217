package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.security.Role;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Optional;

/**
 * First start of an empty database: creates the default partner, tenant and a super-admin user,
 * and one super-admin API key — taken from {@code scaigrid.bootstrap.admin-api-key} when set,
 * generated otherwise and shown once (log, and {@code scaigrid.bootstrap.key-file} when set,
 * which {@code ./scaigrid up} prints). Replicas starting together agree through an advisory lock.
 */
@ApplicationScoped
public class BootstrapService {
    private static final Logger LOG = Logger.getLogger(BootstrapService.class);
    private static final long BOOTSTRAP_LOCK = 0x5ca1_9e1dL;

    @Inject
    Pool pool;

    @ConfigProperty(name = "scaigrid.bootstrap.enabled", defaultValue = "true")
    boolean enabled;

    @ConfigProperty(name = "scaigrid.bootstrap.admin-api-key")
    Optional<String> configuredKey;

    @ConfigProperty(name = "scaigrid.bootstrap.key-file")
    Optional<String> keyFile;

    @ConfigProperty(name = "scaigrid.bootstrap.partner-slug", defaultValue = "default")
    String partnerSlug;

    @ConfigProperty(name = "scaigrid.bootstrap.tenant-slug", defaultValue = "default")
    String tenantSlug;

    void onStart(@Observes StartupEvent event) {
        if (enabled) {
            bootstrap().await().atMost(Duration.ofSeconds(60));
        }
    }

    /** @return the generated key when this call bootstrapped an empty database, else null */
    Uni<String> bootstrap() {
        if (configuredKey.isPresent() && !ApiKeys.looksLikeKey(configuredKey.get())) {
            return Uni.createFrom().failure(new IllegalStateException(
                    "scaigrid.bootstrap.admin-api-key must look like sgk_ followed by 32-128 letters or digits"));
        }
        return pool.withTransaction(conn -> conn.preparedQuery("SELECT pg_advisory_xact_lock($1)").execute(Tuple.of(BOOTSTRAP_LOCK))
                .flatMap(locked -> conn.query("SELECT EXISTS (SELECT 1 FROM partners)").execute())
                .flatMap(rows -> {
                    if (rows.iterator().next().getBoolean(0)) {
                        return Uni.createFrom().nullItem();
                    }
                    String partnerId = ApiKeys.newId("ptn");
                    String tenantId = ApiKeys.newId("tnt");
                    String userId = ApiKeys.newId("usr");
                    String key = configuredKey.orElseGet(ApiKeys::generate);
                    return conn.preparedQuery("INSERT INTO partners (id, slug, display_name) VALUES ($1, $2, $3)")
                            .execute(Tuple.of(partnerId, partnerSlug, "Default partner"))
                            .flatMap(x -> conn.preparedQuery("INSERT INTO tenants (id, partner_id, slug, display_name) VALUES ($1, $2, $3, $4)")
                                    .execute(Tuple.of(tenantId, partnerId, tenantSlug, "Default tenant")))
                            .flatMap(x -> conn.preparedQuery("INSERT INTO users (id, tenant_id, email, display_name, roles) VALUES ($1, $2, $3, $4, $5)")
                                    .execute(Tuple.of(userId, tenantId, "admin@localhost", "Administrator",
                                            new String[]{Role.SUPER_ADMIN.key()})))
                            .flatMap(x -> conn.preparedQuery("""
                                            INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, created_by)
                                            VALUES ($1, $2, $3, $4, $5, $6, $7)""")
                                    .execute(Tuple.tuple(java.util.List.of(ApiKeys.newId("apikey"), tenantId, userId,
                                            "bootstrap super-admin key", ApiKeys.visiblePrefix(key), ApiKeys.hash(key), "bootstrap"))))
                            .map(x -> key);
                }))
                .invoke(key -> {
                    if (key != null) {
                        announce(key);
                    }
                });
    }

    private void announce(String key) {
        boolean generated = configuredKey.isEmpty();
        if (generated) {
            LOG.warnf("%n==================================================================%n"
                    + " First start: created the default partner, tenant and a super-admin.%n"
                    + " Super-admin API key (shown once, store it now):%n   %s%n"
                    + "==================================================================", key);
        } else {
            LOG.info("First start: created the default partner, tenant and a super-admin with the configured API key");
        }
        keyFile.filter(f -> generated).ifPresent(file -> {
            try {
                Path path = Path.of(file);
                if (path.getParent() != null) {
                    Files.createDirectories(path.getParent());
                }
                Files.writeString(path, key + System.lineSeparator(), StandardCharsets.UTF_8,
                        StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
                try {
                    Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
                } catch (UnsupportedOperationException ignored) {
                    // not a POSIX file system
                }
            } catch (IOException e) {
                LOG.errorf(e, "could not write the bootstrap key file %s", file);
            }
        });
    }
}
