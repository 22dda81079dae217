package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.paging.PageTokens;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;

import java.math.BigDecimal;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The accounting API of the reference (§3.4): {@code GET /v1/accounting/usage}, one item per request,
 * newest first, paged by an opaque cursor, and {@code GET /v1/accounting/usage/summary}, totals grouped by
 * model, user, backend or tenant. Who sees what: by default the caller's own requests
 * ({@code accounting:view_own}); {@code user_id} needs {@code accounting:view_tenant} (a user of the
 * caller's tenant); {@code tenant_id} needs {@code accounting:view_tenant} for the caller's own tenant and
 * {@code accounting:view_partner} for another tenant of its partner (super admins: any). A tenant or user
 * outside that reach matches nothing: the same empty answer as one without usage, never a hint that it exists.
 */
@Path("/v1/accounting")
@Produces(MediaType.APPLICATION_JSON)
public class AccountingUsageResource {
    private static final Map<String, String> GROUPS = Map.of("model", "model", "user", "user_id", "backend", "backend_id",
            "tenant", "tenant_id");

    @Inject
    Pool pool;

    @Inject
    CurrentCaller current;

    public record UsageItem(String id, String requestId, String model, String backendId, String userId, String tenantId,
                            String apiKeyId, String api, String endpoint, long tokensIn, long tokensCached, long tokensCacheWrite,
                            long tokensOut, long tokensReasoning, int images, String audioSeconds, String cost, long latencyMs,
                            Integer ttftMs,
                            String status, String errorCode, OffsetDateTime createdAt) {
    }

    public record Pagination(boolean hasMore, String nextCursor) {
    }

    /** The reference's paged list: {@code data.items} with {@code pagination} beside {@code data}. */
    @JsonPropertyOrder({"status", "data", "pagination"})
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record PagedEnvelope<T>(String status, T data, Pagination pagination) {
    }

    /** {@code backend_cost} is null: backends carry no upstream price in this catalogue, so it is not known. */
    public record SummaryRow(String groupKey, long requestCount, long inputTokens, long cachedInputTokens,
                             long cacheWriteInputTokens, long outputTokens,
                             long reasoningTokens, long totalTokens, long images, String audioSeconds, String totalCost,
                             String backendCost) {
    }

    /** A WHERE clause and its parameters, built up filter by filter. */
    private static final class Where {
        final StringBuilder sql = new StringBuilder("TRUE");
        final List<Object> args = new ArrayList<>();

        Where and(String condition, Object... values) {
            String c = condition;
            for (Object v : values) {
                args.add(v);
                c = c.replaceFirst("\\?", "\\$" + args.size());
            }
            sql.append(" AND ").append(c);
            return this;
        }
    }

    @GET
    @Path("/usage")
    public Uni<PagedEnvelope<Map<String, List<UsageItem>>>> usage(@QueryParam("start") String start, @QueryParam("end") String end,
                                                                  @QueryParam("period") String period,
                                                                  @QueryParam("user_id") String userId,
                                                                  @QueryParam("tenant_id") String tenantId,
                                                                  @QueryParam("model") String model,
                                                                  @QueryParam("backend_id") String backendId,
                                                                  @QueryParam("limit") Integer limit,
                                                                  @QueryParam("cursor") String cursor) {
        int size = limit == null ? 100 : limit;
        if (size < 1 || size > 1000) {
            throw ApiException.validation("limit", "limit must be between 1 and 1000");
        }
        Where where = filters(current.get(), start, end, period, userId, tenantId, model, backendId);
        if (cursor != null && !cursor.isBlank()) {
            Map<String, String> at = PageTokens.decode(cursor, "cursor");
            OffsetDateTime after;
            try {
                after = OffsetDateTime.parse(at.getOrDefault("t", ""));
            } catch (DateTimeParseException e) {
                throw ApiException.validation("cursor", "cursor is not a cursor this endpoint issued");
            }
            where.and("(created_at, id) < (?, ?)", after, at.getOrDefault("id", ""));
        }
        where.args.add(size + 1);
        String sql = "SELECT * FROM usage_records WHERE " + where.sql + " ORDER BY created_at DESC, id DESC LIMIT $" + where.args.size();
        return pool.preparedQuery(sql).execute(Tuple.from(where.args)).map(rows -> {
            List<UsageItem> items = new ArrayList<>();
            for (Row r : rows) {
                items.add(new UsageItem(r.getString("id"), r.getString("request_id"), r.getString("model"), r.getString("backend_id"),
                        r.getString("user_id"), r.getString("tenant_id"), r.getString("api_key_id"), r.getString("api"),
                        r.getString("endpoint"), r.getInteger("prompt_tokens"), r.getInteger("cached_tokens"),
                        r.getInteger("cache_write_tokens"), r.getInteger("completion_tokens"), r.getInteger("reasoning_tokens"),
                        r.getInteger("images"), decimal(r.getBigDecimal("audio_seconds")), decimal(r.getBigDecimal("cost")),
                        r.getInteger("latency_ms"), r.getInteger("ttft_ms"),
                        r.getString("status"),
                        r.getString("error_code"), r.getOffsetDateTime("created_at")));
            }
            boolean more = items.size() > size;
            String next = null;
            if (more) {
                items = items.subList(0, size);
                UsageItem last = items.get(size - 1);
                next = PageTokens.encode(Map.of("t", last.createdAt().toString(), "id", last.id()));
            }
            return new PagedEnvelope<>("ok", Map.of("items", List.copyOf(items)), new Pagination(more, next));
        });
    }

    @GET
    @Path("/usage/summary")
    public Uni<Envelope<Map<String, Object>>> summary(@QueryParam("start") String start, @QueryParam("end") String end,
                                                      @QueryParam("period") String period,
                                                      @QueryParam("group_by") String groupBy,
                                                      @QueryParam("user_id") String userId,
                                                      @QueryParam("tenant_id") String tenantId,
                                                      @QueryParam("model") String model,
                                                      @QueryParam("backend_id") String backendId) {
        String group = groupBy == null || groupBy.isBlank() ? "model" : groupBy;
        String column = GROUPS.get(group);
        if (column == null) {
            throw ApiException.validation("group_by", "group_by must be one of model, user, backend, tenant");
        }
        Where where = filters(current.get(), start, end, period, userId, tenantId, model, backendId);
        String sql = "SELECT coalesce(" + column + ", '') AS group_key, count(*) AS requests, sum(prompt_tokens) AS input, "
                + "sum(completion_tokens) AS output, sum(total_tokens) AS total, sum(cost) AS cost, "
                + "sum(reasoning_tokens) AS reasoning, sum(cached_tokens) AS cached, sum(cache_write_tokens) AS written, "
                + "sum(images) AS images, sum(audio_seconds) AS audio_seconds "
                + "FROM usage_records WHERE "
                + where.sql + " GROUP BY 1 ORDER BY 6 DESC, 2 DESC, 1 LIMIT 10000";
        return pool.preparedQuery(sql).execute(Tuple.from(where.args)).map(rows -> {
            List<SummaryRow> out = new ArrayList<>();
            for (Row r : rows) {
                out.add(new SummaryRow(r.getString("group_key"), r.getLong("requests"), r.getLong("input"), r.getLong("cached"),
                        r.getLong("written"),
                        r.getLong("output"), r.getLong("reasoning"), r.getLong("total"), r.getLong("images"),
                        decimal(r.getBigDecimal("audio_seconds")), decimal(r.getBigDecimal("cost")), null));
            }
            return Envelope.of(Map.of("group_by", group, "items", out));
        });
    }

    /** Time window, reach (whose records) and the optional filters; 400 for a bad window, 403 beyond the caller's reach. */
    private Where filters(Caller caller, String start, String end, String period, String userId, String tenantId, String model,
                         String backendId) {
        caller.requireAny(List.of(Permissions.ACCOUNTING_VIEW_OWN, Permissions.ACCOUNTING_VIEW_TENANT,
                Permissions.ACCOUNTING_VIEW_PARTNER));
        OffsetDateTime to = end == null ? OffsetDateTime.now(ZoneOffset.UTC) : AccountingResource.time("end", end, true);
        OffsetDateTime from;
        if (start != null) {
            from = AccountingResource.time("start", start, false);
        } else if (period != null) {
            from = switch (period) {
                case "hour" -> to.minusHours(1);
                case "day" -> to.minusDays(1);
                case "week" -> to.minusWeeks(1);
                case "month" -> to.minusMonths(1);
                default -> throw ApiException.validation("period", "period must be one of hour, day, week, month");
            };
        } else {
            from = to.minusDays(30);
        }
        if (!from.isBefore(to)) {
            throw ApiException.validation("start", "start must be before end");
        }
        Where where = new Where().and("created_at >= ?", from).and("created_at < ?", to);
        if (tenantId != null) {
            where.and("tenant_id = ?", tenantId);
            if (tenantId.equals(caller.tenantId())) {
                caller.requireAny(List.of(Permissions.ACCOUNTING_VIEW_TENANT, Permissions.ACCOUNTING_VIEW_PARTNER));
            } else {
                caller.require(Permissions.ACCOUNTING_VIEW_PARTNER);
                if (!caller.isSuperAdmin()) {
                    // another partner's tenant matches nothing: the same empty answer as a tenant without usage
                    where.and("partner_id = ?", caller.partnerId());
                }
            }
        } else if (userId == null) {
            // the caller's own requests: its user's, or for a credential without a user (a service token), its own
            where.and("tenant_id = ?", caller.tenantId());
            if (caller.userId() != null) {
                where.and("user_id = ?", caller.userId());
            } else {
                where.and("api_key_id = ?", caller.credentialId());
            }
        }
        if (userId != null) {
            caller.requireAny(List.of(Permissions.ACCOUNTING_VIEW_TENANT, Permissions.ACCOUNTING_VIEW_PARTNER));
            where.and("user_id = ?", userId);
            if (tenantId == null && !caller.isSuperAdmin()) {
                if (caller.has(Permissions.ACCOUNTING_VIEW_PARTNER) && caller.partnerId() != null) {
                    where.and("partner_id = ?", caller.partnerId());
                } else {
                    where.and("tenant_id = ?", caller.tenantId());
                }
            }
        }
        if (model != null) {
            where.and("model = ?", model);
        }
        if (backendId != null) {
            where.and("backend_id = ?", backendId);
        }
        return where;
    }

    private static String decimal(BigDecimal value) {
        return value == null ? "0" : value.stripTrailingZeros().toPlainString();
    }
}
