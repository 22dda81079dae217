package ai.scaigrid.lookup.lookup;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import ai.scaigrid.lookup.LookupConfig;
import ai.scaigrid.lookup.upstream.Upstream;
import io.smallrye.mutiny.Uni;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * Seed 002's read-only lookups for the canvas, so the browser never holds tenant credentials:
 * ScaiQueue scopes and queues, ScaiBunker bunkers, and the tenant's ScaiGrid model catalogue (the
 * Model Picker). All need {@code scaicore:view}.
 */
@Path("/api/v1")
@Produces(MediaType.APPLICATION_JSON)
@RequiresPermission(Permissions.SCAICORE_VIEW)
public class LookupResource {
    /** Scope ids are opaque upstream ids ({@code sc_xxx}); anything else never reaches the upstream's path. */
    private static final Pattern SCOPE_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:\\-]{0,127}");

    private final LookupService lookups;
    private final CurrentCaller caller;
    private final LookupConfig config;

    public LookupResource(LookupService lookups, CurrentCaller caller, LookupConfig config) {
        this.lookups = lookups;
        this.caller = caller;
        this.config = config;
    }

    /** ScaiQueue scopes visible to the tenant. */
    @GET
    @Path("/scaiqueue/scopes")
    public Uni<Response> scopes(@HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        return lookups.list(new LookupService.Target(Upstream.SCAIQUEUE, config.paths().scaiqueueScopes(), false, false),
                caller.get(), bearer(authorization));
    }

    /** The queues of one ScaiQueue scope. */
    @GET
    @Path("/scaiqueue/scopes/{scope_id}/queues")
    public Uni<Response> queues(@PathParam("scope_id") String scopeId,
                                @HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        if (scopeId == null || !SCOPE_ID.matcher(scopeId).matches()) {
            throw ApiException.validation("scope_id", "scope_id must be 1-128 letters, digits, '_', '-', '.' or ':'");
        }
        String path = config.paths().scaiqueueQueues().replace("{scope_id}", URLEncoder.encode(scopeId, StandardCharsets.UTF_8));
        return lookups.list(new LookupService.Target(Upstream.SCAIQUEUE, path, false, true), caller.get(), bearer(authorization));
    }

    /** Currently-active ScaiBunker bunkers (running or persistent) visible to the tenant. */
    @GET
    @Path("/scaibunker/bunkers")
    public Uni<Response> bunkers(@HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        return lookups.list(new LookupService.Target(Upstream.SCAIBUNKER, config.paths().scaibunkerBunkers(), false, false),
                caller.get(), bearer(authorization));
    }

    /** The tenant's frontend-model catalogue from ScaiGrid, for the canvas Model Picker. */
    @GET
    @Path("/scaigrid/models")
    public Uni<Response> models(@HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        return lookups.list(new LookupService.Target(Upstream.SCAIGRID, config.paths().scaigridModels(), true, false),
                caller.get(), bearer(authorization));
    }

    /** The token after "Bearer " exactly as the caller sent it (BearerAuthFilter has already checked the form). */
    private static String bearer(String authorization) {
        return authorization == null || authorization.length() <= 7 ? null : authorization.substring(7).trim();
    }
}
