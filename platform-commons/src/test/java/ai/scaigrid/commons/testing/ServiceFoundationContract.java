package ai.scaigrid.commons.testing;

import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.matchesPattern;

/**
 * What every service promises from day one, run against the real service on the embedded
 * PostgreSQL: it migrates, answers liveness and readiness (including the database), exports
 * Prometheus metrics and OpenAPI, and answers with the shared envelopes.
 */
public abstract class ServiceFoundationContract {

    @Inject
    protected Pool pool;

    /** Tables this service's migrations must have created. */
    protected abstract List<String> expectedTables();

    @Test
    void liveness() {
        given().when().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
    }

    @Test
    void readinessIncludesTheDatabase() {
        given().when().get("/q/health/ready").then().statusCode(200)
                .body("status", equalTo("UP"))
                .body("checks.name", hasItem(containsString("PostgreSQL")));
    }

    @Test
    void migrationsRanAndCreatedTheSchema() {
        List<String> applied = query("SELECT version FROM flyway_schema_history WHERE success ORDER BY installed_rank");
        assertThat(applied).isNotEmpty().contains("1");
        List<String> tables = query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
        assertThat(tables).containsAll(expectedTables());
    }

    @Test
    void prometheusMetrics() {
        given().when().get("/v1/metrics-probe").then().statusCode(404); // one request to be counted
        given().when().get("/q/metrics").then().statusCode(200)
                .body(containsString("jvm_memory_used_bytes"))
                .body(containsString("http_server_requests_seconds"));
    }

    @Test
    void openApiDocument() {
        given().accept("application/json").when().get("/q/openapi").then().statusCode(200)
                .body("openapi", matchesPattern("3\\..*"));
    }

    @Test
    void unknownPathsGetTheErrorEnvelope() {
        given().header("X-Request-Id", "req_contract_1").when().get("/v1/definitely-not-here")
                .then().statusCode(404)
                .header("X-Request-Id", "req_contract_1")
                .body("status", equalTo("error"))
                .body("error.code", equalTo("NOT_FOUND"))
                .body("meta.request_id", equalTo("req_contract_1"));
    }

    protected List<String> query(String sql) {
        return pool.query(sql).execute()
                .map(rows -> {
                    List<String> out = new ArrayList<>();
                    for (Row row : rows) {
                        out.add(String.valueOf(row.getValue(0)));
                    }
                    return out;
                })
                .await().atMost(Duration.ofSeconds(10));
    }
}
