package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.paging.PageTokens;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.gateway.catalog.CatalogModels.BackendModel;
import ai.scaigrid.gateway.catalog.CatalogModels.BackendModelRequest;
import ai.scaigrid.gateway.catalog.CatalogModels.FrontendModel;
import ai.scaigrid.gateway.catalog.CatalogModels.FrontendModelRequest;
import ai.scaigrid.gateway.catalog.CatalogModels.Link;
import ai.scaigrid.gateway.catalog.CatalogModels.LinkRequest;
import ai.scaigrid.gateway.catalog.CatalogModels.Page;
import ai.scaigrid.gateway.identity.ApiKeys;
import io.smallrye.mutiny.Uni;
import io.vertx.core.json.JsonObject;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import io.vertx.pgclient.PgException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Frontend and backend models and the links between them. Ownership scopes: a global model is
 * managed by super admins; a partner model by that partner's admins; a tenant model by admins of
 * that tenant (with {@code models:manage}). A model outside the caller's sight is "not found".
 */
@ApplicationScoped
public class CatalogService {
    static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9._-]{0,62}(/[a-z0-9][a-z0-9._-]{0,62}){0,3}");
    static final Set<String> MODALITIES = Set.of("chat", "embedding", "image", "audio", "moderation");
    static final Set<String> PROVIDERS = Set.of("openai", "scaiinfer", "scaicore", "anthropic", "azure", "mistral", "qwen",
            "google", "custom");
    private static final int MAX_PAGE = 200;

    @Inject
    Pool pool;

    @Inject
    jakarta.enterprise.inject.Instance<BackendHealth> health;

    @Inject
    ConnectionConfigs configs;

    @Inject
    ProviderService providers;

    @Inject
    ModelAccess access;

    // ------------------------------------------------------------------ frontend models

    public Uni<Page<FrontendModel>> listVisible(Caller caller, String modality, String status, Integer limit, String cursor) {
        int size = limit == null ? 50 : limit;
        if (size < 1 || size > MAX_PAGE) {
            throw ApiException.validation("limit", "limit must be between 1 and " + MAX_PAGE);
        }
        if (modality != null && !MODALITIES.contains(modality)) {
            throw ApiException.validation("modality", "modality must be one of " + MODALITIES);
        }
        if (status != null && !Set.of("active", "deprecated").contains(status)) {
            throw ApiException.validation("status", "status must be active or deprecated");
        }
        String after = PageTokens.decode(cursor, "cursor").getOrDefault("slug", "");
        return access.visibleSlugFilter(caller).flatMap(filter -> pool.preparedQuery(FRONTEND_SELECT + """
                         WHERE f.slug > $1
                           AND ($2::text IS NULL OR f.modality = $2)
                           AND ($3::text IS NULL OR f.status = $3)
                           AND """ + ModelAccess.VISIBLE_SQL + """
                         GROUP BY f.id ORDER BY f.slug LIMIT $8""")
                .execute(Tuple.from(Arrays.asList(after, modality, status, filter.superAdmin(), caller.partnerId(),
                        caller.tenantId(), filter.groupIds(), size + 1)))
                .map(rows -> {
                    List<FrontendModel> items = new ArrayList<>();
                    for (Row r : rows) {
                        items.add(frontend(r));
                    }
                    String next = null;
                    if (items.size() > size) {
                        items = items.subList(0, size);
                        next = PageTokens.encode(Map.of("slug", items.get(size - 1).slug()));
                    }
                    return new Page<>(List.copyOf(items), next);
                }));
    }

    /** A model the caller can see, by slug or id; otherwise MODEL_NOT_FOUND (or MODEL_ACCESS_DENIED for a key's group restriction). */
    public Uni<FrontendModel> getVisible(Caller caller, String slugOrId) {
        return pool.preparedQuery(FRONTEND_SELECT + " WHERE f.slug = $1 OR f.id = $1 GROUP BY f.id")
                .execute(Tuple.of(slugOrId))
                .flatMap(rows -> {
                    FrontendModel model = rows.size() == 0 ? null : frontend(rows.iterator().next());
                    if (model == null || !ModelAccess.inScope(caller, model.ownerScope(), model.ownerPartnerId(), model.ownerTenantId())) {
                        return Uni.createFrom().failure(modelNotFound(slugOrId));
                    }
                    return access.checkGroups(caller, model.slug()).replaceWith(model);
                });
    }

    public Uni<FrontendModel> createFrontend(Caller caller, FrontendModelRequest r) {
        if (r == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        if (r.slug() == null || !SLUG.matcher(r.slug()).matches()) {
            throw ApiException.validation("slug", "slug must look like provider/model (lower-case letters, digits, . _ -)");
        }
        requireText("display_name", r.displayName(), 200);
        validateFrontend(r);
        String scope = r.ownerScope() == null ? "global" : r.ownerScope();
        return access.requireManage(caller, scope, r.ownerPartnerId(), r.ownerTenantId())
                .invoke(owner -> checkNamespace(r.slug(), owner)).flatMap(owner -> pool.preparedQuery("""
                        INSERT INTO frontend_models (id, slug, display_name, description, modality, context_window,
                            max_output_tokens, capabilities, system_prompt_template, avatar_url, metadata, default_params,
                            input_price_per_mtok, output_price_per_mtok, status, owner_scope, owner_partner_id, owner_tenant_id,
                            cached_input_price_per_mtok, cache_write_price_per_mtok, cache_write_1h_price_per_mtok, price_per_image,
                            price_per_audio_minute)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                            $22, $23)
                        RETURNING id""")
                .execute(Tuple.from(Arrays.asList(ApiKeys.newId("fm"), r.slug(), r.displayName().trim(), r.description(),
                        r.modality() == null ? "chat" : r.modality(), r.contextWindow(), r.maxOutputTokens(),
                        jsonObject(r.capabilities()), r.systemPromptTemplate(), r.avatarUrl(), jsonObject(r.metadata()),
                        jsonObject(r.defaultParams()), r.inputPricePerMtok(), r.outputPricePerMtok(),
                        r.status() == null ? "active" : r.status(), owner.scope(), owner.partnerId(), owner.tenantId(),
                        r.cachedInputPricePerMtok(), r.cacheWritePricePerMtok(), r.cacheWrite1hPricePerMtok(), r.pricePerImage(),
                        r.pricePerAudioMinute())))
                .onFailure(CatalogService::isUniqueViolation).transform(e -> new ApiException(ErrorCode.SLUG_CONFLICT,
                        "Slug already exists", Map.of("slug", r.slug())))
                .flatMap(rows -> getAny(rows.iterator().next().getString("id"))));
    }

    /** Slug namespaces of the platform (reference §1.3): only global (super admin) models live under them. */
    static final Set<String> PLATFORM_NAMESPACES = Set.of("openai", "scailabs");

    /**
     * Reference §1.3 slug conventions, enforced where they protect someone: {@code openai/...} and
     * {@code scailabs/...} are the platform's (global models only), {@code partner/{partner_slug}/...} that
     * partner's and {@code tenant/{tenant_slug}/...} (and a published Core's {@code scaicore/{tenant_slug}/...})
     * that tenant's. So no tenant can take a platform slug, or another owner's, before its owner does.
     * Other slugs are free.
     */
    private static void checkNamespace(String slug, ModelAccess.Owner owner) {
        String[] parts = slug.split("/");
        String first = parts[0];
        if (PLATFORM_NAMESPACES.contains(first)) {
            if (!"global".equals(owner.scope())) {
                throw ApiException.validation("slug", "slugs under " + first + "/ belong to the platform (owner_scope global)");
            }
            return;
        }
        boolean tenantSpace = first.equals("tenant") || first.equals("scaicore");
        if (!tenantSpace && !first.equals("partner")) {
            return;
        }
        String kind = tenantSpace ? "tenant" : "partner";
        if (parts.length < 3) {
            throw ApiException.validation("slug", "slugs under " + first + "/ look like " + first + "/{" + kind + "_slug}/{model}");
        }
        if (!kind.equals(owner.scope())) {
            throw ApiException.validation("slug", "slugs under " + first + "/{" + kind + "_slug}/ belong to that " + kind
                    + " (owner_scope " + kind + ")");
        }
        if (!parts[1].equals(owner.slug())) {
            throw ApiException.validation("slug", first + "/" + parts[1] + "/ is not this " + kind + "'s namespace ("
                    + first + "/" + owner.slug() + "/)");
        }
    }

    /** Partial update: fields present in the body replace the stored ones; the slug and owner never change. */
    public Uni<FrontendModel> updateFrontend(Caller caller, String id, FrontendModelRequest r) {
        if (r == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        if (r.slug() != null) {
            throw ApiException.validation("slug", "the slug of a model cannot change");
        }
        if (r.displayName() != null) {
            requireText("display_name", r.displayName(), 200);
        }
        validateFrontend(r);
        return manageableFrontend(caller, id).flatMap(existing -> pool.preparedQuery("""
                        UPDATE frontend_models SET
                            display_name = coalesce($2, display_name), description = coalesce($3, description),
                            modality = coalesce($4, modality), context_window = coalesce($5, context_window),
                            max_output_tokens = coalesce($6, max_output_tokens), capabilities = coalesce($7, capabilities),
                            system_prompt_template = coalesce($8, system_prompt_template), avatar_url = coalesce($9, avatar_url),
                            metadata = coalesce($10, metadata), default_params = coalesce($11, default_params),
                            input_price_per_mtok = coalesce($12, input_price_per_mtok),
                            output_price_per_mtok = coalesce($13, output_price_per_mtok), status = coalesce($14, status),
                            cached_input_price_per_mtok = coalesce($15, cached_input_price_per_mtok),
                            cache_write_price_per_mtok = coalesce($16, cache_write_price_per_mtok),
                            cache_write_1h_price_per_mtok = coalesce($17, cache_write_1h_price_per_mtok),
                            price_per_image = coalesce($18, price_per_image),
                            price_per_audio_minute = coalesce($19, price_per_audio_minute), updated_at = now()
                        WHERE id = $1""")
                .execute(Tuple.from(Arrays.asList(existing.id(), r.displayName(), r.description(), r.modality(),
                        r.contextWindow(), r.maxOutputTokens(), r.capabilities() == null ? null : jsonObject(r.capabilities()),
                        r.systemPromptTemplate(), r.avatarUrl(), r.metadata() == null ? null : jsonObject(r.metadata()),
                        r.defaultParams() == null ? null : jsonObject(r.defaultParams()), r.inputPricePerMtok(),
                        r.outputPricePerMtok(), r.status(), r.cachedInputPricePerMtok(), r.cacheWritePricePerMtok(),
                        r.cacheWrite1hPricePerMtok(), r.pricePerImage(), r.pricePerAudioMinute())))
                .flatMap(x -> getAny(existing.id())));
    }

    /** Refused with 409 while enabled backend links exist (remove or disable them first). */
    public Uni<Void> deleteFrontend(Caller caller, String id) {
        return manageableFrontend(caller, id).flatMap(existing -> {
            if (existing.activeBackendCount() > 0) {
                return Uni.createFrom().failure(new ApiException(ErrorCode.CONFLICT,
                        "Model still has active backend links", Map.of("active_backend_count", existing.activeBackendCount())));
            }
            return pool.withTransaction(conn -> conn.preparedQuery("DELETE FROM model_group_members WHERE model_slug = $1")
                    .execute(Tuple.of(existing.slug()))
                    .flatMap(x -> conn.preparedQuery("DELETE FROM frontend_models WHERE id = $1").execute(Tuple.of(existing.id()))))
                    .replaceWithVoid();
        });
    }

    Uni<FrontendModel> manageableFrontend(Caller caller, String id) {
        return pool.preparedQuery(FRONTEND_SELECT + " WHERE f.id = $1 OR f.slug = $1 GROUP BY f.id").execute(Tuple.of(id))
                .flatMap(rows -> {
                    FrontendModel model = rows.size() == 0 ? null : frontend(rows.iterator().next());
                    if (model == null || !ModelAccess.inScope(caller, model.ownerScope(), model.ownerPartnerId(), model.ownerTenantId())) {
                        return Uni.createFrom().failure(modelNotFound(id));
                    }
                    return access.requireManage(caller, model.ownerScope(), model.ownerPartnerId(), model.ownerTenantId())
                            .replaceWith(model);
                });
    }

    private Uni<FrontendModel> getAny(String id) {
        return pool.preparedQuery(FRONTEND_SELECT + " WHERE f.id = $1 GROUP BY f.id").execute(Tuple.of(id))
                .map(rows -> frontend(rows.iterator().next()));
    }

    // ------------------------------------------------------------------ backend models

    public Uni<List<BackendModel>> listBackends(Caller caller, String providerId) {
        return pool.preparedQuery("SELECT * FROM backend_models b WHERE " + ModelAccess.OWNED_SQL
                        + " AND ($4::text IS NULL OR b.provider_id = $4) ORDER BY created_at")
                .execute(Tuple.of(caller.isSuperAdmin(), caller.partnerId(), caller.tenantId(), providerId))
                .map(rows -> {
                    List<BackendModel> out = new ArrayList<>();
                    for (Row r : rows) {
                        out.add(backend(r));
                    }
                    return out;
                });
    }

    /** {@code GET /v1/backends/{id}/health}: the backend's status as routing sees it, with what it is based on. */
    public record BackendHealthView(String backendId, String status, String backendStatus, String providerStatus, String circuit,
                                    Integer nodesServing, Integer nodesKnown, int linkedModels) {
    }

    public Uni<BackendHealthView> backendHealth(Caller caller, String id) {
        return getBackend(caller, id).flatMap(b -> pool.preparedQuery("""
                        SELECT (SELECT count(*) FROM model_links WHERE backend_model_id = $1 AND enabled) AS linked,
                               p.status, p.connection_config ->> 'node_id' AS node_id
                        FROM (SELECT 1) one LEFT JOIN providers p ON p.id = $2""")
                .execute(Tuple.of(id, b.providerId())).map(rows -> {
                    Row row = rows.iterator().next();
                    int linked = row.getLong("linked").intValue();
                    String providerStatus = row.getString("status");
                    Object node = b.connectionConfig().get("node_id");
                    String pinned = node != null ? node.toString() : row.getString("node_id");
                    BackendHealth.Diagnosis d = health.isResolvable()
                            ? health.get().diagnose(b.id(), b.providerType(), b.modelName(), pinned)
                            : new BackendHealth.Diagnosis("closed", null, null);
                    String status;
                    if (!"active".equals(b.status()) || (providerStatus != null && !"active".equals(providerStatus))) {
                        status = "unavailable";
                    } else if ("open".equals(d.circuit()) || (d.nodesServing() != null && d.nodesServing() == 0)) {
                        status = "unhealthy";
                    } else if ("half_open".equals(d.circuit())
                            || (d.nodesServing() != null && d.nodesKnown() != null && d.nodesServing() < d.nodesKnown())) {
                        status = "degraded";
                    } else {
                        status = "healthy";
                    }
                    return new BackendHealthView(b.id(), status, b.status(), providerStatus, d.circuit(), d.nodesServing(), d.nodesKnown(), linked);
                }));
    }

    public Uni<BackendModel> getBackend(Caller caller, String id) {
        return pool.preparedQuery("SELECT * FROM backend_models WHERE id = $1").execute(Tuple.of(id))
                .map(rows -> {
                    Row r = rows.size() == 0 ? null : rows.iterator().next();
                    if (r == null || !ModelAccess.manages(caller, r)) {
                        throw new ApiException(ErrorCode.BACKEND_NOT_FOUND, "Backend not found", Map.of("backend_id", id));
                    }
                    return backend(r);
                });
    }

    public Uni<BackendModel> createBackend(Caller caller, BackendModelRequest r) {
        if (r == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        requireText("name", r.name(), 200);
        Target target = target(r);
        requireText("model_name", target.modelName(), 200);
        String providerId = blankToNull(r.providerId());
        if (target.providerType() == null ? providerId == null : !PROVIDERS.contains(target.providerType())) {
            throw ApiException.validation("provider_type", "provider_type must be one of " + PROVIDERS);
        }
        if (r.status() != null && !Set.of("active", "disabled").contains(r.status())) {
            throw ApiException.validation("status", "status must be active or disabled");
        }
        ConnectionConfigs.Split config = configs.split(r.connectionConfig());
        target.pinNode(config.plain());
        requireOwnEndpointOnly(providerId, config.plain().getMap());
        if (providerId == null) {
            ConnectionConfigs.requireEndpoint(target.providerType(), config.plain());
        }
        String id = ApiKeys.newId("bm");
        String sealed = configs.seal("backend_models", id, config.secrets());
        String scope = r.ownerScope() == null ? "global" : r.ownerScope();
        return access.requireManage(caller, scope, r.ownerPartnerId(), r.ownerTenantId()).flatMap(owner -> (providerId == null
                ? Uni.createFrom().item(target.providerType())
                : providers.attachable(caller, providerId, owner, target.providerType()).map(CatalogModels.Provider::providerType))
                .flatMap(type -> pool.preparedQuery("""
                                INSERT INTO backend_models (id, name, provider_type, model_name, provider_id, connection_config,
                                                            sealed_secrets, secret_fields, status, owner_scope, owner_partner_id,
                                                            owner_tenant_id)
                                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *""")
                        .execute(Tuple.from(Arrays.asList(id, r.name().trim(), type, target.modelName().trim(), providerId,
                                config.plain(), sealed, config.secretFields(), r.status() == null ? "active" : r.status(),
                                owner.scope(), owner.partnerId(), owner.tenantId())))
                        .map(rows -> backend(rows.iterator().next()))));
    }

    /** A provider the caller cannot see, on a backend it already uses: the edit is refused, not the provider unknown. */
    private static Uni<CatalogModels.Provider> forbiddenUnlessManaged(Uni<CatalogModels.Provider> provider, String providerId) {
        return provider.onFailure(e -> e instanceof ApiException a && a.errorCode() == ErrorCode.PROVIDER_NOT_FOUND)
                .transform(e -> new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED,
                        "This backend uses a provider you cannot manage", Map.of("provider_id", providerId)));
    }

    /** A backend that uses a provider reaches the provider's endpoint only: its credentials go nowhere else. */
    private static void requireOwnEndpointOnly(String providerId, Map<String, Object> plainConfig) {
        if (providerId != null && plainConfig.containsKey("base_url")) {
            throw ApiException.validation("connection_config.base_url",
                    "A backend that uses a provider takes base_url from the provider");
        }
    }

    /**
     * Partial update; a {@code connection_config} in the body replaces the stored one, secrets included.
     * {@code provider_id} attaches the backend to a provider ({@code ""} detaches it); a backend that
     * uses a provider is edited only by those who manage that provider.
     */
    public Uni<BackendModel> updateBackend(Caller caller, String id, BackendModelRequest r) {
        if (r == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        Target target = target(r);
        if (target.providerType() != null && !PROVIDERS.contains(target.providerType())) {
            throw ApiException.validation("provider_type", "provider_type must be one of " + PROVIDERS);
        }
        if (target.modelName() != null) {
            requireText("model_name", target.modelName(), 200);
        }
        if (r.status() != null && !Set.of("active", "disabled").contains(r.status())) {
            throw ApiException.validation("status", "status must be active or disabled");
        }
        ConnectionConfigs.Split config = r.connectionConfig() == null ? null : configs.split(r.connectionConfig());
        if (config != null) {
            target.pinNode(config.plain());
        }
        return getBackend(caller, id).flatMap(existing -> access.requireManage(caller, existing.ownerScope(),
                existing.ownerPartnerId(), existing.ownerTenantId()).flatMap(owner -> {
            // the provider the backend will use: unchanged, another one, or none ("")
            String providerId = r.providerId() == null ? existing.providerId() : blankToNull(r.providerId());
            requireOwnEndpointOnly(providerId, config != null ? config.plain().getMap() : existing.connectionConfig());
            // editing a backend that uses a provider needs that provider managed too; unchanged, one read checks both
            boolean keepsProvider = providerId != null && providerId.equals(existing.providerId());
            Uni<Void> current = existing.providerId() == null || keepsProvider ? Uni.createFrom().voidItem()
                    : forbiddenUnlessManaged(providers.attachable(caller, existing.providerId(), owner, null), existing.providerId())
                    .replaceWithVoid();
            Uni<CatalogModels.Provider> next = providerId == null ? Uni.createFrom().nullItem()
                    : providers.attachable(caller, providerId, owner, target.providerType());
            Uni<String> type = (keepsProvider ? forbiddenUnlessManaged(next, providerId) : next)
                    .map(p -> p == null ? target.providerType() : p.providerType());
            String sealed = config == null ? null : configs.seal("backend_models", id, config.secrets());
            // a scaiinfer uri without a connection_config re-pins the stored config: node_id set, or removed for "*"
            boolean repin = config == null && target.pinsNode();
            return current.flatMap(x -> type).flatMap(providerType -> pool.preparedQuery("""
                            UPDATE backend_models SET name = coalesce($2, name), provider_type = coalesce($3, provider_type),
                                model_name = coalesce($4, model_name), status = coalesce($5, status),
                                connection_config = CASE WHEN $6 THEN $7
                                    WHEN $10 AND $11::text IS NULL THEN connection_config - 'node_id'
                                    WHEN $10 THEN jsonb_set(connection_config, '{node_id}', to_jsonb($11::text))
                                    ELSE connection_config END,
                                sealed_secrets = CASE WHEN $6 THEN $8 ELSE sealed_secrets END,
                                secret_fields = CASE WHEN $6 THEN $9 ELSE secret_fields END,
                                provider_id = CASE WHEN $12 THEN $13 ELSE provider_id END, updated_at = now()
                            WHERE id = $1 RETURNING *""")
                    .execute(Tuple.from(Arrays.asList(id, r.name(), providerType,
                            target.modelName() == null ? null : target.modelName().trim(), r.status(),
                            config != null, config == null ? null : config.plain(), sealed,
                            config == null ? new String[0] : config.secretFields(),
                            repin, target.nodeId(), r.providerId() != null, providerId)))
                    .map(rows -> backend(rows.iterator().next())));
        }));
    }

    /** Deleting a backend removes its links (reference: delete cascades to routing mappings). */
    public Uni<Void> deleteBackend(Caller caller, String id) {
        return getBackend(caller, id).flatMap(existing -> access.requireManage(caller, existing.ownerScope(),
                        existing.ownerPartnerId(), existing.ownerTenantId()))
                .flatMap(x -> pool.preparedQuery("DELETE FROM backend_models WHERE id = $1").execute(Tuple.of(id)))
                .replaceWithVoid();
    }

    // ------------------------------------------------------------------ links

    public Uni<List<Link>> listLinks(Caller caller, String frontendId) {
        return manageableFrontend(caller, frontendId).flatMap(model -> pool.preparedQuery("""
                        SELECT l.*, b.name, b.provider_type, b.status AS backend_status FROM model_links l
                        JOIN backend_models b ON b.id = l.backend_model_id
                        WHERE l.frontend_model_id = $1 ORDER BY l.priority, l.weight DESC""")
                .execute(Tuple.of(model.id()))
                .map(rows -> {
                    List<Link> out = new ArrayList<>();
                    for (Row r : rows) {
                        out.add(link(r));
                    }
                    return out;
                }));
    }

    public Uni<Link> link(Caller caller, String frontendId, LinkRequest r) {
        if (r == null || r.backendId() == null) {
            throw ApiException.validation("backend_id", "backend_id is required");
        }
        if (r.weight() != null && r.weight() < 0) {
            throw ApiException.validation("weight", "weight must be >= 0");
        }
        return manageableFrontend(caller, frontendId).flatMap(model -> getBackend(caller, r.backendId())
                .flatMap(backend -> pool.preparedQuery("""
                                INSERT INTO model_links (frontend_model_id, backend_model_id, priority, weight, enabled)
                                VALUES ($1, $2, $3, $4, $5)
                                ON CONFLICT (frontend_model_id, backend_model_id) DO UPDATE
                                SET priority = excluded.priority, weight = excluded.weight, enabled = excluded.enabled""")
                        .execute(Tuple.of(model.id(), backend.id(), r.priority() == null ? 0 : r.priority(),
                                r.weight() == null ? 100 : r.weight(), r.enabled() == null || r.enabled()))
                        .map(x -> new Link(model.id(), backend.id(), r.priority() == null ? 0 : r.priority(),
                                r.weight() == null ? 100 : r.weight(), r.enabled() == null || r.enabled(), backend.name(),
                                backend.providerType(), backend.status()))));
    }

    public Uni<Void> unlink(Caller caller, String frontendId, String backendId) {
        return manageableFrontend(caller, frontendId).flatMap(model -> pool.preparedQuery(
                        "DELETE FROM model_links WHERE frontend_model_id = $1 AND backend_model_id = $2")
                .execute(Tuple.of(model.id(), backendId))
                .map(rows -> {
                    if (rows.rowCount() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Link not found", Map.of("backend_id", backendId));
                    }
                    return null;
                }));
    }

    // ------------------------------------------------------------------ helpers

    static final String FRONTEND_SELECT = """
            SELECT f.*, count(l.backend_model_id) FILTER (WHERE l.enabled AND b.status = 'active'
                                                              AND coalesce(p.status, 'active') = 'active') AS active_backends,
                   count(l.backend_model_id) AS total_backends,
                   array_agg(b.id || chr(31) || b.provider_type || chr(31) || b.model_name || chr(31)
                             || coalesce(b.connection_config ->> 'node_id', p.connection_config ->> 'node_id', ''))
                       FILTER (WHERE l.enabled AND b.status = 'active' AND coalesce(p.status, 'active') = 'active')
                       AS active_backend_refs
            FROM frontend_models f
            LEFT JOIN model_links l ON l.frontend_model_id = f.id
            LEFT JOIN backend_models b ON b.id = l.backend_model_id
            LEFT JOIN providers p ON p.id = b.provider_id
            """;

    /**
     * What a backend body names: {@code provider_type} and {@code model_name}, or a {@code uri} standing for
     * them (both given: they must agree). A scaiinfer uri also says which node the backend is pinned to.
     */
    private record Target(String providerType, String modelName, boolean pinsNode, String nodeId) {
        /** Puts the uri's node into a connection_config (or takes it out for "*"); a different node_id there is an error. */
        void pinNode(JsonObject plain) {
            if (!pinsNode) {
                return;
            }
            Object given = plain.getValue("node_id");
            if (given != null && !given.equals(nodeId)) {
                throw ApiException.validation("uri", "the uri's node and connection_config.node_id disagree");
            }
            if (nodeId == null) {
                plain.remove("node_id");
            } else {
                plain.put("node_id", nodeId);
            }
        }
    }

    private static Target target(BackendModelRequest r) {
        if (r.uri() == null) {
            return new Target(r.providerType(), r.modelName(), false, null);
        }
        BackendUri uri = BackendUri.parse(r.uri());
        if (r.providerType() != null && !r.providerType().equals(uri.providerType())) {
            throw ApiException.validation("uri", "uri and provider_type disagree");
        }
        if (r.modelName() != null && !r.modelName().trim().equals(uri.modelName())) {
            throw ApiException.validation("uri", "uri and model_name disagree");
        }
        return new Target(uri.providerType(), uri.modelName(), "scaiinfer".equals(uri.providerType()), uri.nodeId());
    }

    private static void validateFrontend(FrontendModelRequest r) {
        ai.scaigrid.gateway.inference.ModelDefaults.validate(r.defaultParams());
        if (r.modality() != null && !MODALITIES.contains(r.modality())) {
            throw ApiException.validation("modality", "modality must be one of " + MODALITIES);
        }
        if (r.contextWindow() != null && r.contextWindow() <= 0) {
            throw ApiException.validation("context_window", "context_window must be positive");
        }
        if (r.maxOutputTokens() != null && r.maxOutputTokens() <= 0) {
            throw ApiException.validation("max_output_tokens", "max_output_tokens must be positive");
        }
        if (r.status() != null && !Set.of("active", "deprecated").contains(r.status())) {
            throw ApiException.validation("status", "status must be active or deprecated");
        }
        Map<String, BigDecimal> prices = new LinkedHashMap<>();
        prices.put("input_price_per_mtok", r.inputPricePerMtok());
        prices.put("cached_input_price_per_mtok", r.cachedInputPricePerMtok());
        prices.put("cache_write_price_per_mtok", r.cacheWritePricePerMtok());
        prices.put("cache_write_1h_price_per_mtok", r.cacheWrite1hPricePerMtok());
        prices.put("output_price_per_mtok", r.outputPricePerMtok());
        prices.put("price_per_image", r.pricePerImage());
        prices.put("price_per_audio_minute", r.pricePerAudioMinute());
        prices.forEach((field, price) -> {
            // numeric(12, 4): at most 8 digits before the point
            if (price != null && (price.signum() < 0 || price.precision() - price.scale() > 8)) {
                throw ApiException.validation(field, field + " must be a non-negative decimal below 100000000");
            }
        });
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }

    private static void requireText(String field, String value, int max) {
        if (value == null || value.isBlank() || value.length() > max) {
            throw ApiException.validation(field, field + " is required (1-" + max + " characters)");
        }
    }

    static ApiException modelNotFound(String ref) {
        return new ApiException(ErrorCode.MODEL_NOT_FOUND, "Model not found: " + ref, Map.of("model", ref));
    }

    static boolean isUniqueViolation(Throwable t) {
        return t instanceof PgException pg && "23505".equals(pg.getSqlState());
    }

    private static JsonObject jsonObject(Map<String, Object> map) {
        return map == null ? new JsonObject() : new JsonObject(map);
    }

    private static Map<String, Object> map(Object value) {
        return value instanceof JsonObject o ? o.getMap() : Map.of();
    }

    /** health_status from this replica's dispatcher; without one (tests of the catalogue alone) every backend counts as up. */
    private String healthOf(Row r) {
        String[] refs = r.getArrayOfStrings("active_backend_refs");
        int active = refs == null ? 0 : refs.length;
        int available = 0;
        for (int i = 0; i < active; i++) {
            String[] p = refs[i].split("\u001f", -1);
            if (!health.isResolvable() || health.get().available(p[0], p[1], p[2], p[3])) {
                available++;
            }
        }
        return BackendHealth.of(active, available);
    }

    FrontendModel frontend(Row r) {
        BigDecimal in = r.getBigDecimal("input_price_per_mtok");
        BigDecimal out = r.getBigDecimal("output_price_per_mtok");
        BigDecimal cached = r.getBigDecimal("cached_input_price_per_mtok");
        BigDecimal write = r.getBigDecimal("cache_write_price_per_mtok");
        BigDecimal write1h = r.getBigDecimal("cache_write_1h_price_per_mtok");
        BigDecimal perImage = r.getBigDecimal("price_per_image");
        BigDecimal perAudioMinute = r.getBigDecimal("price_per_audio_minute");
        return new FrontendModel(r.getString("id"), r.getString("slug"), r.getString("display_name"),
                r.getString("description"), r.getString("modality"), r.getInteger("context_window"),
                r.getInteger("max_output_tokens"), map(r.getValue("capabilities")), r.getString("system_prompt_template"),
                r.getString("avatar_url"), map(r.getValue("metadata")), map(r.getValue("default_params")),
                in == null ? null : in.stripTrailingZeros().toPlainString(),
                cached == null ? null : cached.stripTrailingZeros().toPlainString(),
                write == null ? null : write.stripTrailingZeros().toPlainString(),
                write1h == null ? null : write1h.stripTrailingZeros().toPlainString(),
                out == null ? null : out.stripTrailingZeros().toPlainString(),
                perImage == null ? null : perImage.stripTrailingZeros().toPlainString(),
                perAudioMinute == null ? null : perAudioMinute.stripTrailingZeros().toPlainString(), r.getString("status"),
                r.getString("owner_scope"), r.getString("owner_partner_id"), r.getString("owner_tenant_id"),
                r.getLong("active_backends").intValue(), r.getLong("total_backends").intValue(), healthOf(r),
                r.getOffsetDateTime("created_at"), r.getOffsetDateTime("updated_at"));
    }

    static BackendModel backend(Row r) {
        String[] secretFields = r.getArrayOfStrings("secret_fields");
        Map<String, Object> config = ConnectionConfigs.shown(r.getValue("connection_config"));
        Object node = config.get("node_id");
        return new BackendModel(r.getString("id"), r.getString("name"),
                BackendUri.format(r.getString("provider_type"), r.getString("model_name"), node == null ? null : node.toString()),
                r.getString("provider_type"), r.getString("model_name"), r.getString("provider_id"),
                config, secretFields == null ? List.of() : List.of(secretFields), r.getString("status"), r.getString("owner_scope"),
                r.getString("owner_partner_id"), r.getString("owner_tenant_id"), r.getOffsetDateTime("created_at"),
                r.getOffsetDateTime("updated_at"));
    }

    static Link link(Row r) {
        return new Link(r.getString("frontend_model_id"), r.getString("backend_model_id"), r.getInteger("priority"),
                r.getInteger("weight"), r.getBoolean("enabled"), r.getString("name"), r.getString("provider_type"),
                r.getString("backend_status"));
    }
}
