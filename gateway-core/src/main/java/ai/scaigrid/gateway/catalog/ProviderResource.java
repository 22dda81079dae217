package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.api.Items;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import ai.scaigrid.gateway.catalog.CatalogModels.Discovery;
import ai.scaigrid.gateway.catalog.CatalogModels.Provider;
import ai.scaigrid.gateway.catalog.CatalogModels.ProviderRequest;
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

/** {@code /v1/providers}: connection settings shared by backends (secrets sealed, never returned), and model discovery. */
@Path("/v1/providers")
@Produces(MediaType.APPLICATION_JSON)
@Consumes(MediaType.APPLICATION_JSON)
@RequiresPermission(Permissions.MODELS_MANAGE)
public class ProviderResource {

    @Inject
    ProviderService providers;

    @Inject
    CurrentCaller caller;

    @GET
    public Uni<Envelope<Items<Provider>>> list() {
        return providers.list(caller.get()).map(Items::envelope);
    }

    @POST
    public Uni<Response> create(ProviderRequest body) {
        return providers.create(caller.get(), body).map(p -> Response.status(201).entity(Envelope.of(p)).build());
    }

    @GET
    @Path("/{providerId}")
    public Uni<Envelope<Provider>> get(@PathParam("providerId") String providerId) {
        return providers.get(caller.get(), providerId).map(Envelope::of);
    }

    @PUT
    @Path("/{providerId}")
    public Uni<Envelope<Provider>> update(@PathParam("providerId") String providerId, ProviderRequest body) {
        return providers.update(caller.get(), providerId, body).map(Envelope::of);
    }

    @DELETE
    @Path("/{providerId}")
    public Uni<Response> delete(@PathParam("providerId") String providerId) {
        return providers.delete(caller.get(), providerId).map(x -> Response.noContent().build());
    }

    /** The models the provider offers now, with the ids of its backends that already serve each. */
    @POST
    @Path("/{providerId}/discover")
    @Consumes(MediaType.WILDCARD)
    public Uni<Envelope<Discovery>> discover(@PathParam("providerId") String providerId) {
        return providers.discover(caller.get(), providerId).map(Envelope::of);
    }
}
