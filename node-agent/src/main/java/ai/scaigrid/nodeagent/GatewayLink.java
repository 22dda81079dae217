package ai.scaigrid.nodeagent;

import ai.scaigrid.nodeagent.backend.Backends;
import ai.scaigrid.proto.scaiinfer.v1.Capacity;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatAck;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatRequest;
import ai.scaigrid.proto.scaiinfer.v1.MutinyHeartbeatServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.NodeHealth;
import ai.scaigrid.proto.scaiinfer.v1.NodeState;
import com.google.protobuf.Timestamp;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import io.quarkus.runtime.LaunchMode;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import io.smallrye.mutiny.subscription.Cancellable;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/**
 * The node's side of {@code scaiinfer.v1.HeartbeatService}: registers with the first heartbeat,
 * then reports live load every interval (the gateway may change it in its ack), and follows the
 * gateway's instructions (DRAIN, RESUME, SHUTDOWN). On SIGTERM it drains: no new work, in-flight
 * generations finish (up to {@code scaigrid.node.drain-timeout}), and a final heartbeat says
 * DRAINING so the gateway routes nothing more here. Reports carry the GPUs {@link GpuProbe} last saw.
 * A service token rotated in its file is sent from the next heartbeat on; the stream, whose token is
 * fixed when it opens, is then replaced by one opened with the new token.
 */
@ApplicationScoped
public class GatewayLink {
    private static final Logger LOG = Logger.getLogger(GatewayLink.class);
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Inject
    NodeAgentConfig config;

    @Inject
    NodeRuntime runtime;

    @Inject
    Backends backends;

    @Inject
    ServiceTokenSource token;

    @Inject
    GpuProbe gpus;

    @Inject
    Vertx vertx;

    @ConfigProperty(name = "quarkus.grpc.server.host", defaultValue = "0.0.0.0")
    String grpcHost;

    @ConfigProperty(name = "quarkus.grpc.server.port", defaultValue = "50060")
    int grpcPort;

    @ConfigProperty(name = "quarkus.grpc.server.test-port", defaultValue = "59060")
    int grpcTestPort;

    private ManagedChannel channel;
    private volatile UnicastProcessor<HeartbeatRequest> stream;
    private volatile Cancellable streamSubscription;
    /** The bearer token the open stream presented: its metadata is fixed for the life of the call. */
    private volatile String streamToken;
    private volatile boolean streamUnsupported;
    private volatile long lastAckNanos;
    private volatile boolean stopping;
    private volatile long timerId = -1;
    private volatile long intervalMillis;
    private volatile NodeState gatewayState = NodeState.NODE_STATE_UNSPECIFIED;
    private volatile Instant lastAckAt;
    private volatile String lastProblem = "no heartbeat sent yet";
    private volatile boolean warnedOnce;

    void onStart(@Observes StartupEvent event) {
        intervalMillis = config.heartbeatInterval().toMillis();
        channel = GrpcChannels.toGateway(config.gatewayGrpcAddress(), config.gatewayTls());
        LOG.infof("node %s reports to the gateway at %s as %s", runtime.nodeId(), config.gatewayGrpcAddress(), advertisedAddress());
        schedule(1);
    }

    /** Drain on SIGTERM (Quarkus shutdown): runs on the shutdown thread, which may block. */
    void onStop(@Observes ShutdownEvent event) {
        stopping = true;
        cancelTimer();
        runtime.beginDrain("shutdown");
        closeStream();
        Duration ack = Duration.ofSeconds(3);
        try {
            send().await().atMost(ack); // the gateway stops routing here at once
        } catch (RuntimeException e) {
            LOG.debugf("drain heartbeat failed: %s", e.getMessage());
        }
        try {
            if (!runtime.awaitIdle(config.drainTimeout())) {
                LOG.warnf("drain timeout: %d generation(s) still in flight are cut off", runtime.inFlight());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            send().await().atMost(ack); // final report: draining, nothing in flight
        } catch (RuntimeException e) {
            LOG.debugf("final heartbeat failed: %s", e.getMessage());
        }
        if (channel != null) {
            channel.shutdownNow();
        }
    }

    public NodeState gatewayState() {
        return gatewayState;
    }

    public Instant lastAckAt() {
        return lastAckAt;
    }

    public String lastProblem() {
        return lastProblem;
    }

    private void schedule(long delayMillis) {
        if (!stopping) {
            timerId = vertx.setTimer(Math.max(1, delayMillis), t -> beat());
        }
    }

    private void cancelTimer() {
        long t = timerId;
        if (t >= 0) {
            vertx.cancelTimer(t);
        }
    }

    private void beat() {
        if (stopping) {
            return;
        }
        Uni<Void> refresh = config.serviceTokenFile().isPresent()
                ? Uni.createFrom().<Void>item(() -> {
                    token.reload();
                    return null;
                }).runSubscriptionOn(Infrastructure.getDefaultWorkerPool())
                : Uni.createFrom().voidItem();
        if (config.heartbeatMode().equals("stream") && !streamUnsupported) {
            refresh.subscribe().with(x -> {
                if (streamBeat()) {
                    schedule(intervalMillis);
                } else {
                    unaryBeat();
                }
            }, e -> unaryBeat());
            return;
        }
        refresh.subscribe().with(x -> unaryBeat(), e -> unaryBeat());
    }

    /** One report on the long-lived HeartbeatStream (opened, or re-opened when it died or went silent). */
    private boolean streamBeat() {
        if (stopping || token.current().isEmpty()) {
            return false;
        }
        UnicastProcessor<HeartbeatRequest> s = stream;
        long silentFor = System.nanoTime() - lastAckNanos;
        if (s != null && silentFor > (3 * intervalMillis + 5000) * 1_000_000L) {
            LOG.warn("the heartbeat stream went silent; reopening it");
            closeStream();
            s = null;
        }
        if (s != null && !token.current().get().equals(streamToken)) {
            // the gateway keeps the token a stream was opened with (it also calls this node with it), so a
            // rotated token only reaches it on a new stream: switch now rather than at the next failure
            LOG.info("the service token changed; reopening the heartbeat stream with the new one");
            retireStream();
            s = null;
        }
        if (s == null) {
            s = openStream();
        }
        s.onNext(report());
        return true;
    }

    private UnicastProcessor<HeartbeatRequest> openStream() {
        String bearer = token.current().orElseThrow();
        Metadata headers = new Metadata();
        headers.put(AUTHORIZATION, "Bearer " + bearer);
        UnicastProcessor<HeartbeatRequest> requests = UnicastProcessor.create();
        lastAckNanos = System.nanoTime();
        streamToken = bearer;
        stream = requests;
        streamSubscription = MutinyHeartbeatServiceGrpc.newMutinyStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .heartbeatStream(requests)
                .subscribe().with(
                        ack -> {
                            lastAckNanos = System.nanoTime();
                            apply(ack);
                        },
                        failure -> {
                            if (stream != requests) { // a stream already closed or retired: its end says nothing about the link
                                LOG.debugf("a replaced heartbeat stream ended: %s", failure.getMessage());
                                return;
                            }
                            stream = null;
                            if (io.grpc.Status.fromThrowable(failure).getCode() == io.grpc.Status.Code.UNIMPLEMENTED) {
                                streamUnsupported = true; // an older gateway: unary calls from now on
                            }
                            lastProblem = failure.getMessage();
                            if (!warnedOnce && !stopping) {
                                warnedOnce = true;
                                LOG.warnf("heartbeat stream to %s failed (retrying every %d ms): %s", config.gatewayGrpcAddress(),
                                        intervalMillis, failure.getMessage());
                            } else {
                                LOG.debugf("heartbeat stream ended: %s", failure.getMessage());
                            }
                        },
                        () -> {
                            if (stream == requests) {
                                stream = null;
                            }
                        });
        return requests;
    }

    /**
     * Ends the open stream the graceful way, by half-closing it: the gateway completes its side and the call
     * ends without an error on either end. Acks still on their way are applied as usual.
     */
    private void retireStream() {
        UnicastProcessor<HeartbeatRequest> s = stream;
        Cancellable c = streamSubscription;
        stream = null;
        if (s != null) {
            s.onComplete();
        }
        if (c != null) { // a gateway that never completes its side must not keep the old call open
            vertx.setTimer(10_000, t -> c.cancel());
        }
    }

    private void closeStream() {
        UnicastProcessor<HeartbeatRequest> s = stream;
        stream = null;
        Cancellable c = streamSubscription;
        if (c != null) {
            c.cancel();
        }
        if (s != null) {
            s.onComplete();
        }
    }

    private void unaryBeat() {
        send().subscribe().with(
                ackd -> schedule(intervalMillis),
                failure -> {
                    lastProblem = failure.getMessage();
                    if (!warnedOnce) {
                        warnedOnce = true;
                        LOG.warnf("heartbeat to %s failed (retrying every %d ms): %s", config.gatewayGrpcAddress(),
                                intervalMillis, failure.getMessage());
                    } else {
                        LOG.debugf("heartbeat failed: %s", failure.getMessage());
                    }
                    schedule(Math.min(intervalMillis, 2000));
                });
    }

    /** One heartbeat with the figures of this instant; the ack is applied. */
    Uni<HeartbeatAck> send() {
        var current = token.current();
        if (current.isEmpty()) {
            return Uni.createFrom().failure(new IllegalStateException(
                    "no service token (set scaigrid.node.service-token or scaigrid.node.service-token-file)"));
        }
        Metadata headers = new Metadata();
        headers.put(AUTHORIZATION, "Bearer " + current.get());
        var stub = MutinyHeartbeatServiceGrpc.newMutinyStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .withDeadlineAfter(5, TimeUnit.SECONDS);
        return stub.heartbeat(report()).invoke(this::apply);
    }

    HeartbeatRequest report() {
        HeartbeatRequest.Builder r = HeartbeatRequest.newBuilder()
                .setNodeId(runtime.nodeId())
                .setAddress(advertisedAddress())
                .setVersion(runtime.version())
                .setEngine(backends.engine())
                .setCapacity(Capacity.newBuilder().setMaxConcurrency(runtime.maxConcurrency())
                        .setInFlight(runtime.inFlight()).setQueueDepth(0))
                .putAllLabels(config.labels())
                .setSentAt(timestamp(Instant.now()))
                .setStartedAt(timestamp(runtime.startedAt()))
                .setSequence(runtime.nextSequence());
        backends.all().forEach(s -> r.addLoadedModels(NodeModels.loaded(s, runtime.inFlight(s.name()))));
        r.addAllGpus(gpus.current()); // cached by GpuProbe: building a report never waits for nvidia-smi
        if (runtime.isDraining()) {
            r.setHealth(NodeHealth.NODE_HEALTH_DRAINING).setHealthMessage("draining: " + runtime.drainReason());
        } else if (backends.all().isEmpty()) {
            r.setHealth(NodeHealth.NODE_HEALTH_UNHEALTHY).setHealthMessage("no usable model configured");
        } else {
            r.setHealth(NodeHealth.NODE_HEALTH_HEALTHY);
        }
        return r.build();
    }

    private void apply(HeartbeatAck ack) {
        lastAckAt = Instant.now();
        warnedOnce = false;
        gatewayState = ack.getNodeState();
        if (ack.hasNextHeartbeatInterval()) {
            long next = ack.getNextHeartbeatInterval().getSeconds() * 1000 + ack.getNextHeartbeatInterval().getNanos() / 1_000_000;
            if (next > 0) {
                intervalMillis = next;
            }
        }
        if (!ack.getAccepted()) {
            lastProblem = "heartbeat rejected: " + ack.getMessage();
            LOG.warnf("the gateway rejected the heartbeat: %s", ack.getMessage());
            return;
        }
        lastProblem = "";
        switch (ack.getInstruction()) {
            case NODE_INSTRUCTION_DRAIN -> runtime.beginDrain("gateway: " + ack.getMessage());
            case NODE_INSTRUCTION_RESUME -> {
                if (!stopping) {
                    runtime.resume();
                }
            }
            case NODE_INSTRUCTION_SHUTDOWN -> {
                runtime.beginDrain("gateway asked for shutdown");
                if (!stopping) {
                    LOG.info("the gateway asked this node to shut down");
                    Quarkus.asyncExit();
                }
            }
            default -> {
            }
        }
    }

    String advertisedAddress() {
        return config.advertisedAddress().filter(s -> !s.isBlank()).orElseGet(() -> {
            String host = grpcHost;
            if (host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]")) {
                try {
                    host = InetAddress.getLocalHost().getHostName();
                } catch (Exception e) {
                    host = "127.0.0.1";
                }
            }
            int port = LaunchMode.current() == LaunchMode.TEST ? grpcTestPort : grpcPort;
            return (host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
        });
    }

    private static Timestamp timestamp(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
    }
}
