package ai.scaigrid.commons.cache;

import com.github.benmanes.caffeine.cache.Ticker;
import io.smallrye.mutiny.Uni;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RefreshingCacheTest {

    /** A clock the test turns, and a loader whose loads complete when the test says. */
    private final AtomicLong now = new AtomicLong();
    private final Ticker ticker = now::get;
    private final List<CompletableFuture<String>> loads = new ArrayList<>();
    private final AtomicInteger version = new AtomicInteger();

    private RefreshingCache<String, String> cache() {
        return new RefreshingCache<>(Duration.ofSeconds(4), 100, key -> {
            CompletableFuture<String> load = new CompletableFuture<>();
            synchronized (loads) {
                loads.add(load);
            }
            return Uni.createFrom().completionStage(load);
        }, ticker);
    }

    /** A cache holding "k" = v1, loaded at the clock's current time. */
    private RefreshingCache<String, String> loaded() {
        RefreshingCache<String, String> cache = cache();
        cache.get("k").subscribeAsCompletionStage();
        complete(0);
        return cache;
    }

    private void complete(int load) {
        loads.get(load).complete("v" + version.incrementAndGet());
    }

    private void advance(Duration d) {
        now.addAndGet(d.toNanos());
    }

    private static String now(Uni<String> value) {
        CompletableFuture<String> f = value.subscribeAsCompletionStage();
        assertThat(f).as("answered without waiting for a load").isDone();
        return f.join();
    }

    @Test
    void concurrentCallersOfAMissingKeyShareOneLoad() {
        RefreshingCache<String, String> cache = cache();
        CompletableFuture<String> first = cache.get("k").subscribeAsCompletionStage();
        CompletableFuture<String> second = cache.get("k").subscribeAsCompletionStage();
        assertThat(first).isNotDone();
        assertThat(loads).hasSize(1);
        complete(0);
        assertThat(first.join()).isEqualTo("v1");
        assertThat(second.join()).isEqualTo("v1");
        assertThat(now(cache.get("k"))).isEqualTo("v1");
        assertThat(loads).hasSize(1);
    }

    @Test
    void afterHalfTheTtlTheValueIsServedAndReloadedInTheBackground() {
        RefreshingCache<String, String> cache = loaded();
        advance(Duration.ofSeconds(1));
        assertThat(now(cache.get("k"))).isEqualTo("v1");
        assertThat(loads).as("fresh: no reload").hasSize(1);

        advance(Duration.ofMillis(1500)); // 2.5 s old: past the refresh point, within the ttl
        assertThat(now(cache.get("k"))).as("the old value, at once").isEqualTo("v1");
        assertThat(loads).as("one reload started").hasSize(2);
        assertThat(now(cache.get("k"))).isEqualTo("v1");
        assertThat(loads).as("not a second one while it runs").hasSize(2);

        complete(1);
        assertThat(now(cache.get("k"))).isEqualTo("v2");
        advance(Duration.ofSeconds(3)); // 5.5 s after the first load, 3 s after the reload was written
        assertThat(now(cache.get("k"))).as("the reload reset the clock").isEqualTo("v2");
    }

    @Test
    void anExpiredEntryMakesTheCallerWaitForTheLoad() {
        RefreshingCache<String, String> cache = loaded();
        advance(Duration.ofSeconds(5)); // nobody asked in between: past the ttl
        CompletableFuture<String> waiting = cache.get("k").subscribeAsCompletionStage();
        assertThat(waiting).as("an expired value is never served").isNotDone();
        complete(1);
        assertThat(waiting.join()).isEqualTo("v2");
    }

    @Test
    void aFailedLoadIsNotKept() {
        RefreshingCache<String, String> cache = cache();
        CompletableFuture<String> first = cache.get("k").subscribeAsCompletionStage();
        loads.get(0).completeExceptionally(new IllegalStateException("database down"));
        assertThatThrownBy(first::join).hasRootCauseMessage("database down");
        CompletableFuture<String> retry = cache.get("k").subscribeAsCompletionStage();
        assertThat(loads).as("the next caller loads again").hasSize(2);
        complete(1);
        assertThat(retry.join()).isEqualTo("v1");
    }

    @Test
    void aFailedRefreshKeepsTheValueUntilItExpires() {
        RefreshingCache<String, String> cache = loaded();
        advance(Duration.ofMillis(2500));
        assertThat(now(cache.get("k"))).isEqualTo("v1");
        loads.get(1).completeExceptionally(new IllegalStateException("database down"));
        assertThat(now(cache.get("k"))).isEqualTo("v1");
        advance(Duration.ofMillis(2000)); // 4.5 s: expired, whatever the refresh did
        CompletableFuture<String> waiting = cache.get("k").subscribeAsCompletionStage();
        assertThat(waiting).isNotDone();
        complete(loads.size() - 1);
        assertThat(waiting.join()).as("the value of a load made after expiry").isEqualTo("v2");
    }

    @Test
    void invalidateDropsTheEntryAndDiscardsARefreshInFlight() {
        RefreshingCache<String, String> cache = loaded();
        advance(Duration.ofMillis(2500));
        assertThat(now(cache.get("k"))).isEqualTo("v1");
        assertThat(loads).hasSize(2); // a refresh is running

        cache.invalidate("k");
        CompletableFuture<String> afterInvalidation = cache.get("k").subscribeAsCompletionStage();
        assertThat(afterInvalidation).as("an invalidated value is never served").isNotDone();
        complete(1); // the refresh started before the invalidation completes first (v2): it must not come back
        assertThat(afterInvalidation).isNotDone();
        complete(2);
        assertThat(afterInvalidation.join()).isEqualTo("v3");
        assertThat(now(cache.get("k"))).isEqualTo("v3");
    }

    @Test
    void aZeroTtlLoadsEveryTime() {
        RefreshingCache<String, String> cache = new RefreshingCache<>(Duration.ZERO, 100,
                key -> Uni.createFrom().item(key + version.incrementAndGet()), ticker);
        assertThat(now(cache.get("k"))).isEqualTo("k1");
        assertThat(now(cache.get("k"))).isEqualTo("k2");
    }
}
