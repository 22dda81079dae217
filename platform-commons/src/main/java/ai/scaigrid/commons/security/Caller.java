package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Who is calling: the partner → tenant → user chain, roles, effective permissions, and how they
 * authenticated. Built by the identity layer from an API key, a ScaiKey JWT or a service token.
 *
 * @param modelGroupIds an API key's model-group restriction (empty: no restriction)
 * @param serviceScopes a service token's scopes such as {@code scaiinfer.node} (empty for users)
 */
public record Caller(String partnerId, String tenantId, String userId, Set<String> roles, Set<String> permissions,
                     CredentialType credentialType, String credentialId, Set<String> modelGroupIds,
                     Set<String> serviceScopes) {

    public Caller {
        roles = roles == null ? Set.of() : Set.copyOf(roles);
        permissions = permissions == null ? Set.of() : Set.copyOf(permissions);
        modelGroupIds = modelGroupIds == null ? Set.of() : Set.copyOf(modelGroupIds);
        serviceScopes = serviceScopes == null ? Set.of() : Set.copyOf(serviceScopes);
    }

    /** Effective permissions of a set of built-in role keys, optionally narrowed to a subset (API key scopes). */
    public static Set<String> permissionsOf(Set<String> roleKeys, Set<String> subset) {
        return permissionsOf(roleKeys, null, subset);
    }

    /**
     * Effective permissions of built-in role keys plus the permissions of the holder's custom roles (additive),
     * optionally narrowed to a subset (API key scopes). Unknown names in {@code granted} are ignored.
     */
    public static Set<String> permissionsOf(Set<String> roleKeys, Set<String> granted, Set<String> subset) {
        Set<String> all = new HashSet<>();
        for (String key : roleKeys) {
            Role.fromKey(key).ifPresent(role -> all.addAll(role.permissions()));
        }
        if (granted != null) {
            granted.stream().filter(Permissions::isKnown).forEach(all::add);
        }
        if (subset != null && !subset.isEmpty()) {
            all.retainAll(subset);
        }
        return all;
    }

    public boolean isSuperAdmin() {
        return roles.contains(Role.SUPER_ADMIN.key());
    }

    public boolean isPartnerAdmin() {
        return roles.contains(Role.PARTNER_ADMIN.key());
    }

    public boolean has(String permission) {
        return permissions.contains(permission);
    }

    /** Throws 403 AUTHZ_PERMISSION_DENIED (gRPC PERMISSION_DENIED) unless the caller holds the permission. */
    public void require(String permission) {
        if (!has(permission)) {
            throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Missing permission: " + permission,
                    Map.of("required_permission", permission));
        }
    }

    /** Throws 403 unless the caller holds at least one of the permissions. */
    public void requireAny(List<String> anyOf) {
        for (String p : anyOf) {
            if (has(p)) {
                return;
            }
        }
        throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Missing permission: one of " + anyOf,
                Map.of("required_permission", anyOf));
    }

    /**
     * Tenant isolation: may this caller see an object of that tenant (in that partner)? Super admins
     * cross tenants; partner admins cross only their partner's tenants. Callers that may not see the
     * object get NOT_FOUND, never a hint that it exists.
     */
    public boolean canSee(String objectTenantId, String objectPartnerId) {
        if (isSuperAdmin()) {
            return true;
        }
        if (isPartnerAdmin() && partnerId != null && partnerId.equals(objectPartnerId)) {
            return true;
        }
        return tenantId != null && tenantId.equals(objectTenantId);
    }
}
