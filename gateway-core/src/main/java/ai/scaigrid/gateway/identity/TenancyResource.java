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
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.util.List;

/** Admin REST for the hierarchy: partners (super admins), tenants (partner admins up), users and role grants (users:manage). */
@Path("/v1")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class TenancyResource {

    @Inject
    TenancyService tenancy;

    @Inject
    CurrentCaller caller;

    public record PartnerRequest(String slug, String displayName) {
    }

    public record TenantRequest(String partnerId, String slug, String displayName) {
    }

    public record UserRequest(String tenantId, String email, String displayName, List<String> roles, List<String> customRoleIds,
                              String externalId) {
    }

    /** Either list may be left out: it stays as it is. */
    public record RolesRequest(List<String> roles, List<String> customRoleIds) {
    }

    @POST
    @Path("/partners")
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Response> createPartner(PartnerRequest body) {
        PartnerRequest b = require(body);
        return tenancy.createPartner(caller.get(), b.slug(), b.displayName()).map(TenancyResource::created);
    }

    @GET
    @Path("/partners")
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Envelope<Items<TenancyService.Partner>>> listPartners() {
        return tenancy.listPartners(caller.get()).map(Items::envelope);
    }

    @POST
    @Path("/tenants")
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Response> createTenant(TenantRequest body) {
        TenantRequest b = require(body);
        return tenancy.createTenant(caller.get(), b.partnerId(), b.slug(), b.displayName()).map(TenancyResource::created);
    }

    @GET
    @Path("/tenants")
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Envelope<Items<TenancyService.Tenant>>> listTenants() {
        return tenancy.listTenants(caller.get()).map(Items::envelope);
    }

    @GET
    @Path("/tenants/{tenantId}")
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Envelope<TenancyService.Tenant>> getTenant(@PathParam("tenantId") String tenantId) {
        return tenancy.getTenant(caller.get(), tenantId).map(Envelope::of);
    }

    @POST
    @Path("/users")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Response> createUser(UserRequest body) {
        UserRequest b = require(body);
        return tenancy.createUser(caller.get(), b.tenantId(), b.email(), b.displayName(), b.roles(), b.customRoleIds(), b.externalId())
                .map(TenancyResource::created);
    }

    @GET
    @Path("/users")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Envelope<Items<TenancyService.User>>> listUsers(@QueryParam("tenant_id") String tenantId) {
        return tenancy.listUsers(caller.get(), tenantId).map(Items::envelope);
    }

    @GET
    @Path("/users/{userId}")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Envelope<TenancyService.User>> getUser(@PathParam("userId") String userId) {
        return tenancy.getUser(caller.get(), userId).map(Envelope::of);
    }

    @PUT
    @Path("/users/{userId}/roles")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Envelope<TenancyService.User>> setRoles(@PathParam("userId") String userId, RolesRequest body) {
        RolesRequest b = require(body);
        return tenancy.setRoles(caller.get(), userId, b.roles(), b.customRoleIds()).map(Envelope::of);
    }

    @DELETE
    @Path("/users/{userId}")
    @RequiresPermission(Permissions.USERS_MANAGE)
    public Uni<Response> deleteUser(@PathParam("userId") String userId) {
        return tenancy.deleteUser(caller.get(), userId).map(x -> Response.noContent().build());
    }

    /** The request's body, or a 400 naming it when there is none (shared by the identity resources). */
    static <T> T require(T body) {
        if (body == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        return body;
    }

    private static Response created(Object entity) {
        return Response.status(201).entity(Envelope.of(entity)).build();
    }
}
