package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

class CallerTest {

    private static Caller caller(String partner, String tenant, String... roles) {
        Set<String> roleSet = Set.of(roles);
        return new Caller(partner, tenant, "u1", roleSet, Caller.permissionsOf(roleSet, null),
                CredentialType.API_KEY, "k1", null, null);
    }

    @Test
    void rolesGrantTheDocumentedPermissions() {
        assertThat(Role.TENANT_USER.permissions()).contains("models:use", "api_keys:manage", "modules:use")
                .doesNotContain("models:manage", "scaimind:view", "scailink:invoke");
        assertThat(Role.TENANT_VIEWER.permissions()).contains("models:list", "scaimind:view", "scaicore:view")
                .doesNotContain("models:use");
        assertThat(Role.TENANT_ADMIN.permissions()).contains("users:manage", "admin:access", "scailink:audit",
                "scaimind:cluster_admin").doesNotContain("models:manage", "routing:manage");
        assertThat(Role.SUPER_ADMIN.permissions()).containsAll(Permissions.CORE).containsAll(Permissions.MODULE);
    }

    @Test
    void requireDeniesWithPermissionDenied() {
        Caller user = caller("p1", "t1", "tenant_user");
        user.require("models:use");
        ApiException e = catchThrowableOfType(ApiException.class, () -> user.require("models:manage"));
        assertThat(e.errorCode()).isEqualTo(ErrorCode.AUTHZ_PERMISSION_DENIED);
        assertThat(e.httpStatus()).isEqualTo(403);
    }

    @Test
    void apiKeySubsetNarrowsPermissions() {
        assertThat(Caller.permissionsOf(Set.of("tenant_admin"), Set.of("models:use", "models:manage")))
                .containsExactly("models:use");
    }

    @Test
    void customRolePermissionsAddToTheBuiltInOnesAndAKeySubsetNarrowsBoth() {
        assertThat(Caller.permissionsOf(Set.of("tenant_viewer"), Set.of("models:use", "not:a_permission"), null))
                .contains("models:use", "models:list").doesNotContain("not:a_permission");
        assertThat(Caller.permissionsOf(Set.of("tenant_viewer"), Set.of("models:use"), Set.of("models:use", "scaimind:manage")))
                .containsExactly("models:use");
    }

    @Test
    void tenantIsolation() {
        assertThat(caller("p1", "t1", "tenant_admin").canSee("t2", "p1")).isFalse();
        assertThat(caller("p1", "t1", "tenant_admin").canSee("t1", "p1")).isTrue();
        assertThat(caller("p1", "t1", "partner_admin").canSee("t2", "p1")).isTrue();
        assertThat(caller("p1", "t1", "partner_admin").canSee("t3", "p2")).isFalse();
        assertThat(caller("p1", "t1", "super_admin").canSee("t3", "p2")).isTrue();
    }
}
