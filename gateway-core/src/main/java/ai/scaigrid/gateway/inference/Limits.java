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
 * request's prompt estimate. Spend already written to the database is reloaded periodically, so
 * other replicas' spend is seen within {@code scaigrid.limits.budget-refresh}.
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
    }

    /** A budget reservation; settle exactly once. */
    public final class Reservation {
        private final BudgetLedger ledger;
        private final long tokens;
        private final BigDecimal cost;
        private boolean settled;

        Reservation(BudgetLedger ledger, long tokens, BigDecimal cost) {
            this.ledger = ledger;
            this.tokens = tokens;
            this.cost = cost;
        }

        public void settle(long actualTokens, BigDecimal actualCost) {
            synchronized (this) {
                if (settled) {
                    return;
                }
                settled = true;
            }
            if (ledger != null) {
                ledger.settle(tokens, cost, actualTokens, actualCost == null ? BigDecimal.ZERO : actualCost);
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
            ledger.reserve(tokens, cost);
            return new Reservation(ledger, tokens, cost);
        });
    }

    private Uni<BudgetLedger> ledger(String tenantId, TenantSettings s) {
        OffsetDateTime periodStart = periodStart(s.budgetPeriod());
        BudgetLedger ledger = ledgers.get(tenantId);
        long now = System.nanoTime();
        if (ledger != null && ledger.periodStart.equals(periodStart) && ledger.sameLimits(s)
                && now - ledger.loadedAt < budgetRefresh.toNanos()) {
            return Uni.createFrom().item(ledger);
        }
        return pool.preparedQuery("SELECT coalesce(sum(total_tokens), 0) AS tokens, coalesce(sum(cost), 0) AS cost "
                        + "FROM usage_records WHERE tenant_id = $1 AND created_at >= $2")
                .execute(Tuple.of(tenantId, periodStart))
                .map(rows -> {
                    Row r = rows.iterator().next();
                    UsageRecorder.Pending pending = usage.pending(tenantId);
                    long spentTokens = r.getLong("tokens") + pending.tokens();
                    BigDecimal spentCost = r.getBigDecimal("cost").add(pending.cost());
                    return ledgers.compute(tenantId, (k, existing) -> {
                        if (existing != null && existing.periodStart.equals(periodStart)) {
                            existing.refresh(s, spentTokens, spentCost);
                            return existing;
                        }
                        return new BudgetLedger(periodStart, s, spentTokens, spentCost);
                    });
                });
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

    /** One tenant's spend in the current period plus what in-flight requests have reserved. */
    static final class BudgetLedger {
        final OffsetDateTime periodStart;
        volatile long loadedAt = System.nanoTime();
        private Long tokenLimit;
        private BigDecimal costLimit;
        private long spentTokens;
        private BigDecimal spentCost;
        private long reservedTokens;
        private BigDecimal reservedCost = BigDecimal.ZERO;

        BudgetLedger(OffsetDateTime periodStart, TenantSettings s, long spentTokens, BigDecimal spentCost) {
            this.periodStart = periodStart;
            this.tokenLimit = s.budgetTokens();
            this.costLimit = s.budgetCost();
            this.spentTokens = spentTokens;
            this.spentCost = spentCost;
        }

        synchronized boolean sameLimits(TenantSettings s) {
            return java.util.Objects.equals(tokenLimit, s.budgetTokens())
                    && (costLimit == null ? s.budgetCost() == null : s.budgetCost() != null && costLimit.compareTo(s.budgetCost()) == 0);
        }

        synchronized void refresh(TenantSettings s, long dbTokens, BigDecimal dbCost) {
            tokenLimit = s.budgetTokens();
            costLimit = s.budgetCost();
            // never forget local spend the database has not seen yet
            spentTokens = Math.max(spentTokens, dbTokens);
            spentCost = spentCost.max(dbCost);
            loadedAt = System.nanoTime();
        }

        synchronized void reserve(long tokens, BigDecimal cost) {
            boolean overTokens = tokenLimit != null && spentTokens + reservedTokens + tokens > tokenLimit;
            boolean overCost = costLimit != null && spentCost.add(reservedCost).add(cost).compareTo(costLimit) > 0;
            if (overTokens || overCost) {
                throw new ApiException(ErrorCode.BUDGET_EXCEEDED,
                        "The tenant's budget for this period is used up; wait for the period to roll over or raise the budget");
            }
            reservedTokens += tokens;
            reservedCost = reservedCost.add(cost);
        }

        synchronized void settle(long reservedTokens, BigDecimal reservedCost, long actualTokens, BigDecimal actualCost) {
            this.reservedTokens -= reservedTokens;
            this.reservedCost = this.reservedCost.subtract(reservedCost);
            this.spentTokens += actualTokens;
            this.spentCost = this.spentCost.add(actualCost);
        }
    }
}
