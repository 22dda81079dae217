package ai.scaigrid.gateway.inference;

import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Makes the per-minute rate limits hold across gateway replicas. The limiter itself stays in memory
 * (a request never waits for the database); once a {@code scaigrid.limits.sync-interval} (500 ms) each
 * replica writes the per-second counts it admitted since the last round for every key it is
 * counting, and reads the sum of the other replicas' counts for the same keys into its windows.
 * So with N replicas a key can overshoot its limit by at most what the other replicas admit within
 * one round, instead of N times the limit. If PostgreSQL is unreachable every replica goes on with
 * its own counts and publishes them when it is back.
 *
 * <p>The same round shares budgets ({@link Limits#syncBudgets()}): this replica's holds against each
 * tenant's budget go out, the database's spend and the other replicas' holds come in.
 */
@ApplicationScoped
public class RateLimitSync {
    private static final Logger LOG = Logger.getLogger(RateLimitSync.class);

    private static final String PUBLISH = """
            INSERT INTO rate_limit_counts (window_key, second, replica, requests, tokens)
            SELECT k, s, $3, r, t FROM unnest($1::text[], $2::bigint[], $4::bigint[], $5::bigint[]) AS u(k, s, r, t)
            ON CONFLICT (window_key, second, replica) DO UPDATE SET requests = EXCLUDED.requests, tokens = EXCLUDED.tokens""";
    private static final String READ_OTHERS = """
            SELECT window_key, second, sum(requests)::bigint AS requests, sum(tokens)::bigint AS tokens
            FROM rate_limit_counts
            WHERE window_key = ANY($1::text[]) AND second > $2 AND replica <> $3
            GROUP BY window_key, second""";
    private static final String EXPIRE = "DELETE FROM rate_limit_counts WHERE second <= $1";

    @Inject
    Pool pool;

    @Inject
    Limits limits;

    @Inject
    UsageRecorder usage;

    /** Off for a gateway that is sure to run alone: it then never touches the table. */
    @ConfigProperty(name = "scaigrid.limits.shared", defaultValue = "true")
    boolean shared;

    @ConfigProperty(name = "scaigrid.limits.sync-interval", defaultValue = "500ms")
    java.time.Duration syncInterval;

    @Inject
    io.vertx.core.Vertx vertx;

    private long roundTimer = -1;
    private final java.util.concurrent.atomic.AtomicBoolean roundRunning = new java.util.concurrent.atomic.AtomicBoolean();

    /** Keys this replica just started counting, whose other-replica counts are fetched at once. */
    private final java.util.concurrent.ConcurrentLinkedQueue<String> toPull = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.atomic.AtomicBoolean pulling = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile long nextExpiry;
    private volatile boolean failing;

    String replicaId() {
        return limits.replicaId();
    }

    /**
     * Starts the rounds, and listens for new keys: a replica that starts counting a key (traffic moved
     * to it, or it just started) would otherwise count only its own requests for up to a round; so the
     * others' counts for a new key are read at once, off the request's path, several new keys in one query.
     */
    void start(@Observes StartupEvent event) {
        if (shared) {
            startRounds();
            limits.onNewWindow(key -> {
                toPull.add(key);
                pullPending();
            });
        }
    }

    private void pullPending() {
        if (toPull.isEmpty() || !pulling.compareAndSet(false, true)) {
            return;
        }
        List<String> keys = new ArrayList<>();
        String key;
        while (keys.size() < 1000 && (key = toPull.poll()) != null) {
            keys.add(key);
        }
        Runnable next = () -> {
            pulling.set(false);
            pullPending();
        };
        // a failed read is not retried here: the next round reads these keys again
        readOthers(keys, System.currentTimeMillis() / 1000).subscribe().with(v -> next.run(), failure -> next.run());
    }

    private Uni<Void> readOthers(List<String> keys, long now) {
        return pool.preparedQuery(READ_OTHERS)
                .execute(Tuple.of(keys.toArray(String[]::new), now - SlidingWindow.SECONDS, replicaId()))
                .invoke(rows -> {
                    long current = System.currentTimeMillis() / 1000;
                    for (Row row : rows) {
                        SlidingWindow window = limits.windows().get(row.getString("window_key"));
                        if (window != null) {
                            window.setRemote(current, row.getLong("second"), row.getLong("requests"), row.getLong("tokens"));
                        }
                    }
                })
                .replaceWithVoid();
    }

    /** A Vert.x timer rather than {@code @Scheduled}, which does not run more often than once a second. */
    private void startRounds() {
        roundTimer = vertx.setPeriodic(Math.max(1, syncInterval.toMillis()), id -> {
            if (roundRunning.compareAndSet(false, true)) { // a slow round is not overlapped, the tick skipped
                sync().subscribe().with(v -> roundRunning.set(false), failure -> roundRunning.set(false));
            }
        });
    }

    /**
     * Stops the rounds; then, once this replica's spend is written, takes its budget holds back (the
     * other replicas would otherwise count them for a while as well as the written spend).
     */
    void stopRounds(@Observes ShutdownEvent event) {
        vertx.cancelTimer(roundTimer);
        if (!shared) {
            return;
        }
        try {
            usage.flush().flatMap(n -> limits.withdrawHolds()).await().atMost(java.time.Duration.ofSeconds(10));
        } catch (RuntimeException e) {
            LOG.warnf("could not withdraw this replica's budget holds on shutdown (%s); the others ignore them after 30 s",
                    e.getMessage());
        }
    }

    /**
     * One round: publish this replica's new counts, then take in the others'. Never fails. Timer
     * rounds do not overlap (a tick while one runs is skipped).
     */
    Uni<Void> sync() {
        long now = System.currentTimeMillis() / 1000;
        List<String> keys = new ArrayList<>();
        List<Long> seconds = new ArrayList<>();
        List<Long> requests = new ArrayList<>();
        List<Long> tokens = new ArrayList<>();
        Map<SlidingWindow, Long> publishedFrom = new HashMap<>();
        List<String> counting = new ArrayList<>();
        for (Map.Entry<String, SlidingWindow> e : limits.windows().entrySet()) {
            SlidingWindow window = e.getValue();
            if (window.lastUsedSecond <= now - SlidingWindow.SECONDS) {
                continue; // nothing of this key in the window any more; eviction will drop it
            }
            counting.add(e.getKey());
            SlidingWindow.Bucket[] buckets = window.takeUnpublished(now);
            if (buckets.length > 0) {
                publishedFrom.put(window, buckets[0].second());
            }
            for (SlidingWindow.Bucket b : buckets) {
                keys.add(e.getKey());
                seconds.add(b.second());
                requests.add(b.requests());
                tokens.add(b.tokens());
            }
        }
        Uni<Void> publish = keys.isEmpty() ? Uni.createFrom().voidItem()
                : pool.preparedQuery(PUBLISH).execute(Tuple.from(new Object[]{keys.toArray(String[]::new),
                        seconds.toArray(Long[]::new), replicaId(), requests.toArray(Long[]::new), tokens.toArray(Long[]::new)}))
                .replaceWithVoid()
                .onFailure().invoke(() -> publishedFrom.forEach(SlidingWindow::unpublished));
        Uni<Void> read = counting.isEmpty() ? Uni.createFrom().voidItem() : readOthers(counting, now);
        return publish.flatMap(v -> read).flatMap(v -> limits.syncBudgets()).flatMap(v -> expireIfDue(now))
                .invoke(() -> {
                    if (failing) {
                        failing = false;
                        LOG.info("rate-limit counts are shared with the other replicas again");
                    }
                })
                .onFailure().recoverWithUni(failure -> {
                    if (!failing) {
                        failing = true;
                        LOG.warnf("could not share rate-limit counts with the other replicas (%s); limits count this replica only until it works again",
                                failure.getMessage());
                    }
                    return Uni.createFrom().voidItem();
                });
    }

    private Uni<Void> expireIfDue(long now) {
        if (now < nextExpiry) {
            return Uni.createFrom().voidItem();
        }
        nextExpiry = now + 10;
        return expire(now).flatMap(v -> limits.expireHolds());
    }

    /** Deletes the rows that left every replica's window (with a minute's margin for clock skew). */
    Uni<Void> expire(long now) {
        return pool.preparedQuery(EXPIRE).execute(Tuple.of(now - 2L * SlidingWindow.SECONDS)).replaceWithVoid();
    }
}
