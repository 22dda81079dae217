package ai.scaigrid.lookup;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.getRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.stubbing.Scenario.STARTED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

/**
 * Upstream trouble stays the upstream's: a slow upstream costs its callers a bounded wait while the
 * proxy keeps serving everyone else, a failing one opens its circuit (fast 502s) and closes it again
 * once it recovers, and a transient 503 is retried once.
 */
@QuarkusTest
class UpstreamFaultToleranceTest extends LookupTestBase {
    private static final String BUNKERS = "/api/v1/scaibunker/bunkers";
    private static final String SCOPES = "/api/v1/scaiqueue/scopes";

    @TestHTTPResource("/")
    URL base;

    private static String viewer;

    private static synchronized String viewer() {
        if (viewer == null) {
            TestTenant tenant = newTenant();
            storeTenantKey(userKey(tenant, "tenant_admin"), randomSgk());
            viewer = userKey(tenant, "tenant_viewer");
        }
        return viewer;
    }

    @Test
    void aSlowUpstreamDoesNotTieUpTheProxy() throws Exception {
        String caller = viewer();
        scaibunker().register(get(urlPathEqualTo("/v1/bunkers")).willReturn(okJson("{\"data\":[]}").withFixedDelay(10_000)));
        scaiqueue().register(get(urlPathEqualTo("/v1/scopes")).willReturn(okJson("{\"data\":[{\"id\":\"sc_1\"}]}")));
        as(caller).when().get(SCOPES).then().statusCode(200); // warm: introspection cached

        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long started = System.nanoTime();
        List<CompletableFuture<HttpResponse<String>>> slow = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            slow.add(http.sendAsync(HttpRequest.newBuilder(URI.create(base + BUNKERS.substring(1)))
                    .header("Authorization", "Bearer " + caller).timeout(Duration.ofSeconds(8)).GET().build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        // while six callers wait on ScaiBunker, ScaiQueue lookups are answered at once
        for (int i = 0; i < 5; i++) {
            long t0 = System.nanoTime();
            as(caller).when().get(SCOPES).then().statusCode(200);
            assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(800);
        }
        for (CompletableFuture<HttpResponse<String>> future : slow) {
            HttpResponse<String> response = future.get(8, TimeUnit.SECONDS);
            assertThat(response.statusCode()).isEqualTo(502);
            assertThat(response.body()).contains("\"error\":\"scaibunker_api\"").contains("\"code\":\"upstream_timeout\"");
        }
        // bounded by the 1 s attempt timeout, not by the upstream's 10 s
        assertThat((System.nanoTime() - started) / 1_000_000).isLessThan(4_000);
    }

    /**
     * An upstream that keeps sending a byte now and then never trips the client's between-bytes
     * timeout; the attempt deadline (1 s in the test profile) still ends the wait.
     */
    @Test
    void aTricklingUpstreamIsCutOffAtTheAttemptDeadline() {
        String caller = viewer();
        scaiqueue().register(get(urlPathEqualTo("/v1/scopes/sc_trickle/queues"))
                .willReturn(okJson("{\"data\":[{\"queue_id\":\"q_1\",\"name\":\"slowly\"}]}").withChunkedDribbleDelay(12, 6_000)));
        long t0 = System.nanoTime();
        as(caller).when().get("/api/v1/scaiqueue/scopes/sc_trickle/queues").then().statusCode(502)
                .body("detail.error", equalTo("scaiqueue_api"))
                .body("detail.code", equalTo("upstream_timeout"));
        long millis = (System.nanoTime() - t0) / 1_000_000;
        assertThat(millis).isGreaterThanOrEqualTo(900).isLessThan(3_000);
        // a timeout is not retried
        scaiqueue().verifyThat(1, getRequestedFor(urlPathEqualTo("/v1/scopes/sc_trickle/queues")));
    }

    @Test
    void aFailingUpstreamOpensItsCircuitFailsFastAndRecovers() {
        String caller = viewer();
        scaibunker().register(get(urlPathEqualTo("/v1/bunkers")).willReturn(aResponse().withStatus(503)));
        // each lookup is two attempts (one retry); the test profile opens at 50% of 10
        for (int i = 0; i < 5; i++) {
            as(caller).when().get(BUNKERS).then().statusCode(502)
                    .body("detail.error", equalTo("scaibunker_api")).body("detail.status", equalTo(503));
        }
        int calls = scaibunker().find(getRequestedFor(urlPathEqualTo("/v1/bunkers"))).size();
        assertThat(calls).isEqualTo(10);

        long t0 = System.nanoTime();
        as(caller).when().get(BUNKERS).then().statusCode(502)
                .body("detail.error", equalTo("scaibunker_api"))
                .body("detail.code", equalTo("upstream_circuit_open"));
        assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(500);
        // open: ScaiBunker was not called at all
        scaibunker().verifyThat(calls, getRequestedFor(urlPathEqualTo("/v1/bunkers")));
        // other upstreams are unaffected
        scaiqueue().register(get(urlPathEqualTo("/v1/scopes")).willReturn(okJson("{\"data\":[]}")));
        as(caller).when().get(SCOPES).then().statusCode(200);

        scaibunker().resetMappings();
        scaibunker().register(get(urlPathEqualTo("/v1/bunkers")).willReturn(okJson("{\"data\":[{\"bunker_id\":\"bnk_1\"}]}")));
        // after the breaker's delay (2 s in the test profile) a trial call goes through and closes it
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(250)).untilAsserted(() ->
                as(caller).when().get(BUNKERS).then().statusCode(200).body("data[0].bunker_id", equalTo("bnk_1")));
    }

    @Test
    void aTransient503IsRetriedOnce() {
        String caller = viewer();
        scaibunker().register(get(urlPathEqualTo("/v1/bunkers")).inScenario("blip").whenScenarioStateIs(STARTED)
                .willReturn(aResponse().withStatus(503)).willSetStateTo("up"));
        scaibunker().register(get(urlPathEqualTo("/v1/bunkers")).inScenario("blip").whenScenarioStateIs("up")
                .willReturn(okJson("{\"data\":[{\"bunker_id\":\"bnk_ok\"}]}")));
        as(caller).when().get(BUNKERS).then().statusCode(200).body("data[0].bunker_id", equalTo("bnk_ok"));
        scaibunker().verifyThat(2, getRequestedFor(urlPathEqualTo("/v1/bunkers")));
    }
}
