package ai.scaigrid.gateway.inference;

import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.RowSet;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The recorder's write path on its own: every column of a record reaches the database exactly (costs to the last
 * decimal, instants on a whole minute, nulls), a tenant's daily spend moves with it, and a record written twice (a
 * batch retried after a commit whose answer was lost) is stored and counted once.
 */
@QuarkusTest
class UsageRecorderTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @Inject
    UsageRecorder usage;

    @Inject
    Pool pool;

    private static UsageRecorder.UsageRecord record(String tenantId, String id, BigDecimal cost, OffsetDateTime at, Integer ttft,
                                                    String errorCode) {
        return new UsageRecorder.UsageRecord(id, "req_" + id, null, tenantId, null, null, "openai/test-model", null, null,
                "chat", "oai", true, 1200, 34, 5, 100, 7, 2, new BigDecimal("12.345"), cost, 850, ttft,
                errorCode == null ? "ok" : "error", errorCode, at);
    }

    private Row row(String id) {
        RowSet<Row> rows = pool.preparedQuery("SELECT * FROM usage_records WHERE id = $1").execute(Tuple.of(id)).await().atMost(WAIT);
        assertThat(rows.size()).as("record %s written", id).isEqualTo(1);
        return rows.iterator().next();
    }

    @Test
    void everyColumnArrivesExactly() {
        String tenantId = tenant();
        String a = "usage_t_" + UUID.randomUUID();
        String b = "usage_t_" + UUID.randomUUID();
        OffsetDateTime wholeMinute = OffsetDateTime.of(2026, 3, 1, 23, 59, 0, 0, ZoneOffset.ofHours(2));
        OffsetDateTime micros = OffsetDateTime.of(2026, 3, 2, 8, 15, 30, 123_456_000, ZoneOffset.UTC);
        usage.record(record(tenantId, a, new BigDecimal("0.00012345"), wholeMinute, 42, null));
        usage.record(record(tenantId, b, new BigDecimal("1E+2"), micros, null, "BACKEND_TIMEOUT"));
        usage.flush().await().atMost(WAIT);

        Row ra = row(a);
        assertThat(ra.getString("request_id")).isEqualTo("req_" + a);
        assertThat(ra.getString("tenant_id")).isEqualTo(tenantId);
        assertThat(ra.getString("partner_id")).isNull();
        assertThat(ra.getString("model")).isEqualTo("openai/test-model");
        assertThat(ra.getString("endpoint")).isEqualTo("chat");
        assertThat(ra.getString("api")).isEqualTo("oai");
        assertThat(ra.getBoolean("stream")).isTrue();
        assertThat(ra.getInteger("prompt_tokens")).isEqualTo(1200);
        assertThat(ra.getInteger("completion_tokens")).isEqualTo(34);
        assertThat(ra.getInteger("total_tokens")).isEqualTo(1234);
        assertThat(ra.getInteger("reasoning_tokens")).isEqualTo(5);
        assertThat(ra.getInteger("cached_tokens")).isEqualTo(100);
        assertThat(ra.getInteger("cache_write_tokens")).isEqualTo(7);
        assertThat(ra.getInteger("images")).isEqualTo(2);
        assertThat(ra.getBigDecimal("audio_seconds")).isEqualByComparingTo("12.345");
        assertThat(ra.getBigDecimal("cost")).isEqualByComparingTo("0.00012345");
        assertThat(ra.getInteger("latency_ms")).isEqualTo(850);
        assertThat(ra.getInteger("ttft_ms")).isEqualTo(42);
        assertThat(ra.getString("status")).isEqualTo("ok");
        assertThat(ra.getString("error_code")).isNull();
        assertThat(ra.getOffsetDateTime("created_at").toInstant()).isEqualTo(wholeMinute.toInstant());

        Row rb = row(b);
        assertThat(rb.getBigDecimal("cost")).isEqualByComparingTo("100");
        assertThat(rb.getInteger("ttft_ms")).isNull();
        assertThat(rb.getString("error_code")).isEqualTo("BACKEND_TIMEOUT");
        assertThat(rb.getOffsetDateTime("created_at").toInstant()).isEqualTo(micros.toInstant());

        // the day is the UTC day: 23:59 at +02:00 is 21:59 UTC on 1 March
        RowSet<Row> days = pool.preparedQuery("SELECT day, tokens, cost FROM tenant_daily_spend WHERE tenant_id = $1 ORDER BY day")
                .execute(Tuple.of(tenantId)).await().atMost(WAIT);
        List<String> spend = new ArrayList<>();
        days.forEach(d -> spend.add(d.getLocalDate("day") + " " + d.getLong("tokens") + " " + d.getBigDecimal("cost").stripTrailingZeros()
                .toPlainString()));
        assertThat(spend).containsExactly("2026-03-01 1234 0.00012345", "2026-03-02 1234 100");
    }

    @Test
    void aRecordWrittenTwiceIsStoredAndCountedOnce() {
        String tenantId = tenant();
        String id = "usage_t_" + UUID.randomUUID();
        OffsetDateTime at = OffsetDateTime.of(2026, 4, 1, 12, 0, 0, 0, ZoneOffset.UTC);
        UsageRecorder.UsageRecord r = record(tenantId, id, new BigDecimal("0.5"), at, 10, null);
        usage.record(r);
        usage.flush().await().atMost(WAIT);
        usage.record(r); // as a retried batch would
        usage.flush().await().atMost(WAIT);

        assertThat(row(id).getInteger("total_tokens")).isEqualTo(1234);
        Row day = pool.preparedQuery("SELECT tokens, cost FROM tenant_daily_spend WHERE tenant_id = $1").execute(Tuple.of(tenantId))
                .await().atMost(WAIT).iterator().next();
        assertThat(day.getLong("tokens")).isEqualTo(1234);
        assertThat(day.getBigDecimal("cost")).isEqualByComparingTo("0.5");
    }
}
