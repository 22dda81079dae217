package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.gateway.nodes.NodeRegistry;


/**
 * A backend as one string, the reference's notation: {@code <provider_type>:<model_name>}
 * ({@code openai:gpt-4o}), and for ScaiInfer {@code scaiinfer:<node>/<model>}, where the node pins the
 * backend to one node ({@code connection_config.node_id}) and {@code *} means any node that has the
 * model loaded ({@code scaiinfer:*}{@code /llama-3.3}). Model names may contain {@code /}
 * ({@code openai:meta-llama/Llama-3.3-70B}); in a ScaiInfer URI the node is always the first segment.
 */
public record BackendUri(String providerType, String modelName, String nodeId) {
    public static final String ANY_NODE = "*";

    public static BackendUri parse(String uri) {
        if (uri == null || uri.isBlank()) {
            throw ApiException.validation("uri", "uri must not be empty");
        }
        int colon = uri.indexOf(':');
        if (colon <= 0 || colon == uri.length() - 1) {
            throw ApiException.validation("uri", "uri must look like <provider_type>:<model>, e.g. openai:gpt-4o");
        }
        String provider = uri.substring(0, colon);
        if (!CatalogService.PROVIDERS.contains(provider)) {
            throw ApiException.validation("uri", "the uri's provider must be one of " + CatalogService.PROVIDERS);
        }
        String rest = uri.substring(colon + 1);
        if (!"scaiinfer".equals(provider)) {
            return new BackendUri(provider, requireModel(rest), null);
        }
        int slash = rest.indexOf('/');
        if (slash < 0) {
            return new BackendUri(provider, requireModel(rest), null);
        }
        String node = rest.substring(0, slash);
        String model = requireModel(rest.substring(slash + 1));
        if (ANY_NODE.equals(node)) {
            return new BackendUri(provider, model, null);
        }
        if (!NodeRegistry.NODE_ID.matcher(node).matches()) {
            throw ApiException.validation("uri", "the node in a scaiinfer uri must be a node id or *");
        }
        return new BackendUri(provider, model, node);
    }

    private static String requireModel(String model) {
        if (model.isBlank() || model.length() > 200 || model.chars().anyMatch(Character::isISOControl)) {
            throw ApiException.validation("uri", "the uri's model name must be 1-200 printable characters");
        }
        return model;
    }

    /** The URI of a stored backend. */
    public static String format(String providerType, String modelName, String nodeId) {
        if (!"scaiinfer".equals(providerType)) {
            return providerType + ":" + modelName;
        }
        return providerType + ":" + (nodeId == null || nodeId.isBlank() ? ANY_NODE : nodeId) + "/" + modelName;
    }
}
