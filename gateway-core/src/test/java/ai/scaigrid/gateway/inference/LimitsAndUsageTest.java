package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.key;
import static ai.scaigrid.gateway.inference.InferenceFixtures.tenant;
import static ai.scaigrid.gateway.inference.InferenceFixtures.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.matchesPattern;
import static org.hamcrest.Matchers.hasSize;
import static org.hamcrest.Matchers.notNullValue;

/** Rate limits and budgets under concurrency, usage records after a burst, usage summaries, limit permissions. */
@QuarkusTest
class LimitsAndUsageTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    private record Result(int status, String body, String retryAfter, String requestId) {
    }

    /** Fires n identical requests at once from many threads; returns every response. */
    private static List<Result> burst(String key, Object body, int n) throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(n, 64));
        try {
            String json = JSON.writeValueAsString(body);
            List<CompletableFuture<Result>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + RestAssured.port + "/v1/inference/chat"))
                        .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                        .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(json)).build();
                futures.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
                        return new Result(r.statusCode(), r.body(), r.headers().firstValue("Retry-After").orElse(null),
                                r.headers().firstValue("X-Request-Id").orElse(null));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, pool));
            }
            List<Result> results = new ArrayList<>();
            for (CompletableFuture<Result> f : futures) {
                results.add(f.get());
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void perKeyRateLimitHoldsUnderConcurrency() throws Exception {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("key_requests_per_minute", 10)).when().put("/v1/tenants/" + tenantId + "/limits")
                .then().statusCode(200).body("data.key_requests_per_minute", equalTo(10));
        String userKey = key(tenantId, "tenant_user", null);
        List<Result> results = burst(userKey, chat(model, "burst"), 30);
        assertThat(results.stream().filter(r -> r.status() == 200).count()).isEqualTo(10);
        List<Result> limited = results.stream().filter(r -> r.status() == 429).toList();
        assertThat(limited).hasSize(20);
        assertThat(limited.get(0).body()).contains("\"code\":\"RATE_LIMITED\"").contains("\"retry_after\"");
        assertThat(Integer.parseInt(limited.get(0).retryAfter())).isBetween(1, 60);
        // another key of the same tenant has its own key budget of requests
        String freshKey = key(tenantId, "tenant_user", null);
        as(freshKey).body(chat(model, "fresh key")).when().post("/v1/inference/chat").then().statusCode(200)
                .header("X-Scaigrid-Ratelimit-Limit", "10").header("X-Scaigrid-Ratelimit-Remaining", "9")
                .header("x-ratelimit-limit-requests", org.hamcrest.Matchers.nullValue());
        as(freshKey).body(chat(model, "fresh key, OpenAI's door")).when().post("/oai/v1/chat/completions").then().statusCode(200)
                .header("X-Scaigrid-Ratelimit-Remaining", "8").header("x-ratelimit-limit-requests", "10")
                .header("x-ratelimit-remaining-requests", "8").header("x-ratelimit-reset-requests", matchesPattern("([1-5]?[0-9]s|1m0s)"));
    }

    /**
     * Every authenticated request counts against the per-minute request limits, not only inference
     * (reference §2.3): catalogue and identity reads share the key's window with chat completions and
     * carry the same rate headers; the 429 is the standard envelope on /v1 and OpenAI's on /oai/v1.
     */
    @Test
    void restRequestsShareTheKeysRequestWindow() {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("key_requests_per_minute", 3)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        String userKey = key(tenantId, "tenant_user", null);
        as(userKey).when().get("/v1/models").then().statusCode(200)
                .header("X-Scaigrid-Ratelimit-Limit", "3").header("X-Scaigrid-Ratelimit-Remaining", "2")
                .header("X-Scaigrid-Ratelimit-Reset", notNullValue());
        as(userKey).body(chat(model, "between")).when().post("/v1/inference/chat").then().statusCode(200)
                .header("X-Scaigrid-Ratelimit-Remaining", "1");
        // /oai/v1 also under OpenAI's names, which OpenAI clients pace themselves by
        as(userKey).when().get("/oai/v1/models").then().statusCode(200).header("X-Scaigrid-Ratelimit-Remaining", "0")
                .header("x-ratelimit-limit-requests", "3").header("x-ratelimit-remaining-requests", "0")
                .header("x-ratelimit-reset-requests", matchesPattern("([1-5]?[0-9]s|1m0s)"));
        as(userKey).when().get("/v1/me").then().statusCode(429)
                .body("status", equalTo("error")).body("error.code", equalTo("RATE_LIMITED"))
                .body("error.details.scope", equalTo("key")).body("error.retry_after", notNullValue())
                .header("Retry-After", notNullValue()).header("X-Request-Id", notNullValue())
                .header("X-Scaigrid-Ratelimit-Limit", "3").header("X-Scaigrid-Ratelimit-Remaining", "0");
        as(userKey).when().get("/oai/v1/models/" + model).then().statusCode(429)
                .body("error.code", equalTo("rate_limit_exceeded")).header("Retry-After", notNullValue())
                .header("x-ratelimit-limit-requests", "3").header("x-ratelimit-remaining-requests", "0")
                .header("x-ratelimit-reset-requests", matchesPattern("([1-5]?[0-9]s|1m0s)"));
        as(userKey).body(chat(model, "refused")).when().post("/v1/inference/chat").then().statusCode(429);
        // refused requests take nothing; another key of the tenant has a window of its own
        as(key(tenantId, "tenant_user", null)).when().get("/v1/models/" + model).then().statusCode(200)
                .header("X-Scaigrid-Ratelimit-Remaining", "2");
    }

    /** Listing models and reading limits spend no tokens: a full token window refuses inference only. */
    @Test
    void aFullTokenWindowStillAllowsRequestsThatSpendNoTokens() {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("tokens_per_minute", 5)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        String userKey = key(tenantId, "tenant_user", null);
        as(userKey).body(chat(model, "spend")).when().post("/v1/inference/chat").then().statusCode(200);
        as(userKey).body(chat(model, "over")).when().post("/v1/inference/chat").then().statusCode(429)
                .body("error.details.unit", equalTo("tokens_per_minute"));
        as(userKey).when().get("/v1/models").then().statusCode(200);
        as(userKey).when().get("/oai/v1/models").then().statusCode(200);
        as(userKey).when().get("/v1/me").then().statusCode(200);
    }

    @Test
    void tenantRequestLimit() throws Exception {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("requests_per_minute", 5)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        List<Result> a = burst(key(tenantId, "tenant_user", null), chat(model, "a"), 4);
        List<Result> b = burst(key(tenantId, "tenant_user", null), chat(model, "b"), 4);
        long ok = a.stream().filter(r -> r.status() == 200).count() + b.stream().filter(r -> r.status() == 200).count();
        assertThat(ok).isEqualTo(5);
    }

    /** Limits come before validation: requests that fail (unknown model, bad body) still count. */
    @Test
    void failingRequestsCountAgainstTheLimit() {
        String tenantId = tenant();
        as(ADMIN).body(Map.of("requests_per_minute", 3)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        String userKey = key(tenantId, "tenant_user", null);
        for (int i = 0; i < 3; i++) {
            as(userKey).body(chat("nobody/such-model-" + i, "x")).when().post("/v1/inference/chat").then().statusCode(404);
        }
        as(userKey).body(chat("nobody/such-model", "x")).when().post("/v1/inference/chat").then().statusCode(429)
                .body("error.code", equalTo("RATE_LIMITED"));
        as(userKey).body("{\"model\": 5}").when().post("/oai/v1/chat/completions").then().statusCode(429);
    }

    @Test
    void tokensPerMinuteCountWhatWasUsed() {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("tokens_per_minute", 25)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        String userKey = key(tenantId, "tenant_user", null);
        // the upstream reports 10 tokens per request: 0, 10, 20 used before the first three; 30 >= 25 before the fourth
        for (int i = 0; i < 3; i++) {
            as(userKey).body(chat(model, "t" + i)).when().post("/v1/inference/chat").then().statusCode(200);
        }
        as(userKey).body(chat(model, "t3")).when().post("/v1/inference/chat").then().statusCode(429)
                .body("error.code", equalTo("RATE_LIMITED")).header("Retry-After", notNullValue())
                .header("X-Scaigrid-Ratelimit-Limit", "25").header("X-Scaigrid-Ratelimit-Remaining", "0")
                .body("error.details.scope", equalTo("tenant")).body("error.details.unit", equalTo("tokens_per_minute"));
        as(userKey).body(chat(model, "t4")).when().post("/oai/v1/chat/completions").then().statusCode(429)
                .body("error.type", equalTo("tokens")).body("error.code", equalTo("rate_limit_exceeded"))
                .header("x-ratelimit-limit-tokens", "25").header("x-ratelimit-remaining-tokens", "0")
                .header("x-ratelimit-reset-tokens", matchesPattern("([1-5]?[0-9]s|1m0s)"));
    }

    /** A request for n choices holds n times the output cap against the budget: each choice may use all of it. */
    @Test
    void budgetHoldCountsEveryChoice() {
        String model = chatModel("echo");
        String tenantId = tenant();
        as(ADMIN).body(Map.of("budget_tokens", 100, "budget_period", "day")).when().put("/v1/tenants/" + tenantId + "/limits")
                .then().statusCode(200);
        String userKey = key(tenantId, "tenant_user", null);
        // about 2 prompt tokens + 4 x 30 > 100: refused before the upstream is called
        as(userKey).body(with(with(chat(model, "four"), "max_tokens", 30), "n", 4)).when().post("/oai/v1/chat/completions")
                .then().statusCode(402).body("error.type", equalTo("insufficient_quota")).header("x-should-retry", "false");
        // the Anthropic door says the same in its words
        RestAssured.given().header("x-api-key", userKey).contentType("application/json")
                .body(Map.of("model", model, "max_tokens", 120, "messages", List.of(Map.of("role", "user", "content", "big"))))
                .when().post("/anthropic/v1/messages").then().statusCode(402).body("error.type", equalTo("billing_error"))
                .header("x-should-retry", "false");
        // 2 x 30 fits; the upstream's usage (7 + 3 per choice) is what is spent
        as(userKey).body(with(with(chat(model, "two"), "max_tokens", 30), "n", 2)).when().post("/oai/v1/chat/completions")
                .then().statusCode(200).body("choices.size()", equalTo(2)).body("usage.total_tokens", equalTo(13));
    }

    @Test
    void budgetIsNeverOvershotByMoreThanOneRequestUnderConcurrency() throws Exception {
        String model = chatModel("echo");
        String tenantId = tenant();
        long budget = 1000;
        as(ADMIN).body(Map.of("budget_tokens", budget, "budget_period", "day")).when().put("/v1/tenants/" + tenantId + "/limits")
                .then().statusCode(200).body("data.budget_tokens", equalTo(1000));
        String userKey = key(tenantId, "tenant_user", null);
        List<Result> results = burst(userKey, with(chat(model, "spend"), "max_tokens", 10), 200);
        long ok = results.stream().filter(r -> r.status() == 200).count();
        List<Result> refused = results.stream().filter(r -> r.status() == 402).toList();
        assertThat(ok + refused.size()).isEqualTo(200);
        assertThat(ok).isPositive();
        assertThat(refused).isNotEmpty();
        assertThat(refused.get(0).body()).contains("\"code\":\"BUDGET_EXCEEDED\"");
        usage.flush().await().atMost(Duration.ofSeconds(10));
        Row spent = pool.preparedQuery("SELECT coalesce(sum(total_tokens), 0) AS t, count(*) AS n FROM usage_records "
                + "WHERE tenant_id = $1 AND status = 'ok'").execute(Tuple.of(tenantId)).await().atMost(Duration.ofSeconds(5))
                .iterator().next();
        long oneRequest = 10 + 10; // the upstream reports 10 tokens per request; max_tokens 10 + prompt
        assertThat(spent.getLong("t")).isLessThanOrEqualTo(budget + oneRequest);
        assertThat(spent.getLong("n")).isEqualTo(ok);
        as(ADMIN).when().get("/v1/tenants/" + tenantId + "/limits").then().statusCode(200)
                .body("data.spent.tokens", equalTo((int) spent.getLong("t").longValue()));
    }

    /**
     * A flush that finds a batch already being written waits for it: those rows are out of the queue
     * but not yet committed, and whoever flushes to read usage back (tests, shutdown) must see them.
     */
    @Test
    void flushWaitsForTheBatchAlreadyBeingWritten() {
        String tenantId = tenant();
        for (int round = 0; round < 20; round++) {
            for (int i = 0; i < 10; i++) {
                usage.record(new UsageRecorder.UsageRecord("ur_flush_" + round + "_" + i, "req_flush_" + round + "_" + i, null,
                        tenantId, null, null, "test/model", null, "openai", "chat", "native", false, 1, 2, 0, 0, 0, 0, BigDecimal.ZERO,
                        BigDecimal.ZERO, 5, 1, "ok", null, OffsetDateTime.now()));
            }
            usage.flush().subscribe().with(n -> { }, t -> { });
            usage.flush().await().atMost(Duration.ofSeconds(10));
            long rows = pool.preparedQuery("SELECT count(*) AS n FROM usage_records WHERE tenant_id = $1").execute(Tuple.of(tenantId))
                    .await().atMost(Duration.ofSeconds(5)).iterator().next().getLong("n");
            assertThat(rows).as("rows committed after round %d", round).isEqualTo(10L * (round + 1));
        }
    }

    @Test
    void everyRequestOfABurstLeavesOneUsageRecord() throws Exception {
        String model = chatModel("echo");
        String tenantId = tenant();
        String userKey = key(tenantId, "tenant_user", null);
        List<Result> results = burst(userKey, chat(model, "count me"), 50);
        assertThat(results).allMatch(r -> r.status() == 200);
        usage.flush().await().atMost(Duration.ofSeconds(10));
        var rows = pool.preparedQuery("SELECT request_id, prompt_tokens, completion_tokens, latency_ms, ttft_ms, backend_id, "
                        + "api_key_id, user_id, status FROM usage_records WHERE tenant_id = $1").execute(Tuple.of(tenantId))
                .await().atMost(Duration.ofSeconds(5));
        assertThat(rows.size()).isEqualTo(50);
        List<String> ids = new ArrayList<>();
        for (Row r : rows) {
            ids.add(r.getString("request_id"));
            assertThat(r.getInteger("prompt_tokens")).isEqualTo(7);
            assertThat(r.getInteger("completion_tokens")).isEqualTo(3);
            assertThat(r.getString("backend_id")).isNotNull();
            assertThat(r.getString("api_key_id")).isNotNull();
            assertThat(r.getString("user_id")).isNotNull();
            assertThat(r.getString("status")).isEqualTo("ok");
            assertThat(r.getInteger("ttft_ms")).isNotNull();
        }
        assertThat(ids).containsExactlyInAnyOrderElementsOf(results.stream().map(Result::requestId).toList());

        String adminOfTenant = key(tenantId, "tenant_admin", null);
        as(adminOfTenant).when().get("/v1/usage?model=" + model).then().statusCode(200)
                .body("data.items", hasSize(1))
                .body("data.items[0].tenant_id", equalTo(tenantId))
                .body("data.items[0].request_count", equalTo(50))
                .body("data.items[0].total_tokens", equalTo(500))
                .body("data.items[0].day", notNullValue());
        // another tenant's admin sees none of it
        as(key(tenant(), "tenant_admin", null)).when().get("/v1/usage?model=" + model).then().statusCode(200)
                .body("data.items", hasSize(0));
        as(key(tenantId, "tenant_user", null)).when().get("/v1/usage").then().statusCode(403);
        as(adminOfTenant).when().get("/v1/usage?start=yesterday").then().statusCode(400).body("error.details[0].field", equalTo("start"));
    }

    /** Reference §3.4: per-request items paged by cursor, summaries grouped four ways, and who may see whose. */
    @Test
    void accountingApiListsPagesAndSummarises() {
        String model = chatModel("echo");
        String tenantId = tenant();
        String user = key(tenantId, "tenant_user", null);
        String colleague = key(tenantId, "tenant_user", null);
        for (int i = 0; i < 3; i++) {
            as(user).body(chat(model, "mine " + i)).when().post("/v1/inference/chat").then().statusCode(200);
        }
        as(colleague).body(chat(model, "theirs")).when().post("/v1/inference/chat").then().statusCode(200);
        usage.flush().await().atMost(Duration.ofSeconds(10));

        // the caller's own requests, newest first, two per page
        var first = as(user).when().get("/v1/accounting/usage?limit=2").then().statusCode(200)
                .body("status", equalTo("ok")).body("data.items", hasSize(2))
                .body("data.items[0].tokens_in", equalTo(7)).body("data.items[0].tokens_out", equalTo(3))
                .body("data.items[0].model", equalTo(model)).body("data.items[0].id", org.hamcrest.Matchers.startsWith("usage_"))
                .body("data.items[0].cost", notNullValue()).body("data.items[0].latency_ms", notNullValue())
                .body("pagination.has_more", equalTo(true)).extract();
        String cursor = first.path("pagination.next_cursor");
        as(user).when().get("/v1/accounting/usage?limit=2&cursor=" + cursor).then().statusCode(200)
                .body("data.items", hasSize(1)).body("pagination.has_more", equalTo(false))
                .body("data.items[0].id", org.hamcrest.Matchers.not(org.hamcrest.Matchers.isIn(List.<String>of(
                        first.path("data.items[0].id"), first.path("data.items[1].id")))));
        // the whole tenant needs view_tenant: a user may not, its admin may
        as(user).when().get("/v1/accounting/usage?tenant_id=" + tenantId).then().statusCode(403);
        String admin = key(tenantId, "tenant_admin", null);
        as(admin).when().get("/v1/accounting/usage?tenant_id=" + tenantId + "&model=" + model).then().statusCode(200)
                .body("data.items", hasSize(4));
        as(admin).when().get("/v1/accounting/usage/summary?group_by=user&tenant_id=" + tenantId).then().statusCode(200)
                .body("data.group_by", equalTo("user")).body("data.items", hasSize(2))
                .body("data.items.request_count", org.hamcrest.Matchers.containsInAnyOrder(3, 1))
                .body("data.items[0].total_tokens", equalTo(30)).body("data.items[0].input_tokens", equalTo(21));
        as(admin).when().get("/v1/accounting/usage/summary?group_by=model&tenant_id=" + tenantId).then().statusCode(200)
                .body("data.items[0].group_key", equalTo(model)).body("data.items[0].request_count", equalTo(4));
        // another tenant's admin: view_partner is needed, and never a glimpse
        as(key(tenant(), "tenant_admin", null)).when().get("/v1/accounting/usage?tenant_id=" + tenantId).then().statusCode(403);
        as(key(tenant(), "tenant_admin", null)).when().get("/v1/accounting/usage/summary?group_by=tenant").then().statusCode(200)
                .body("data.items", hasSize(0));
        as(admin).when().get("/v1/accounting/usage/summary?group_by=color").then().statusCode(400)
                .body("error.details[0].field", equalTo("group_by"));
        as(admin).when().get("/v1/accounting/usage?limit=5000").then().statusCode(400).body("error.details[0].field", equalTo("limit"));
        as(admin).when().get("/v1/accounting/usage?cursor=garbage").then().statusCode(400).body("error.details[0].field", equalTo("cursor"));
        as(admin).when().get("/v1/accounting/usage?period=decade").then().statusCode(400).body("error.details[0].field", equalTo("period"));
    }

    @Test
    void limitPermissions() {
        String tenantId = tenant();
        String tenantAdmin = key(tenantId, "tenant_admin", null);
        // tenant admins manage budgets but not their own rate limits
        as(tenantAdmin).body(Map.of("budget_tokens", 5000)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(200);
        as(tenantAdmin).body(Map.of("requests_per_minute", 100000)).when().put("/v1/tenants/" + tenantId + "/limits")
                .then().statusCode(403).body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
        as(key(tenantId, "tenant_user", null)).when().get("/v1/tenants/" + tenantId + "/limits").then().statusCode(403);
        as(key(tenant(), "tenant_admin", null)).when().get("/v1/tenants/" + tenantId + "/limits").then().statusCode(404);
        as(ADMIN).body(Map.of("budget_period", "year")).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(400)
                .body("error.details[0].field", equalTo("budget_period"));
        as(ADMIN).body(Map.of("requests_per_minute", 0)).when().put("/v1/tenants/" + tenantId + "/limits").then().statusCode(400);
    }
}
