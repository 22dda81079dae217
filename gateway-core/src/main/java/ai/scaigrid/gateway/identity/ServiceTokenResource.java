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
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.util.List;

/** Service tokens for nodes and services, issued and revoked by super admins. */
@Path("/v1/service-tokens")
public class ServiceTokenResource {

    @Inject
    ServiceTokenService tokens;

    @Inject
    CurrentCaller caller;

    public record IssueRequest(String name, List<String> scopes, Long ttlSeconds, String tenantId) {
    }

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Response> issue(IssueRequest body) {
        if (body == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        return tokens.issue(caller.get(), body.name(), body.scopes(), body.ttlSeconds(), body.tenantId())
                .map(issued -> Response.status(201).entity(Envelope.of(issued)).build());
    }

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Envelope<Items<ServiceTokenService.TokenInfo>>> list() {
        return tokens.list(caller.get()).map(Items::envelope);
    }

    @DELETE
    @Path("/{id}")
    @RequiresPermission(Permissions.ADMIN_ACCESS)
    public Uni<Response> revoke(@PathParam("id") String id) {
        return tokens.revoke(caller.get(), id).map(x -> Response.noContent().build());
    }
}
