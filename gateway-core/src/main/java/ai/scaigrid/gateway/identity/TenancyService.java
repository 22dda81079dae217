package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.Role;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.RowSet;
import io.vertx.mutiny.sqlclient.Tuple;
import io.vertx.pgclient.PgException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import java.util.regex.Pattern;

/**
 * Partners → tenants → users, each admin action limited to the caller's scope: super admins
 * everywhere, partner admins inside their partner, tenant admins inside their tenant. An object
 * outside the caller's scope is reported as not found.
 */
@ApplicationScoped
public class TenancyService {
    private static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");

    @Inject
    Pool pool;

    @Inject
    ApiKeyService apiKeys;

    @Inject
    CustomRoleService customRoles;

    public record Partner(String id, String slug, String displayName, String status, OffsetDateTime createdAt) {
    }

    /** {@code defaultModelGroupId}: the tenant's default model group (created with the tenant). */
    public record Tenant(String id, String partnerId, String slug, String displayName, String status,
                         String defaultModelGroupId, OffsetDateTime createdAt) {
    }

    private static final String TENANT_SELECT = """
            SELECT t.*, (SELECT g.id FROM model_groups g WHERE g.tenant_id = t.id AND g.is_default) AS default_model_group_id
            FROM tenants t""";

    /** {@code customRoleIds}: custom roles of the user's tenant, additive to the built-in {@code roles}. */
    public record User(String id, String tenantId, String externalId, String email, String displayName,
                       List<String> roles, List<String> customRoleIds, String status, OffsetDateTime createdAt) {
    }

    // ---------------------------------------------------------------- partners

    public Uni<Partner> createPartner(Caller caller, String slug, String displayName) {
        requireSuperAdmin(caller);
        validateSlug(slug);
        String name = requireText("display_name", displayName, 200);
        return pool.preparedQuery("INSERT INTO partners (id, slug, display_name) VALUES ($1, $2, $3) RETURNING *")
                .execute(Tuple.of(ApiKeys.newId("ptn"), slug, name))
                .onFailure(TenancyService::isUniqueViolation).transform(e -> slugConflict(slug))
                .map(rows -> partner(rows.iterator().next()));
    }

    public Uni<List<Partner>> listPartners(Caller caller) {
        if (caller.isSuperAdmin()) {
            return pool.query("SELECT * FROM partners ORDER BY created_at").execute().map(rows -> map(rows, TenancyService::partner));
        }
        return pool.preparedQuery("SELECT * FROM partners WHERE id = $1").execute(Tuple.of(caller.partnerId()))
                .map(rows -> map(rows, TenancyService::partner));
    }

    // ---------------------------------------------------------------- tenants

    public Uni<Tenant> createTenant(Caller caller, String partnerId, String slug, String displayName) {
        String targetPartner = partnerId == null ? caller.partnerId() : partnerId;
        if (!caller.isSuperAdmin() && !(caller.isPartnerAdmin() && targetPartner.equals(caller.partnerId()))) {
            if (!caller.isPartnerAdmin()) {
                throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Creating tenants needs a partner or super admin");
            }
            throw new ApiException(ErrorCode.NOT_FOUND, "Partner not found", Map.of("partner_id", targetPartner));
        }
        validateSlug(slug);
        String name = requireText("display_name", displayName, 200);
        return pool.preparedQuery("SELECT 1 FROM partners WHERE id = $1").execute(Tuple.of(targetPartner))
                .flatMap(rows -> {
                    if (rows.size() == 0) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.NOT_FOUND, "Partner not found",
                                Map.of("partner_id", targetPartner)));
                    }
                    // the insert's trigger creates the default model group: read the tenant back with it
                    String id = ApiKeys.newId("tnt");
                    return pool.preparedQuery("INSERT INTO tenants (id, partner_id, slug, display_name) VALUES ($1, $2, $3, $4)")
                            .execute(Tuple.of(id, targetPartner, slug, name))
                            .onFailure(TenancyService::isUniqueViolation).transform(e -> slugConflict(slug))
                            .flatMap(x -> pool.preparedQuery(TENANT_SELECT + " WHERE t.id = $1").execute(Tuple.of(id)))
                            .map(r -> tenant(r.iterator().next()));
                });
    }

    public Uni<List<Tenant>> listTenants(Caller caller) {
        if (caller.isSuperAdmin()) {
            return pool.query(TENANT_SELECT + " ORDER BY t.created_at").execute().map(rows -> map(rows, TenancyService::tenant));
        }
        if (caller.isPartnerAdmin()) {
            return pool.preparedQuery(TENANT_SELECT + " WHERE t.partner_id = $1 ORDER BY t.created_at")
                    .execute(Tuple.of(caller.partnerId())).map(rows -> map(rows, TenancyService::tenant));
        }
        return pool.preparedQuery(TENANT_SELECT + " WHERE t.id = $1").execute(Tuple.of(caller.tenantId()))
                .map(rows -> map(rows, TenancyService::tenant));
    }

    public Uni<Tenant> getTenant(Caller caller, String tenantId) {
        return pool.preparedQuery(TENANT_SELECT + " WHERE t.id = $1").execute(Tuple.of(tenantId))
                .map(rows -> {
                    Tenant t = rows.size() == 0 ? null : tenant(rows.iterator().next());
                    if (t == null || !caller.canSee(t.id(), t.partnerId())) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Tenant not found", Map.of("tenant_id", tenantId));
                    }
                    return t;
                });
    }

    // ---------------------------------------------------------------- users

    public Uni<User> createUser(Caller caller, String tenantId, String email, String displayName, List<String> roles,
                                List<String> customRoleIds, String externalId) {
        String target = tenantId == null ? caller.tenantId() : tenantId;
        List<String> granted = validateGrant(caller, roles == null ? List.of(Role.TENANT_USER.key()) : roles);
        if (email != null && (email.length() > 320 || !email.contains("@"))) {
            throw ApiException.validation("email", "email must be a valid address");
        }
        return getTenant(caller, target).flatMap(t -> customRoles.validateAssignment(caller, t.id(),
                                customRoleIds == null ? List.of() : customRoleIds)
                        .flatMap(custom -> pool.preparedQuery("""
                                        INSERT INTO users (id, tenant_id, external_id, email, display_name, roles, custom_role_ids)
                                        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""")
                                .execute(Tuple.from(Arrays.asList(ApiKeys.newId("usr"), t.id(), externalId, email,
                                        displayName == null ? email : displayName, granted.toArray(String[]::new),
                                        custom.toArray(String[]::new)))))
                .onFailure(TenancyService::isUniqueViolation).transform(e -> new ApiException(ErrorCode.ALREADY_EXISTS,
                        "A user with this external id already exists in the tenant"))
                .map(rows -> user(rows.iterator().next())));
    }

    public Uni<List<User>> listUsers(Caller caller, String tenantId) {
        String target = tenantId == null ? caller.tenantId() : tenantId;
        return getTenant(caller, target).flatMap(t -> pool.preparedQuery(
                        "SELECT * FROM users WHERE tenant_id = $1 AND status <> 'deleted' ORDER BY created_at")
                .execute(Tuple.of(t.id())).map(rows -> map(rows, TenancyService::user)));
    }

    public Uni<User> getUser(Caller caller, String userId) {
        return pool.preparedQuery("SELECT u.*, t.partner_id FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1 OR u.external_id = $1")
                .execute(Tuple.of(userId))
                .map(rows -> {
                    for (Row row : rows) {
                        if (caller.canSee(row.getString("tenant_id"), row.getString("partner_id"))
                                && !"deleted".equals(row.getString("status"))) {
                            return user(row);
                        }
                    }
                    throw new ApiException(ErrorCode.NOT_FOUND, "User not found", Map.of("user_id", userId));
                });
    }

    /** Sets a user's built-in roles and/or custom roles; a null list stays as it is (at least one is given). */
    public Uni<User> setRoles(Caller caller, String userId, List<String> roles, List<String> customRoleIds) {
        if (roles == null && customRoleIds == null) {
            throw ApiException.validation("roles", "roles or custom_role_ids is required");
        }
        List<String> granted = roles == null ? null : validateGrant(caller, roles);
        return getUser(caller, userId).flatMap(u -> (customRoleIds == null ? Uni.createFrom().<List<String>>nullItem()
                        : customRoles.validateAssignment(caller, u.tenantId(), customRoleIds))
                .flatMap(custom -> pool.preparedQuery("""
                                UPDATE users SET roles = coalesce($2, roles), custom_role_ids = coalesce($3, custom_role_ids),
                                       updated_at = now()
                                WHERE id = $1 RETURNING *""")
                        .execute(Tuple.from(Arrays.asList(u.id(), granted == null ? null : granted.toArray(String[]::new),
                                custom == null ? null : custom.toArray(String[]::new)))))
                .flatMap(rows -> evictKeysOf(u.id()).map(x -> user(rows.iterator().next()))));
    }

    /** Soft delete: the user is marked deleted and every key of theirs is revoked. */
    public Uni<Void> deleteUser(Caller caller, String userId) {
        return getUser(caller, userId).flatMap(u -> {
            if (u.id().equals(caller.userId())) {
                return Uni.createFrom().failure(new ApiException(ErrorCode.FAILED_PRECONDITION, "You cannot delete yourself"));
            }
            return pool.withTransaction(conn -> conn.preparedQuery("UPDATE users SET status = 'deleted', updated_at = now() WHERE id = $1")
                            .execute(Tuple.of(u.id()))
                            .flatMap(x -> conn.preparedQuery("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE user_id = $1")
                                    .execute(Tuple.of(u.id()))))
                    .flatMap(x -> evictKeysOf(u.id()));
        });
    }

    private Uni<Void> evictKeysOf(String userId) {
        return pool.preparedQuery("SELECT key_hash FROM api_keys WHERE user_id = $1").execute(Tuple.of(userId))
                .invoke(rows -> rows.forEach(r -> apiKeys.evict(r.getString("key_hash"))))
                .replaceWithVoid();
    }

    // ---------------------------------------------------------------- rules

    /** Callers may grant only roles at or below their own scope. */
    static List<String> validateGrant(Caller caller, List<String> roles) {
        if (roles == null || roles.isEmpty()) {
            throw ApiException.validation("roles", "at least one role is required");
        }
        List<String> out = new ArrayList<>();
        for (String key : roles) {
            Role role = Role.fromKey(key).orElseThrow(() -> ApiException.validation("roles", "unknown role: " + key));
            boolean allowed = caller.isSuperAdmin()
                    || (caller.isPartnerAdmin() && role != Role.SUPER_ADMIN)
                    || (caller.roles().contains(Role.TENANT_ADMIN.key()) && role.scope() == Role.Scope.TENANT);
            if (!allowed) {
                throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "You cannot grant the role " + key);
            }
            if (!out.contains(key)) {
                out.add(key);
            }
        }
        return out;
    }

    private static void requireSuperAdmin(Caller caller) {
        if (!caller.isSuperAdmin()) {
            throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Only super admins manage partners");
        }
    }

    static void validateSlug(String slug) {
        if (slug == null || !SLUG.matcher(slug).matches()) {
            throw ApiException.validation("slug", "slug must be 1-63 lower-case letters, digits or '-'");
        }
    }

    static String requireText(String field, String value, int max) {
        if (value == null || value.isBlank() || value.length() > max) {
            throw ApiException.validation(field, field + " is required (1-" + max + " characters)");
        }
        return value.trim();
    }

    static boolean isUniqueViolation(Throwable t) {
        return t instanceof PgException pg && "23505".equals(pg.getSqlState());
    }

    private static ApiException slugConflict(String slug) {
        return new ApiException(ErrorCode.SLUG_CONFLICT, "Slug already exists", Map.of("slug", slug));
    }

    private static <T> List<T> map(RowSet<Row> rows, java.util.function.Function<Row, T> mapper) {
        List<T> out = new ArrayList<>();
        for (Row r : rows) {
            out.add(mapper.apply(r));
        }
        return out;
    }

    private static Partner partner(Row r) {
        return new Partner(r.getString("id"), r.getString("slug"), r.getString("display_name"), r.getString("status"),
                r.getOffsetDateTime("created_at"));
    }

    private static Tenant tenant(Row r) {
        return new Tenant(r.getString("id"), r.getString("partner_id"), r.getString("slug"), r.getString("display_name"),
                r.getString("status"), r.getString("default_model_group_id"), r.getOffsetDateTime("created_at"));
    }

    private static User user(Row r) {
        return new User(r.getString("id"), r.getString("tenant_id"), r.getString("external_id"), r.getString("email"),
                r.getString("display_name"), List.of(r.getArrayOfStrings("roles")), List.of(r.getArrayOfStrings("custom_role_ids")),
                r.getString("status"),
                r.getOffsetDateTime("created_at"));
    }

}
