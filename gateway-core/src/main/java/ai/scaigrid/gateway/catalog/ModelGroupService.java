package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.gateway.catalog.CatalogModels.ModelGroup;
import ai.scaigrid.gateway.catalog.CatalogModels.ModelGroupRequest;
import ai.scaigrid.gateway.identity.ApiKeys;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.RowSet;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Model groups ({@code mg_...}), scoped global / partner / tenant, members by slug. Seed 003's scope
 * rules decide who may change a group: super admins any; partner admins their partner's groups and
 * their tenants' groups; tenant admins their tenant's groups. Groups outside the caller's sight
 * are not found.
 */
@ApplicationScoped
public class ModelGroupService {

    @Inject
    Pool pool;

    /** Seed 003: may this caller add models to / remove models from this group? */
    public static boolean mayChange(Caller caller, String scope, String partnerId, String tenantId) {
        if (caller.isSuperAdmin()) {
            return true;
        }
        if (caller.isPartnerAdmin()) {
            return ("partner".equals(scope) || "tenant".equals(scope)) && caller.partnerId().equals(partnerId);
        }
        return "tenant".equals(scope) && caller.tenantId().equals(tenantId)
                && caller.roles().contains(ai.scaigrid.commons.security.Role.TENANT_ADMIN.key());
    }

    static boolean maySee(Caller caller, String scope, String partnerId, String tenantId) {
        return caller.isSuperAdmin() || "global".equals(scope)
                || ("partner".equals(scope) && caller.partnerId().equals(partnerId))
                || ("tenant".equals(scope) && (caller.tenantId().equals(tenantId)
                || (caller.isPartnerAdmin() && caller.partnerId().equals(partnerId))));
    }

    public Uni<ModelGroup> create(Caller caller, ModelGroupRequest r) {
        caller.require(Permissions.MODELS_MANAGE);
        if (r == null || r.name() == null || r.name().isBlank() || r.name().length() > 200) {
            throw ApiException.validation("name", "name is required (1-200 characters)");
        }
        String scope = r.scope() == null ? "tenant" : r.scope();
        if (!ModelAccess.SCOPES.contains(scope)) {
            throw ApiException.validation("scope", "scope must be global, partner or tenant");
        }
        requireDefaultIsTenantGroup(r.isDefault(), scope);
        boolean makeDefault = Boolean.TRUE.equals(r.isDefault());
        Uni<String[]> owner = switch (scope) {
            case "global" -> Uni.createFrom().item(new String[]{null, null});
            case "partner" -> Uni.createFrom().item(new String[]{r.partnerId() == null ? caller.partnerId() : r.partnerId(), null});
            default -> {
                String tenant = r.tenantId() == null ? caller.tenantId() : r.tenantId();
                yield pool.preparedQuery("SELECT partner_id FROM tenants WHERE id = $1").execute(Tuple.of(tenant)).map(rows -> {
                    String partner = rows.size() == 0 ? null : rows.iterator().next().getString("partner_id");
                    if (partner == null || !caller.canSee(tenant, partner)) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Tenant not found", Map.of("tenant_id", tenant));
                    }
                    return new String[]{partner, tenant};
                });
            }
        };
        return owner.flatMap(o -> {
            if (!mayChange(caller, scope, o[0], o[1])) {
                return Uni.createFrom().failure(new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED,
                        "You cannot create " + scope + " groups here"));
            }
            String id = ApiKeys.newId("mg");
            // partner id is only stored for partner groups (the CHECK constraint); tenant groups find theirs via the tenant
            // a new default replaces the tenant's current one (one default per tenant)
            return pool.withTransaction(conn -> (makeDefault ? unsetDefault(conn, o[1]) : Uni.createFrom().voidItem())
                    .flatMap(x -> conn.preparedQuery("""
                            INSERT INTO model_groups (id, name, description, scope, partner_id, tenant_id, is_default)
                            VALUES ($1, $2, $3, $4, $5, $6, $7)""")
                    .execute(Tuple.from(Arrays.asList(id, r.name().trim(), r.description(), scope,
                            "partner".equals(scope) ? o[0] : null, o[1], makeDefault)))))
                    .flatMap(x -> r.members() == null || r.members().isEmpty() ? Uni.createFrom().voidItem()
                            : addMembersUnchecked(id, r.members()))
                    .flatMap(x -> get(caller, id));
        });
    }

    public Uni<List<ModelGroup>> list(Caller caller) {
        return pool.query(GROUP_SELECT + " GROUP BY g.id, t.partner_id ORDER BY g.created_at").execute()
                .map(rows -> groups(rows).stream().filter(g -> maySee(caller, g.scope(), g.partnerId(), g.tenantId())).toList());
    }

    public Uni<ModelGroup> get(Caller caller, String id) {
        return pool.preparedQuery(GROUP_SELECT + " WHERE g.id = $1 GROUP BY g.id, t.partner_id").execute(Tuple.of(id))
                .map(rows -> {
                    List<ModelGroup> found = groups(rows);
                    if (found.isEmpty() || !maySee(caller, found.get(0).scope(), found.get(0).partnerId(), found.get(0).tenantId())) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Model group not found", Map.of("group_id", id));
                    }
                    return found.get(0);
                });
    }

    /**
     * Changes a group's name, description, default flag and (when {@code members} is given) replaces its
     * members; fields left out stay as they are. Scope and owner are fixed at creation: a group that should
     * live elsewhere is a new group.
     */
    public Uni<ModelGroup> update(Caller caller, String id, ModelGroupRequest r) {
        if (r == null) {
            throw ApiException.validation("body", "a JSON object with the fields to change is required");
        }
        if (r.name() != null && (r.name().isBlank() || r.name().length() > 200)) {
            throw ApiException.validation("name", "name must be 1-200 characters");
        }
        return changeable(caller, id).flatMap(g -> {
            if ((r.scope() != null && !r.scope().equals(g.scope())) || (r.partnerId() != null && !r.partnerId().equals(g.partnerId()))
                    || (r.tenantId() != null && !r.tenantId().equals(g.tenantId()))) {
                return Uni.createFrom().failure(ApiException.validation("scope",
                        "a group's scope and owner cannot change; create a new group instead"));
            }
            requireDefaultIsTenantGroup(r.isDefault(), g.scope());
            if (Boolean.FALSE.equals(r.isDefault()) && g.isDefault()) {
                return Uni.createFrom().failure(ApiException.validation("is_default",
                        "a tenant always has a default group: make another group the default instead"));
            }
            boolean makeDefault = Boolean.TRUE.equals(r.isDefault()) && !g.isDefault();
            Uni<Void> known = r.members() == null || r.members().isEmpty() ? Uni.createFrom().voidItem()
                    : pool.preparedQuery("SELECT slug FROM frontend_models WHERE slug = ANY($1)")
                    .execute(Tuple.of(r.members().toArray(String[]::new))).map(rows -> {
                        List<String> found = new ArrayList<>();
                        rows.forEach(row -> found.add(row.getString("slug")));
                        List<String> unknown = r.members().stream().filter(slug -> !found.contains(slug)).toList();
                        if (!unknown.isEmpty()) {
                            throw new ApiException(ErrorCode.MODEL_NOT_FOUND, "Unknown model slug(s): " + unknown, Map.of("slugs", unknown));
                        }
                        return null;
                    });
            return known.flatMap(x -> pool.withTransaction(conn -> (makeDefault ? unsetDefault(conn, g.tenantId())
                    : Uni.createFrom().voidItem()).flatMap(unset -> conn.preparedQuery("""
                            UPDATE model_groups SET name = coalesce($2, name),
                                   description = CASE WHEN $3 THEN $4 ELSE description END,
                                   is_default = coalesce($5, is_default), updated_at = now()
                            WHERE id = $1""")
                    .execute(Tuple.from(Arrays.asList(id, r.name() == null ? null : r.name().trim(), r.description() != null,
                            r.description(), r.isDefault())))
                    .flatMap(updated -> r.members() == null ? Uni.createFrom().voidItem()
                            : conn.preparedQuery("DELETE FROM model_group_members WHERE group_id = $1").execute(Tuple.of(id))
                            .flatMap(d -> r.members().isEmpty() ? Uni.createFrom().voidItem()
                                    : conn.preparedQuery("INSERT INTO model_group_members (group_id, model_slug) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING")
                                    .execute(Tuple.of(id, r.members().toArray(String[]::new))).replaceWithVoid())))))
                    .flatMap(x -> get(caller, id));
        });
    }

    public Uni<Void> delete(Caller caller, String id) {
        return changeable(caller, id).flatMap(g -> {
            if (g.isDefault()) {
                return Uni.createFrom().failure(new ApiException(ErrorCode.CONFLICT,
                        "This is the tenant's default model group; make another group the default before deleting it",
                        Map.of("group_id", id)));
            }
            return pool.preparedQuery("DELETE FROM model_groups WHERE id = $1").execute(Tuple.of(g.id()));
        }).replaceWithVoid();
    }

    private static void requireDefaultIsTenantGroup(Boolean isDefault, String scope) {
        if (Boolean.TRUE.equals(isDefault) && !"tenant".equals(scope)) {
            throw ApiException.validation("is_default", "only a tenant group can be its tenant's default group");
        }
    }

    /**
     * Clears the tenant's current default inside the caller's transaction. The tenant row is locked first, so
     * two concurrent moves run one after the other (the second then sees, and clears, the first one's new
     * default) instead of the second failing on the one-default-per-tenant index.
     */
    private static Uni<Void> unsetDefault(io.vertx.mutiny.sqlclient.SqlConnection conn, String tenantId) {
        return conn.preparedQuery("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE").execute(Tuple.of(tenantId))
                .flatMap(locked -> conn.preparedQuery(
                        "UPDATE model_groups SET is_default = false, updated_at = now() WHERE tenant_id = $1 AND is_default")
                        .execute(Tuple.of(tenantId)))
                .replaceWithVoid();
    }

    public Uni<ModelGroup> addMembers(Caller caller, String id, List<String> slugs) {
        if (slugs == null || slugs.isEmpty()) {
            throw ApiException.validation("slugs", "slugs must name at least one model");
        }
        return changeable(caller, id).flatMap(g -> pool.preparedQuery("SELECT slug FROM frontend_models WHERE slug = ANY($1)")
                .execute(Tuple.of(slugs.toArray(String[]::new)))
                .flatMap(rows -> {
                    List<String> known = new ArrayList<>();
                    rows.forEach(r -> known.add(r.getString("slug")));
                    List<String> unknown = slugs.stream().filter(s -> !known.contains(s)).toList();
                    if (!unknown.isEmpty()) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.MODEL_NOT_FOUND,
                                "Unknown model slug(s): " + unknown, Map.of("slugs", unknown)));
                    }
                    return addMembersUnchecked(g.id(), slugs);
                })
                .flatMap(x -> get(caller, id)));
    }

    public Uni<ModelGroup> removeMember(Caller caller, String id, String slug) {
        return changeable(caller, id).flatMap(g -> pool.preparedQuery("DELETE FROM model_group_members WHERE group_id = $1 AND model_slug = $2")
                .execute(Tuple.of(g.id(), slug))
                .flatMap(rows -> {
                    if (rows.rowCount() == 0) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.NOT_FOUND, "Model is not a member of this group",
                                Map.of("slug", slug)));
                    }
                    return get(caller, id);
                }));
    }

    /** Adds a slug to each group the caller may change; the others are dropped silently (seed 003). */
    public Uni<List<String>> addToAllowedGroups(Caller caller, List<String> groupIds, String slug) {
        if (groupIds == null || groupIds.isEmpty() || !caller.has(Permissions.MODELS_MANAGE)) {
            return Uni.createFrom().item(List.of());
        }
        return pool.preparedQuery(GROUP_SELECT + " WHERE g.id = ANY($1) GROUP BY g.id, t.partner_id")
                .execute(Tuple.of(groupIds.toArray(String[]::new)))
                .flatMap(rows -> {
                    List<String> allowed = groups(rows).stream()
                            .filter(g -> mayChange(caller, g.scope(), g.partnerId(), g.tenantId()))
                            .map(ModelGroup::id).toList();
                    if (allowed.isEmpty()) {
                        return Uni.createFrom().item(List.<String>of());
                    }
                    return pool.preparedQuery("INSERT INTO model_group_members (group_id, model_slug) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING")
                            .execute(Tuple.of(allowed.toArray(String[]::new), slug)).replaceWith(allowed);
                });
    }

    private Uni<ModelGroup> changeable(Caller caller, String id) {
        caller.require(Permissions.MODELS_MANAGE);
        return get(caller, id).map(g -> {
            if (!mayChange(caller, g.scope(), g.partnerId(), g.tenantId())) {
                throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "You cannot change this group", Map.of("group_id", id));
            }
            return g;
        });
    }

    private Uni<Void> addMembersUnchecked(String groupId, List<String> slugs) {
        return pool.preparedQuery("INSERT INTO model_group_members (group_id, model_slug) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING")
                .execute(Tuple.of(groupId, slugs.toArray(String[]::new))).replaceWithVoid();
    }

    private static final String GROUP_SELECT = """
            SELECT g.*, coalesce(g.partner_id, t.partner_id) AS owner_partner_id,
                   array_remove(array_agg(m.model_slug ORDER BY m.model_slug), NULL) AS members
            FROM model_groups g
            LEFT JOIN tenants t ON t.id = g.tenant_id
            LEFT JOIN model_group_members m ON m.group_id = g.id
            """;

    private static List<ModelGroup> groups(RowSet<Row> rows) {
        Map<String, ModelGroup> out = new LinkedHashMap<>();
        for (Row r : rows) {
            out.put(r.getString("id"), new ModelGroup(r.getString("id"), r.getString("name"), r.getString("description"),
                    r.getString("scope"), r.getString("owner_partner_id"), r.getString("tenant_id"), r.getBoolean("is_default"),
                    List.of(r.getArrayOfStrings("members")), r.getOffsetDateTime("created_at")));
        }
        return new ArrayList<>(out.values());
    }
}
