package ai.scaigrid.lookup.credentials;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.RequiresPermission;
import io.smallrye.mutiny.Uni;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;

import java.time.OffsetDateTime;
import java.util.Map;

/**
 * {@code /v1/tenants/me/scaigrid_credentials}: a tenant admin stores, replaces or deletes the tenant's
 * ScaiGrid API key, which lookup-proxy then presents upstream for callers without a ScaiKey JWT
 * (seed 002's fix for missing_credentials). The key is sealed at rest and never returned or logged;
 * only a short hint ({@code sgk_AbCd}) is shown. "me" is always the caller's own tenant.
 */
@Path("/v1/tenants/me/scaigrid_credentials")
@Produces(MediaType.APPLICATION_JSON)
@RequiresPermission(Permissions.ADMIN_ACCESS)
public class ScaigridCredentialsResource {
    private static final Logger LOG = Logger.getLogger(ScaigridCredentialsResource.class);

    /** The request body; toString never shows the key. */
    public record CredentialsRequest(String apiKey) {
        @Override
        public String toString() {
            return "CredentialsRequest[api_key=***]";
        }
    }

    /** What the tenant has stored, without the key. */
    public record CredentialStatus(String tenantId, boolean configured, String hint, String setBy,
                                   OffsetDateTime createdAt, OffsetDateTime updatedAt) {
    }

    private final TenantApiKeys keys;
    private final CurrentCaller caller;

    public ScaigridCredentialsResource(TenantApiKeys keys, CurrentCaller caller) {
        this.keys = keys;
        this.caller = caller;
    }

    /** Stores the key (201) or replaces the stored one (200). */
    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    public Uni<Response> store(CredentialsRequest body) {
        Caller c = caller.get();
        String tenantId = tenantOf(c);
        if (body == null) {
            throw ApiException.validation("body", "A JSON body {\"api_key\": \"sgk_...\"} is required");
        }
        String key = body.apiKey() == null ? null : body.apiKey().trim();
        if (key == null || key.isEmpty()) {
            throw ApiException.validation("api_key", "api_key is required");
        }
        if (!TenantApiKeys.KEY_SHAPE.matcher(key).matches()) {
            // never echo the value: it may be a real secret pasted into the wrong field
            throw ApiException.validation("api_key", "api_key must be a ScaiGrid API key: sgk_ followed by 32-128 letters or digits");
        }
        String actor = c.userId() != null ? c.userId() : c.credentialId();
        return keys.store(tenantId, key, actor).map(written -> {
            LOG.infof("tenant %s: ScaiGrid API key %s by %s", tenantId, written.created() ? "stored" : "replaced", actor);
            return Response.status(written.created() ? 201 : 200).entity(Envelope.of(status(tenantId, written.info()))).build();
        });
    }

    @GET
    public Uni<Envelope<CredentialStatus>> describe() {
        String tenantId = tenantOf(caller.get());
        return keys.describe(tenantId).map(info -> Envelope.of(info.map(i -> status(tenantId, i))
                .orElseGet(() -> new CredentialStatus(tenantId, false, null, null, null, null))));
    }

    @DELETE
    public Uni<Response> delete() {
        Caller c = caller.get();
        String tenantId = tenantOf(c);
        return keys.delete(tenantId).map(deleted -> {
            if (!deleted) {
                throw new ApiException(ErrorCode.NOT_FOUND, "No ScaiGrid API key is stored for this tenant",
                        Map.of("tenant_id", tenantId));
            }
            LOG.infof("tenant %s: ScaiGrid API key deleted by %s", tenantId, c.userId() != null ? c.userId() : c.credentialId());
            return Response.noContent().build();
        });
    }

    private static String tenantOf(Caller c) {
        if (c.tenantId() == null) {
            throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "This credential belongs to no tenant");
        }
        return c.tenantId();
    }

    private static CredentialStatus status(String tenantId, TenantSecretStore.SecretInfo info) {
        return new CredentialStatus(tenantId, true, info.hint(), info.setBy(), info.createdAt(), info.updatedAt());
    }
}
