package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.api.Items;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import ai.scaigrid.gateway.catalog.CatalogModels.MembersRequest;
import ai.scaigrid.gateway.catalog.CatalogModels.ModelGroup;
import ai.scaigrid.gateway.catalog.CatalogModels.ModelGroupRequest;
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
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.util.List;

/** {@code /v1/models/groups}: model groups and their members (seed 003 scope rules). */
@Path("/v1/models/groups")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class ModelGroupResource {

    @Inject
    ModelGroupService groups;

    @Inject
    CurrentCaller caller;

    @GET
    @RequiresPermission(Permissions.MODELS_LIST)
    public Uni<Envelope<Items<ModelGroup>>> list() {
        return groups.list(caller.get()).map(Items::envelope);
    }

    @POST
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Response> create(ModelGroupRequest body) {
        return groups.create(caller.get(), body).map(g -> Response.status(201).entity(Envelope.of(g)).build());
    }

    @GET
    @Path("/{groupId}")
    @RequiresPermission(Permissions.MODELS_LIST)
    public Uni<Envelope<ModelGroup>> get(@PathParam("groupId") String groupId) {
        return groups.get(caller.get(), groupId).map(Envelope::of);
    }

    @PUT
    @Path("/{groupId}")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Envelope<ModelGroup>> update(@PathParam("groupId") String groupId, ModelGroupRequest body) {
        return groups.update(caller.get(), groupId, body).map(Envelope::of);
    }

    @DELETE
    @Path("/{groupId}")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Response> delete(@PathParam("groupId") String groupId) {
        return groups.delete(caller.get(), groupId).map(x -> Response.noContent().build());
    }

    @POST
    @Path("/{groupId}/members")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Envelope<ModelGroup>> addMembers(@PathParam("groupId") String groupId, MembersRequest body) {
        if (body == null) {
            throw ApiException.validation("slugs", "slugs is required");
        }
        return groups.addMembers(caller.get(), groupId, body.slugs()).map(Envelope::of);
    }

    @DELETE
    @Path("/{groupId}/members/{slug: .+}")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Envelope<ModelGroup>> removeMember(@PathParam("groupId") String groupId, @PathParam("slug") String slug) {
        return groups.removeMember(caller.get(), groupId, slug).map(Envelope::of);
    }
}
