package ai.scaigrid.lookup.credentials;

import ai.scaigrid.commons.crypto.EnvelopeEncryption;
import ai.scaigrid.commons.crypto.PlatformKek;
import ai.scaigrid.commons.error.ErrorCode;
import io.quarkus.arc.DefaultBean;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;

import java.util.Optional;

/**
 * The default secret store: table {@code tenant_secrets}, each value sealed with the shared envelope
 * encryption (own data key, wrapped by the platform KEK) and bound to its path, so a ciphertext copied
 * to another tenant's row does not open. Without a KEK, writes are refused (503) rather than stored in clear.
 */
@DefaultBean
@ApplicationScoped
public class PostgresTenantSecretStore implements TenantSecretStore {
    private static final Logger LOG = Logger.getLogger(PostgresTenantSecretStore.class);

    private final Pool pool;
    private final PlatformKek kek;

    public PostgresTenantSecretStore(Pool pool, PlatformKek kek) {
        this.pool = pool;
        this.kek = kek;
    }

    @Override
    public Uni<Optional<String>> read(String tenantId, String name) {
        return pool.preparedQuery("SELECT sealed_value FROM tenant_secrets WHERE tenant_id = $1 AND name = $2")
                .execute(Tuple.of(tenantId, name))
                .map(rows -> {
                    if (rows.size() == 0) {
                        return Optional.empty();
                    }
                    Optional<EnvelopeEncryption> encryption = kek.encryption();
                    if (encryption.isEmpty()) {
                        LOG.errorf("secret %s is stored but SCAIGRID_KEK is not configured: it cannot be used",
                                TenantSecretStore.path(tenantId, name));
                        return Optional.empty();
                    }
                    try {
                        return Optional.of(encryption.get().open(rows.iterator().next().getString("sealed_value"),
                                TenantSecretStore.path(tenantId, name)));
                    } catch (EnvelopeEncryption.SecretDecryptionException e) {
                        // wrong KEK, a row copied from another tenant, or tampering: never fall back to the bytes
                        LOG.errorf("secret %s does not open (%s): treated as absent", TenantSecretStore.path(tenantId, name),
                                e.getMessage());
                        return Optional.empty();
                    }
                });
    }

    @Override
    public Uni<Written> write(String tenantId, String name, String value, String hint, String actor) {
        String sealed = kek.require(ErrorCode.SERVICE_UNAVAILABLE).seal(value, TenantSecretStore.path(tenantId, name));
        return pool.preparedQuery("""
                        INSERT INTO tenant_secrets (tenant_id, name, sealed_value, hint, created_by)
                        VALUES ($1, $2, $3, $4, $5)
                        ON CONFLICT (tenant_id, name) DO UPDATE
                            SET sealed_value = EXCLUDED.sealed_value, hint = EXCLUDED.hint,
                                created_by = EXCLUDED.created_by, updated_at = now()
                        RETURNING tenant_id, name, hint, created_by, created_at, updated_at, (xmax = 0) AS inserted""")
                .execute(Tuple.of(tenantId, name, sealed, hint, actor))
                .map(rows -> {
                    Row row = rows.iterator().next();
                    return new Written(info(row), row.getBoolean("inserted"));
                });
    }

    @Override
    public Uni<Optional<SecretInfo>> describe(String tenantId, String name) {
        return pool.preparedQuery("""
                        SELECT tenant_id, name, hint, created_by, created_at, updated_at
                        FROM tenant_secrets WHERE tenant_id = $1 AND name = $2""")
                .execute(Tuple.of(tenantId, name))
                .map(rows -> rows.size() == 0 ? Optional.<SecretInfo>empty() : Optional.of(info(rows.iterator().next())));
    }

    @Override
    public Uni<Boolean> delete(String tenantId, String name) {
        return pool.preparedQuery("DELETE FROM tenant_secrets WHERE tenant_id = $1 AND name = $2")
                .execute(Tuple.of(tenantId, name))
                .map(rows -> rows.rowCount() > 0);
    }

    private static SecretInfo info(Row row) {
        return new SecretInfo(row.getString("tenant_id"), row.getString("name"), row.getString("hint"),
                row.getString("created_by"), row.getOffsetDateTime("created_at"), row.getOffsetDateTime("updated_at"));
    }
}
