package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.api.Items;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import java.util.List;

/**
 * {@code /v1/nodes}: the ScaiInfer node registry for operators. Nodes are platform infrastructure,
 * so besides {@code models:manage} the caller must be a super admin. Drain: the node gets no new
 * work and is told to finish what it runs; enable: it takes work again.
 */
@Path("/v1/nodes")
@Produces(MediaType.APPLICATION_JSON)
@RequiresPermission(Permissions.MODELS_MANAGE)
public class NodeResource {

    @Inject
    NodeRegistry registry;

    @Inject
    CurrentCaller caller;

    /** Optional body of drain/enable. */
    public record AdminRequest(String reason) {
    }

    private void requireSuperAdmin() {
        if (!caller.get().isSuperAdmin()) {
            throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Only super admins manage platform inference nodes");
        }
    }

    @GET
    public Uni<Envelope<Items<NodeRegistry.NodeView>>> list() {
        requireSuperAdmin();
        return registry.list().map(Items::envelope);
    }

    @GET
    @Path("/{nodeId}")
    public Uni<Envelope<NodeRegistry.NodeView>> get(@PathParam("nodeId") String nodeId) {
        requireSuperAdmin();
        return registry.get(nodeId).map(Envelope::of);
    }

    @POST
    @Path("/{nodeId}/drain")
    @Consumes({MediaType.APPLICATION_JSON, MediaType.WILDCARD})
    public Uni<Envelope<NodeRegistry.NodeView>> drain(@PathParam("nodeId") String nodeId, AdminRequest body) {
        requireSuperAdmin();
        return registry.setAdminState(nodeId, NodeSnapshot.DRAINING, reason(body)).map(Envelope::of);
    }

    @POST
    @Path("/{nodeId}/enable")
    @Consumes({MediaType.APPLICATION_JSON, MediaType.WILDCARD})
    public Uni<Envelope<NodeRegistry.NodeView>> enable(@PathParam("nodeId") String nodeId, AdminRequest body) {
        requireSuperAdmin();
        return registry.setAdminState(nodeId, NodeSnapshot.ACTIVE, null).map(Envelope::of);
    }

    private static String reason(AdminRequest body) {
        if (body == null || body.reason() == null || body.reason().isBlank()) {
            return null;
        }
        if (body.reason().length() > 500) {
            throw ApiException.validation("reason", "reason must be at most 500 characters");
        }
        return body.reason().trim();
    }
}
