package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.cache.RefreshingCache;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.gateway.catalog.ConnectionConfigs;
import ai.scaigrid.gateway.catalog.ModelAccess;
import ai.scaigrid.gateway.inference.provider.BackendTarget;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Slug → everything the hot path needs (the frontend model, its enabled backends in priority order,
 * the model groups that list it), cached in memory for a short TTL so an inference request costs no
 * database round trip. Catalogue edits reach every replica within the TTL. Concurrent misses for one
 * slug share a single load, and a slug in use is reloaded in the background before it expires, so a
 * request never waits for the catalogue while its model is busy ({@link RefreshingCache}).
 */
@ApplicationScoped
public class ModelRoutes {
    private static final Logger LOG = Logger.getLogger(ModelRoutes.class);

    /** What a request for one slug resolves to. */
    public record Route(String frontendId, String slug, String modality, String status, Integer contextWindow,
                        Integer maxOutputTokens, ModelPrices prices,
                        String ownerScope, String ownerPartnerId, String ownerTenantId, Set<String> groupIds,
                        List<BackendTarget> backends, String systemPromptTemplate, ObjectNode defaultParams) {
    }

    private static final Route MISSING = new Route(null, null, null, null, null, null, ModelPrices.NONE, null, null, null,
            Set.of(), List.of(), null, null);

    @Inject
    Pool pool;

    @Inject
    ConnectionConfigs configs;

    @Inject
    ObjectMapper mapper;

    @ConfigProperty(name = "scaigrid.inference.route-cache-ttl", defaultValue = "3s")
    Duration ttl;

    private RefreshingCache<String, Route> cache;

    /**
     * The route for a slug the caller may use. Unknown or out-of-sight: MODEL_NOT_FOUND; a key
     * restricted to model groups that do not list it: MODEL_ACCESS_DENIED.
     */
    public Uni<Route> resolve(Caller caller, String slug) {
        return cache.get(slug).map(route -> {
            if (route == MISSING || !ModelAccess.inScope(caller, route.ownerScope(), route.ownerPartnerId(), route.ownerTenantId())) {
                throw new ApiException(ErrorCode.MODEL_NOT_FOUND, "No model named " + slug, Map.of("model", slug));
            }
            if (!caller.modelGroupIds().isEmpty() && caller.modelGroupIds().stream().noneMatch(route.groupIds()::contains)) {
                throw new ApiException(ErrorCode.MODEL_ACCESS_DENIED, "This key may not use model " + slug, Map.of("model", slug));
            }
            return route;
        });
    }

    /** Drops every cached route (catalogue tests and admin edits on this replica). */
    public void invalidateAll() {
        cache.invalidateAll();
    }

    @PostConstruct
    void createCache() {
        // bounded: unknown slugs from callers are cached (as MISSING) too
        cache = new RefreshingCache<>(ttl, 50_000, this::load);
    }

    private Uni<Route> load(String slug) {
        return pool.preparedQuery("""
                        SELECT f.id, f.slug, f.modality, f.status, f.context_window, f.max_output_tokens,
                               f.input_price_per_mtok, f.cached_input_price_per_mtok, f.cache_write_price_per_mtok,
                               f.cache_write_1h_price_per_mtok, f.output_price_per_mtok, f.price_per_image,
                               f.price_per_audio_minute, f.owner_scope,
                               f.owner_partner_id, f.owner_tenant_id,
                               f.system_prompt_template, f.default_params,
                               ARRAY(SELECT group_id FROM model_group_members m WHERE m.model_slug = f.slug) AS group_ids
                        FROM frontend_models f WHERE f.slug = $1""")
                .execute(Tuple.of(slug))
                .flatMap(rows -> {
                    if (rows.size() == 0) {
                        return Uni.createFrom().item(MISSING);
                    }
                    Row f = rows.iterator().next();
                    String frontendId = f.getString("id");
                    return pool.preparedQuery("""
                                    SELECT b.id, b.name, b.provider_type, b.model_name,
                                           coalesce(p.connection_config, '{}'::jsonb) || b.connection_config AS connection_config,
                                           b.sealed_secrets, p.id AS provider_id, p.sealed_secrets AS provider_secrets,
                                           l.priority, l.weight
                                    FROM model_links l JOIN backend_models b ON b.id = l.backend_model_id
                                    LEFT JOIN providers p ON p.id = b.provider_id
                                    WHERE l.frontend_model_id = $1 AND l.enabled AND b.status = 'active'
                                      AND (p.id IS NULL OR p.status = 'active')
                                    ORDER BY l.priority, b.id""")
                            .execute(Tuple.of(frontendId))
                            .map(backendRows -> {
                                List<BackendTarget> backends = new ArrayList<>();
                                for (Row b : backendRows) {
                                    backends.add(toTarget(b));
                                }
                                String[] groups = f.getArrayOfStrings("group_ids");
                                return new Route(frontendId, f.getString("slug"), f.getString("modality"), f.getString("status"),
                                        f.getInteger("context_window"), f.getInteger("max_output_tokens"),
                                        new ModelPrices(f.getBigDecimal("input_price_per_mtok"),
                                                f.getBigDecimal("cached_input_price_per_mtok"), f.getBigDecimal("cache_write_price_per_mtok"),
                                                f.getBigDecimal("cache_write_1h_price_per_mtok"), f.getBigDecimal("output_price_per_mtok"),
                                                f.getBigDecimal("price_per_image"), f.getBigDecimal("price_per_audio_minute")),
                                        f.getString("owner_scope"), f.getString("owner_partner_id"), f.getString("owner_tenant_id"),
                                        groups == null ? Set.of() : new HashSet<>(List.of(groups)), List.copyOf(backends),
                                        blankToNull(f.getString("system_prompt_template")), defaults(f.getValue("default_params")));
                            });
                });
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private ObjectNode defaults(Object value) {
        if (!(value instanceof io.vertx.core.json.JsonObject o) || o.isEmpty()) {
            return null;
        }
        return (ObjectNode) mapper.valueToTree(o.getMap());
    }

    /** A backend with its provider's settings underneath its own (the provider's config, then the backend's keys over it). */
    private BackendTarget toTarget(Row b) {
        String id = b.getString("id");
        Map<String, Object> secrets = new HashMap<>();
        String providerId = b.getString("provider_id");
        if (providerId != null) {
            secrets.putAll(secrets("providers", providerId, b.getString("provider_secrets")));
        }
        secrets.putAll(secrets("backend_models", id, b.getString("sealed_secrets")));
        Object config = b.getValue("connection_config");
        ObjectNode connection = config == null ? mapper.createObjectNode()
                : (ObjectNode) mapper.valueToTree(((io.vertx.core.json.JsonObject) config).getMap());
        return new BackendTarget(id, b.getString("name"), b.getString("provider_type"), b.getString("model_name"),
                connection, java.util.Collections.unmodifiableMap(secrets), b.getInteger("priority"), b.getInteger("weight"));
    }

    private Map<String, Object> secrets(String table, String id, String sealed) {
        try {
            return configs.open(table, id, sealed);
        } catch (RuntimeException e) {
            // secrets that cannot be opened (KEK rotated away): the backend is still listed; its calls fail upstream
            LOG.errorf("secrets of %s %s cannot be opened: %s", table, id, e.getMessage());
            return Map.of();
        }
    }
}
