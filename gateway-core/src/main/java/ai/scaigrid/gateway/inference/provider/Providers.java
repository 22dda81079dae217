package ai.scaigrid.gateway.inference.provider;

import jakarta.annotation.PostConstruct;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import java.util.HashMap;
import java.util.Map;

/**
 * The upstream client for each {@code provider_type} this build can call: one place for the
 * dispatcher (which backends it may try) and provider discovery (which types can list their models).
 */
@Singleton
public class Providers {

    @Inject
    Instance<Provider> beans;

    private final Map<String, Provider> byType = new HashMap<>();

    @PostConstruct
    void init() {
        for (Provider p : beans) {
            p.types().forEach(type -> byType.put(type, p));
        }
    }

    /** The client for this provider type, or null when this build has none (such backends are skipped). */
    public Provider forType(String providerType) {
        return byType.get(providerType);
    }
}
