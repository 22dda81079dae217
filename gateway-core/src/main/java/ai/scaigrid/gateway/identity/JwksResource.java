package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.security.PublicEndpoint;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/** Public: the keys that verify gateway-issued service tokens (standard JWKS document). */
@Path("/.well-known/jwks.json")
@PublicEndpoint
public class JwksResource {

    @Inject
    ServiceTokenService tokens;

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public String jwks() {
        return tokens.jwksJson();
    }
}
