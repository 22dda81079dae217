package ai.scaigrid.lookup.credentials;

import io.smallrye.mutiny.Uni;

import java.time.OffsetDateTime;
import java.util.Optional;

/**
 * Where tenant secrets live, addressed like ScaiVault paths: {@code tenants/{tenant_id}/{name}}.
 * The default is PostgreSQL with envelope encryption ({@link PostgresTenantSecretStore}); a Vault-backed
 * store replaces it by being another bean of this type. Values are write-only to the outside: nothing
 * here is ever put in a response or a log line.
 */
public interface TenantSecretStore {

    /** The secret's value; empty when none is stored (or it cannot be opened, which is logged). */
    Uni<Optional<String>> read(String tenantId, String name);

    /** Stores or replaces the value; {@code hint} is a short, non-secret prefix shown to admins. */
    Uni<Written> write(String tenantId, String name, String value, String hint, String actor);

    /** What is stored, without the value. */
    Uni<Optional<SecretInfo>> describe(String tenantId, String name);

    /** @return whether something was deleted */
    Uni<Boolean> delete(String tenantId, String name);

    /** The vault-style path of a tenant secret; also the associated data binding a ciphertext to its owner. */
    static String path(String tenantId, String name) {
        return "tenants/" + tenantId + "/" + name;
    }

    record SecretInfo(String tenantId, String name, String hint, String setBy, OffsetDateTime createdAt,
                      OffsetDateTime updatedAt) {
    }

    record Written(SecretInfo info, boolean created) {
    }
}
