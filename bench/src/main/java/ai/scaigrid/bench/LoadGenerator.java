package ai.scaigrid.bench;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;

import java.net.URI;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Open-loop load at a fixed request rate (no coordinated omission: latency is measured from when a
 * request was due, not from when a connection happened to be free). A request that takes longer
 * than the timeout, fails, or gets a non-2xx status counts as an error.
 */
public final class LoadGenerator {

    public record Result(String name, int rate, int sent, int ok, int errors, double p50, double p90, double p99,
                         double mean, double achievedRate, Interference.Reading host) {
        double errorRatio() {
            return sent == 0 ? 1 : (double) errors / sent;
        }
    }

    private final Vertx vertx;
    private final Map<String, HttpClient> clients = new ConcurrentHashMap<>();

    public LoadGenerator(Vertx vertx) {
        this.vertx = vertx;
    }

    public Result run(String name, String url, Map<String, String> headers, Buffer body, int rate, int seconds,
                      long timeoutMillis) throws InterruptedException {
        return run(name, url, headers, body, rate, seconds, timeoutMillis, true);
    }

    /**
     * @param reuse keep the target's client (and its open connections) for the next run, as a
     *              long-lived client would; false: a fresh client, closed after this run (rate steps
     *              that may overload the target and leave timed-out connections behind)
     */
    public Result run(String name, String url, Map<String, String> headers, Buffer body, int rate, int seconds,
                      long timeoutMillis, boolean reuse) throws InterruptedException {
        // reused: one client per target, so the warm-up leaves its connections open for the measured
        // phase, as a long-lived client's would be (opening fresh ones is not what is measured)
        HttpClient client = reuse ? clients.computeIfAbsent(URI.create(url).getAuthority(), k -> newClient()) : newClient();
        int total = rate * seconds;
        long[] latencies = new long[total];
        long[] dueOffsets = new long[total];
        AtomicInteger done = new AtomicInteger();
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger recorded = new AtomicInteger();
        CountDownLatch finished = new CountDownLatch(1);
        RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(url)
                .setTimeout(timeoutMillis);
        headers.forEach(options::putHeader);
        Interference interference = Interference.start();
        long start = System.nanoTime();
        long startEpochMillis = System.currentTimeMillis();
        long intervalNanos = 1_000_000_000L / rate;
        int[] issued = {0};
        // a 1 ms tick issues every request that has come due, each stamped with its due time
        vertx.setPeriodic(1, timer -> {
            long now = System.nanoTime();
            while (issued[0] < total && start + issued[0] * intervalNanos <= now) {
                long due = start + issued[0] * intervalNanos;
                issued[0]++;
                client.request(options)
                        .compose(req -> req.send(body))
                        .compose(res -> res.body().map(b -> res.statusCode()))
                        .onComplete(ar -> {
                            long latency = System.nanoTime() - due;
                            if (ar.succeeded() && ar.result() / 100 == 2) {
                                int slot = recorded.getAndIncrement();
                                latencies[slot] = latency;
                                dueOffsets[slot] = due - start;
                            } else {
                                errors.incrementAndGet();
                            }
                            if (done.incrementAndGet() == total) {
                                finished.countDown();
                            }
                        });
            }
            if (issued[0] >= total) {
                vertx.cancelTimer(timer);
            }
        });
        finished.await(seconds + timeoutMillis / 1000 + 30, TimeUnit.SECONDS);
        double elapsed = (System.nanoTime() - start) / 1e9;
        Interference.Reading host = interference.stop();
        if (!reuse) {
            client.close();
        }
        int ok = recorded.get();
        printSlow(name, latencies, dueOffsets, ok, startEpochMillis);
        long[] sorted = Arrays.copyOf(latencies, ok);
        Arrays.sort(sorted);
        double mean = ok == 0 ? Double.NaN : Arrays.stream(sorted).average().orElse(0) / 1e6;
        return new Result(name, rate, total, ok, total - ok, pct(sorted, 50), pct(sorted, 90), pct(sorted, 99), mean,
                done.get() / elapsed, host);
    }

    private HttpClient newClient() {
        return vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setKeepAliveTimeout(600).setTcpNoDelay(true)
                .setMaxWaitQueueSize(-1), new PoolOptions().setHttp1MaxSize(512));
    }

    /**
     * With SLOW_MS set, lists when (ms after the start) the requests slower than that were due, so a
     * periodic stall (a timer, a flush, a GC) shows as a regular spacing.
     */
    private static void printSlow(String name, long[] latencies, long[] dueOffsets, int ok, long startEpochMillis) {
        String threshold = System.getenv("SLOW_MS");
        if (threshold == null || threshold.isBlank()) {
            return;
        }
        long limit = (long) (Double.parseDouble(threshold) * 1e6);
        StringBuilder line = new StringBuilder();
        int count = 0;
        for (int i = 0; i < ok; i++) {
            if (latencies[i] > limit) {
                count++;
                line.append(String.format(" %d:%.1f", dueOffsets[i] / 1_000_000, latencies[i] / 1e6));
            }
        }
        System.out.printf("[slow > %s ms] %s: started %s, %d requests (due ms:latency ms)%s%n", threshold, name,
                java.time.Instant.ofEpochMilli(startEpochMillis), count, line);
    }

    private static double pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
    }
}
