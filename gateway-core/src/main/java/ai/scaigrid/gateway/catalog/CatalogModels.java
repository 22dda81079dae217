package ai.scaigrid.gateway.catalog;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;

import java.math.BigDecimal;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;

/**
 * Wire shapes of the catalogue (snake_case through the global Jackson naming strategy, which does not split
 * digits from letters: {@code cache_write_1h_...} is named explicitly).
 */
public final class CatalogModels {
    private CatalogModels() {
    }

    public record FrontendModel(String id, String slug, String displayName, String description, String modality,
                                Integer contextWindow, Integer maxOutputTokens, Map<String, Object> capabilities,
                                String systemPromptTemplate, String avatarUrl, Map<String, Object> metadata,
                                Map<String, Object> defaultParams, String inputPricePerMtok, String cachedInputPricePerMtok,
                                String cacheWritePricePerMtok,
                                @JsonProperty("cache_write_1h_price_per_mtok") String cacheWrite1hPricePerMtok,
                                String outputPricePerMtok, String pricePerImage, String pricePerAudioMinute, String status,
                                String ownerScope, String ownerPartnerId,
                                String ownerTenantId,
                                int activeBackendCount, int totalBackendCount, String healthStatus, OffsetDateTime createdAt,
                                OffsetDateTime updatedAt) {
    }

    public record FrontendModelRequest(String slug, String displayName, String description, String modality,
                                       Integer contextWindow, Integer maxOutputTokens, Map<String, Object> capabilities,
                                       String systemPromptTemplate, String avatarUrl, Map<String, Object> metadata,
                                       Map<String, Object> defaultParams, BigDecimal inputPricePerMtok,
                                       BigDecimal cachedInputPricePerMtok, BigDecimal cacheWritePricePerMtok,
                                       @JsonProperty("cache_write_1h_price_per_mtok") BigDecimal cacheWrite1hPricePerMtok,
                                       BigDecimal outputPricePerMtok, BigDecimal pricePerImage, BigDecimal pricePerAudioMinute,
                                       String status, String ownerScope,
                                       String ownerPartnerId, String ownerTenantId) {
    }

    /** {@code uri}: the backend as one string (reference §1), {@code openai:gpt-4o}, {@code scaiinfer:node-eu-01/llama-3.3}. */
    public record BackendModel(String id, String name, String uri, String providerType, String modelName, String providerId,
                               Map<String, Object> connectionConfig, List<String> secretFields, String status,
                               String ownerScope, String ownerPartnerId, String ownerTenantId,
                               OffsetDateTime createdAt, OffsetDateTime updatedAt) {
    }

    /**
     * {@code connection_config} may carry secrets (api_key ...): they are split off and sealed on write.
     * {@code uri} may stand for {@code provider_type} + {@code model_name} (+ the pinned node of a
     * {@code scaiinfer} backend); see {@link BackendUri}. {@code provider_id} names a provider whose
     * connection settings the backend inherits (an empty string on update detaches it).
     */
    public record BackendModelRequest(String name, String uri, String providerType, String modelName, String providerId,
                                      JsonNode connectionConfig, String status, String ownerScope, String ownerPartnerId,
                                      String ownerTenantId) {
    }

    /** {@code /v1/providers}: connection settings several backends share; {@code backend_count} backends use it. */
    public record Provider(String id, String name, String description, String providerType, Map<String, Object> connectionConfig,
                           List<String> secretFields, String status, String ownerScope, String ownerPartnerId,
                           String ownerTenantId, int backendCount, OffsetDateTime createdAt, OffsetDateTime updatedAt) {
    }

    public record ProviderRequest(String name, String description, String providerType, JsonNode connectionConfig, String status,
                                  String ownerScope, String ownerPartnerId, String ownerTenantId) {
    }

    /**
     * One model a provider offers ({@code POST /v1/providers/{id}/discover}), with the ids of this
     * provider's backends already serving it. OpenAI-style upstreams say who owns it; ScaiInfer nodes
     * say its modality and on how many available nodes it is ready.
     */
    @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
    public record DiscoveredModel(String modelName, String ownedBy, String modality, Integer nodes, List<String> backendIds) {
    }

    public record Discovery(String providerId, String providerType, List<DiscoveredModel> items) {
    }

    public record Link(String frontendModelId, String backendModelId, int priority, int weight, boolean enabled,
                       String backendName, String providerType, String backendStatus) {
    }

    public record LinkRequest(String backendId, Integer priority, Integer weight, Boolean enabled) {
    }

    public record ModelGroup(String id, String name, String description, String scope, String partnerId, String tenantId,
                             boolean isDefault, List<String> members, OffsetDateTime createdAt) {
    }

    public record ModelGroupRequest(String name, String description, String scope, String partnerId, String tenantId,
                                    Boolean isDefault, List<String> members) {
    }

    public record MembersRequest(List<String> slugs) {
    }

    public record Page<T>(List<T> items, String nextCursor) {
    }
}
