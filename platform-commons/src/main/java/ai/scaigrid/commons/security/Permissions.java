package ai.scaigrid.commons.security;

import java.util.Set;

/** Permission keys: the 15 core permissions and the module permissions (reference §3.2, §4.3, §5.2, §6.2). */
public final class Permissions {
    private Permissions() {
    }

    // core
    public static final String MODELS_LIST = "models:list";
    public static final String MODELS_USE = "models:use";
    public static final String MODELS_MANAGE = "models:manage";
    public static final String ROUTING_VIEW = "routing:view";
    public static final String ROUTING_MANAGE = "routing:manage";
    public static final String ACCOUNTING_VIEW_OWN = "accounting:view_own";
    public static final String ACCOUNTING_VIEW_TENANT = "accounting:view_tenant";
    public static final String ACCOUNTING_VIEW_PARTNER = "accounting:view_partner";
    public static final String ACCOUNTING_MANAGE_BUDGETS = "accounting:manage_budgets";
    public static final String USERS_MANAGE = "users:manage";
    public static final String API_KEYS_MANAGE = "api_keys:manage";
    public static final String WEBHOOKS_MANAGE = "webhooks:manage";
    public static final String MODULES_USE = "modules:use";
    public static final String MODULES_MANAGE = "modules:manage";
    public static final String ADMIN_ACCESS = "admin:access";

    // ScaiMind
    public static final String SCAIMIND_VIEW = "scaimind:view";
    public static final String SCAIMIND_MANAGE = "scaimind:manage";
    public static final String SCAIMIND_CLUSTER_ADMIN = "scaimind:cluster_admin";
    public static final String SCAIMIND_EVALUATE = "scaimind:evaluate";

    // ScaiCore
    public static final String SCAICORE_VIEW = "scaicore:view";
    public static final String SCAICORE_MANAGE = "scaicore:manage";
    public static final String SCAICORE_DEBUG = "scaicore:debug";
    public static final String SCAICORE_CHECKPOINT_RESOLVE = "scaicore:checkpoint_resolve";
    public static final String SCAICORE_DELEGATE = "scaicore:delegate";
    public static final String SCAICORE_ADMIN = "scaicore:admin";

    // ScaiLink
    public static final String SCAILINK_VIEW = "scailink:view";
    public static final String SCAILINK_INVOKE = "scailink:invoke";
    public static final String SCAILINK_MANAGE = "scailink:manage";
    public static final String SCAILINK_AUDIT = "scailink:audit";
    public static final String SCAILINK_REMOTE_USE = "scailink:remote.use";
    public static final String SCAILINK_REMOTE_MANAGE_OWN = "scailink:remote.manage_own";
    public static final String SCAILINK_REMOTE_MANAGE_TENANT = "scailink:remote.manage_tenant";

    public static final Set<String> CORE = Set.of(MODELS_LIST, MODELS_USE, MODELS_MANAGE, ROUTING_VIEW, ROUTING_MANAGE,
            ACCOUNTING_VIEW_OWN, ACCOUNTING_VIEW_TENANT, ACCOUNTING_VIEW_PARTNER, ACCOUNTING_MANAGE_BUDGETS,
            USERS_MANAGE, API_KEYS_MANAGE, WEBHOOKS_MANAGE, MODULES_USE, MODULES_MANAGE, ADMIN_ACCESS);

    public static final Set<String> MODULE = Set.of(SCAIMIND_VIEW, SCAIMIND_MANAGE, SCAIMIND_CLUSTER_ADMIN,
            SCAIMIND_EVALUATE, SCAICORE_VIEW, SCAICORE_MANAGE, SCAICORE_DEBUG, SCAICORE_CHECKPOINT_RESOLVE,
            SCAICORE_DELEGATE, SCAICORE_ADMIN, SCAILINK_VIEW, SCAILINK_INVOKE, SCAILINK_MANAGE, SCAILINK_AUDIT,
            SCAILINK_REMOTE_USE, SCAILINK_REMOTE_MANAGE_OWN, SCAILINK_REMOTE_MANAGE_TENANT);

    public static boolean isKnown(String permission) {
        return CORE.contains(permission) || MODULE.contains(permission);
    }
}
