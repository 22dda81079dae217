package ai.scaigrid.lookup.credentials;

import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.lookup.LookupConfig;
import io.smallrye.mutiny.Uni;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Chooses the credential lookup-proxy presents upstream, trying the sources in the configured order
 * (seed 002; {@code scaigrid.lookup.auth-order}, env SCAIFLOW_DEPLOY_AUTH): the caller's ScaiKey JWT
 * forwarded verbatim, the tenant's stored {@code sgk_} key, the SCAIGRID_API_KEY fallback. The fallback
 * is for development: refused unless {@code scaigrid.lookup.allow-env-api-key} (false in prod), and
 * every use is logged as a warning.
 */
// created at start-up: a bad setting fails the start, and the env-fallback warning is logged then
@Startup
@ApplicationScoped
public class UpstreamCredentials {
    private static final Logger LOG = Logger.getLogger(UpstreamCredentials.class);

    public enum Source {
        JWT("jwt"), TENANT_KEY("tenant_key"), ENV("env");

        private final String key;

        Source(String key) {
            this.key = key;
        }

        public String key() {
            return key;
        }

        static Source parse(String raw) {
            return switch (raw.trim().toLowerCase(Locale.ROOT).replace('-', '_')) {
                case "jwt", "scaikey_jwt", "caller_jwt" -> JWT;
                case "tenant_key", "tenant_api_key", "vault" -> TENANT_KEY;
                case "env", "env_api_key", "scaigrid_api_key" -> ENV;
                default -> throw new IllegalStateException("scaigrid.lookup.auth-order (SCAIFLOW_DEPLOY_AUTH): unknown source '"
                        + raw.trim() + "'; use jwt, tenant_key and env, in the order to try them");
            };
        }
    }

    /** The credential to present, and where it came from (never logged, never returned). */
    public record Credential(Source source, String token) {
        @Override
        public String toString() {
            return "Credential[" + source.key() + "]";
        }
    }

    private final List<Source> order;
    private final Optional<String> envKey;
    private final TenantApiKeys tenantKeys;

    public UpstreamCredentials(LookupConfig config, TenantApiKeys tenantKeys) {
        this.tenantKeys = tenantKeys;
        this.order = parseOrder(config.authOrder());
        Optional<String> configured = config.envApiKey().map(String::trim).filter(k -> !k.isEmpty());
        if (configured.isPresent() && !config.allowEnvApiKey()) {
            LOG.warn("SCAIGRID_API_KEY is set but IGNORED: the env fallback is for development only. "
                    + "Store the tenant's key with POST /v1/tenants/me/scaigrid_credentials instead "
                    + "(or set scaigrid.lookup.allow-env-api-key=true, not recommended in production)");
            this.envKey = Optional.empty();
        } else {
            this.envKey = configured;
            configured.ifPresent(k -> LOG.warn("SCAIGRID_API_KEY fallback is ENABLED (development only): every tenant "
                    + "without its own key will reach upstreams with this one shared key"));
        }
    }

    public List<Source> order() {
        return order;
    }

    /**
     * @param bearerToken the caller's own bearer token, as received
     * @return the first available credential, or empty (the caller gets 412 missing_credentials)
     */
    public Uni<Optional<Credential>> resolve(Caller caller, String bearerToken) {
        return next(caller, bearerToken, 0);
    }

    private Uni<Optional<Credential>> next(Caller caller, String bearerToken, int index) {
        if (index >= order.size()) {
            return Uni.createFrom().item(Optional.empty());
        }
        Source source = order.get(index);
        switch (source) {
            case JWT -> {
                if (caller.credentialType() == CredentialType.USER_JWT && bearerToken != null && !bearerToken.isEmpty()) {
                    return Uni.createFrom().item(Optional.of(new Credential(Source.JWT, bearerToken)));
                }
            }
            case TENANT_KEY -> {
                if (caller.tenantId() != null) {
                    return tenantKeys.get(caller.tenantId()).flatMap(key -> key.isPresent()
                            ? Uni.createFrom().item(Optional.of(new Credential(Source.TENANT_KEY, key.get())))
                            : next(caller, bearerToken, index + 1));
                }
            }
            case ENV -> {
                if (envKey.isPresent()) {
                    LOG.warnf("using the SCAIGRID_API_KEY fallback for tenant %s (development only; store the tenant's "
                            + "own key with POST /v1/tenants/me/scaigrid_credentials)", caller.tenantId());
                    return Uni.createFrom().item(Optional.of(new Credential(Source.ENV, envKey.get())));
                }
            }
        }
        return next(caller, bearerToken, index + 1);
    }

    static List<Source> parseOrder(List<String> raw) {
        List<Source> out = new ArrayList<>();
        for (String item : raw) {
            if (item == null || item.isBlank()) {
                continue;
            }
            Source s = Source.parse(item);
            if (!out.contains(s)) {
                out.add(s);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalStateException("scaigrid.lookup.auth-order (SCAIFLOW_DEPLOY_AUTH) names no credential source");
        }
        return List.copyOf(out);
    }
}
