package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.cache.RefreshingCache;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.commons.security.Permissions;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.RowSet;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * API keys: create (the secret is returned once), list (never the secret), revoke, and
 * authenticate a presented key. Authentication results are cached briefly
 * ({@code scaigrid.auth.key-cache-ttl}; a key in use is reloaded in the background before its entry
 * expires, so its requests never wait for the database); a revocation on this replica evicts at once,
 * other replicas see it within the ttl.
 */
@ApplicationScoped
public class ApiKeyService {
    private static final Logger LOG = Logger.getLogger(ApiKeyService.class);
    private static final Duration LAST_USED_RESOLUTION = Duration.ofMinutes(1);

    @Inject
    Pool pool;

    @ConfigProperty(name = "scaigrid.auth.key-cache-ttl", defaultValue = "5s")
    Duration cacheTtl;

    @ConfigProperty(name = "scaigrid.auth.key-cache-size", defaultValue = "100000")
    long cacheSize;

    /** Key hash → the outcome of its lookup (refusals too, to absorb floods of a bad key). */
    private RefreshingCache<String, Lookup> cache;

    @PostConstruct
    void createCache() {
        cache = new RefreshingCache<>(cacheTtl, cacheSize, this::lookup);
    }

    /** Forgets a key's cached lookup at once (it was revoked, or its user or tenant changed). */
    public void evict(String keyHash) {
        cache.invalidate(keyHash);
    }

    public record CreatedKey(String id, String name, String key, String prefix, String tenantId, String userId,
                             List<String> permissions, List<String> modelGroupIds, OffsetDateTime expiresAt,
                             OffsetDateTime createdAt) {
    }

    public record KeyInfo(String id, String name, String prefix, String tenantId, String userId, List<String> permissions,
                          List<String> modelGroupIds, OffsetDateTime expiresAt, OffsetDateTime lastUsedAt,
                          OffsetDateTime revokedAt, OffsetDateTime createdAt) {
    }

    /** The cached outcome of a lookup: a caller, or the reason it is refused (cached too, to absorb floods). */
    private record Lookup(Caller caller, String keyId, OffsetDateTime expiresAt, OffsetDateTime lastUsedAt) {
    }

    public Uni<Caller> authenticate(String presentedKey) {
        if (!ApiKeys.looksLikeKey(presentedKey)) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
        }
        String hash = ApiKeys.hash(presentedKey);
        return cache.get(hash)
                .map(lookup -> {
                    if (lookup.caller() == null || (lookup.expiresAt() != null && lookup.expiresAt().isBefore(OffsetDateTime.now()))) {
                        throw new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
                    }
                    touch(lookup);
                    return lookup.caller();
                });
    }

    private Uni<Lookup> lookup(String hash) {
        return pool.preparedQuery("""
                        SELECT k.id, k.tenant_id, k.user_id, k.permissions, k.model_group_ids, k.expires_at,
                               k.revoked_at, k.last_used_at, u.roles, u.status AS user_status,
                               t.partner_id, t.status AS tenant_status, """ + CustomRoleService.grantedSql("u") + """
                               , (SELECT g.id FROM model_groups g WHERE g.tenant_id = k.tenant_id AND g.is_default) AS default_group
                        FROM api_keys k JOIN users u ON u.id = k.user_id JOIN tenants t ON t.id = k.tenant_id
                        WHERE k.key_hash = $1""")
                .execute(Tuple.of(hash))
                .map(rows -> {
                    if (rows.size() == 0) {
                        return new Lookup(null, null, null, null);
                    }
                    Row r = rows.iterator().next();
                    boolean usable = r.getOffsetDateTime("revoked_at") == null
                            && "active".equals(r.getString("user_status"))
                            && "active".equals(r.getString("tenant_status"));
                    if (!usable) {
                        return new Lookup(null, r.getString("id"), null, null);
                    }
                    Set<String> roles = Set.of(r.getArrayOfStrings("roles"));
                    String[] subset = r.getArrayOfStrings("permissions");
                    Set<String> groups = restrictedGroups(r.getArrayOfStrings("model_group_ids"), r.getString("default_group"));
                    Caller caller = new Caller(r.getString("partner_id"), r.getString("tenant_id"), r.getString("user_id"),
                            roles, Caller.permissionsOf(roles, Set.copyOf(java.util.Arrays.asList(r.getArrayOfStrings("granted"))),
                                    subset == null ? null : Set.of(subset)),
                            CredentialType.API_KEY, r.getString("id"), groups, null);
                    return new Lookup(caller, r.getString("id"), r.getOffsetDateTime("expires_at"),
                            r.getOffsetDateTime("last_used_at"));
                });
    }

    /**
     * A key restricted to model groups also sees its tenant's default group: that group is the tenant's
     * "visible to everyone here" list (seed 003). Unrestricted keys (no groups) see everything anyway.
     */
    static Set<String> restrictedGroups(String[] keyGroups, String tenantDefaultGroup) {
        if (keyGroups == null || keyGroups.length == 0) {
            return null;
        }
        Set<String> groups = new java.util.LinkedHashSet<>(java.util.Arrays.asList(keyGroups));
        if (tenantDefaultGroup != null) {
            groups.add(tenantDefaultGroup);
        }
        return java.util.Collections.unmodifiableSet(groups);
    }

    private final java.util.Map<String, Long> lastTouched = new java.util.concurrent.ConcurrentHashMap<>();

    /** Records use at most once a minute per key, off the request path. */
    private void touch(Lookup lookup) {
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        if (lookup.lastUsedAt() != null && lookup.lastUsedAt().plus(LAST_USED_RESOLUTION).isAfter(now)) {
            return;
        }
        // the cached lookup's last_used_at is stale once we touched it: remember our own touches so a
        // busy key costs one UPDATE a minute, not one per request
        long nowMillis = System.currentTimeMillis();
        Long touched = lastTouched.get(lookup.keyId());
        if (touched != null && nowMillis - touched < LAST_USED_RESOLUTION.toMillis()) {
            return;
        }
        lastTouched.put(lookup.keyId(), nowMillis);
        if (lastTouched.size() > 100_000) {
            lastTouched.clear();
        }
        pool.preparedQuery("UPDATE api_keys SET last_used_at = now() WHERE id = $1 "
                        + "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')")
                .execute(Tuple.of(lookup.keyId()))
                .subscribe().with(ok -> { }, e -> LOG.debugf(e, "could not record last use of key %s", lookup.keyId()));
    }

    public Uni<CreatedKey> create(Caller creator, String name, String ownerUserId, List<String> permissions,
                                  List<String> modelGroupIds, OffsetDateTime expiresAt) {
        if (name == null || name.isBlank() || name.length() > 200) {
            return Uni.createFrom().failure(ApiException.validation("name", "name is required (1-200 characters)"));
        }
        if (expiresAt != null && expiresAt.isBefore(OffsetDateTime.now())) {
            return Uni.createFrom().failure(ApiException.validation("expires_at", "expires_at must be in the future"));
        }
        if (permissions != null) {
            for (String p : permissions) {
                if (!Permissions.isKnown(p)) {
                    return Uni.createFrom().failure(ApiException.validation("permissions", "unknown permission: " + p));
                }
            }
        }
        String userId = ownerUserId == null ? creator.userId() : ownerUserId;
        return pool.preparedQuery("SELECT u.id, u.tenant_id, u.status, t.partner_id FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1")
                .execute(Tuple.of(userId))
                .flatMap(rows -> {
                    Row owner = rows.size() == 0 ? null : rows.iterator().next();
                    if (owner == null || !creator.canSee(owner.getString("tenant_id"), owner.getString("partner_id"))) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.NOT_FOUND, "User not found",
                                Map.of("user_id", userId)));
                    }
                    if (!userId.equals(creator.userId()) && !creator.has(Permissions.USERS_MANAGE)) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED,
                                "Creating keys for other users needs users:manage"));
                    }
                    if (!"active".equals(owner.getString("status"))) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.FAILED_PRECONDITION, "User is not active"));
                    }
                    return insert(creator.userId(), name, owner.getString("tenant_id"), userId, permissions, modelGroupIds, expiresAt);
                });
    }

    /** Inserts a key; used by {@link #create} and by the first-start bootstrap (possibly with a configured key). */
    Uni<CreatedKey> insert(String createdBy, String name, String tenantId, String userId, List<String> permissions,
                           List<String> modelGroupIds, OffsetDateTime expiresAt) {
        return insertKey(ApiKeys.generate(), createdBy, name, tenantId, userId, permissions, modelGroupIds, expiresAt);
    }

    Uni<CreatedKey> insertKey(String key, String createdBy, String name, String tenantId, String userId,
                              List<String> permissions, List<String> modelGroupIds, OffsetDateTime expiresAt) {
        String id = ApiKeys.newId("apikey");
        return pool.preparedQuery("""
                        INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, permissions, model_group_ids,
                                              expires_at, created_by)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING created_at""")
                .execute(Tuple.from(Arrays.asList(id, tenantId, userId, name, ApiKeys.visiblePrefix(key), ApiKeys.hash(key),
                        permissions == null ? null : permissions.toArray(String[]::new),
                        modelGroupIds == null ? null : modelGroupIds.toArray(String[]::new), expiresAt, createdBy)))
                .map(rows -> new CreatedKey(id, name, key, ApiKeys.visiblePrefix(key), tenantId, userId, permissions,
                        modelGroupIds, expiresAt, rows.iterator().next().getOffsetDateTime("created_at")));
    }

    /** The caller's own keys; with {@code users:manage}, every key of the caller's tenant. */
    public Uni<List<KeyInfo>> list(Caller caller, boolean wholeTenant) {
        boolean tenantWide = wholeTenant && caller.has(Permissions.USERS_MANAGE);
        String sql = "SELECT * FROM api_keys WHERE " + (tenantWide ? "tenant_id = $1" : "user_id = $1") + " ORDER BY created_at DESC";
        return pool.preparedQuery(sql).execute(Tuple.of(tenantWide ? caller.tenantId() : caller.userId()))
                .map(ApiKeyService::toInfos);
    }

    /** Revokes a key the caller owns, or any key of a tenant the caller administers. Unknown and foreign keys are 404. */
    public Uni<Void> revoke(Caller caller, String keyId) {
        return pool.preparedQuery("SELECT k.user_id, k.tenant_id, k.key_hash, t.partner_id FROM api_keys k "
                        + "JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1")
                .execute(Tuple.of(keyId))
                .flatMap(rows -> {
                    Row key = rows.size() == 0 ? null : rows.iterator().next();
                    boolean own = key != null && key.getString("user_id").equals(caller.userId());
                    boolean admin = key != null && caller.has(Permissions.USERS_MANAGE)
                            && caller.canSee(key.getString("tenant_id"), key.getString("partner_id"));
                    if (!own && !admin) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.NOT_FOUND, "API key not found",
                                Map.of("key_id", keyId)));
                    }
                    return pool.preparedQuery("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1")
                            .execute(Tuple.of(keyId))
                            .invoke(() -> cache.invalidate(key.getString("key_hash"))).replaceWithVoid();
                });
    }

    public Uni<Boolean> anyKeyExists() {
        return pool.query("SELECT EXISTS (SELECT 1 FROM api_keys)").execute()
                .map(rows -> rows.iterator().next().getBoolean(0));
    }

    static List<KeyInfo> toInfos(RowSet<Row> rows) {
        List<KeyInfo> out = new ArrayList<>();
        for (Row r : rows) {
            out.add(new KeyInfo(r.getString("id"), r.getString("name"), r.getString("prefix"), r.getString("tenant_id"),
                    r.getString("user_id"), listOrNull(r.getArrayOfStrings("permissions")),
                    listOrNull(r.getArrayOfStrings("model_group_ids")), r.getOffsetDateTime("expires_at"),
                    r.getOffsetDateTime("last_used_at"), r.getOffsetDateTime("revoked_at"), r.getOffsetDateTime("created_at")));
        }
        return out;
    }

    private static List<String> listOrNull(String[] values) {
        return values == null ? null : List.of(values);
    }
}
