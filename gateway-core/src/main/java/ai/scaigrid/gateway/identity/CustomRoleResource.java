package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.api.Items;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PATCH;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.util.List;

/**
 * Custom roles of a tenant (reference §3.2, {@code POST /v1/iam/custom-roles}); users get them through
 * {@code PUT /v1/users/{id}/roles} {@code {"custom_role_ids": [...]}}. Needs {@code users:manage} in scope.
 */
@Path("/v1/iam/custom-roles")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class CustomRoleResource {

    @Inject
    CustomRoleService roles;

    @Inject
    CurrentCaller caller;

    /** {@code tenantId}: for partner and super admins; others create in their own tenant. */
    public record RoleRequest(String tenantId, String name, String slug, String description, List<String> corePermissions,
                              List<String> modulePermissions) {
        CustomRoleService.Change change() {
            return new CustomRoleService.Change(name, slug, description, corePermissions, modulePermissions);
        }
    }

    @POST
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Response> create(RoleRequest body) {
        RoleRequest b = TenancyResource.require(body);
        return roles.create(caller.get(), b.tenantId(), b.change())
                .map(role -> Response.status(201).entity(Envelope.of(role)).build());
    }

    @GET
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Envelope<Items<CustomRoleService.CustomRole>>> list(@QueryParam("tenant_id") String tenantId) {
        return roles.list(caller.get(), tenantId).map(Items::envelope);
    }

    @GET
    @Path("/{roleId}")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Envelope<CustomRoleService.CustomRole>> get(@PathParam("roleId") String roleId) {
        return roles.get(caller.get(), roleId).map(Envelope::of);
    }

    /** Changes the fields given; the holders' permissions change with it. {@code tenant_id} cannot change. */
    @PATCH
    @Path("/{roleId}")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Envelope<CustomRoleService.CustomRole>> update(@PathParam("roleId") String roleId, RoleRequest body) {
        RoleRequest b = TenancyResource.require(body);
        if (b.tenantId() != null) {
            throw ApiException.validation("tenant_id", "a custom role cannot move to another tenant");
        }
        return roles.update(caller.get(), roleId, b.change()).map(Envelope::of);
    }

    @DELETE
    @Path("/{roleId}")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Response> delete(@PathParam("roleId") String roleId) {
        return roles.delete(caller.get(), roleId).map(x -> Response.noContent().build());
    }
}
