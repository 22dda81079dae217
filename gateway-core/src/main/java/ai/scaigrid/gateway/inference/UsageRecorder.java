package ai.scaigrid.gateway.inference;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import javax.sql.DataSource;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Usage records leave the hot path at once: {@link #record} only enqueues. A flusher writes them in
 * batches (one INSERT per batch, over JDBC from a thread of its own) every
 * {@code scaigrid.usage.flush-interval} or as soon as a batch is full; on graceful shutdown, after
 * in-flight requests finished, everything left is written before the database pool closes. A failed
 * batch is put back and retried, so nothing is dropped while the database is briefly away (the queue
 * is bounded only by memory; its size is exported as a gauge).
 */
@ApplicationScoped
public class UsageRecorder {
    private static final Logger LOG = Logger.getLogger(UsageRecorder.class);

    public record UsageRecord(String id, String requestId, String partnerId, String tenantId, String userId, String apiKeyId,
                              String model, String backendId, String providerType, String endpoint, String api,
                              boolean stream, int promptTokens, int completionTokens, int reasoningTokens, int cachedTokens,
                              int cacheWriteTokens, int images, BigDecimal audioSeconds,
                              BigDecimal cost,
                              int latencyMs, Integer ttftMs, String status, String errorCode, OffsetDateTime createdAt) {
    }

    public record Pending(long tokens, BigDecimal cost) {
    }

    /**
     * This replica's spend for one tenant as budget checks need it: {@code pending} is recorded but not
     * yet in the database; {@code flushed} is everything this replica has written since it started
     * (only ever grows), so a ledger can tell what reached the database after it last read it.
     */
    public record LocalSpend(Pending pending, Pending flushed) {
    }

    @Inject
    MeterRegistry registry;

    @ConfigProperty(name = "scaigrid.usage.batch-size", defaultValue = "100")
    int batchSize;

    @ConfigProperty(name = "scaigrid.usage.flush-interval", defaultValue = "100ms")
    Duration flushInterval;

    @Inject
    io.vertx.core.Vertx vertx;

    /** The JDBC pool (Flyway's): batches are written from {@link #writer}, off the event loops. */
    @Inject
    DataSource dataSource;

    /** One thread writes the batches, one at a time (it ends after a while idle: nothing to stop). */
    private final ExecutorService writer = new ThreadPoolExecutor(0, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), task -> {
        Thread t = new Thread(task, "scaigrid-usage-writer");
        t.setDaemon(true);
        return t;
    });

    private long flushTimer = -1;

    private final ConcurrentLinkedQueue<UsageRecord> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    /** Completes when the batch being written is committed (or failed and re-queued); null when idle. */
    private final AtomicReference<CompletableFuture<Void>> inFlight = new AtomicReference<>();
    private final Map<String, TenantSpend> spend = new ConcurrentHashMap<>();
    private Counter written;

    @PostConstruct
    void metrics() {
        registry.gauge("scaigrid_usage_queue_size", queued);
        written = registry.counter("scaigrid_usage_records_written_total");
    }

    public void record(UsageRecord record) {
        queue.add(record);
        spend.computeIfAbsent(record.tenantId(), k -> new TenantSpend()).recorded(record);
        if (queued.incrementAndGet() >= batchSize) {
            flushIfIdle(); // cheap here: the batch is encoded and written on the writer thread
        }
    }

    /** Spend enqueued for a tenant but not yet in the database (for budget checks). */
    public Pending pending(String tenantId) {
        return local(tenantId).pending();
    }

    public LocalSpend local(String tenantId) {
        TenantSpend tenant = spend.get(tenantId);
        return tenant == null ? TenantSpend.NONE : tenant.snapshot();
    }

    /**
     * One tenant's spend on this replica, under one lock: a committed record moves from pending to
     * written in one step, so a snapshot never misses it or counts it twice.
     */
    private static final class TenantSpend {
        static final LocalSpend NONE = new LocalSpend(new Pending(0, BigDecimal.ZERO), new Pending(0, BigDecimal.ZERO));
        private long pendingTokens;
        private BigDecimal pendingCost = BigDecimal.ZERO;
        private long writtenTokens;
        private BigDecimal writtenCost = BigDecimal.ZERO;

        synchronized void recorded(UsageRecord r) {
            pendingTokens += r.promptTokens() + r.completionTokens();
            pendingCost = pendingCost.add(r.cost());
        }

        synchronized void written(UsageRecord r) {
            long tokens = r.promptTokens() + r.completionTokens();
            pendingTokens -= tokens;
            pendingCost = pendingCost.subtract(r.cost());
            writtenTokens += tokens;
            writtenCost = writtenCost.add(r.cost());
        }

        synchronized LocalSpend snapshot() {
            return new LocalSpend(new Pending(pendingTokens, pendingCost), new Pending(writtenTokens, writtenCost));
        }
    }

    /**
     * A Vert.x timer, not {@code @Scheduled}: Quarkus' scheduler does not run jobs more often than once a
     * second, and the default interval is shorter. A tick while a batch is being written does nothing
     * (that flush goes on until the queue is empty).
     */
    void startFlusher(@Observes StartupEvent event) {
        flushTimer = vertx.setPeriodic(Math.max(1, flushInterval.toMillis()), id -> flushIfIdle());
    }

    /**
     * Writes everything queued before this call, batch by batch; completes once it is in the database
     * (the number is what this call wrote itself). If a batch is already being written, that write is
     * awaited first: its rows are out of the queue but not yet committed, and a caller that flushes to
     * read usage back must not see the gap.
     */
    public Uni<Integer> flush() {
        CompletableFuture<Void> running = inFlight.get();
        if (running != null) {
            return Uni.createFrom().completionStage(running).onItemOrFailure().transformToUni((v, t) -> flush());
        }
        if (queue.isEmpty()) {
            return Uni.createFrom().item(0);
        }
        CompletableFuture<Void> mine = new CompletableFuture<>();
        if (!inFlight.compareAndSet(null, mine)) {
            return flush();
        }
        List<UsageRecord> batch = new ArrayList<>(Math.min(batchSize, Math.max(1, queued.get())));
        UsageRecord next;
        while (batch.size() < batchSize && (next = queue.poll()) != null) {
            batch.add(next);
        }
        queued.addAndGet(-batch.size());
        return write(batch)
                .invoke(() -> {
                    batch.forEach(r -> spend.get(r.tenantId()).written(r));
                    written.increment(batch.size());
                })
                .onFailure().invoke(t -> {
                    LOG.warnf("writing %d usage records failed, will retry: %s", batch.size(), t.getMessage());
                    queue.addAll(batch);
                    queued.addAndGet(batch.size());
                })
                .eventually(() -> {
                    inFlight.set(null);
                    mine.complete(null);
                })
                .flatMap(v -> queue.isEmpty() ? Uni.createFrom().item(batch.size())
                        : flush().map(more -> more + batch.size()));
    }

    /** From the hot path: start a flush unless one is running (that one picks up the rest). */
    private void flushIfIdle() {
        if (inFlight.get() == null) {
            flush().subscribe().with(n -> { }, t -> { });
        }
    }

    /**
     * One statement per batch: the rows travel as one array per column and unnest() turns them back
     * into rows. A statement per row (executeBatch) made PostgreSQL start its executor a thousand times a
     * second at 1,000 requests/s, a CPU burst every flush that showed in the gateway's latency tail.
     * <p>
     * Over JDBC on the recorder's own thread, not the reactive client: encoding a batch (about 10 us a
     * row) held an event loop for 0.4-2 ms every flush at 1,000 requests/s, and the requests waiting on
     * that loop made most of the gateway's added p99. Numerics and timestamps travel as text and are cast
     * by PostgreSQL (exact: plain decimal strings, ISO-8601 instants with their offset).
     */
    private Uni<Void> write(List<UsageRecord> batch) {
        return Uni.createFrom().<Void>item(() -> {
            writeNow(batch);
            return null;
        }).runSubscriptionOn(writer);
    }

    private void writeNow(List<UsageRecord> batch) {
        int n = batch.size();
        String[] id = new String[n], requestId = new String[n], partnerId = new String[n], tenantId = new String[n],
                userId = new String[n], apiKeyId = new String[n], model = new String[n], backendId = new String[n],
                providerType = new String[n], endpoint = new String[n], api = new String[n], status = new String[n],
                errorCode = new String[n], cost = new String[n], audioSeconds = new String[n], createdAt = new String[n];
        Boolean[] stream = new Boolean[n];
        Integer[] promptTokens = new Integer[n], completionTokens = new Integer[n], totalTokens = new Integer[n],
                latencyMs = new Integer[n], ttftMs = new Integer[n], reasoningTokens = new Integer[n], cachedTokens = new Integer[n],
                cacheWriteTokens = new Integer[n], images = new Integer[n];
        for (int i = 0; i < n; i++) {
            UsageRecord r = batch.get(i);
            id[i] = r.id();
            requestId[i] = r.requestId();
            partnerId[i] = r.partnerId();
            tenantId[i] = r.tenantId();
            userId[i] = r.userId();
            apiKeyId[i] = r.apiKeyId();
            model[i] = r.model();
            backendId[i] = r.backendId();
            providerType[i] = r.providerType();
            endpoint[i] = r.endpoint();
            api[i] = r.api();
            stream[i] = r.stream();
            promptTokens[i] = r.promptTokens();
            completionTokens[i] = r.completionTokens();
            totalTokens[i] = r.promptTokens() + r.completionTokens();
            reasoningTokens[i] = r.reasoningTokens();
            cachedTokens[i] = r.cachedTokens();
            cacheWriteTokens[i] = r.cacheWriteTokens();
            images[i] = r.images();
            audioSeconds[i] = r.audioSeconds() == null ? "0" : r.audioSeconds().toPlainString();
            cost[i] = r.cost().toPlainString();
            latencyMs[i] = r.latencyMs();
            ttftMs[i] = r.ttftMs();
            status[i] = r.status();
            errorCode[i] = r.errorCode();
            createdAt[i] = r.createdAt().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME); // seconds always (toString drops :00)
        }
        // the tenants' daily spend moves in the same statement (only rows actually inserted count, so a
        // retried batch is not counted twice); sorted, so concurrent flushes lock the day rows in one order
        String sql = """
                WITH inserted AS (
                    INSERT INTO usage_records (id, request_id, partner_id, tenant_id, user_id, api_key_id, model, backend_id,
                        provider_type, endpoint, api, stream, prompt_tokens, completion_tokens, total_tokens, cost, latency_ms,
                        ttft_ms, status, error_code, created_at, reasoning_tokens, cached_tokens, cache_write_tokens, images,
                        audio_seconds)
                    SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
                        ?::text[], ?::text[], ?::text[], ?::text[], ?::boolean[], ?::int[], ?::int[], ?::int[],
                        ?::numeric[], ?::int[], ?::int[], ?::text[], ?::text[], ?::timestamptz[], ?::int[], ?::int[],
                        ?::int[], ?::int[], ?::numeric[])
                    ON CONFLICT (id) DO NOTHING
                    RETURNING tenant_id, created_at, total_tokens, cost)
                INSERT INTO tenant_daily_spend AS d (tenant_id, day, tokens, cost)
                SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date, sum(total_tokens), sum(cost)
                FROM inserted GROUP BY 1, 2 ORDER BY 1, 2
                ON CONFLICT (tenant_id, day) DO UPDATE SET tokens = d.tokens + EXCLUDED.tokens, cost = d.cost + EXCLUDED.cost""";
        Object[][] columns = {id, requestId, partnerId, tenantId, userId, apiKeyId, model, backendId, providerType, endpoint,
                api, stream, promptTokens, completionTokens, totalTokens, cost, latencyMs, ttftMs, status, errorCode, createdAt,
                reasoningTokens, cachedTokens, cacheWriteTokens, images, audioSeconds};
        try (Connection c = dataSource.getConnection(); PreparedStatement st = c.prepareStatement(sql)) {
            for (int i = 0; i < columns.length; i++) {
                Object[] column = columns[i];
                String type = column instanceof Integer[] ? "int4" : column instanceof Boolean[] ? "bool" : "text";
                st.setArray(i + 1, c.createArrayOf(type, column));
            }
            st.executeUpdate();
        } catch (SQLException e) {
            // the SQL state only: the message may quote row values
            throw new IllegalStateException("usage insert failed (SQL state " + e.getSQLState() + ")", e);
        }
    }

    /** Graceful shutdown: in-flight requests are done (quarkus.shutdown.timeout); write the rest. */
    void onStop(@Observes ShutdownEvent event) {
        vertx.cancelTimer(flushTimer);
        // at least once even with an empty queue: a batch the scheduler is writing right now is out of
        // the queue, and flush() waits for it before the pool closes
        int attempts = 0;
        do {
            attempts++;
            try {
                Integer n = flush().await().atMost(Duration.ofSeconds(10));
                if (n > 0) {
                    LOG.infof("wrote %d usage records on shutdown", n);
                }
            } catch (RuntimeException e) {
                LOG.errorf("writing usage records on shutdown failed (attempt %d): %s", attempts, e.getMessage());
            }
        } while (!queue.isEmpty() && attempts < 5);
        if (!queue.isEmpty()) {
            LOG.errorf("%d usage records could not be written before shutdown", queued.get());
        }
    }

    public int queued() {
        return queued.get();
    }
}
