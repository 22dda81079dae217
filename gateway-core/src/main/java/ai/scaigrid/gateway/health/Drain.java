package ai.scaigrid.gateway.health;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.error.GrpcErrors;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.gateway.inference.InferenceRoutes;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusException;
import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Graceful shutdown, the gateway's part: once shutdown begins, new requests are refused with
 * {@code 503 SERVICE_DRAINING} (gRPC {@code UNAVAILABLE} with {@code scaigrid-error-code}), so that
 * clients retry against another replica at once, while the requests already running finish
 * (Quarkus waits up to {@code quarkus.shutdown.timeout} for them before it stops the HTTP server,
 * then the usage recorder writes what is left).
 *
 * <p>Quarkus announces the shutdown with {@link ShutdownDelayInitiatedEvent} (it needs
 * {@code quarkus.shutdown.delay-enabled}), on the shutdown thread, before it waits for HTTP requests;
 * its readiness probe reports DOWN from then on. This bean then keeps serving for
 * {@code scaigrid.shutdown.delay} (Kubernetes: time for the pod to leave the Service's endpoints),
 * starts refusing, and waits (up to {@code quarkus.shutdown.timeout}) for the gRPC inference calls in
 * flight (Quarkus only waits for HTTP requests, and stopping the gRPC server cuts its streams) and for the
 * background responses running here.
 *
 * <p>Refused: every HTTP path but the probes ({@code /q/*}, {@code /health*}), and new calls of
 * {@code scaiinfer.v1.InferenceService}. Node heartbeats and the identity service that the other
 * modules call stay open until the server stops, so nodes and modules keep working while in-flight
 * streams finish.
 */
@ApplicationScoped
public class Drain {
    private static final Logger LOG = Logger.getLogger(Drain.class);
    /** Seconds a client should wait before retrying (another replica answers at once). */
    static final long RETRY_AFTER_SECONDS = 1;
    private static final String MESSAGE = "This gateway is shutting down and accepts no new requests; retry";

    @Inject
    InferenceRoutes routes;

    @Inject
    ai.scaigrid.gateway.inference.BackgroundResponses background;

    @ConfigProperty(name = "scaigrid.shutdown.delay", defaultValue = "0s")
    Duration shutdownDelay;

    @ConfigProperty(name = "quarkus.shutdown.timeout")
    Optional<Duration> shutdownTimeout;

    /** System.nanoTime() from which requests are refused; 0 while serving normally. */
    private volatile long refuseFrom;
    /** Shutdown announced (readiness DOWN), though requests may still be served during the delay. */
    private volatile boolean shuttingDown;

    /** gRPC inference calls started and not yet closed or cancelled. */
    private final AtomicInteger grpcInFlight = new AtomicInteger();
    private final Object grpcIdle = new Object();

    void onShutdownAnnounced(@Observes ShutdownDelayInitiatedEvent event) {
        Duration delay = shutdownDelay.isNegative() ? Duration.ZERO : shutdownDelay;
        LOG.infof("shutdown begun: refusing new requests %s; in-flight requests finish",
                delay.isZero() ? "now" : "after " + delay);
        drainAndAwait(delay, shutdownTimeout.orElse(Duration.ofSeconds(20)));
    }

    /**
     * Serves on for {@code delay}, then refuses new requests and waits up to {@code timeout} for the gRPC
     * inference calls in flight. Blocks: the shutdown thread (and tests) only.
     */
    public void drainAndAwait(Duration delay, Duration timeout) {
        begin(delay);
        try {
            if (!delay.isZero()) {
                Thread.sleep(delay.toMillis());
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            synchronized (grpcIdle) {
                while (grpcInFlight.get() > 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        LOG.warnf("shutdown: %d gRPC inference call(s) still running after %s; they are cut", grpcInFlight.get(), timeout);
                        return;
                    }
                    grpcIdle.wait(Math.max(1, left / 1_000_000));
                }
            }
            LOG.info("shutdown: no gRPC inference call in flight");
            // background responses are finished too, in what is left of the timeout (those still running then fail)
            if (!background.awaitIdle(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())))) {
                LOG.warnf("shutdown: %d background response(s) still running after %s; they fail", background.runningHere(), timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** gRPC inference calls now in flight (tests read it). */
    public int grpcInFlight() {
        return grpcInFlight.get();
    }

    // methods, not field access: GrpcGate holds a client proxy of this bean, whose own fields are unused
    void grpcCallStarted() {
        grpcInFlight.incrementAndGet();
    }

    void grpcCallEnded() {
        if (grpcInFlight.decrementAndGet() == 0) {
            synchronized (grpcIdle) {
                grpcIdle.notifyAll();
            }
        }
    }

    /** Starts draining after {@code delay}; also how tests drive it (the application outlives a test). */
    public void begin(Duration delay) {
        shuttingDown = true;
        long at = System.nanoTime() + delay.toNanos();
        refuseFrom = at == 0 ? 1 : at;
    }

    /** Serves normally again. Only tests need this: a real shutdown does not turn back. */
    public void end() {
        refuseFrom = 0;
        shuttingDown = false;
    }

    /** True from the shutdown announcement on: the documented readiness endpoint reports not ready. */
    public boolean shuttingDown() {
        return shuttingDown;
    }

    public boolean draining() {
        long from = refuseFrom;
        return from != 0 && System.nanoTime() - from >= 0;
    }

    public ApiException refusal() {
        return new ApiException(ErrorCode.SERVICE_DRAINING, MESSAGE, null, RETRY_AFTER_SECONDS, null);
    }

    // ------------------------------------------------------------------ HTTP

    /** Ahead of every route (REST resources included): one volatile read while serving. */
    void register(@Observes Router router) {
        router.route().order(Integer.MIN_VALUE).handler(this::gate);
    }

    /** Probes keep answering: Quarkus' /q/health/*, and the platform's /health, /health/ready (503 now), /health/detailed. */
    private static boolean probe(String path) {
        return path.startsWith("/q/") || path.equals("/health") || path.startsWith("/health/");
    }

    private void gate(RoutingContext rc) {
        if (!draining() || probe(rc.normalizedPath())) {
            rc.next();
            return;
        }
        String requestId = RequestIds.acceptOrGenerate(rc.request().getHeader(RequestIds.HTTP_HEADER));
        rc.response().putHeader(RequestIds.HTTP_HEADER, requestId);
        // OpenAI's shape under /oai: its SDKs retry a 503 on their own
        routes.writeError(rc, InferenceRoutes.Api.of(rc.normalizedPath()), requestId, refusal());
    }

    // ------------------------------------------------------------------ gRPC

    /**
     * On the inference service: new calls get UNAVAILABLE / SERVICE_DRAINING while draining; admitted
     * calls are counted until they close or are cancelled, so that shutdown can wait for them.
     */
    @ApplicationScoped
    public static class GrpcGate implements ServerInterceptor {
        @Inject
        Drain drain;

        @Override
        public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                     ServerCallHandler<ReqT, RespT> next) {
            if (drain.draining()) {
                StatusException refused = GrpcErrors.toStatusException(drain.refusal());
                call.close(refused.getStatus(), refused.getTrailers());
                return new ServerCall.Listener<>() {
                };
            }
            AtomicBoolean ended = new AtomicBoolean();
            Runnable end = () -> {
                if (ended.compareAndSet(false, true)) {
                    drain.grpcCallEnded();
                }
            };
            drain.grpcCallStarted();
            ServerCall.Listener<ReqT> listener;
            try {
                listener = next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        try {
                            super.close(status, trailers);
                        } finally {
                            end.run();
                        }
                    }
                }, headers);
            } catch (RuntimeException e) {
                end.run();
                throw e;
            }
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                @Override
                public void onCancel() {
                    try {
                        super.onCancel();
                    } finally {
                        end.run();
                    }
                }

                @Override
                public void onComplete() {
                    try {
                        super.onComplete();
                    } finally {
                        end.run();
                    }
                }
            };
        }
    }
}
