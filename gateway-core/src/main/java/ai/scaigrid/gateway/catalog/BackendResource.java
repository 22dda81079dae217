package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.api.Items;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import ai.scaigrid.gateway.catalog.CatalogModels.BackendModel;
import ai.scaigrid.gateway.catalog.CatalogModels.BackendModelRequest;
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

/** {@code /v1/backends}: backend models (provider, model name, connection config; secrets sealed, never returned). */
@Path("/v1/backends")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
@RequiresPermission(Permissions.MODELS_MANAGE)
public class BackendResource {

    @Inject
    CatalogService catalog;

    @Inject
    CurrentCaller caller;

    /** {@code ?provider_id=} narrows the list to the backends that use that provider. */
    @GET
    public Uni<Envelope<Items<BackendModel>>> list(@QueryParam("provider_id") String providerId) {
        return catalog.listBackends(caller.get(), providerId).map(Items::envelope);
    }

    @POST
    public Uni<Response> create(BackendModelRequest body) {
        return catalog.createBackend(caller.get(), body).map(b -> Response.status(201).entity(Envelope.of(b)).build());
    }

    @GET
    @Path("/{backendId}")
    public Uni<Envelope<BackendModel>> get(@PathParam("backendId") String backendId) {
        return catalog.getBackend(caller.get(), backendId).map(Envelope::of);
    }

    @GET
    @Path("/{backendId}/health")
    public Uni<Envelope<CatalogService.BackendHealthView>> health(@PathParam("backendId") String backendId) {
        return catalog.backendHealth(caller.get(), backendId).map(Envelope::of);
    }

    @PUT
    @Path("/{backendId}")
    public Uni<Envelope<BackendModel>> update(@PathParam("backendId") String backendId, BackendModelRequest body) {
        return catalog.updateBackend(caller.get(), backendId, body).map(Envelope::of);
    }

    @DELETE
    @Path("/{backendId}")
    public Uni<Response> delete(@PathParam("backendId") String backendId) {
        return catalog.deleteBackend(caller.get(), backendId).map(x -> Response.noContent().build());
    }
}
