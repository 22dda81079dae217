package ai.scaigrid.gateway.identity;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;

/**
 * The permission matrix for every role on every permission-guarded endpoint that exists, and
 * cross-tenant reads and writes (always 404). Fixture: the default partner with tenants A and B,
 * a second partner with tenant C; one user (and key) per role.
 */
@QuarkusTest
class PermissionMatrixTest {
    private static final Map<String, String> KEYS = new HashMap<>();
    private static final Map<String, String> IDS = new HashMap<>();

    private static synchronized void fixture() {
        if (!KEYS.isEmpty()) {
            return;
        }
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String partnerB = post(ADMIN, "/v1/partners", Map.of("slug", "p2-" + suffix, "display_name", "Partner Two"));
        String tenantA = post(ADMIN, "/v1/tenants", Map.of("slug", "ta-" + suffix, "display_name", "Tenant A"));
        String tenantB = post(ADMIN, "/v1/tenants", Map.of("slug", "tb-" + suffix, "display_name", "Tenant B"));
        String tenantC = post(ADMIN, "/v1/tenants", Map.of("partner_id", partnerB, "slug", "tc-" + suffix, "display_name", "Tenant C"));
        IDS.put("tenantA", tenantA);
        IDS.put("tenantB", tenantB);
        IDS.put("tenantC", tenantC);
        KEYS.put("super_admin", ADMIN);
        user("partner_admin", tenantA);
        user("tenant_admin", tenantA);
        user("tenant_user", tenantA);
        user("tenant_viewer", tenantA);
        user("b_admin", "tenant_admin", tenantB);
        user("c_user", "tenant_user", tenantC);
    }

    private static void user(String role, String tenant) {
        user(role, role, tenant);
    }

    private static void user(String name, String role, String tenant) {
        String userId = post(ADMIN, "/v1/users", Map.of("tenant_id", tenant, "email", name + "@example.test",
                "roles", List.of(role)));
        IDS.put(name, userId);
        var key = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", name, "assigned_user_id", userId))
                .when().post("/v1/api-keys").then().statusCode(201).extract().jsonPath();
        KEYS.put(name, key.getString("data.key"));
        IDS.put(name + "_key", key.getString("data.id"));
    }

    private static String post(String key, String path, Map<String, Object> body) {
        return given().header("Authorization", "Bearer " + key).contentType(ContentType.JSON).body(body)
                .when().post(path).then().statusCode(201).extract().path("data.id");
    }

    private static RequestSpecification as(String who) {
        fixture();
        return given().header("Authorization", "Bearer " + KEYS.get(who)).contentType(ContentType.JSON);
    }

    @ParameterizedTest(name = "{0} {1} as {2} -> {3}")
    @CsvSource({
            "GET, /v1/me, super_admin, 200", "GET, /v1/me, tenant_viewer, 200",
            "GET, /v1/api-keys, super_admin, 200", "GET, /v1/api-keys, partner_admin, 403",
            "GET, /v1/api-keys, tenant_admin, 200", "GET, /v1/api-keys, tenant_user, 200",
            "GET, /v1/api-keys, tenant_viewer, 403",
            "GET, /v1/users, super_admin, 200", "GET, /v1/users, partner_admin, 200",
            "GET, /v1/users, tenant_admin, 200", "GET, /v1/users, tenant_user, 403", "GET, /v1/users, tenant_viewer, 403",
            "GET, /v1/tenants, super_admin, 200", "GET, /v1/tenants, partner_admin, 200",
            "GET, /v1/tenants, tenant_admin, 200", "GET, /v1/tenants, tenant_user, 403", "GET, /v1/tenants, tenant_viewer, 403",
            "GET, /v1/partners, super_admin, 200", "GET, /v1/partners, partner_admin, 200",
            "GET, /v1/partners, tenant_user, 403",
            "POST, /v1/partners, partner_admin, 403", "POST, /v1/partners, tenant_admin, 403",
            "POST, /v1/partners, tenant_user, 403",
            "POST, /v1/tenants, tenant_admin, 403", "POST, /v1/tenants, tenant_user, 403",
            "POST, /v1/users, tenant_user, 403", "POST, /v1/users, tenant_viewer, 403",
            "POST, /v1/api-keys, tenant_viewer, 403"})
    void matrix(String method, String path, String who, int status) {
        Map<String, Object> body = switch (path) {
            case "/v1/partners" -> Map.of("slug", "m-" + UUID.randomUUID().toString().substring(0, 8), "display_name", "M");
            case "/v1/tenants" -> Map.of("slug", "m-" + UUID.randomUUID().toString().substring(0, 8), "display_name", "M");
            case "/v1/users" -> Map.of("email", "m@example.test", "roles", List.of("tenant_user"));
            default -> Map.of("name", "m");
        };
        var spec = as(who);
        var response = method.equals("GET") ? spec.when().get(path) : spec.body(body).when().post(path);
        response.then().statusCode(status);
        if (status == 403) {
            response.then().body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
        }
    }

    @Test
    void partnerAdminCreatesTenantsOnlyInItsPartner() {
        as("partner_admin").body(Map.of("slug", "pa-" + UUID.randomUUID().toString().substring(0, 8), "display_name", "Mine"))
                .when().post("/v1/tenants").then().statusCode(201);
        String otherPartner = given().header("Authorization", "Bearer " + ADMIN).when().get("/v1/tenants/" + IDS.get("tenantC"))
                .then().statusCode(200).extract().path("data.partner_id");
        as("partner_admin").body(Map.of("partner_id", otherPartner, "slug", "pa-x", "display_name", "Theirs"))
                .when().post("/v1/tenants").then().statusCode(404);
    }

    @Test
    void rolesCannotBeGrantedAboveTheGrantersScope() {
        as("tenant_admin").body(Map.of("email", "x@example.test", "roles", List.of("super_admin")))
                .when().post("/v1/users").then().statusCode(403);
        as("tenant_admin").body(Map.of("email", "x@example.test", "roles", List.of("partner_admin")))
                .when().post("/v1/users").then().statusCode(403);
        as("tenant_admin").body(Map.of("email", "x@example.test", "roles", List.of("tenant_admin")))
                .when().post("/v1/users").then().statusCode(201);
        as("tenant_admin").body(Map.of("email", "x@example.test", "roles", List.of("wizard")))
                .when().post("/v1/users").then().statusCode(400).body("error.code", equalTo("VALIDATION_ERROR"));
    }

    @Test
    void crossTenantReadsAndWritesAreNotFound() {
        fixture();
        String bUser = IDS.get("b_admin");
        String cUser = IDS.get("c_user");
        as("tenant_admin").when().get("/v1/users/" + bUser).then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));
        as("tenant_admin").when().get("/v1/tenants/" + IDS.get("tenantB")).then().statusCode(404);
        as("tenant_admin").when().get("/v1/users?tenant_id=" + IDS.get("tenantB")).then().statusCode(404);
        as("tenant_admin").body(Map.of("roles", List.of("tenant_user"))).when().put("/v1/users/" + bUser + "/roles")
                .then().statusCode(404);
        as("tenant_admin").when().delete("/v1/users/" + bUser).then().statusCode(404);
        as("tenant_admin").when().delete("/v1/api-keys/" + IDS.get("b_admin_key")).then().statusCode(404);
        as("tenant_admin").body(Map.of("email", "x@example.test", "tenant_id", IDS.get("tenantB"), "roles", List.of("tenant_user")))
                .when().post("/v1/users").then().statusCode(404);
        as("tenant_admin").body(Map.of("name", "theirs", "assigned_user_id", bUser))
                .when().post("/v1/api-keys").then().statusCode(404);
        // the other partner's objects are invisible to this partner's admin, visible to a super admin
        as("partner_admin").when().get("/v1/users/" + cUser).then().statusCode(404);
        as("partner_admin").when().get("/v1/users/" + bUser).then().statusCode(200);
        as("super_admin").when().get("/v1/users/" + cUser).then().statusCode(200);
        // and B's key still works: nothing was changed by the refused calls
        as("b_admin").when().get("/v1/me").then().statusCode(200).body("data.roles[0]", equalTo("tenant_admin"));
    }

    @Test
    void deletingAUserRevokesTheirKeys() {
        fixture();
        String userId = post(ADMIN, "/v1/users", Map.of("tenant_id", IDS.get("tenantA"), "email", "gone@example.test",
                "roles", List.of("tenant_user")));
        String key = given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "doomed", "assigned_user_id", userId))
                .when().post("/v1/api-keys").then().statusCode(201).extract().path("data.key");
        given().header("Authorization", "Bearer " + key).when().get("/v1/me").then().statusCode(200);
        as("tenant_admin").when().delete("/v1/users/" + userId).then().statusCode(204);
        given().header("Authorization", "Bearer " + key).when().get("/v1/me").then().statusCode(401);
    }
}
