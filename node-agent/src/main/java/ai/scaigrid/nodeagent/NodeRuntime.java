package ai.scaigrid.nodeagent;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The node's live state: who it is, how many generations run (in total and per model), and whether it
 * drains. Every generation holds a slot from {@link #acquire} until its stream ends, is cancelled or
 * fails, so the in-flight figures reported in heartbeats and metrics are exact.
 */
@ApplicationScoped
public class NodeRuntime {
    private static final Logger LOG = Logger.getLogger(NodeRuntime.class);

    @Inject
    NodeAgentConfig config;

    @Inject
    MeterRegistry metrics;

    @ConfigProperty(name = "quarkus.application.version", defaultValue = "0.1.0")
    String version;

    private final Instant startedAt = Instant.now();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Map<String, AtomicInteger> perModel = new ConcurrentHashMap<>();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final AtomicLong sequence = new AtomicLong();
    private final Object idle = new Object();
    private volatile String drainReason = "";
    private String nodeId;

    @PostConstruct
    void init() {
        nodeId = config.id().filter(s -> !s.isBlank()).orElseGet(NodeRuntime::hostName);
        Gauge.builder("scaiinfer_node_in_flight", inFlight, AtomicInteger::get)
                .description("Generations running on this node").register(metrics);
        Gauge.builder("scaiinfer_node_draining", draining, d -> d.get() ? 1 : 0)
                .description("1 while the node drains (accepts no new work)").register(metrics);
        Gauge.builder("scaiinfer_node_max_concurrency", config, NodeAgentConfig::maxConcurrency).register(metrics);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return "node-" + ProcessHandle.current().pid();
        }
    }

    public String nodeId() {
        return nodeId;
    }

    public String version() {
        return version;
    }

    public Instant startedAt() {
        return startedAt;
    }

    public long nextSequence() {
        return sequence.incrementAndGet();
    }

    public int inFlight() {
        return inFlight.get();
    }

    public int inFlight(String model) {
        AtomicInteger n = perModel.get(model);
        return n == null ? 0 : n.get();
    }

    public int maxConcurrency() {
        return config.maxConcurrency();
    }

    public boolean isDraining() {
        return draining.get();
    }

    public String drainReason() {
        return drainReason;
    }

    /**
     * Takes a generation slot, or refuses: SERVICE_DRAINING while draining (the gateway then picks another
     * node), RESOURCE_EXHAUSTED when every slot is busy.
     */
    public Slot acquire(String model) {
        if (draining.get()) {
            count(model, "refused_draining");
            throw new ApiException(ErrorCode.SERVICE_DRAINING, "This node is draining and accepts no new requests");
        }
        while (true) {
            int now = inFlight.get();
            if (now >= config.maxConcurrency()) {
                count(model, "refused_busy");
                throw new ApiException(ErrorCode.RESOURCE_EXHAUSTED, "All generation slots of this node are busy");
            }
            if (inFlight.compareAndSet(now, now + 1)) {
                break;
            }
        }
        perModel.computeIfAbsent(model, m -> new AtomicInteger()).incrementAndGet();
        return new Slot(model);
    }

    /** A held generation slot; {@link #release} is idempotent. */
    public final class Slot {
        private final String model;
        private final AtomicBoolean released = new AtomicBoolean();

        private Slot(String model) {
            this.model = model;
        }

        public void release(String outcome) {
            if (!released.compareAndSet(false, true)) {
                return;
            }
            perModel.get(model).decrementAndGet();
            count(model, outcome);
            if (inFlight.decrementAndGet() == 0) {
                synchronized (idle) {
                    idle.notifyAll();
                }
            }
        }
    }

    private void count(String model, String outcome) {
        Counter.builder("scaiinfer_node_requests_total").tag("model", model).tag("outcome", outcome)
                .register(metrics).increment();
    }

    /** Stop taking new work; in-flight generations go on. */
    public void beginDrain(String reason) {
        drainReason = reason;
        if (draining.compareAndSet(false, true)) {
            LOG.infof("node %s drains (%s); %d generation(s) in flight", nodeId, reason, inFlight.get());
        }
    }

    /** Take new work again (the gateway said RESUME). */
    public void resume() {
        if (draining.compareAndSet(true, false)) {
            drainReason = "";
            LOG.infof("node %s resumes taking work", nodeId);
        }
    }

    /**
     * Blocks the calling thread (never an event loop: this is for shutdown) until nothing is in flight
     * or the timeout passes. True when idle.
     */
    public boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (idle) {
            while (inFlight.get() > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                idle.wait(Math.max(1, left / 1_000_000L));
            }
        }
        return true;
    }
}
