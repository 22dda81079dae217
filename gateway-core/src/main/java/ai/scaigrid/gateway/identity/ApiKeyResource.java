package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.api.Items;
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
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.time.OffsetDateTime;
import java.util.List;

/** {@code /v1/api-keys}: create (secret shown once), list (never the secret), revoke. */
@Path("/v1/api-keys")
@Produces(MediaType.APPLICATION_JSON)
@RequiresPermission(Permissions.API_KEYS_MANAGE)
public class ApiKeyResource {

    @Inject
    ApiKeyService keys;

    @Inject
    CurrentCaller caller;

    public record CreateKeyRequest(String name, OffsetDateTime expiresAt, List<String> permissions,
                                   List<String> modelGroupIds, String assignedUserId) {
    }

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    public Uni<Response> create(CreateKeyRequest request) {
        if (request == null) {
            throw ai.scaigrid.commons.error.ApiException.validation("body", "A JSON body is required");
        }
        return keys.create(caller.get(), request.name(), request.assignedUserId(), request.permissions(),
                        request.modelGroupIds(), request.expiresAt())
                .map(created -> Response.status(201).entity(Envelope.of(created)).build());
    }

    /** The caller's keys; {@code ?scope=tenant} lists the whole tenant's keys for holders of users:manage. */
    @GET
    public Uni<Envelope<Items<ApiKeyService.KeyInfo>>> list(@QueryParam("scope") String scope) {
        return keys.list(caller.get(), "tenant".equals(scope)).map(Items::envelope);
    }

    @DELETE
    @Path("/{keyId}")
    public Uni<Response> revoke(@PathParam("keyId") String keyId) {
        return keys.revoke(caller.get(), keyId).map(ignored -> Response.noContent().build());
    }
}
