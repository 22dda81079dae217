package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.api.Items;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import ai.scaigrid.gateway.catalog.CatalogModels.FrontendModel;
import ai.scaigrid.gateway.catalog.CatalogModels.FrontendModelRequest;
import ai.scaigrid.gateway.catalog.CatalogModels.Link;
import ai.scaigrid.gateway.catalog.CatalogModels.LinkRequest;
import ai.scaigrid.gateway.catalog.CatalogModels.Page;
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

/**
 * {@code /v1/models}: the frontend models the caller may use, and (with {@code models:manage})
 * their administration and backend links. A slug contains '/', sent as-is or as {@code %2F}.
 */
@Path("/v1/models")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
public class CatalogResource {

    @Inject
    CatalogService catalog;

    @Inject
    CurrentCaller caller;

    @GET
    @RequiresPermission(Permissions.MODELS_LIST)
    public Uni<Envelope<Page<FrontendModel>>> list(@QueryParam("modality") String modality, @QueryParam("status") String status,
                                                   @QueryParam("limit") Integer limit, @QueryParam("cursor") String cursor) {
        return catalog.listVisible(caller.get(), modality, status, limit, cursor).map(Envelope::of);
    }

    @GET
    @Path("/{ref: .+}")
    @RequiresPermission(Permissions.MODELS_LIST)
    public Uni<Envelope<FrontendModel>> get(@PathParam("ref") String ref) {
        return catalog.getVisible(caller.get(), ref).map(Envelope::of);
    }

    @POST
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Response> create(FrontendModelRequest body) {
        return catalog.createFrontend(caller.get(), body).map(m -> Response.status(201).entity(Envelope.of(m)).build());
    }

    @PUT
    @Path("/{modelId}")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Envelope<FrontendModel>> update(@PathParam("modelId") String modelId, FrontendModelRequest body) {
        return catalog.updateFrontend(caller.get(), modelId, body).map(Envelope::of);
    }

    @DELETE
    @Path("/{modelId}")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Response> delete(@PathParam("modelId") String modelId) {
        return catalog.deleteFrontend(caller.get(), modelId).map(x -> Response.noContent().build());
    }

    @GET
    @Path("/{modelId}/backends")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Envelope<Items<Link>>> links(@PathParam("modelId") String modelId) {
        return catalog.listLinks(caller.get(), modelId).map(Items::envelope);
    }

    @POST
    @Path("/{modelId}/backends")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Response> link(@PathParam("modelId") String modelId, LinkRequest body) {
        return catalog.link(caller.get(), modelId, body).map(l -> Response.status(201).entity(Envelope.of(l)).build());
    }

    @DELETE
    @Path("/{modelId}/backends/{backendId}")
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Response> unlink(@PathParam("modelId") String modelId, @PathParam("backendId") String backendId) {
        return catalog.unlink(caller.get(), modelId, backendId).map(x -> Response.noContent().build());
    }
}
