package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Tenant limits and budgets ({@code /v1/tenants/{tenant_id}/limits}) and usage summaries
 * ({@code GET /v1/usage}). Rate limits of a tenant are set by its partner's admins or super admins;
 * budgets by anyone with {@code accounting:manage_budgets} over that tenant. Usage: tenant admins see
 * their tenant, partner admins their partner's tenants, super admins everything.
 */
@Path("/v1")
@Produces(MediaType.APPLICATION_JSON)
public class AccountingResource {

    @Inject
    Pool pool;

    @Inject
    CurrentCaller current;

    @Inject
    Limits limits;

    @Inject
    UsageRecorder usage;

    public record LimitsView(String tenantId, Integer requestsPerMinute, Integer tokensPerMinute,
                             Integer keyRequestsPerMinute, Integer keyTokensPerMinute, Integer userRequestsPerMinute,
                             Long budgetTokens, String budgetCost, String budgetPeriod, Map<String, Object> spent) {
    }

    public record LimitsRequest(Integer requestsPerMinute, Integer tokensPerMinute, Integer keyRequestsPerMinute,
                                Integer keyTokensPerMinute, Integer userRequestsPerMinute, Long budgetTokens,
                                BigDecimal budgetCost, String budgetPeriod) {
    }

    public record UsageRow(String tenantId, String model, String day, long requestCount, long errorCount,
                           long promptTokens, long cachedTokens, long cacheWriteTokens, long completionTokens,
                           long reasoningTokens, long totalTokens, long images, String audioSeconds, String cost, long avgLatencyMs) {
    }

    @GET
    @Path("/tenants/{tenant_id}/limits")
    public Uni<Envelope<LimitsView>> getLimits(@PathParam("tenant_id") String tenantId) {
        Caller caller = current.get();
        caller.requireAny(List.of(Permissions.ACCOUNTING_VIEW_TENANT, Permissions.ACCOUNTING_MANAGE_BUDGETS));
        return visibleTenant(caller, tenantId).flatMap(t -> view(tenantId)).map(Envelope::of);
    }

    @PUT
    @Path("/tenants/{tenant_id}/limits")
    public Uni<Envelope<LimitsView>> putLimits(@PathParam("tenant_id") String tenantId, LimitsRequest r) {
        Caller caller = current.get();
        caller.require(Permissions.ACCOUNTING_MANAGE_BUDGETS);
        if (r == null) {
            throw ApiException.validation("body", "a JSON object with limits is required");
        }
        if (r.budgetPeriod() != null && !List.of("day", "month").contains(r.budgetPeriod())) {
            throw ApiException.validation("budget_period", "budget_period must be day or month");
        }
        positive("requests_per_minute", r.requestsPerMinute());
        positive("tokens_per_minute", r.tokensPerMinute());
        positive("key_requests_per_minute", r.keyRequestsPerMinute());
        positive("key_tokens_per_minute", r.keyTokensPerMinute());
        positive("user_requests_per_minute", r.userRequestsPerMinute());
        if (r.budgetTokens() != null && r.budgetTokens() < 0) {
            throw ApiException.validation("budget_tokens", "budget_tokens must not be negative");
        }
        if (r.budgetCost() != null && r.budgetCost().signum() < 0) {
            throw ApiException.validation("budget_cost", "budget_cost must not be negative");
        }
        boolean setsRates = r.requestsPerMinute() != null || r.tokensPerMinute() != null || r.keyRequestsPerMinute() != null
                || r.keyTokensPerMinute() != null || r.userRequestsPerMinute() != null;
        return visibleTenant(caller, tenantId).flatMap(partnerId -> {
            if (setsRates && !caller.isSuperAdmin() && !(caller.isPartnerAdmin() && partnerId.equals(caller.partnerId()))) {
                throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Rate limits of a tenant are set by its partner's admins");
            }
            // PUT replaces the tenant's settings: fields left out fall back to the platform defaults
            return pool.preparedQuery("""
                            INSERT INTO tenant_limits (tenant_id, requests_per_minute, tokens_per_minute, key_requests_per_minute,
                                key_tokens_per_minute, user_requests_per_minute, budget_tokens, budget_cost, budget_period, updated_at)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
                            ON CONFLICT (tenant_id) DO UPDATE SET requests_per_minute = $2, tokens_per_minute = $3,
                                key_requests_per_minute = $4, key_tokens_per_minute = $5, user_requests_per_minute = $6,
                                budget_tokens = $7, budget_cost = $8, budget_period = $9, updated_at = now()""")
                    .execute(Tuple.from(new Object[]{tenantId, r.requestsPerMinute(), r.tokensPerMinute(), r.keyRequestsPerMinute(),
                            r.keyTokensPerMinute(), r.userRequestsPerMinute(), r.budgetTokens(), r.budgetCost(),
                            r.budgetPeriod() == null ? "month" : r.budgetPeriod()}))
                    .invoke(() -> limits.forget(tenantId))
                    .flatMap(ignored -> view(tenantId));
        }).map(Envelope::of);
    }

    private static void positive(String field, Integer value) {
        if (value != null && value < 1) {
            throw ApiException.validation(field, field + " must be a positive integer");
        }
    }

    /** The tenant's partner id if the caller may see the tenant; otherwise "not found". */
    private Uni<String> visibleTenant(Caller caller, String tenantId) {
        return pool.preparedQuery("SELECT partner_id FROM tenants WHERE id = $1")
                .execute(Tuple.of(tenantId)).map(rows -> {
                    String partner = rows.size() == 0 ? null : rows.iterator().next().getString("partner_id");
                    if (partner == null || !caller.canSee(tenantId, partner)) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Tenant not found", Map.of("tenant_id", tenantId));
                    }
                    return partner;
                });
    }

    private Uni<LimitsView> view(String tenantId) {
        return pool.preparedQuery("SELECT * FROM tenant_limits WHERE tenant_id = $1").execute(Tuple.of(tenantId))
                .flatMap(rows -> {
                    Limits.TenantSettings s = rows.size() == 0 ? Limits.TenantSettings.NONE : Limits.toSettings(rows.iterator().next());
                    OffsetDateTime start = Limits.periodStart(s.budgetPeriod());
                    return pool.preparedQuery("SELECT coalesce(sum(total_tokens), 0) AS tokens, coalesce(sum(cost), 0) AS cost "
                                    + "FROM usage_records WHERE tenant_id = $1 AND created_at >= $2")
                            .execute(Tuple.of(tenantId, start)).map(sum -> {
                                Row r = sum.iterator().next();
                                UsageRecorder.Pending pending = usage.pending(tenantId);
                                Map<String, Object> spent = Map.of("period_start", start.toString(),
                                        "tokens", r.getLong("tokens") + pending.tokens(),
                                        "cost", r.getBigDecimal("cost").add(pending.cost()).stripTrailingZeros().toPlainString());
                                return new LimitsView(tenantId, s.requestsPerMinute(), s.tokensPerMinute(), s.keyRequestsPerMinute(),
                                        s.keyTokensPerMinute(), s.userRequestsPerMinute(), s.budgetTokens(),
                                        s.budgetCost() == null ? null : s.budgetCost().stripTrailingZeros().toPlainString(),
                                        s.budgetPeriod(), spent);
                            });
                });
    }

    /**
     * Usage per tenant, model and day (UTC) between {@code start} and {@code end} (ISO dates or
     * timestamps; default: the last 30 days), optionally for one tenant and/or model.
     */
    @GET
    @Path("/usage")
    public Uni<Envelope<Map<String, Object>>> usage(@QueryParam("start") String start, @QueryParam("end") String end,
                                                    @QueryParam("tenant_id") String tenantId, @QueryParam("model") String model) {
        Caller caller = current.get();
        caller.requireAny(List.of(Permissions.ACCOUNTING_VIEW_TENANT, Permissions.ACCOUNTING_VIEW_PARTNER));
        OffsetDateTime to = end == null ? OffsetDateTime.now(ZoneOffset.UTC) : time("end", end, true);
        OffsetDateTime from = start == null ? to.minusDays(30) : time("start", start, false);
        if (!from.isBefore(to)) {
            throw ApiException.validation("start", "start must be before end");
        }
        // scope: super admins everything; partner viewers their partner's tenants; others their tenant
        String scopeSql;
        Object scopeValue;
        if (caller.isSuperAdmin()) {
            scopeSql = "($5::text IS NULL OR tenant_id = $5)";
            scopeValue = null;
        } else if (caller.has(Permissions.ACCOUNTING_VIEW_PARTNER) && caller.partnerId() != null) { // partner admins and viewers
            scopeSql = "partner_id = $5";
            scopeValue = caller.partnerId();
        } else {
            scopeSql = "tenant_id = $5";
            scopeValue = caller.tenantId();
        }
        String sql = "SELECT tenant_id, model, to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, "
                + "count(*) AS requests, count(*) FILTER (WHERE status <> 'ok') AS errors, "
                + "sum(prompt_tokens) AS prompt, sum(cached_tokens) AS cached, sum(cache_write_tokens) AS written, "
                + "sum(completion_tokens) AS completion, "
                + "sum(reasoning_tokens) AS reasoning, "
                + "sum(total_tokens) AS total, sum(images) AS images, sum(audio_seconds) AS audio_seconds, "
                + "sum(cost) AS cost, avg(latency_ms)::bigint AS latency "
                + "FROM usage_records WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR tenant_id = $3) "
                + "AND ($4::text IS NULL OR model = $4) AND " + scopeSql
                + " GROUP BY 1, 2, 3 ORDER BY 3, 1, 2 LIMIT 10000";
        return pool.preparedQuery(sql).execute(Tuple.from(new Object[]{from, to, tenantId, model, scopeValue})).map(rows -> {
            List<UsageRow> items = new ArrayList<>();
            for (Row r : rows) {
                items.add(new UsageRow(r.getString("tenant_id"), r.getString("model"), r.getString("day"), r.getLong("requests"),
                        r.getLong("errors"), r.getLong("prompt"), r.getLong("cached"), r.getLong("written"),
                        r.getLong("completion"), r.getLong("reasoning"),
                        r.getLong("total"), r.getLong("images"), r.getBigDecimal("audio_seconds").stripTrailingZeros().toPlainString(),
                        r.getBigDecimal("cost").stripTrailingZeros().toPlainString(), r.getLong("latency")));
            }
            return Envelope.of(Map.of("items", items, "start", from.toString(), "end", to.toString()));
        });
    }

    /** An ISO date (a whole day, UTC; {@code endOfDay}: its end) or timestamp, else a 400 naming the field. */
    static OffsetDateTime time(String field, String value, boolean endOfDay) {
        try {
            if (value.length() == 10) {
                LocalDate d = LocalDate.parse(value);
                return (endOfDay ? d.plusDays(1) : d).atStartOfDay().atOffset(ZoneOffset.UTC);
            }
            return OffsetDateTime.parse(value);
        } catch (DateTimeParseException e) {
            throw ApiException.validation(field, field + " must be an ISO date (2026-01-31) or timestamp");
        }
    }
}
