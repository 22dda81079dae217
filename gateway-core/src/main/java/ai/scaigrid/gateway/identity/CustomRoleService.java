package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.Role;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Custom roles (reference §3.2): named, tenant-scoped sets of core and module permissions, additive to the built-in
 * roles. A custom role grants at most what a tenant admin holds, so no tenant role reaches partner or platform
 * permissions; whoever manages roles without being an admin (a custom role with {@code users:manage}) may put into a
 * role, or hand out, only permissions they hold themselves. Roles of a tenant the caller cannot see are not found.
 * Changes reach API keys on this replica at once (their cached lookups are evicted) and on other replicas within
 * {@code scaigrid.auth.key-cache-ttl}; user JWTs read the roles on every request.
 */
@ApplicationScoped
public class CustomRoleService {
    /** Everything a tenant-scoped role may grant. */
    static final Set<String> GRANTABLE = Role.TENANT_ADMIN.permissions();
    static final int MAX_PER_TENANT = 500;

    @Inject
    Pool pool;

    @Inject
    TenancyService tenancy;

    @Inject
    ApiKeyService apiKeys;

    public record CustomRole(String id, String tenantId, String name, String slug, String description,
                             List<String> corePermissions, List<String> modulePermissions, String createdBy,
                             OffsetDateTime createdAt, OffsetDateTime updatedAt) {
    }

    /** A change to a role; null fields stay as they are. */
    public record Change(String name, String slug, String description, List<String> corePermissions,
                         List<String> modulePermissions) {
    }

    /** SQL for the permissions a user row (alias {@code user}) holds through custom roles of its own tenant. */
    static String grantedSql(String user) {
        return "ARRAY(SELECT DISTINCT p FROM custom_roles cr, unnest(cr.core_permissions || cr.module_permissions) p"
                + " WHERE cr.id = ANY (" + user + ".custom_role_ids) AND cr.tenant_id = " + user + ".tenant_id) AS granted";
    }

    public Uni<CustomRole> create(Caller caller, String tenantId, Change c) {
        String name = TenancyService.requireText("name", c.name(), 100);
        String slug = validSlug(c.slug());
        String description = description(c.description());
        List<String> core = permissions("core_permissions", c.corePermissions(), Permissions.CORE);
        List<String> module = permissions("module_permissions", c.modulePermissions(), Permissions.MODULE);
        requireSome(core, module);
        requireMayGrant(caller, core, module);
        return tenancy.getTenant(caller, targetTenant(caller, tenantId))
                .flatMap(t -> pool.preparedQuery("SELECT count(*) AS n FROM custom_roles WHERE tenant_id = $1").execute(Tuple.of(t.id()))
                        .flatMap(n -> {
                            if (n.iterator().next().getLong("n") >= MAX_PER_TENANT) {
                                return Uni.createFrom().failure(new ApiException(ErrorCode.FAILED_PRECONDITION,
                                        "A tenant has at most " + MAX_PER_TENANT + " custom roles"));
                            }
                            return pool.preparedQuery("""
                                            INSERT INTO custom_roles (id, tenant_id, name, slug, description, core_permissions,
                                                                      module_permissions, created_by)
                                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""")
                                    .execute(Tuple.from(Arrays.asList(ApiKeys.newId("role"), t.id(), name, slug, description,
                                            core.toArray(String[]::new), module.toArray(String[]::new), caller.userId())));
                        }))
                .onFailure(TenancyService::isUniqueViolation).transform(e -> slugConflict(slug))
                .map(rows -> role(rows.iterator().next()));
    }

    public Uni<List<CustomRole>> list(Caller caller, String tenantId) {
        return tenancy.getTenant(caller, targetTenant(caller, tenantId)).flatMap(t -> pool.preparedQuery(
                        "SELECT * FROM custom_roles WHERE tenant_id = $1 ORDER BY created_at, id").execute(Tuple.of(t.id())))
                .map(rows -> {
                    List<CustomRole> out = new ArrayList<>();
                    rows.forEach(r -> out.add(role(r)));
                    return out;
                });
    }

    /** The tenant named, or else the caller's own (a caller without one must name it). */
    private static String targetTenant(Caller caller, String tenantId) {
        String target = tenantId == null ? caller.tenantId() : tenantId;
        if (target == null) {
            throw ApiException.validation("tenant_id", "tenant_id is required for a caller without a tenant");
        }
        return target;
    }

    public Uni<CustomRole> get(Caller caller, String id) {
        return pool.preparedQuery("SELECT cr.*, t.partner_id FROM custom_roles cr JOIN tenants t ON t.id = cr.tenant_id WHERE cr.id = $1")
                .execute(Tuple.of(id))
                .map(rows -> {
                    Row r = rows.size() == 0 ? null : rows.iterator().next();
                    if (r == null || !caller.canSee(r.getString("tenant_id"), r.getString("partner_id"))) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Custom role not found", Map.of("custom_role_id", id));
                    }
                    return role(r);
                });
    }

    public Uni<CustomRole> update(Caller caller, String id, Change c) {
        String name = c.name() == null ? null : TenancyService.requireText("name", c.name(), 100);
        String slug = c.slug() == null ? null : validSlug(c.slug());
        String description = description(c.description());
        List<String> core = c.corePermissions() == null ? null : permissions("core_permissions", c.corePermissions(), Permissions.CORE);
        List<String> module = c.modulePermissions() == null ? null
                : permissions("module_permissions", c.modulePermissions(), Permissions.MODULE);
        return get(caller, id).flatMap(existing -> {
            List<String> newCore = core == null ? existing.corePermissions() : core;
            List<String> newModule = module == null ? existing.modulePermissions() : module;
            requireSome(newCore, newModule);
            // changing a role changes what its holders get: the caller must be able to grant the old and the new set
            requireMayGrant(caller, existing.corePermissions(), existing.modulePermissions());
            requireMayGrant(caller, newCore, newModule);
            return pool.preparedQuery("""
                            UPDATE custom_roles SET name = coalesce($2, name), slug = coalesce($3, slug),
                                   description = CASE WHEN $4::boolean THEN $5 ELSE description END,
                                   core_permissions = $6, module_permissions = $7, updated_at = now()
                            WHERE id = $1 RETURNING *""")
                    .execute(Tuple.from(Arrays.asList(id, name, slug, c.description() != null, description,
                            newCore.toArray(String[]::new), newModule.toArray(String[]::new))))
                    .onFailure(TenancyService::isUniqueViolation).transform(e -> slugConflict(slug))
                    .flatMap(rows -> {
                        if (rows.size() == 0) { // deleted meanwhile
                            return Uni.createFrom().failure(new ApiException(ErrorCode.NOT_FOUND, "Custom role not found",
                                    Map.of("custom_role_id", id)));
                        }
                        CustomRole updated = role(rows.iterator().next());
                        return evictHoldersOf(id).replaceWith(updated);
                    });
        });
    }

    /** Deletes the role and takes it from every user who held it. */
    public Uni<Void> delete(Caller caller, String id) {
        return get(caller, id).flatMap(existing -> {
            requireMayGrant(caller, existing.corePermissions(), existing.modulePermissions());
            return holdersKeys(id).flatMap(keys -> pool.withTransaction(conn -> conn.preparedQuery("""
                                    UPDATE users SET custom_role_ids = array_remove(custom_role_ids, $1), updated_at = now()
                                    WHERE tenant_id = $2 AND $1 = ANY (custom_role_ids)""")
                            .execute(Tuple.of(id, existing.tenantId()))
                            .flatMap(y -> conn.preparedQuery("DELETE FROM custom_roles WHERE id = $1").execute(Tuple.of(id))))
                    // after the commit: a lookup before it would have cached the old permissions again
                    .invoke(x -> keys.forEach(apiKeys::evict)))
                    .replaceWithVoid();
        });
    }

    /**
     * The custom roles to give a user of {@code tenantId}: each must be a role of that tenant that the caller may
     * hand out. Returns the ids, de-duplicated in order.
     */
    Uni<List<String>> validateAssignment(Caller caller, String tenantId, List<String> ids) {
        List<String> wanted = new ArrayList<>(new LinkedHashSet<>(ids));
        for (String id : wanted) {
            if (id == null || id.isBlank()) {
                throw ApiException.validation("custom_role_ids", "custom_role_ids must be ids of custom roles");
            }
        }
        if (wanted.isEmpty()) {
            return Uni.createFrom().item(wanted);
        }
        return pool.preparedQuery("SELECT * FROM custom_roles WHERE tenant_id = $1 AND id = ANY ($2)")
                .execute(Tuple.of(tenantId, wanted.toArray(String[]::new)))
                .map(rows -> {
                    Map<String, CustomRole> found = new java.util.HashMap<>();
                    rows.forEach(r -> found.put(r.getString("id"), role(r)));
                    for (String id : wanted) {
                        CustomRole r = found.get(id);
                        if (r == null) {
                            throw ApiException.validation("custom_role_ids", "no custom role " + id + " in the user's tenant");
                        }
                        requireMayGrant(caller, r.corePermissions(), r.modulePermissions());
                    }
                    return wanted;
                });
    }

    private Uni<Void> evictHoldersOf(String roleId) {
        return holdersKeys(roleId).invoke(keys -> keys.forEach(apiKeys::evict)).replaceWithVoid();
    }

    /** The cache keys (hashes) of the API keys of every user who holds the role. */
    private Uni<List<String>> holdersKeys(String roleId) {
        return pool.preparedQuery("SELECT k.key_hash FROM api_keys k JOIN users u ON u.id = k.user_id WHERE $1 = ANY (u.custom_role_ids)")
                .execute(Tuple.of(roleId))
                .map(rows -> {
                    List<String> out = new ArrayList<>();
                    rows.forEach(r -> out.add(r.getString("key_hash")));
                    return out;
                });
    }

    /**
     * Admins (super, partner, or a tenant admin by built-in role) may grant anything a tenant role may hold; anyone
     * else who manages users only what they hold themselves.
     */
    static void requireMayGrant(Caller caller, List<String> core, List<String> module) {
        boolean admin = caller.isSuperAdmin() || caller.isPartnerAdmin() || caller.roles().contains(Role.TENANT_ADMIN.key());
        if (admin) {
            return;
        }
        for (List<String> list : List.of(core, module)) {
            for (String p : list) {
                if (!caller.has(p)) {
                    throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "You cannot grant the permission " + p,
                            Map.of("required_permission", p));
                }
            }
        }
    }

    private static List<String> permissions(String field, List<String> given, Set<String> kind) {
        if (given == null) {
            return List.of();
        }
        LinkedHashSet<String> out = new LinkedHashSet<>();
        for (String p : given) {
            if (p == null || !kind.contains(p)) {
                String hint = p != null && Permissions.isKnown(p)
                        ? " (a " + (Permissions.CORE.contains(p) ? "core" : "module") + " permission: list it in "
                        + (Permissions.CORE.contains(p) ? "core_permissions" : "module_permissions") + ")"
                        : "";
                throw ApiException.validation(field, "unknown permission in " + field + ": " + p + hint);
            }
            if (!GRANTABLE.contains(p)) {
                throw ApiException.validation(field, p + " cannot be granted by a tenant's custom role");
            }
            out.add(p);
        }
        return List.copyOf(out);
    }

    private static void requireSome(List<String> core, List<String> module) {
        if (core.isEmpty() && module.isEmpty()) {
            throw ApiException.validation("core_permissions", "a custom role needs at least one core or module permission");
        }
    }

    private static String validSlug(String slug) {
        TenancyService.validateSlug(slug);
        return slug;
    }

    private static String description(String description) {
        if (description != null && description.length() > 1000) {
            throw ApiException.validation("description", "description is at most 1000 characters");
        }
        return description;
    }

    private static ApiException slugConflict(String slug) {
        return new ApiException(ErrorCode.SLUG_CONFLICT, "A custom role with this slug already exists in the tenant",
                Map.of("slug", String.valueOf(slug)));
    }

    private static CustomRole role(Row r) {
        return new CustomRole(r.getString("id"), r.getString("tenant_id"), r.getString("name"), r.getString("slug"),
                r.getString("description"), List.of(r.getArrayOfStrings("core_permissions")),
                List.of(r.getArrayOfStrings("module_permissions")), r.getString("created_by"), r.getOffsetDateTime("created_at"),
                r.getOffsetDateTime("updated_at"));
    }
}
