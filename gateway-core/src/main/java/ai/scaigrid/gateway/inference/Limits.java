package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import io.quarkus.scheduler.Scheduled;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.math.BigDecimal;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Rate limits and budgets, checked before any upstream spend.
 *
 * <p>Rate limits: requests and tokens per minute at four levels (API key, user, tenant, partner),
 * all applied, the most restrictive wins; a sliding 60-second window kept in memory on each
 * replica, which also counts what the other replicas admitted for the same keys ({@link RateLimitSync},
 * through PostgreSQL, at most one sync round behind). Defaults come from configuration; a tenant's row in {@code tenant_limits} overrides them.
 *
 * <p>Budgets: tokens and/or cost per day or month per tenant. Each request reserves its worst case
 * (estimated prompt + the output it may produce) before dispatch and settles to the real figure
 * after, so concurrent requests can never jointly overshoot the budget by more than the error of one
 * request's prompt estimate. A tenant's ledger adds up: the spend in the database
 * ({@code tenant_daily_spend}, read once a sync round), what this replica flushed since that read,
 * its spend not yet flushed, its reservations, and what the other replicas hold (their reservations
 * and unflushed spend, {@code budget_holds}, published each round by {@link RateLimitSync}). Across
 * replicas a budget can be overshot by what the others reserve within one round.
 */
@ApplicationScoped
public class Limits {

    public record TenantSettings(Integer requestsPerMinute, Integer tokensPerMinute, Integer keyRequestsPerMinute,
                                 Integer keyTokensPerMinute, Integer userRequestsPerMinute, Long budgetTokens,
                                 BigDecimal budgetCost, String budgetPeriod) {
        static final TenantSettings NONE = new TenantSettings(null, null, null, null, null, null, null, "month");
    }

    /** The most restrictive level's figures, for the X-Scaigrid-Ratelimit-* headers. */
    public record RateState(long limit, long remaining, long resetEpochSecond) {
        /** The X-Scaigrid-Ratelimit-* headers of an admitted request (none when no request limit applies). */
        public Map<String, String> headers() {
            return limit <= 0 ? Map.of() : Map.of("X-Scaigrid-Ratelimit-Limit", Long.toString(limit),
                    "X-Scaigrid-Ratelimit-Remaining", Long.toString(remaining),
                    "X-Scaigrid-Ratelimit-Reset", Long.toString(resetEpochSecond));
        }

        /**
         * The same figures under OpenAI's names, for {@code /oai/v1} (clients and SDK middlewares that pace
         * themselves read these): {@code x-ratelimit-limit-requests}, {@code -remaining-requests}, and
         * {@code -reset-requests} as a duration ("12s", "1m5s").
         */
        public Map<String, String> openAiHeaders(long nowEpochSecond) {
            return limit <= 0 ? Map.of() : Map.of("x-ratelimit-limit-requests", Long.toString(limit),
                    "x-ratelimit-remaining-requests", Long.toString(remaining),
                    "x-ratelimit-reset-requests", openAiDuration(resetEpochSecond - nowEpochSecond));
        }

        /**
         * The same figures under Anthropic's names, for {@code /anthropic/v1}: {@code anthropic-ratelimit-requests-limit},
         * {@code -remaining}, and {@code -reset} as an RFC 3339 time.
         */
        public Map<String, String> anthropicHeaders() {
            return limit <= 0 ? Map.of() : Map.of("anthropic-ratelimit-requests-limit", Long.toString(limit),
                    "anthropic-ratelimit-requests-remaining", Long.toString(remaining),
                    "anthropic-ratelimit-requests-reset", java.time.Instant.ofEpochSecond(resetEpochSecond).toString());
        }
    }

    /** A duration in OpenAI's rate-limit header format: "0s", "45s", "1m5s", "2h0m0s". */
    static String openAiDuration(long seconds) {
        long s = Math.max(0, seconds);
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return (s / 60) + "m" + (s % 60) + "s";
        }
        return (s / 3600) + "h" + (s % 3600 / 60) + "m" + (s % 60) + "s";
    }

    /**
     * A budget reservation; released once the request has ended. The actual spend reaches the ledger
     * through the usage record (pending, then the database), which the pipeline writes before it releases.
     */
    public final class Reservation {
        private final BudgetLedger ledger;
        private final long tokens;
        private final BigDecimal cost;
        private boolean released;

        Reservation(BudgetLedger ledger, long tokens, BigDecimal cost) {
            this.ledger = ledger;
            this.tokens = tokens;
            this.cost = cost;
        }

        public void release() {
            synchronized (this) {
                if (released) {
                    return;
                }
                released = true;
            }
            if (ledger != null) {
                ledger.release(tokens, cost);
            }
        }
    }

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    @ConfigProperty(name = "scaigrid.limits.key-requests-per-minute", defaultValue = "60")
    int defaultKeyRpm;
    @ConfigProperty(name = "scaigrid.limits.user-requests-per-minute", defaultValue = "120")
    int defaultUserRpm;
    @ConfigProperty(name = "scaigrid.limits.tenant-requests-per-minute", defaultValue = "1000")
    int defaultTenantRpm;
    @ConfigProperty(name = "scaigrid.limits.partner-requests-per-minute", defaultValue = "5000")
    int defaultPartnerRpm;
    /** 0 = no token limit unless a tenant sets one. */
    @ConfigProperty(name = "scaigrid.limits.tenant-tokens-per-minute", defaultValue = "0")
    int defaultTenantTpm;
    @ConfigProperty(name = "scaigrid.limits.key-tokens-per-minute", defaultValue = "0")
    int defaultKeyTpm;
    /** Unauthenticated requests (public avatars) per client address and minute (reference §2.3). */
    @ConfigProperty(name = "scaigrid.limits.ip-requests-per-minute", defaultValue = "600")
    int defaultIpRpm;
    @ConfigProperty(name = "scaigrid.limits.settings-cache-ttl", defaultValue = "5s")
    Duration settingsTtl;
    @ConfigProperty(name = "scaigrid.limits.budget-refresh", defaultValue = "30s")
    Duration budgetRefresh;

    private final Map<String, SlidingWindow> windows = new ConcurrentHashMap<>();
    private final Map<String, CachedSettings> settings = new ConcurrentHashMap<>();
    private final Map<String, BudgetLedger> ledgers = new ConcurrentHashMap<>();
    /** This replica in rate_limit_counts and budget_holds. */
    private final String replicaId = "gw-" + java.util.UUID.randomUUID();
    private volatile java.util.function.Consumer<String> newWindowListener;

    private record CachedSettings(Uni<TenantSettings> value, long expiresAt) {
    }

    /** The tenant's settings (cached briefly). */
    public Uni<TenantSettings> settings(String tenantId) {
        if (tenantId == null) {
            return Uni.createFrom().item(TenantSettings.NONE); // a caller outside any tenant: the defaults
        }
        long now = System.nanoTime();
        CachedSettings cached = settings.get(tenantId);
        if (cached != null && cached.expiresAt() - now > 0) {
            return cached.value();
        }
        Uni<TenantSettings> load = pool.preparedQuery("SELECT * FROM tenant_limits WHERE tenant_id = $1")
                .execute(Tuple.of(tenantId))
                .map(rows -> rows.size() == 0 ? TenantSettings.NONE : toSettings(rows.iterator().next()))
                .memoize().indefinitely();
        CachedSettings fresh = new CachedSettings(load, now + settingsTtl.toNanos());
        settings.put(tenantId, fresh);
        return load.onFailure().invoke(() -> settings.remove(tenantId, fresh));
    }

    public void forget(String tenantId) {
        settings.remove(tenantId);
        ledgers.remove(tenantId);
    }

    static TenantSettings toSettings(Row r) {
        Long budgetTokens = r.getLong("budget_tokens");
        return new TenantSettings(r.getInteger("requests_per_minute"), r.getInteger("tokens_per_minute"),
                r.getInteger("key_requests_per_minute"), r.getInteger("key_tokens_per_minute"),
                r.getInteger("user_requests_per_minute"), budgetTokens, r.getBigDecimal("budget_cost"),
                r.getString("budget_period"));
    }

    /**
     * Admits one inference request at every level or throws RATE_LIMITED (with retry_after): both
     * the request and the token windows apply. Returns the most restrictive level's state for the
     * response headers.
     */
    public RateState admit(Caller caller, TenantSettings s) {
        return admit(caller, s, true);
    }

    /**
     * Admits one API request that spends no tokens (catalogue, administration, usage reads): it counts
     * against the same per-minute request windows as inference (reference §2.3: every request, all
     * levels), but a full token window does not refuse it, so a tenant out of tokens can still list
     * models and read its usage.
     */
    public Uni<RateState> admitRequest(Caller caller) {
        return settings(caller.tenantId()).map(s -> admit(caller, s, false));
    }

    private RateState admit(Caller caller, TenantSettings s, boolean tokensApply) {
        long nowSecond = System.currentTimeMillis() / 1000;
        String[] keys = new String[4];
        long[] requestLimits = new long[4];
        long[] tokenLimits = new long[4];
        int n = 0;
        if (caller.credentialId() != null) {
            keys[n] = "k:" + caller.credentialId();
            requestLimits[n] = pick(s.keyRequestsPerMinute(), defaultKeyRpm);
            tokenLimits[n++] = pick(s.keyTokensPerMinute(), defaultKeyTpm);
        }
        if (caller.userId() != null) {
            keys[n] = "u:" + caller.userId();
            requestLimits[n] = pick(s.userRequestsPerMinute(), defaultUserRpm);
            tokenLimits[n++] = 0;
        }
        if (caller.tenantId() != null) {
            keys[n] = "t:" + caller.tenantId();
            requestLimits[n] = pick(s.requestsPerMinute(), defaultTenantRpm);
            tokenLimits[n++] = pick(s.tokensPerMinute(), defaultTenantTpm);
        }
        if (caller.partnerId() != null) {
            keys[n] = "p:" + caller.partnerId();
            requestLimits[n] = defaultPartnerRpm;
            tokenLimits[n++] = 0;
        }
        long bestRemaining = Long.MAX_VALUE;
        long bestLimit = 0;
        for (int i = 0; i < n; i++) {
            SlidingWindow window = window(keys[i]);
            long retryAfter = window.tryAcquire(nowSecond, requestLimits[i], tokensApply ? tokenLimits[i] : 0);
            if (retryAfter >= 0) {
                for (int j = 0; j < i; j++) {
                    windows.get(keys[j]).release(nowSecond);
                }
                // the level that refused and the per-minute limit it hit (requests or tokens),
                // for the X-Scaigrid-Ratelimit-Limit header and the envelope's details
                String level = switch (keys[i].charAt(0)) {
                    case 'k' -> "key";
                    case 'u' -> "user";
                    case 't' -> "tenant";
                    default -> "partner";
                };
                boolean requestsFull = window.requestsFull(nowSecond, requestLimits[i]);
                long limit = requestsFull ? requestLimits[i] : tokenLimits[i];
                throw rateLimited(level, limit, requestsFull ? "requests_per_minute" : "tokens_per_minute", retryAfter);
            }
            if (requestLimits[i] > 0) {
                long remaining = Math.max(0, requestLimits[i] - window.requestCount(nowSecond));
                if (remaining < bestRemaining) {
                    bestRemaining = remaining;
                    bestLimit = requestLimits[i];
                }
            }
        }
        return new RateState(bestLimit, bestRemaining == Long.MAX_VALUE ? 0 : bestRemaining, nowSecond + SlidingWindow.SECONDS);
    }

    /**
     * Admits one unauthenticated request from {@code address} or throws RATE_LIMITED (scope {@code ip}):
     * public endpoints have no key, user or tenant to count against.
     */
    public RateState admitAnonymous(String address) {
        long nowSecond = System.currentTimeMillis() / 1000;
        SlidingWindow window = windows.computeIfAbsent("ip:" + address, k -> new SlidingWindow());
        long retryAfter = window.tryAcquire(nowSecond, defaultIpRpm, 0);
        if (retryAfter >= 0) {
            throw rateLimited("ip", defaultIpRpm, "requests_per_minute", retryAfter);
        }
        return new RateState(defaultIpRpm, Math.max(0, defaultIpRpm - window.requestCount(nowSecond)), nowSecond + SlidingWindow.SECONDS);
    }

    /**
     * Failed authentications from one client address: a window RateLimitSync shares like the others
     * (null: none yet). A new one fetches the other replicas' counts at once, as key windows do.
     */
    SlidingWindow authFailures(String source, boolean create) {
        String key = "af:" + source;
        return create ? window(key) : windows.get(key);
    }

    /** RATE_LIMITED with the level that refused and its per-minute limit (envelope details, 429 headers). */
    private static ApiException rateLimited(String scope, long limit, String unit, long retryAfter) {
        return new ApiException(ErrorCode.RATE_LIMITED, "Rate limit exceeded", Map.of("scope", scope, "limit", limit, "unit", unit),
                retryAfter, null);
    }

    /** Counts the tokens a finished request used against the token-per-minute windows. */
    public void recordTokens(Caller caller, long tokens) {
        if (tokens <= 0) {
            return;
        }
        long nowSecond = System.currentTimeMillis() / 1000;
        if (caller.credentialId() != null) {
            SlidingWindow w = windows.get("k:" + caller.credentialId());
            if (w != null) {
                w.addTokens(nowSecond, tokens);
            }
        }
        SlidingWindow t = windows.get("t:" + caller.tenantId());
        if (t != null) {
            t.addTokens(nowSecond, tokens);
        }
    }

    private static long pick(Integer tenantValue, int fallback) {
        return tenantValue != null ? tenantValue : Math.max(0, fallback);
    }

    /** Reserves a request's worst case against the tenant's budget, or throws BUDGET_EXCEEDED. */
    public Uni<Reservation> reserve(String tenantId, TenantSettings s, long tokens, BigDecimal cost) {
        if (s.budgetTokens() == null && s.budgetCost() == null) {
            return Uni.createFrom().item(new Reservation(null, 0, BigDecimal.ZERO));
        }
        return ledger(tenantId, s).map(ledger -> {
            ledger.reserve(tokens, cost, usage.local(tenantId));
            return new Reservation(ledger, tokens, cost);
        });
    }

    String replicaId() {
        return replicaId;
    }

    private Uni<BudgetLedger> ledger(String tenantId, TenantSettings s) {
        OffsetDateTime periodStart = periodStart(s.budgetPeriod());
        BudgetLedger ledger = ledgers.get(tenantId);
        long now = System.nanoTime();
        if (ledger != null && ledger.periodStart.equals(periodStart) && ledger.sameLimits(s)
                && now - ledger.loadedAt < budgetRefresh.toNanos()) {
            return Uni.createFrom().item(ledger);
        }
        UsageRecorder.LocalSpend atStart = usage.local(tenantId);
        return pool.preparedQuery(READ_BUDGETS)
                .execute(Tuple.of(new String[]{tenantId}, new OffsetDateTime[]{periodStart}, replicaId, HOLD_FRESHNESS_SECONDS))
                .map(rows -> {
                    Row r = rows.iterator().next();
                    return ledgers.compute(tenantId, (k, existing) -> {
                        BudgetLedger target = existing != null && existing.periodStart.equals(periodStart)
                                ? existing : new BudgetLedger(tenantId, periodStart);
                        target.limits(s);
                        target.read(atStart, r);
                        return target;
                    });
                });
    }

    /** Other replicas' holds older than this are from replicas that stopped: ignored. */
    private static final double HOLD_FRESHNESS_SECONDS = 30;

    /** Each tenant's spend in the database for its period, and what the other replicas hold against it. */
    private static final String READ_BUDGETS = """
            SELECT u.t AS tenant_id, spent.tokens AS spent_tokens, spent.cost AS spent_cost,
                   others.tokens AS others_tokens, others.cost AS others_cost
            FROM unnest($1::text[], $2::timestamptz[]) AS u(t, p)
            CROSS JOIN LATERAL (SELECT coalesce(sum(d.tokens), 0)::bigint AS tokens, coalesce(sum(d.cost), 0) AS cost
                                FROM tenant_daily_spend d
                                WHERE d.tenant_id = u.t AND d.day >= (u.p AT TIME ZONE 'UTC')::date) spent
            CROSS JOIN LATERAL (SELECT coalesce(sum(h.tokens), 0)::bigint AS tokens, coalesce(sum(h.cost), 0) AS cost
                                FROM budget_holds h
                                WHERE h.tenant_id = u.t AND h.period_start = u.p AND h.replica <> $3
                                  AND h.updated_at > now() - make_interval(secs => $4)) others""";
    /** Publishes this replica's holds and reads the rest in one statement (the WITH part always runs). */
    private static final String SYNC_BUDGETS = """
            WITH published AS (
                INSERT INTO budget_holds (replica, tenant_id, period_start, tokens, cost, updated_at)
                SELECT $3, t, p, k, c, now() FROM unnest($1::text[], $2::timestamptz[], $5::bigint[], $6::numeric[]) AS u(t, p, k, c)
                ON CONFLICT (replica, tenant_id, period_start)
                DO UPDATE SET tokens = EXCLUDED.tokens, cost = EXCLUDED.cost, updated_at = now())
            """ + READ_BUDGETS;

    /**
     * One sync round for budgets ({@link RateLimitSync}): publishes what this replica holds against each
     * tenant it is spending for (reservations and unflushed spend), and reads every such tenant's
     * spend in the database and the other replicas' holds. Ledgers of a past period are dropped.
     */
    Uni<Void> syncBudgets() {
        long now = System.nanoTime();
        List<BudgetLedger> active = new ArrayList<>();
        for (BudgetLedger ledger : ledgers.values()) {
            if (!ledger.periodStart.equals(periodStart(ledger.period))) {
                ledgers.remove(ledger.tenantId, ledger);
                continue;
            }
            if (ledger.busy(now)) {
                active.add(ledger);
            }
        }
        if (active.isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        int n = active.size();
        String[] tenants = new String[n];
        OffsetDateTime[] periods = new OffsetDateTime[n];
        Long[] heldTokens = new Long[n];
        io.vertx.sqlclient.data.Numeric[] heldCost = new io.vertx.sqlclient.data.Numeric[n];
        UsageRecorder.LocalSpend[] atStart = new UsageRecorder.LocalSpend[n];
        for (int i = 0; i < n; i++) {
            BudgetLedger ledger = active.get(i);
            tenants[i] = ledger.tenantId;
            periods[i] = ledger.periodStart;
            atStart[i] = usage.local(ledger.tenantId);
            UsageRecorder.Pending held = ledger.held(atStart[i]);
            heldTokens[i] = held.tokens();
            heldCost[i] = io.vertx.sqlclient.data.Numeric.create(held.cost());
        }
        return pool.preparedQuery(SYNC_BUDGETS)
                .execute(Tuple.from(new Object[]{tenants, periods, replicaId, HOLD_FRESHNESS_SECONDS, heldTokens, heldCost}))
                .invoke(rows -> {
                    Map<String, Row> byTenant = new java.util.HashMap<>();
                    for (Row r : rows) {
                        byTenant.put(r.getString("tenant_id"), r);
                    }
                    for (int i = 0; i < n; i++) {
                        Row r = byTenant.get(tenants[i]);
                        if (r != null) {
                            active.get(i).read(atStart[i], r);
                        }
                    }
                })
                .replaceWithVoid();
    }

    /** Removes this replica's holds (on shutdown, after its spend is written). */
    Uni<Void> withdrawHolds() {
        return pool.preparedQuery("DELETE FROM budget_holds WHERE replica = $1").execute(Tuple.of(replicaId)).replaceWithVoid();
    }

    /** Removes the holds of replicas long gone. */
    Uni<Void> expireHolds() {
        return pool.query("DELETE FROM budget_holds WHERE updated_at < now() - interval '1 hour'").execute().replaceWithVoid();
    }

    static OffsetDateTime periodStart(String period) {
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        OffsetDateTime day = now.toLocalDate().atStartOfDay().atOffset(ZoneOffset.UTC);
        return "day".equals(period) ? day : day.withDayOfMonth(1);
    }

    /** The rate windows by key ({@code k:}, {@code u:}, {@code t:}, {@code p:}, {@code ip:} and an id), for {@link RateLimitSync}. */
    Map<String, SlidingWindow> windows() {
        return windows;
    }

    /** Told of each new key window (not per-address ones), so what other replicas counted for it arrives before the next sync round. */
    void onNewWindow(java.util.function.Consumer<String> listener) {
        this.newWindowListener = listener;
    }

    private SlidingWindow window(String key) {
        SlidingWindow window = windows.get(key);
        if (window != null) {
            return window;
        }
        SlidingWindow fresh = new SlidingWindow();
        window = windows.putIfAbsent(key, fresh);
        if (window != null) {
            return window;
        }
        java.util.function.Consumer<String> listener = newWindowListener;
        if (listener != null) {
            listener.accept(key);
        }
        return fresh;
    }

    /** Drops idle rate windows so keys that stopped calling do not hold memory. */
    @Scheduled(every = "60s", delayed = "60s")
    void evictIdleWindows() {
        long cutoff = System.currentTimeMillis() / 1000 - 2L * SlidingWindow.SECONDS;
        windows.entrySet().removeIf(e -> e.getValue().lastUsedSecond < cutoff);
    }

    /**
     * One tenant's budget in the current period, as this replica sees it: the database's spend at the
     * last read, plus what this replica flushed since that read began, plus its unflushed spend and its
     * reservations, plus the other replicas' holds at the last read. Whatever races between those parts
     * can only count something twice for a moment, never leave it out.
     */
    static final class BudgetLedger {
        final String tenantId;
        final OffsetDateTime periodStart;
        volatile long loadedAt;
        private volatile String period = "month";
        private Long tokenLimit;
        private BigDecimal costLimit;
        private long dbTokens;
        private BigDecimal dbCost = BigDecimal.ZERO;
        private UsageRecorder.Pending flushedAtRead = new UsageRecorder.Pending(0, BigDecimal.ZERO);
        private long othersTokens;
        private BigDecimal othersCost = BigDecimal.ZERO;
        private long reservedTokens;
        private BigDecimal reservedCost = BigDecimal.ZERO;
        private volatile long lastUsedNanos = System.nanoTime();
        private boolean publishedNonZero;

        BudgetLedger(String tenantId, OffsetDateTime periodStart) {
            this.tenantId = tenantId;
            this.periodStart = periodStart;
        }

        synchronized boolean sameLimits(TenantSettings s) {
            return java.util.Objects.equals(tokenLimit, s.budgetTokens())
                    && (costLimit == null ? s.budgetCost() == null : s.budgetCost() != null && costLimit.compareTo(s.budgetCost()) == 0);
        }

        synchronized void limits(TenantSettings s) {
            tokenLimit = s.budgetTokens();
            costLimit = s.budgetCost();
            period = s.budgetPeriod();
        }

        /** Takes in a read of the database and the other replicas; {@code atStart} was taken before it was sent. */
        synchronized void read(UsageRecorder.LocalSpend atStart, Row r) {
            dbTokens = r.getLong("spent_tokens");
            dbCost = r.getBigDecimal("spent_cost");
            othersTokens = r.getLong("others_tokens");
            othersCost = r.getBigDecimal("others_cost");
            flushedAtRead = atStart.flushed();
            loadedAt = System.nanoTime();
        }

        /** Used within the last minute, or still holding (or lately published) something: worth a sync round. */
        synchronized boolean busy(long nowNanos) {
            return nowNanos - lastUsedNanos < 60_000_000_000L || reservedTokens != 0 || reservedCost.signum() != 0
                    || publishedNonZero;
        }

        /** What this replica holds against the budget beyond the database: its reservations and unflushed spend. */
        synchronized UsageRecorder.Pending held(UsageRecorder.LocalSpend local) {
            long tokens = reservedTokens + local.pending().tokens();
            BigDecimal cost = reservedCost.add(local.pending().cost());
            publishedNonZero = tokens != 0 || cost.signum() != 0;
            return new UsageRecorder.Pending(tokens, cost);
        }

        synchronized void reserve(long tokens, BigDecimal cost, UsageRecorder.LocalSpend local) {
            lastUsedNanos = System.nanoTime();
            long usedTokens = dbTokens + (local.flushed().tokens() - flushedAtRead.tokens()) + local.pending().tokens()
                    + reservedTokens + othersTokens;
            BigDecimal usedCost = dbCost.add(local.flushed().cost().subtract(flushedAtRead.cost())).add(local.pending().cost())
                    .add(reservedCost).add(othersCost);
            boolean overTokens = tokenLimit != null && usedTokens + tokens > tokenLimit;
            boolean overCost = costLimit != null && usedCost.add(cost).compareTo(costLimit) > 0;
            if (overTokens || overCost) {
                throw new ApiException(ErrorCode.BUDGET_EXCEEDED,
                        "The tenant's budget for this period is used up; wait for the period to roll over or raise the budget");
            }
            reservedTokens += tokens;
            reservedCost = reservedCost.add(cost);
        }

        synchronized void release(long tokens, BigDecimal cost) {
            reservedTokens -= tokens;
            reservedCost = reservedCost.subtract(cost);
        }
    }
}
