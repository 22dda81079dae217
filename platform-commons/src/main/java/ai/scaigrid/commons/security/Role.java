package ai.scaigrid.commons.security;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

import static ai.scaigrid.commons.security.Permissions.*;

/**
 * Built-in roles and the permissions each grants (reference §3.2). Module permissions: super and
 * partner/tenant admins get all of them within their scope; {@code tenant_viewer} gets the view
 * permissions of ScaiMind and ScaiCore; {@code tenant_user} gets none by default.
 */
public enum Role {
    TENANT_VIEWER(Scope.TENANT, Set.of(MODELS_LIST, ACCOUNTING_VIEW_OWN, SCAIMIND_VIEW, SCAICORE_VIEW)),
    TENANT_USER(Scope.TENANT, union(Set.of(MODELS_LIST, ACCOUNTING_VIEW_OWN),
            Set.of(MODELS_USE, API_KEYS_MANAGE, MODULES_USE))),
    TENANT_ADMIN(Scope.TENANT, union(TENANT_USER.permissions, Set.of(ROUTING_VIEW, ACCOUNTING_VIEW_TENANT,
            ACCOUNTING_MANAGE_BUDGETS, USERS_MANAGE, WEBHOOKS_MANAGE, MODULES_MANAGE, ADMIN_ACCESS), Permissions.MODULE)),
    PARTNER_VIEWER(Scope.PARTNER, Set.of(MODELS_LIST, ACCOUNTING_VIEW_OWN, ACCOUNTING_VIEW_TENANT, ACCOUNTING_VIEW_PARTNER)),
    PARTNER_ADMIN(Scope.PARTNER, union(PARTNER_VIEWER.permissions, Set.of(ACCOUNTING_MANAGE_BUDGETS, USERS_MANAGE,
            ADMIN_ACCESS), Permissions.MODULE)),
    SUPER_ADMIN(Scope.PLATFORM, union(Permissions.CORE, Permissions.MODULE));

    public enum Scope { TENANT, PARTNER, PLATFORM }

    private final Scope scope;
    private final Set<String> permissions;

    Role(Scope scope, Set<String> permissions) {
        this.scope = scope;
        this.permissions = Set.copyOf(permissions);
    }

    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    public Scope scope() {
        return scope;
    }

    public Set<String> permissions() {
        return permissions;
    }

    public static Optional<Role> fromKey(String key) {
        return Arrays.stream(values()).filter(r -> r.key().equals(key)).findFirst();
    }

    @SafeVarargs
    private static Set<String> union(Set<String>... sets) {
        Set<String> all = new HashSet<>();
        for (Set<String> s : sets) {
            all.addAll(s);
        }
        return all;
    }
}
