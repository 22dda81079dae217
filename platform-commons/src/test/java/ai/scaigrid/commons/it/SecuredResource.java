package ai.scaigrid.commons.it;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.RequiresPermission;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;

import java.util.Map;

@Path("/secured")
public class SecuredResource {
    @Inject
    CurrentCaller caller;

    @GET
    @Path("/whoami")
    public Envelope<Map<String, String>> whoami() {
        return Envelope.of(Map.of("user_id", caller.get().userId(), "tenant_id", caller.get().tenantId()));
    }

    @GET
    @Path("/manage")
    @RequiresPermission("users:manage")
    public Envelope<String> manage() {
        return Envelope.of("managed");
    }
}
