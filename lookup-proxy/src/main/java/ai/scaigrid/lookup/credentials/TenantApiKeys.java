package ai.scaigrid.lookup.credentials;

import ai.scaigrid.lookup.LookupConfig;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * The tenant's ScaiGrid API key ({@code tenants/{tenant_id}/scaigrid_api_key}, seed 002) on top of the
 * secret store, with a short in-memory cache so a lookup does not pay a database read and two AES-GCM
 * operations per request. Writes on this replica apply at once; other replicas within the TTL.
 */
@ApplicationScoped
public class TenantApiKeys {
    public static final String SECRET_NAME = "scaigrid_api_key";
    /** The shape of a ScaiGrid API key (gateway-core's ApiKeys). */
    public static final Pattern KEY_SHAPE = Pattern.compile("sgk_[A-Za-z0-9]{32,128}");
    private static final int MAX_CACHED = 10_000;

    private record Cached(Optional<String> key, long expiresAtNanos) {
    }

    private final TenantSecretStore store;
    private final long ttlNanos;
    private final ConcurrentHashMap<String, Cached> cache = new ConcurrentHashMap<>();
    /** Bumped by every write: a read that started before it must not cache what it saw. */
    private final AtomicLong generation = new AtomicLong();

    public TenantApiKeys(TenantSecretStore store, LookupConfig config) {
        this.store = store;
        this.ttlNanos = config.secretCacheTtl().toNanos();
    }

    public Uni<Optional<String>> get(String tenantId) {
        Cached cached = cache.get(tenantId);
        if (cached != null && cached.expiresAtNanos() > System.nanoTime()) {
            return Uni.createFrom().item(cached.key());
        }
        long seen = generation.get();
        return store.read(tenantId, SECRET_NAME).invoke(key -> {
            if (ttlNanos > 0 && generation.get() == seen) {
                if (cache.size() >= MAX_CACHED) {
                    cache.clear();
                }
                cache.put(tenantId, new Cached(key, System.nanoTime() + ttlNanos));
            }
        });
    }

    public Uni<TenantSecretStore.Written> store(String tenantId, String key, String actor) {
        return store.write(tenantId, SECRET_NAME, key, hint(key), actor).invoke(w -> forget(tenantId));
    }

    public Uni<Boolean> delete(String tenantId) {
        return store.delete(tenantId, SECRET_NAME).invoke(deleted -> forget(tenantId));
    }

    public Uni<Optional<TenantSecretStore.SecretInfo>> describe(String tenantId) {
        return store.describe(tenantId, SECRET_NAME);
    }

    /** "sgk_" and four characters: enough for an admin to recognise the key, useless to an attacker. */
    public static String hint(String key) {
        return key.substring(0, Math.min(8, key.length()));
    }

    private void forget(String tenantId) {
        generation.incrementAndGet();
        cache.remove(tenantId);
    }
}
