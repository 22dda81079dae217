package ai.scaigrid.gateway.inference;

import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static ai.scaigrid.gateway.inference.InferenceFixtures.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;

/**
 * Budgets across gateway replicas. The tables are the contract between replicas: another replica's
 * reservations and unflushed spend arrive as its {@code budget_holds} rows, its written spend in
 * {@code tenant_daily_spend}; so another replica is played here by writing those rows, and a sync
 * round is run by hand (the test profile's timer is an hour).
 */
@QuarkusTest
class SharedBudgetTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final long BUDGET = 1000;

    @Inject
    RateLimitSync sync;

    @Inject
    Limits limits;

    @Inject
    UsageRecorder usage;

    @Inject
    Pool pool;

    private record Setup(String model, String tenantId, String key) {
    }

    private static Setup budgeted() {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("budget_tokens", BUDGET, "budget_period", "day")).when().put("/v1/tenants/" + tenantId + "/limits")
                .then().statusCode(200);
        return new Setup(model, tenantId, key(tenantId, "tenant_user", null));
    }

    private static io.restassured.response.Response spend(Setup s) {
        return as(s.key()).body(with(chat(s.model(), "spend"), "max_tokens", 10)).when().post("/v1/inference/chat");
    }

    private static OffsetDateTime today() {
        return OffsetDateTime.now(ZoneOffset.UTC).toLocalDate().atStartOfDay().atOffset(ZoneOffset.UTC);
    }

    private void otherReplicaHolds(String tenantId, long tokens) {
        pool.preparedQuery("""
                        INSERT INTO budget_holds (replica, tenant_id, period_start, tokens, cost) VALUES ('gw-other', $1, $2, $3, 0)
                        ON CONFLICT (replica, tenant_id, period_start) DO UPDATE SET tokens = EXCLUDED.tokens, updated_at = now()""")
                .execute(Tuple.of(tenantId, today(), tokens)).await().atMost(WAIT);
    }

    @Test
    void whatAnotherReplicaHoldsCountsAgainstTheBudget() {
        Setup s = budgeted();
        spend(s).then().statusCode(200); // this replica now keeps a ledger for the tenant
        otherReplicaHolds(s.tenantId(), BUDGET - 5);
        spend(s).then().statusCode(200); // until the next round this replica does not know
        sync.sync().await().atMost(WAIT);
        spend(s).then().statusCode(402).body("error.code", equalTo("BUDGET_EXCEEDED"));

        // the other replica released its reservations
        otherReplicaHolds(s.tenantId(), 0);
        sync.sync().await().atMost(WAIT);
        spend(s).then().statusCode(200);

        // a replica that stopped publishing (gone without withdrawing) no longer counts after 30 s
        otherReplicaHolds(s.tenantId(), BUDGET);
        sync.sync().await().atMost(WAIT);
        spend(s).then().statusCode(402);
        pool.preparedQuery("UPDATE budget_holds SET updated_at = now() - interval '31 seconds' WHERE replica = 'gw-other' AND tenant_id = $1")
                .execute(Tuple.of(s.tenantId())).await().atMost(WAIT);
        sync.sync().await().atMost(WAIT);
        spend(s).then().statusCode(200);
    }

    @Test
    void spendAnotherReplicaWroteCountsAfterOneRound() {
        Setup s = budgeted();
        spend(s).then().statusCode(200);
        pool.preparedQuery("""
                        INSERT INTO tenant_daily_spend (tenant_id, day, tokens, cost) VALUES ($1, $2, $3, 0)
                        ON CONFLICT (tenant_id, day) DO UPDATE SET tokens = tenant_daily_spend.tokens + EXCLUDED.tokens""")
                .execute(Tuple.of(s.tenantId(), today().toLocalDate(), BUDGET)).await().atMost(WAIT);
        sync.sync().await().atMost(WAIT);
        spend(s).then().statusCode(402).body("error.code", equalTo("BUDGET_EXCEEDED"));
    }

    @Test
    void thisReplicaPublishesItsReservationsAndUnwrittenSpend() {
        Setup s = budgeted();
        spend(s).then().statusCode(200);
        usage.flush().await().atMost(WAIT);
        Limits.TenantSettings settings = limits.settings(s.tenantId()).await().atMost(WAIT);
        Limits.Reservation held = limits.reserve(s.tenantId(), settings, 300, BigDecimal.ZERO).await().atMost(WAIT);
        sync.sync().await().atMost(WAIT);
        assertThat(publishedHold(s.tenantId())).isEqualTo(300);
        held.release();
        sync.sync().await().atMost(WAIT);
        assertThat(publishedHold(s.tenantId())).isZero();
    }

    @Test
    void theUsageFlushKeepsEachTenantsDailySpendInStep() {
        Setup s = budgeted();
        for (int i = 0; i < 5; i++) {
            spend(s).then().statusCode(200);
        }
        usage.flush().await().atMost(WAIT);
        Row records = pool.preparedQuery("SELECT coalesce(sum(total_tokens), 0)::bigint AS t FROM usage_records WHERE tenant_id = $1")
                .execute(Tuple.of(s.tenantId())).await().atMost(WAIT).iterator().next();
        Row daily = pool.preparedQuery("SELECT coalesce(sum(tokens), 0)::bigint AS t FROM tenant_daily_spend WHERE tenant_id = $1")
                .execute(Tuple.of(s.tenantId())).await().atMost(WAIT).iterator().next();
        assertThat(records.getLong("t")).isPositive();
        assertThat(daily.getLong("t")).isEqualTo(records.getLong("t"));
    }

    private long publishedHold(String tenantId) {
        return pool.preparedQuery("SELECT coalesce(sum(tokens), 0)::bigint AS t FROM budget_holds WHERE tenant_id = $1 AND replica = $2")
                .execute(Tuple.of(tenantId, limits.replicaId())).await().atMost(WAIT).iterator().next().getLong("t");
    }
}
