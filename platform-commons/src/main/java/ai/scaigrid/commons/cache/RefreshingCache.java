package ai.scaigrid.commons.cache;

import ai.scaigrid.commons.vertx.Contexts;
import com.github.benmanes.caffeine.cache.AsyncCacheLoader;
import com.github.benmanes.caffeine.cache.AsyncLoadingCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Ticker;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Context;
import io.vertx.core.Vertx;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * A bounded cache of values loaded asynchronously (a database lookup on the request path) that keeps a hot
 * entry fresh without making a request wait for it. An entry is served for {@code ttl} after it was loaded;
 * the first hit after half of that reloads it in the background and is answered with the current value, so
 * under steady traffic no request waits for the database once the entry exists. Only an absent or expired
 * entry makes its caller wait, and concurrent callers of one key share that load. A change reaches the cache
 * within {@code ttl} either way (a refresh starts no later than at ttl/2 and replaces the value when it
 * completes); {@link #invalidate} drops an entry at once, and a refresh already running for it is discarded.
 * A failed load is not kept: the next caller tries again. Caffeine's {@code refreshAfterWrite} and
 * {@code expireAfterWrite} underneath.
 */
public final class RefreshingCache<K, V> {

    private final AsyncLoadingCache<K, V> cache;

    /**
     * @param ttl     how long a loaded value may be served
     * @param maxSize most entries kept (least recently used ones go first)
     * @param loader  the load, from any thread; it must not block
     */
    public RefreshingCache(Duration ttl, long maxSize, Function<K, Uni<V>> loader) {
        this(ttl, maxSize, loader, Ticker.systemTicker());
    }

    /** With the clock the tests turn. */
    RefreshingCache(Duration ttl, long maxSize, Function<K, Uni<V>> loader, Ticker ticker) {
        AsyncCacheLoader<K, V> async = (key, executor) -> loader.apply(key).subscribeAsCompletionStage();
        Caffeine<Object, Object> builder = Caffeine.newBuilder().maximumSize(maxSize).ticker(ticker)
                // the loads are asynchronous already: run Caffeine's own steps on the calling thread
                .executor(Runnable::run);
        if (ttl.isZero() || ttl.isNegative()) {
            builder.expireAfterWrite(Duration.ZERO);
        } else {
            builder.expireAfterWrite(ttl).refreshAfterWrite(ttl.dividedBy(2).isZero() ? ttl : ttl.dividedBy(2));
        }
        this.cache = builder.buildAsync(async);
    }

    /**
     * The value for the key, loading it (or waiting for a load already running) when it is absent or expired. A
     * caller that waits is resumed on its own Vert.x context, not on whichever thread completed the load.
     */
    public Uni<V> get(K key) {
        CompletableFuture<V> value = cache.get(key);
        if (value.isDone() && !value.isCompletedExceptionally()) {
            return Uni.createFrom().item(value.join());
        }
        Context context = Vertx.currentContext();
        return Uni.createFrom().completionStage(value).emitOn(task -> Contexts.runOn(context, task));
    }

    /** Drops the entry; the next caller loads it afresh. */
    public void invalidate(K key) {
        cache.synchronous().invalidate(key);
    }

    /** Drops every entry. */
    public void invalidateAll() {
        cache.synchronous().invalidateAll();
    }
}
