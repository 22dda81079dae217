package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.Permissions;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.Map;
import java.util.Set;

/**
 * Who sees and who manages catalogue objects. Seeing a frontend model: global models are seen by
 * everyone, partner models by that partner's tenants, tenant models by that tenant; an API key with
 * a model-group restriction sees only the members of its groups. Managing (with {@code models:manage}):
 * global objects by super admins, partner objects by that partner's admins, tenant objects by that
 * tenant's admins or its partner's admins.
 */
@ApplicationScoped
public class ModelAccess {
    /** Frontend visibility; parameters $4 super admin, $5 partner, $6 tenant, $7 group ids (or null). */
    static final String VISIBLE_SQL = """
            ($4 OR f.owner_scope = 'global' OR (f.owner_scope = 'partner' AND f.owner_partner_id = $5)
                OR (f.owner_scope = 'tenant' AND f.owner_tenant_id = $6))
            AND ($7::text[] IS NULL OR f.slug IN (SELECT model_slug FROM model_group_members WHERE group_id = ANY($7)))
            """;
    /** Backends a caller may manage; parameters $1 super admin, $2 partner, $3 tenant. */
    static final String OWNED_SQL = """
            ($1 OR (b.owner_scope = 'partner' AND b.owner_partner_id = $2) OR (b.owner_scope = 'tenant' AND b.owner_tenant_id = $3))
            """;
    static final Set<String> SCOPES = Set.of("global", "partner", "tenant");

    /**
     * Backends and providers hold connection details: only those who may manage them see them (super
     * admins; a partner's admins for the partner's; holders of models:manage for a tenant's they see).
     */
    static boolean manages(Caller caller, Row owned) {
        String scope = owned.getString("owner_scope");
        return caller.isSuperAdmin()
                || ("partner".equals(scope) && caller.isPartnerAdmin() && caller.partnerId().equals(owned.getString("owner_partner_id")))
                || ("tenant".equals(scope) && caller.has(Permissions.MODELS_MANAGE)
                && caller.canSee(owned.getString("owner_tenant_id"), owned.getString("owner_partner_id")));
    }

    @Inject
    Pool pool;

    record Filter(boolean superAdmin, String[] groupIds) {
    }

    /** {@code slug}: the owning partner's or tenant's slug (its slug namespace), null for global objects. */
    record Owner(String scope, String partnerId, String tenantId, String slug) {
    }

    Uni<Filter> visibleSlugFilter(Caller caller) {
        String[] groups = caller.modelGroupIds().isEmpty() ? null : caller.modelGroupIds().toArray(String[]::new);
        return Uni.createFrom().item(new Filter(caller.isSuperAdmin() && groups == null, groups));
    }

    /** Is a frontend model in the caller's sight (ignoring key group restrictions)? */
    public static boolean inScope(Caller caller, String scope, String partnerId, String tenantId) {
        return caller.isSuperAdmin() || "global".equals(scope)
                || ("partner".equals(scope) && partnerId != null && partnerId.equals(caller.partnerId()))
                || ("tenant".equals(scope) && tenantId != null && tenantId.equals(caller.tenantId()))
                || ("tenant".equals(scope) && caller.isPartnerAdmin() && partnerId != null && partnerId.equals(caller.partnerId()));
    }

    /** An API key restricted to model groups may use only their members: MODEL_ACCESS_DENIED otherwise. */
    Uni<Void> checkGroups(Caller caller, String slug) {
        if (caller.modelGroupIds().isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        return pool.preparedQuery("SELECT 1 FROM model_group_members WHERE group_id = ANY($1) AND model_slug = $2")
                .execute(Tuple.of(caller.modelGroupIds().toArray(String[]::new), slug))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw new ApiException(ErrorCode.MODEL_ACCESS_DENIED, "This key may not use model " + slug,
                                Map.of("model", slug));
                    }
                    return null;
                });
    }

    /** The owner a caller may manage in that scope (defaults: the caller's own partner / tenant). */
    Uni<Owner> requireManage(Caller caller, String scope, String partnerId, String tenantId) {
        caller.require(Permissions.MODELS_MANAGE);
        if (scope == null || !SCOPES.contains(scope)) {
            return Uni.createFrom().failure(ApiException.validation("owner_scope", "owner_scope must be global, partner or tenant"));
        }
        switch (scope) {
            case "global":
                if (!caller.isSuperAdmin()) {
                    return Uni.createFrom().failure(new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED,
                            "Only super admins manage global catalogue objects"));
                }
                return Uni.createFrom().item(new Owner("global", null, null, null));
            case "partner": {
                String partner = partnerId == null ? caller.partnerId() : partnerId;
                if (caller.isSuperAdmin() || (caller.isPartnerAdmin() && partner.equals(caller.partnerId()))) {
                    return pool.preparedQuery("SELECT slug FROM partners WHERE id = $1").execute(Tuple.of(partner)).map(rows -> {
                        if (rows.size() == 0) {
                            throw new ApiException(ErrorCode.NOT_FOUND, "Partner not found", Map.of("partner_id", partner));
                        }
                        return new Owner("partner", partner, null, rows.iterator().next().getString("slug"));
                    });
                }
                return Uni.createFrom().failure(new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED,
                        "You cannot manage catalogue objects of this partner"));
            }
            default: {
                String tenant = tenantId == null ? caller.tenantId() : tenantId;
                return pool.preparedQuery("SELECT partner_id, slug FROM tenants WHERE id = $1").execute(Tuple.of(tenant)).map(rows -> {
                    Row row = rows.size() == 0 ? null : rows.iterator().next();
                    String partner = row == null ? null : row.getString("partner_id");
                    if (partner == null || !caller.canSee(tenant, partner)) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Tenant not found", Map.of("tenant_id", tenant));
                    }
                    return new Owner("tenant", partner, tenant, row.getString("slug"));
                });
            }
        }
    }
}
