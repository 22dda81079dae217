package ai.scaigrid.gateway.identity;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** How ScaiKey (OIDC) access-token claims map to a ScaiGrid caller; the issuer itself is {@code quarkus.oidc.*}. */
@ConfigMapping(prefix = "scaigrid.jwt")
public interface JwtClaimsConfig {

    /** Accept user JWTs at all (also needs {@code quarkus.oidc.tenant-enabled=true} and the issuer settings). */
    @WithDefault("false")
    boolean enabled();

    /** Claim naming the ScaiGrid tenant (its id or slug). */
    @WithDefault("tenant_id")
    String tenantClaim();

    /** Claim naming the user (ScaiKey {@code usr_...}). */
    @WithDefault("sub")
    String userClaim();

    /** Claim with the built-in role(s): a string or an array. */
    @WithDefault("role")
    String rolesClaim();

    @WithDefault("email")
    String emailClaim();

    @WithDefault("name")
    String nameClaim();

    /** Role given to provisioned users whose token names none. */
    @WithDefault("tenant_user")
    String defaultRole();

    /** Create unknown users of a trusted issuer in their tenant on first sight. */
    @WithDefault("true")
    boolean provisionUsers();
}
