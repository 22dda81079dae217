package ai.scaigrid.gateway.inference;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The latency the gateway itself adds to an inference request, measured inside the process so that
 * it can be told apart from the network and the host: {@code scaigrid_gateway_overhead_seconds}
 * with {@code phase="dispatch"} (request arrived → handed to the provider: authentication,
 * validation, model resolution, limits, backend choice) and {@code phase="relay"} (the upstream's
 * first token or complete answer → handed to the client's connection), per {@code api}
 * (native, oai, grpc). Fixed buckets from 50 µs to 10 ms, so percentiles can be read from any scrape.
 * A singleton, not application-scoped: streaming relays call {@link #relayed} for every chunk they write, and a
 * client proxy's lookup on each of those calls is measurable.
 */
@Singleton
public class GatewayOverhead {
    private static final Duration[] BUCKETS = {Duration.ofNanos(50_000), Duration.ofNanos(100_000), Duration.ofNanos(250_000),
            Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofNanos(2_500_000), Duration.ofMillis(5), Duration.ofMillis(10)};

    @Inject
    MeterRegistry registry;

    private static final String[] PHASES = {"dispatch", "relay"};
    private static final int DISPATCH = 0;
    private static final int RELAY = 1;

    /** Per api, the timers of both phases (index into PHASES): no key is built on the request path. */
    private final Map<String, Timer[]> timers = new ConcurrentHashMap<>();

    /** The request went to its first provider now (recorded once per request). */
    void dispatched(InferenceExchange ex) {
        if (!ex.dispatchRecorded) {
            ex.dispatchRecorded = true;
            record(ex.api, DISPATCH, System.nanoTime() - ex.arrivedNanos);
        }
    }

    /** The upstream's first token (or whole answer) was handed to the client now (recorded once per request). */
    public void relayed(InferenceExchange ex) {
        long first = ex.firstTokenNanos;
        if (!ex.relayRecorded && first != 0) {
            ex.relayRecorded = true;
            record(ex.api, RELAY, System.nanoTime() - first);
        }
    }

    private void record(String api, int phase, long nanos) {
        timers.computeIfAbsent(api, a -> {
            Timer[] byPhase = new Timer[PHASES.length];
            for (int i = 0; i < PHASES.length; i++) {
                byPhase[i] = Timer.builder("scaigrid.gateway.overhead")
                        .description("Latency the gateway adds: dispatch = arrival to provider call, relay = upstream's first token to the client")
                        .tag("api", a).tag("phase", PHASES[i])
                        .serviceLevelObjectives(BUCKETS)
                        .register(registry);
            }
            return byPhase;
        })[phase].record(Math.max(0, nanos), TimeUnit.NANOSECONDS);
    }
}
