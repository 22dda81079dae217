package ai.scaigrid.gateway.identity;

import ai.scaigrid.gateway.TestIssuer;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.hasItems;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.startsWith;

/**
 * Custom roles: CRUD, validation, their permissions reaching API keys and JWT users at once, assignment limited to
 * the user's tenant, tenant isolation (404), and no escalation by whoever manages users through a custom role.
 */
@QuarkusTest
class CustomRoleTest {
    private static final Map<String, String> KEYS = new HashMap<>();
    private static final Map<String, String> IDS = new HashMap<>();

    private static synchronized void fixture() {
        if (!KEYS.isEmpty()) {
            return;
        }
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        IDS.put("tenantA", post(ADMIN, "/v1/tenants", Map.of("slug", "cra-" + suffix, "display_name", "Roles A")));
        IDS.put("tenantB", post(ADMIN, "/v1/tenants", Map.of("slug", "crb-" + suffix, "display_name", "Roles B")));
        IDS.put("tenantASlug", "cra-" + suffix);
        user("a_admin", "tenant_admin", "tenantA");
        user("a_viewer", "tenant_viewer", "tenantA");
        user("a_manager", "tenant_viewer", "tenantA");
        user("a_user", "tenant_user", "tenantA");
        user("b_admin", "tenant_admin", "tenantB");
        user("b_viewer", "tenant_viewer", "tenantB");
    }

    private static void user(String name, String role, String tenant) {
        String userId = post(ADMIN, "/v1/users", Map.of("tenant_id", IDS.get(tenant), "email", name + "@example.test",
                "roles", List.of(role)));
        IDS.put(name, userId);
        String key = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", name, "assigned_user_id", userId))
                .when().post("/v1/api-keys").then().statusCode(201).extract().path("data.key");
        KEYS.put(name, key);
    }

    private static String post(String key, String path, Map<String, Object> body) {
        return given().header("Authorization", "Bearer " + key).contentType(ContentType.JSON).body(body)
                .when().post(path).then().statusCode(201).extract().path("data.id");
    }

    private static RequestSpecification as(String who) {
        fixture();
        return given().header("Authorization", "Bearer " + (who.equals("super_admin") ? ADMIN : KEYS.get(who)))
                .contentType(ContentType.JSON);
    }

    private static Map<String, Object> role(String slug, List<String> core, List<String> module) {
        return Map.of("name", "Role " + slug, "slug", slug, "description", "for tests", "core_permissions", core,
                "module_permissions", module);
    }

    private static String slug() {
        return "r-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static void assign(String who, String userId, List<String> roleIds) {
        as(who).body(Map.of("custom_role_ids", roleIds)).when().put("/v1/users/" + userId + "/roles")
                .then().statusCode(200).body("data.custom_role_ids", equalTo(roleIds));
    }

    @Test
    void aCustomRoleAddsItsPermissionsAndChangesReachTheHoldersKeysAtOnce() {
        as("a_viewer").when().get("/v1/me").then().statusCode(200).body("data.permissions", not(hasItem("models:use")));
        String slug = slug();
        String roleId = as("a_admin").body(role(slug, List.of("models:use"), List.of("scailink:invoke")))
                .when().post("/v1/iam/custom-roles").then().statusCode(201)
                .body("status", equalTo("ok"))
                .body("data.id", startsWith("role_"))
                .body("data.tenant_id", equalTo(IDS.get("tenantA")))
                .body("data.slug", equalTo(slug))
                .body("data.core_permissions", contains("models:use"))
                .body("data.module_permissions", contains("scailink:invoke"))
                .body("data.created_by", equalTo(IDS.get("a_admin")))
                .body("data.created_at", notNullValue())
                .extract().path("data.id");

        assign("a_admin", IDS.get("a_viewer"), List.of(roleId));
        // built-in roles are untouched by a custom-role-only change
        as("a_admin").when().get("/v1/users/" + IDS.get("a_viewer")).then().statusCode(200)
                .body("data.roles", contains("tenant_viewer")).body("data.custom_role_ids", contains(roleId));
        as("a_viewer").when().get("/v1/me").then().statusCode(200)
                .body("data.permissions", hasItems("models:use", "scailink:invoke", "models:list"));

        as("a_admin").body(Map.of("core_permissions", List.of("api_keys:manage"))).when()
                .patch("/v1/iam/custom-roles/" + roleId).then().statusCode(200)
                .body("data.core_permissions", contains("api_keys:manage"))
                .body("data.module_permissions", contains("scailink:invoke"))
                .body("data.name", equalTo("Role " + slug));
        as("a_viewer").when().get("/v1/me").then().statusCode(200)
                .body("data.permissions", not(hasItem("models:use"))).body("data.permissions", hasItem("api_keys:manage"));

        as("a_admin").when().get("/v1/iam/custom-roles").then().statusCode(200).body("data.items.id", hasItem(roleId));
        as("a_admin").when().delete("/v1/iam/custom-roles/" + roleId).then().statusCode(204);
        as("a_admin").when().get("/v1/iam/custom-roles/" + roleId).then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));
        as("a_admin").when().get("/v1/users/" + IDS.get("a_viewer")).then().statusCode(200).body("data.custom_role_ids", empty());
        as("a_viewer").when().get("/v1/me").then().statusCode(200).body("data.permissions", not(hasItem("api_keys:manage")));
    }

    @Test
    void usersCanBeCreatedWithCustomRolesOfTheirTenantOnly() {
        String roleId = post(KEYS.get("a_admin"), "/v1/iam/custom-roles", role(slug(), List.of("models:use"), List.of()));
        String userId = as("a_admin").body(Map.of("email", "new@example.test", "roles", List.of("tenant_viewer"),
                        "custom_role_ids", List.of(roleId)))
                .when().post("/v1/users").then().statusCode(201)
                .body("data.roles", contains("tenant_viewer")).body("data.custom_role_ids", contains(roleId))
                .extract().path("data.id");
        as("a_admin").when().get("/v1/users/" + userId).then().statusCode(200).body("data.custom_role_ids", contains(roleId));
        as("super_admin").body(Map.of("tenant_id", IDS.get("tenantB"), "email", "wrong@example.test",
                        "custom_role_ids", List.of(roleId)))
                .when().post("/v1/users").then().statusCode(400).body("error.details[0].field", equalTo("custom_role_ids"));
    }

    @Test
    void userJwtsGetTheirCustomRolesPermissions() {
        String sub = "usr_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        fixture();
        String token = TestIssuer.sign(TestIssuer.userClaims(sub, IDS.get("tenantASlug"), "tenant_viewer"));
        String userId = given().header("Authorization", "Bearer " + token).when().get("/v1/me").then().statusCode(200)
                .body("data.permissions", not(hasItem("models:use"))).extract().path("data.user_id");
        String roleId = post(KEYS.get("a_admin"), "/v1/iam/custom-roles", role(slug(), List.of("models:use"), List.of()));
        assign("a_admin", userId, List.of(roleId));
        given().header("Authorization", "Bearer " + token).when().get("/v1/me").then().statusCode(200)
                .body("data.permissions", hasItem("models:use"));
    }

    @Test
    void badRolesAreRefusedWithTheFieldNamed() {
        String taken = slug();
        as("a_admin").body(role(taken, List.of("models:use"), List.of())).when().post("/v1/iam/custom-roles").then().statusCode(201);
        Map<Map<String, Object>, String> cases = new java.util.LinkedHashMap<>();
        cases.put(role(slug(), List.of("models:fly"), List.of()), "core_permissions");
        cases.put(role(slug(), List.of("scaimind:view"), List.of()), "core_permissions");
        cases.put(role(slug(), List.of(), List.of("models:use")), "module_permissions");
        cases.put(role(slug(), List.of("models:manage"), List.of()), "core_permissions");
        cases.put(role(slug(), List.of("routing:manage"), List.of()), "core_permissions");
        cases.put(role(slug(), List.of(), List.of()), "core_permissions");
        cases.put(role("Not A Slug", List.of("models:use"), List.of()), "slug");
        cases.put(Map.of("slug", slug(), "core_permissions", List.of("models:use")), "name");
        cases.put(Map.of("name", "x".repeat(101), "slug", slug(), "core_permissions", List.of("models:use")), "name");
        cases.forEach((body, field) -> as("a_admin").body(body).when().post("/v1/iam/custom-roles").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.details[0].field", equalTo(field))
                .body("meta.request_id", startsWith("req_")));
        as("a_admin").body(role(taken, List.of("models:list"), List.of())).when().post("/v1/iam/custom-roles").then()
                .statusCode(409).body("error.code", equalTo("SLUG_CONFLICT"));
        // the same slug in another tenant is fine
        as("b_admin").body(role(taken, List.of("models:list"), List.of())).when().post("/v1/iam/custom-roles").then().statusCode(201);
        as("a_admin").body("not json").when().post("/v1/iam/custom-roles").then().statusCode(400);
        as("a_admin").body(Map.of("custom_role_ids", List.of("role_nope"))).when()
                .put("/v1/users/" + IDS.get("a_user") + "/roles").then().statusCode(400)
                .body("error.details[0].field", equalTo("custom_role_ids"));
        as("a_admin").body(Map.of()).when().put("/v1/users/" + IDS.get("a_user") + "/roles").then().statusCode(400);
    }

    @Test
    void tenantsNeverSeeOrUseEachOthersRoles() {
        String roleA = post(KEYS.get("a_admin"), "/v1/iam/custom-roles", role(slug(), List.of("models:use"), List.of()));
        as("b_admin").when().get("/v1/iam/custom-roles/" + roleA).then().statusCode(404);
        as("b_admin").body(Map.of("name", "mine now")).when().patch("/v1/iam/custom-roles/" + roleA).then().statusCode(404);
        as("b_admin").when().delete("/v1/iam/custom-roles/" + roleA).then().statusCode(404);
        as("b_admin").when().get("/v1/iam/custom-roles?tenant_id=" + IDS.get("tenantA")).then().statusCode(404);
        as("b_admin").body(Map.of("tenant_id", IDS.get("tenantA"), "name", "x", "slug", slug(),
                "core_permissions", List.of("models:use"))).when().post("/v1/iam/custom-roles").then().statusCode(404);
        as("b_admin").when().get("/v1/iam/custom-roles").then().statusCode(200).body("data.items.id", not(hasItem(roleA)));
        // a role of tenant A cannot be given to a user of tenant B, not even by a super admin
        as("super_admin").body(Map.of("custom_role_ids", List.of(roleA))).when()
                .put("/v1/users/" + IDS.get("b_viewer") + "/roles").then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"));
        as("b_viewer").when().get("/v1/me").then().body("data.permissions", not(hasItem("models:use")));
        // a super admin manages any tenant's roles, naming the tenant
        as("super_admin").when().get("/v1/iam/custom-roles?tenant_id=" + IDS.get("tenantA")).then().statusCode(200)
                .body("data.items.id", hasItem(roleA));
        as("a_user").when().get("/v1/iam/custom-roles").then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
    }

    @Test
    void managingUsersThroughACustomRoleGrantsOnlyWhatTheManagerHolds() {
        String managers = post(KEYS.get("a_admin"), "/v1/iam/custom-roles",
                role(slug(), List.of("users:manage"), List.of()));
        assign("a_admin", IDS.get("a_manager"), List.of(managers));
        as("a_manager").when().get("/v1/users").then().statusCode(200);
        // models:use is not theirs to give; scaimind:view is (tenant_viewer holds it)
        as("a_manager").body(role(slug(), List.of("models:use"), List.of())).when().post("/v1/iam/custom-roles")
                .then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
        String viewOnly = as("a_manager").body(role(slug(), List.of(), List.of("scaimind:view"))).when()
                .post("/v1/iam/custom-roles").then().statusCode(201).extract().path("data.id");
        String powerful = post(KEYS.get("a_admin"), "/v1/iam/custom-roles", role(slug(), List.of("models:use"), List.of()));
        as("a_manager").body(Map.of("custom_role_ids", List.of(powerful))).when()
                .put("/v1/users/" + IDS.get("a_manager") + "/roles").then().statusCode(403);
        as("a_manager").body(Map.of("core_permissions", List.of("models:use"))).when()
                .patch("/v1/iam/custom-roles/" + viewOnly).then().statusCode(403);
        as("a_manager").when().delete("/v1/iam/custom-roles/" + powerful).then().statusCode(403);
        // nor built-in roles: only admins grant those
        as("a_manager").body(Map.of("roles", List.of("tenant_admin"))).when()
                .put("/v1/users/" + IDS.get("a_manager") + "/roles").then().statusCode(403);
        as("a_manager").when().get("/v1/me").then().body("data.permissions", not(hasItem("models:use")));
    }
}
