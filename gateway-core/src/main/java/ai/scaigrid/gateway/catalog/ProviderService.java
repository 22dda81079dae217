package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.gateway.catalog.CatalogModels.DiscoveredModel;
import ai.scaigrid.gateway.catalog.CatalogModels.Discovery;
import ai.scaigrid.gateway.catalog.CatalogModels.Provider;
import ai.scaigrid.gateway.catalog.CatalogModels.ProviderRequest;
import ai.scaigrid.gateway.catalog.ConnectionConfigs.Split;
import ai.scaigrid.gateway.identity.ApiKeys;
import ai.scaigrid.gateway.inference.provider.BackendTarget;
import ai.scaigrid.gateway.inference.provider.UpstreamFailure;
import ai.scaigrid.gateway.nodes.NodeRegistry;
import ai.scaigrid.gateway.nodes.NodeSnapshot;
import ai.scaigrid.gateway.nodes.NodesConfig;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Uni;
import io.vertx.core.json.JsonObject;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import io.vertx.pgclient.PgException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Providers (reference §1.3): an account or a cluster whose connection settings several backends
 * share. A backend naming a provider inherits its {@code connection_config} and secrets (its own keys
 * override them) and is not routed while the provider is disabled. Ownership works as for backends;
 * a backend may only use a provider whose owner contains the backend's owner, and only someone who
 * manages the provider attaches a backend to it or edits such a backend, so a provider's credentials
 * never serve models its owner did not choose. The endpoint ({@code base_url}) is the provider's alone:
 * a backend cannot send the provider's credentials anywhere else.
 */
@ApplicationScoped
public class ProviderService {
    private static final Logger LOG = Logger.getLogger(ProviderService.class);

    @Inject
    Pool pool;

    @Inject
    ModelAccess access;

    @Inject
    ConnectionConfigs configs;

    /** The gateway's upstream clients: those that can list a provider's models serve discovery. */
    @Inject
    ai.scaigrid.gateway.inference.provider.Providers clients;

    @Inject
    NodeRegistry nodes;

    @Inject
    NodesConfig nodesConfig;

    @Inject
    ObjectMapper mapper;

    @ConfigProperty(name = "scaigrid.providers.discovery-timeout", defaultValue = "10s")
    Duration discoveryTimeout;

    private static final String SELECT = """
            SELECT b.*, (SELECT count(*) FROM backend_models m WHERE m.provider_id = b.id) AS backend_count
            FROM providers b""";

    public Uni<List<Provider>> list(Caller caller) {
        return pool.preparedQuery(SELECT + " WHERE " + ModelAccess.OWNED_SQL + " ORDER BY b.created_at, b.id")
                .execute(Tuple.of(caller.isSuperAdmin(), caller.partnerId(), caller.tenantId()))
                .map(rows -> {
                    List<Provider> out = new ArrayList<>();
                    for (Row r : rows) {
                        out.add(provider(r));
                    }
                    return out;
                });
    }

    public Uni<Provider> get(Caller caller, String id) {
        return manageableRow(caller, id).map(ProviderService::provider);
    }

    /** The provider's row (sealed secrets included) if the caller manages it; otherwise PROVIDER_NOT_FOUND. */
    private Uni<Row> manageableRow(Caller caller, String id) {
        return pool.preparedQuery(SELECT + " WHERE b.id = $1").execute(Tuple.of(id)).map(rows -> {
            Row r = rows.size() == 0 ? null : rows.iterator().next();
            if (r == null || !ModelAccess.manages(caller, r)) {
                throw notFound(id);
            }
            return r;
        });
    }

    public Uni<Provider> create(Caller caller, ProviderRequest r) {
        if (r == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        requireName(r.name());
        if (r.providerType() == null || !CatalogService.PROVIDERS.contains(r.providerType())) {
            throw ApiException.validation("provider_type", "provider_type must be one of " + CatalogService.PROVIDERS);
        }
        validate(r);
        Split config = configs.split(r.connectionConfig());
        ConnectionConfigs.requireEndpoint(r.providerType(), config.plain());
        String id = ApiKeys.newId("prv");
        String sealed = configs.seal("providers", id, config.secrets());
        String scope = r.ownerScope() == null ? "global" : r.ownerScope();
        return access.requireManage(caller, scope, r.ownerPartnerId(), r.ownerTenantId()).flatMap(owner -> pool.preparedQuery("""
                        INSERT INTO providers (id, name, description, provider_type, connection_config, sealed_secrets, secret_fields,
                                               status, owner_scope, owner_partner_id, owner_tenant_id)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""")
                .execute(Tuple.from(Arrays.asList(id, r.name().trim(), r.description(), r.providerType(), config.plain(), sealed,
                        config.secretFields(), r.status() == null ? "active" : r.status(), owner.scope(), owner.partnerId(),
                        owner.tenantId())))
                .flatMap(x -> get(caller, id)));
    }

    /**
     * Partial update. A {@code connection_config} in the body replaces the stored one, secrets included.
     * The type cannot change while backends use the provider (they would stop matching it).
     */
    public Uni<Provider> update(Caller caller, String id, ProviderRequest r) {
        if (r == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        if (r.name() != null) {
            requireName(r.name());
        }
        if (r.providerType() != null && !CatalogService.PROVIDERS.contains(r.providerType())) {
            throw ApiException.validation("provider_type", "provider_type must be one of " + CatalogService.PROVIDERS);
        }
        if (r.ownerScope() != null || r.ownerPartnerId() != null || r.ownerTenantId() != null) {
            throw ApiException.validation("owner_scope", "A provider's owner cannot change; create a new provider instead");
        }
        validate(r);
        Split config = r.connectionConfig() == null ? null : configs.split(r.connectionConfig());
        return get(caller, id).flatMap(existing -> {
            if (r.providerType() != null && !r.providerType().equals(existing.providerType()) && existing.backendCount() > 0) {
                throw new ApiException(ErrorCode.PROVIDER_HAS_BACKENDS, "The type of a provider with backends cannot change",
                        Map.of("provider_id", id, "backend_count", existing.backendCount()));
            }
            return access.requireManage(caller, existing.ownerScope(), existing.ownerPartnerId(), existing.ownerTenantId());
        }).flatMap(owner -> pool.preparedQuery("""
                        UPDATE providers SET name = coalesce($2, name), description = coalesce($3, description),
                            provider_type = coalesce($4, provider_type), status = coalesce($5, status),
                            connection_config = CASE WHEN $6 THEN $7 ELSE connection_config END,
                            sealed_secrets = CASE WHEN $6 THEN $8 ELSE sealed_secrets END,
                            secret_fields = CASE WHEN $6 THEN $9 ELSE secret_fields END, updated_at = now()
                        WHERE id = $1""")
                .execute(Tuple.from(Arrays.asList(id, r.name() == null ? null : r.name().trim(), r.description(),
                        r.providerType(), r.status(), config != null, config == null ? null : config.plain(),
                        config == null ? null : configs.seal("providers", id, config.secrets()),
                        config == null ? new String[0] : config.secretFields())))
                .flatMap(x -> get(caller, id)));
    }

    /** Refused with 409 PROVIDER_HAS_BACKENDS while backends use it (reference §1.3). */
    public Uni<Void> delete(Caller caller, String id) {
        return get(caller, id)
                .flatMap(existing -> {
                    if (existing.backendCount() > 0) {
                        throw hasBackends(id, existing.backendCount());
                    }
                    return access.requireManage(caller, existing.ownerScope(), existing.ownerPartnerId(), existing.ownerTenantId());
                })
                .flatMap(owner -> pool.preparedQuery("DELETE FROM providers WHERE id = $1").execute(Tuple.of(id)))
                .onFailure(ProviderService::isForeignKeyViolation).transform(e -> hasBackends(id, null))
                .replaceWithVoid();
    }

    /**
     * {@code POST /v1/providers/{id}/discover}: the models the provider offers now. OpenAI-protocol
     * providers are asked ({@code GET <base_url>/models}, with their credentials); a ScaiInfer provider
     * lists the models ready on available nodes (its {@code node_id}, if set, narrows to that node).
     * Any failure to ask is 502 PROVIDER_DISCOVERY_ERROR with what went wrong, never the upstream's body.
     */
    public Uni<Discovery> discover(Caller caller, String id) {
        return manageableRow(caller, id).flatMap(row -> {
            Provider p = provider(row);
            ai.scaigrid.gateway.inference.provider.Provider lister = lister(p.providerType());
            if (lister == null && !"scaiinfer".equals(p.providerType())) {
                throw ApiException.validation("provider_type", "Models can be discovered for providers of type "
                        + discoverableTypes() + "; this one is " + p.providerType());
            }
            Uni<List<DiscoveredModel>> offered = "scaiinfer".equals(p.providerType()) ? Uni.createFrom().item(fromNodes(p))
                    : Uni.createFrom().<BackendTarget>item(() -> target(p, row))
                            .flatMap(target -> lister.listModels(target, discoveryTimeout)).map(ProviderService::fromModelList);
            return offered
                    .onFailure(UpstreamFailure.class).transform(e -> new ApiException(ErrorCode.PROVIDER_DISCOVERY_ERROR,
                            "Discovery failed: " + e.getMessage(), Map.of("provider_id", id)))
                    .flatMap(models -> backendsByModel(id).map(backends -> {
                        List<DiscoveredModel> items = new ArrayList<>();
                        for (DiscoveredModel m : models) {
                            items.add(new DiscoveredModel(m.modelName(), m.ownedBy(), m.modality(), m.nodes(),
                                    backends.getOrDefault(m.modelName(), List.of())));
                        }
                        return new Discovery(id, p.providerType(), List.copyOf(items));
                    }));
        });
    }

    /**
     * The provider a backend may name: one the caller manages, whose owner contains the backend's
     * owner, of the backend's type (when the backend names one). Unknown or out of sight: PROVIDER_NOT_FOUND.
     */
    Uni<Provider> attachable(Caller caller, String providerId, ModelAccess.Owner backendOwner, String backendType) {
        return get(caller, providerId).map(p -> {
            boolean contains = switch (p.ownerScope()) {
                case "global" -> true;
                case "partner" -> p.ownerPartnerId().equals(backendOwner.partnerId());
                default -> p.ownerTenantId().equals(backendOwner.tenantId());
            };
            if (!contains) {
                throw ApiException.validation("provider_id", "The provider's owner (" + p.ownerScope()
                        + ") does not contain the backend's owner (" + backendOwner.scope() + ")");
            }
            if (backendType != null && !backendType.equals(p.providerType())) {
                throw ApiException.validation("provider_type", "provider_type must match the provider's (" + p.providerType() + ")");
            }
            return p;
        });
    }

    // ------------------------------------------------------------------ helpers

    /** The upstream client that lists models for providers of this type, or null. */
    private ai.scaigrid.gateway.inference.provider.Provider lister(String type) {
        ai.scaigrid.gateway.inference.provider.Provider client = clients.forType(type);
        return client != null && client.listsModels(type) ? client : null;
    }

    private java.util.SortedSet<String> discoverableTypes() {
        java.util.SortedSet<String> types = new java.util.TreeSet<>(Set.of("scaiinfer"));
        for (String type : CatalogService.PROVIDERS) {
            if (lister(type) != null) {
                types.add(type);
            }
        }
        return types;
    }

    /** The provider as a target of its upstream client: its stored config and its opened secrets. */
    private BackendTarget target(Provider p, Row row) {
        Object stored = row.getValue("connection_config");
        ObjectNode config = stored instanceof JsonObject o ? mapper.valueToTree(o.getMap()) : mapper.createObjectNode();
        Map<String, Object> secrets;
        try {
            secrets = configs.open("providers", p.id(), row.getString("sealed_secrets"));
        } catch (RuntimeException e) {
            LOG.errorf("secrets of provider %s cannot be opened: %s", p.id(), e.getMessage());
            throw new UpstreamFailure(ErrorCode.PROVIDER_DISCOVERY_ERROR, "the provider's secrets cannot be opened", false, null, null);
        }
        return new BackendTarget(p.id(), p.name(), p.providerType(), null, config, secrets, 0, 0);
    }

    /** OpenAI's list shape: {@code {"object":"list","data":[{"id":...,"owned_by":...}]}}. */
    private static List<DiscoveredModel> fromModelList(JsonNode list) {
        JsonNode data = list.path("data");
        if (!data.isArray()) {
            throw new UpstreamFailure(ErrorCode.PROVIDER_DISCOVERY_ERROR, "the provider's model list could not be parsed", false,
                    null, null);
        }
        TreeMap<String, DiscoveredModel> models = new TreeMap<>();
        for (JsonNode m : data) {
            if (m.path("id").isTextual() && !m.path("id").asText().isBlank()) {
                String name = m.path("id").asText();
                models.put(name, new DiscoveredModel(name, m.path("owned_by").isTextual() ? m.path("owned_by").asText() : null,
                        null, null, null));
            }
        }
        return List.copyOf(models.values());
    }

    private List<DiscoveredModel> fromNodes(Provider p) {
        Object pinned = p.connectionConfig().get("node_id");
        long now = System.nanoTime();
        long timeout = nodesConfig.heartbeatTimeout().toMillis();
        Map<String, String> modality = new HashMap<>();
        TreeMap<String, Integer> count = new TreeMap<>();
        for (NodeSnapshot n : nodes.snapshot()) {
            if ((pinned != null && !pinned.toString().equals(n.id())) || !NodeSnapshot.ACTIVE.equals(n.state(now, timeout))) {
                continue;
            }
            for (NodeSnapshot.Model m : n.models()) {
                if ("READY".equals(m.state())) {
                    count.merge(m.name(), 1, Integer::sum);
                    modality.putIfAbsent(m.name(), m.modality());
                }
            }
        }
        List<DiscoveredModel> out = new ArrayList<>();
        count.forEach((name, n) -> out.add(new DiscoveredModel(name, null, modality.get(name), n, null)));
        return out;
    }

    private Uni<Map<String, List<String>>> backendsByModel(String providerId) {
        return pool.preparedQuery("SELECT id, model_name FROM backend_models WHERE provider_id = $1 ORDER BY id")
                .execute(Tuple.of(providerId)).map(rows -> {
                    Map<String, List<String>> out = new HashMap<>();
                    for (Row r : rows) {
                        out.computeIfAbsent(r.getString("model_name"), k -> new ArrayList<>()).add(r.getString("id"));
                    }
                    return out;
                });
    }

    private static void validate(ProviderRequest r) {
        if (r.status() != null && !Set.of("active", "disabled").contains(r.status())) {
            throw ApiException.validation("status", "status must be active or disabled");
        }
        if (r.description() != null && r.description().length() > 2000) {
            throw ApiException.validation("description", "description must be at most 2000 characters");
        }
    }

    private static void requireName(String name) {
        if (name == null || name.isBlank() || name.length() > 200) {
            throw ApiException.validation("name", "name is required (1-200 characters)");
        }
    }

    private static ApiException notFound(String id) {
        return new ApiException(ErrorCode.PROVIDER_NOT_FOUND, "Provider not found", Map.of("provider_id", id));
    }

    private static ApiException hasBackends(String id, Integer count) {
        Map<String, Object> details = new HashMap<>();
        details.put("provider_id", id);
        if (count != null) {
            details.put("backend_count", count);
        }
        return new ApiException(ErrorCode.PROVIDER_HAS_BACKENDS, "Delete or detach the provider's backends first", details);
    }

    private static boolean isForeignKeyViolation(Throwable t) {
        return t instanceof PgException pg && "23503".equals(pg.getSqlState());
    }

    static Provider provider(Row r) {
        String[] secretFields = r.getArrayOfStrings("secret_fields");
        return new Provider(r.getString("id"), r.getString("name"), r.getString("description"), r.getString("provider_type"),
                ConnectionConfigs.shown(r.getValue("connection_config")),
                secretFields == null ? List.of() : List.of(secretFields), r.getString("status"), r.getString("owner_scope"),
                r.getString("owner_partner_id"), r.getString("owner_tenant_id"), r.getLong("backend_count").intValue(),
                r.getOffsetDateTime("created_at"), r.getOffsetDateTime("updated_at"));
    }
}
