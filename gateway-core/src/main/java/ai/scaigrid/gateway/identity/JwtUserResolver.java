package ai.scaigrid.gateway.identity;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.commons.security.Role;
import io.quarkus.oidc.AccessTokenCredential;
import io.quarkus.oidc.TenantIdentityProvider;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.eclipse.microprofile.jwt.JsonWebToken;
import org.jboss.logging.Logger;

import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * ScaiKey user JWTs: the signature, issuer, audience and expiry are checked by quarkus-oidc
 * (against the issuer's JWKS, or a configured public key); the claims then name the tenant, the
 * user and their roles. A user a trusted issuer vouches for but we have not seen is provisioned
 * into their tenant on first use. Client-credentials tokens are service tokens, not users.
 */
@ApplicationScoped
public class JwtUserResolver {
    private static final Logger LOG = Logger.getLogger(JwtUserResolver.class);

    @Inject
    Instance<TenantIdentityProvider> oidc;

    @Inject
    JwtClaimsConfig claims;

    @Inject
    Pool pool;

    public boolean enabled() {
        return claims.enabled() && oidc.isResolvable();
    }

    /** The verified token, or AUTH_TOKEN_INVALID for any signature, issuer, audience or expiry problem. */
    public Uni<JsonWebToken> verify(String token) {
        if (!enabled()) {
            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
        }
        return oidc.get().authenticate(new AccessTokenCredential(token))
                .onFailure().transform(e -> {
                    LOG.debugf("JWT refused: %s", e.getMessage());
                    return new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
                })
                .map(identity -> {
                    if (identity.getPrincipal() instanceof JsonWebToken jwt) {
                        return jwt;
                    }
                    throw new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
                });
    }

    public static boolean isServiceToken(JsonWebToken jwt) {
        return "client_credentials".equals(jwt.getClaim("token_type"));
    }

    /** A ScaiKey client-credentials token: a service caller with the token's scopes. */
    public static Caller serviceCaller(JsonWebToken jwt) {
        Object scope = jwt.getClaim("scope");
        Set<String> scopes = scope == null ? Set.of() : new HashSet<>(Arrays.asList(
                String.valueOf(scope instanceof jakarta.json.JsonString s ? s.getString() : scope).split(" ")));
        return new Caller(null, claimOrNull(jwt, "tenant_id"), null, Set.of(), Set.of(), CredentialType.SERVICE_TOKEN,
                jwt.getSubject(), null, scopes);
    }

    private static String claimOrNull(JsonWebToken jwt, String name) {
        return claimString(jwt, name);
    }

    /** A verified user token → caller, provisioning the user on first sight. */
    public Uni<Caller> toCaller(JsonWebToken jwt) {
        String tenantRef = claimString(jwt, claims.tenantClaim());
        String subject = claimString(jwt, claims.userClaim());
        if (tenantRef == null || subject == null) {
            LOG.debugf("JWT without %s or %s claim refused", claims.tenantClaim(), claims.userClaim());
            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
        }
        Set<String> tokenRoles = roles(jwt);
        return pool.preparedQuery("SELECT id, partner_id, status FROM tenants WHERE id = $1 OR slug = $1")
                .execute(Tuple.of(tenantRef))
                .flatMap(tenants -> {
                    Row tenant = tenants.size() == 0 ? null : tenants.iterator().next();
                    if (tenant == null || !"active".equals(tenant.getString("status"))) {
                        LOG.infof("JWT for unknown or inactive tenant %s refused", tenantRef);
                        return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
                    }
                    String tenantId = tenant.getString("id");
                    String partnerId = tenant.getString("partner_id");
                    return findOrProvision(tenantId, subject, jwt, tokenRoles).map(user -> {
                        Set<String> roles = new HashSet<>(tokenRoles);
                        roles.addAll(Arrays.asList(user.getArrayOfStrings("roles")));
                        Set<String> granted = Set.copyOf(Arrays.asList(user.getArrayOfStrings("granted")));
                        return new Caller(partnerId, tenantId, user.getString("id"), roles,
                                Caller.permissionsOf(roles, granted, null), CredentialType.USER_JWT, subject, null, null);
                    });
                });
    }

    private Uni<Row> findOrProvision(String tenantId, String subject, JsonWebToken jwt, Set<String> tokenRoles) {
        return pool.preparedQuery("SELECT u.id, u.roles, u.status, " + CustomRoleService.grantedSql("u")
                        + " FROM users u WHERE u.tenant_id = $1 AND u.external_id = $2")
                .execute(Tuple.of(tenantId, subject))
                .flatMap(rows -> {
                    if (rows.size() > 0) {
                        Row user = rows.iterator().next();
                        if (!"active".equals(user.getString("status"))) {
                            return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
                        }
                        return Uni.createFrom().item(user);
                    }
                    if (!claims.provisionUsers()) {
                        return Uni.createFrom().failure(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
                    }
                    String[] initialRoles = tokenRoles.isEmpty() ? new String[]{claims.defaultRole()} : new String[0];
                    // ON CONFLICT: two first requests of the same new user race; both end with the one row
                    return pool.preparedQuery("""
                                    INSERT INTO users (id, tenant_id, external_id, email, display_name, roles)
                                    VALUES ($1, $2, $3, $4, $5, $6)
                                    ON CONFLICT (tenant_id, external_id) WHERE external_id IS NOT NULL
                                    DO UPDATE SET updated_at = now()
                                    RETURNING id, roles, status, """ + CustomRoleService.grantedSql("users"))
                            .execute(Tuple.from(Arrays.asList(ApiKeys.newId("usr"), tenantId, subject,
                                    claimString(jwt, claims.emailClaim()), claimString(jwt, claims.nameClaim()), initialRoles)))
                            .map(inserted -> {
                                LOG.infof("provisioned user %s of tenant %s from a trusted issuer", subject, tenantId);
                                return inserted.iterator().next();
                            });
                });
    }

    /** Known built-in roles named by the token (string or array claim); unknown names are ignored. */
    private Set<String> roles(JsonWebToken jwt) {
        Object raw = jwt.getClaim(claims.rolesClaim());
        Collection<?> values;
        if (raw == null) {
            values = List.of();
        } else if (raw instanceof Collection<?> c) {
            values = c;
        } else if (raw instanceof jakarta.json.JsonArray array) {
            values = array.stream().map(v -> v instanceof jakarta.json.JsonString s ? s.getString() : v.toString()).toList();
        } else {
            values = List.of(raw.toString().replace("\"", "").split("[ ,]+"));
        }
        Set<String> out = new LinkedHashSet<>();
        for (Object v : values) {
            String key = String.valueOf(v).replace("\"", "").trim();
            if (Role.fromKey(key).isPresent()) {
                out.add(key);
            }
        }
        return out;
    }

    private static String claimString(JsonWebToken jwt, String name) {
        Object value = jwt.getClaim(name);
        if (value == null) {
            return null;
        }
        String s = value instanceof jakarta.json.JsonString js ? js.getString() : value.toString();
        return s.isBlank() ? null : s;
    }
}
