package ai.scaigrid.gateway.inference.provider;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Map;

/**
 * A backend as the dispatcher hands it to a provider: its id, the provider's own model name, the
 * non-secret {@code connection_config} and the decrypted secrets (never logged, never returned).
 */
public record BackendTarget(String id, String name, String providerType, String modelName,
                            ObjectNode connectionConfig, Map<String, Object> secrets, int priority, int weight) {

    public String config(String field, String fallback) {
        return connectionConfig != null && connectionConfig.hasNonNull(field) ? connectionConfig.get(field).asText() : fallback;
    }

    public long configLong(String field, long fallback) {
        return connectionConfig != null && connectionConfig.hasNonNull(field) ? connectionConfig.get(field).asLong(fallback) : fallback;
    }

    public String secret(String field) {
        Object value = secrets == null ? null : secrets.get(field);
        return value == null ? null : value.toString();
    }

    @Override
    public String toString() {
        // secrets stay out of logs
        return "BackendTarget[" + id + " " + providerType + ":" + modelName + "]";
    }
}
