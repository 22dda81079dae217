package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CurrentCaller;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import java.util.List;
import java.util.TreeSet;

/** {@code GET /v1/me}: who the presented credential stands for. */
@Path("/v1/me")
@Produces(MediaType.APPLICATION_JSON)
public class MeResource {

    @Inject
    CurrentCaller current;

    public record Me(String userId, String tenantId, String partnerId, List<String> roles, List<String> permissions,
                     String credentialType, String credentialId, List<String> modelGroupIds) {
    }

    @GET
    public Envelope<Me> me() {
        Caller c = current.get();
        return Envelope.of(new Me(c.userId(), c.tenantId(), c.partnerId(), List.copyOf(new TreeSet<>(c.roles())),
                List.copyOf(new TreeSet<>(c.permissions())), c.credentialType().name().toLowerCase(),
                c.credentialId(), List.copyOf(new TreeSet<>(c.modelGroupIds()))));
    }
}
