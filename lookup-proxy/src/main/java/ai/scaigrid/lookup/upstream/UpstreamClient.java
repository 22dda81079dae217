package ai.scaigrid.lookup.upstream;

import ai.scaigrid.commons.vertx.PerEventLoop;
import ai.scaigrid.lookup.LookupConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.smallrye.faulttolerance.api.TypedGuard;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.Cancellable;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.core.buffer.Buffer;
import io.vertx.mutiny.ext.web.client.HttpRequest;
import io.vertx.mutiny.ext.web.client.WebClient;
import jakarta.annotation.PreDestroy;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.util.TypeLiteral;
import org.eclipse.microprofile.faulttolerance.exceptions.CircuitBreakerOpenException;
import org.jboss.logging.Logger;

import java.net.URI;
import java.time.temporal.ChronoUnit;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/**
 * The one outbound HTTP client of lookup-proxy: a non-blocking Vert.x web client with, per upstream,
 * a SmallRye Fault Tolerance guard (circuit breaker, one retry for these idempotent GETs) around an
 * attempt with a deadline. 4xx answers are results, not failures: one caller's bad credential must
 * not open the breaker for everyone. Redirects are never followed, so a credential never travels to
 * another host.
 *
 * <p>The attempt deadline is a timer on the calling event loop, not Fault Tolerance's timeout: that
 * one schedules on its own timer thread and wakes it (a futex syscall plus a context switch) for every
 * request, which profiling showed as ~13 % of the proxy's CPU at 500 requests/s.
 */
// created at start-up: a bad setting fails the start, and the env-fallback warning is logged then
@Startup
@ApplicationScoped
public class UpstreamClient {
    private static final Logger LOG = Logger.getLogger(UpstreamClient.class);

    private final LookupConfig config;
    private final io.vertx.core.Vertx vertx;
    /** One client (one connection pool) per event loop: see {@link PerEventLoop}. */
    private final PerEventLoop<WebClient> clients;
    private final MeterRegistry meters;
    private final Map<Upstream, String> baseUrls = new EnumMap<>(Upstream.class);
    private final Map<Upstream, TypedGuard<Uni<UpstreamReply>>> guards = new EnumMap<>(Upstream.class);

    public UpstreamClient(Vertx vertx, LookupConfig config, MeterRegistry meters) {
        this.config = config;
        this.meters = meters;
        this.vertx = vertx.getDelegate();
        WebClientOptions options = new WebClientOptions()
                .setConnectTimeout((int) Math.max(1, config.connectTimeout().toMillis()))
                .setMaxPoolSize(config.maxConnections())
                .setMaxWaitQueueSize(config.maxConnections() * 16)
                .setKeepAlive(true)
                .setKeepAliveTimeout(30)
                .setFollowRedirects(false)
                .setUserAgent("scaigrid-lookup-proxy");
        this.clients = new PerEventLoop<>(() -> WebClient.create(vertx, new WebClientOptions(options)), WebClient::close);
        baseUrl(Upstream.SCAIQUEUE, config.scaiqueueUrl());
        baseUrl(Upstream.SCAIBUNKER, config.scaibunkerUrl());
        baseUrl(Upstream.SCAIGRID, config.scaigridUrl());
        for (Upstream upstream : Upstream.values()) {
            guards.put(upstream, guard(upstream));
        }
    }

    @PreDestroy
    void close() {
        clients.close();
    }

    public boolean isConfigured(Upstream upstream) {
        return baseUrls.containsKey(upstream);
    }

    /**
     * GET {@code base + pathAndQuery} with {@code Authorization: Bearer <credential>}. Emits the
     * upstream's answer whatever its status (after the retry for 502/503/504), or fails with
     * {@link UpstreamFailure} when there is no answer to give.
     */
    public Uni<UpstreamReply> get(Upstream upstream, String pathAndQuery, String credential, String requestId) {
        String base = baseUrls.get(upstream);
        if (base == null) {
            return Uni.createFrom().failure(new UpstreamFailure(upstream, UpstreamFailure.Kind.NOT_CONFIGURED, null));
        }
        String url = base + pathAndQuery;
        Timer.Sample sample = Timer.start(meters);
        return Uni.createFrom().deferred(() -> guards.get(upstream).get(() -> attempt(upstream, url, credential, requestId)))
                .onFailure(ServerError.class).recoverWithItem(e -> ((ServerError) e).reply)
                .onFailure(CircuitBreakerOpenException.class)
                .transform(e -> new UpstreamFailure(upstream, UpstreamFailure.Kind.CIRCUIT_OPEN, null))
                .onItemOrFailure().invoke((reply, failure) -> sample.stop(meters.timer("scaigrid.lookup.upstream.requests",
                        "upstream", upstream.key(), "outcome", outcome(reply, failure))));
    }

    private Uni<UpstreamReply> attempt(Upstream upstream, String url, String credential, String requestId) {
        HttpRequest<Buffer> request = clients.get().getAbs(url)
                .timeout(config.timeout().toMillis())
                .putHeader(HttpHeaders.ACCEPT.toString(), "application/json")
                .putHeader(HttpHeaders.AUTHORIZATION.toString(), "Bearer " + credential);
        if (requestId != null) {
            request.putHeader("X-Request-Id", requestId);
        }
        return withDeadline(request.send(), upstream)
                .onFailure().transform(e -> transportFailure(upstream, e))
                .map(response -> {
                    Buffer body = response.body() == null ? Buffer.buffer() : response.body();
                    if (body.length() > config.maxResponseBytes()) {
                        throw new UpstreamFailure(upstream, UpstreamFailure.Kind.TOO_LARGE, null);
                    }
                    UpstreamReply reply = new UpstreamReply(response.statusCode(), body);
                    if (reply.status() >= 500) {
                        // a failure to the guard (breaker, retry); turned back into a reply after it
                        throw new ServerError(reply);
                    }
                    return reply;
                });
    }

    /**
     * Fails with {@code TIMEOUT} when the whole attempt (connect, headers, body) takes longer than
     * {@code scaigrid.lookup.timeout}; the web client's own timeout only bounds the time between bytes.
     * The timer belongs to the event loop the attempt runs on, so arming and cancelling it is a queue
     * operation on that thread.
     */
    private <T> Uni<T> withDeadline(Uni<T> call, Upstream upstream) {
        long millis = Math.max(1, config.timeout().toMillis());
        return Uni.createFrom().emitter(emitter -> {
            long timer = vertx.setTimer(millis,
                    id -> emitter.fail(new UpstreamFailure(upstream, UpstreamFailure.Kind.TIMEOUT, null)));
            Cancellable running = call.subscribe().with(emitter::complete, emitter::fail);
            // runs on item, failure (the timer's too) and cancellation, at once if already terminated
            emitter.onTermination(() -> {
                vertx.cancelTimer(timer);
                running.cancel();
            });
        });
    }

    private static Throwable transportFailure(Upstream upstream, Throwable e) {
        if (e instanceof UpstreamFailure) {
            return e;
        }
        if (e instanceof java.util.concurrent.TimeoutException) {
            return new UpstreamFailure(upstream, UpstreamFailure.Kind.TIMEOUT, e);
        }
        LOG.debugf("%s unreachable: %s", upstream.displayName(), e.toString());
        return new UpstreamFailure(upstream, UpstreamFailure.Kind.UNREACHABLE, e);
    }

    private TypedGuard<Uni<UpstreamReply>> guard(Upstream upstream) {
        LookupConfig.CircuitBreaker cb = config.circuitBreaker();
        return TypedGuard.create(new TypeLiteral<Uni<UpstreamReply>>() {
                })
                .withDescription("lookup " + upstream.key())
                .withRetry()
                .maxRetries(config.retry().maxRetries())
                .delay(config.retry().delay().toMillis(), ChronoUnit.MILLIS)
                .jitter(0, ChronoUnit.MILLIS)
                .whenException(UpstreamClient::retryable)
                .done()
                .withCircuitBreaker()
                .name("lookup-" + upstream.key())
                .requestVolumeThreshold(cb.requestVolumeThreshold())
                .failureRatio(cb.failureRatio())
                .delay(cb.delay().toMillis(), ChronoUnit.MILLIS)
                .successThreshold(cb.successThreshold())
                .when(UpstreamClient::upstreamFault)
                .onStateChange(state -> LOG.warnf("circuit breaker for %s is now %s", upstream.displayName(), state))
                .done()
                .withThreadOffload(false)
                .build();
    }

    private static boolean retryable(Throwable e) {
        if (e instanceof ServerError server) {
            int s = server.reply.status();
            return s == 502 || s == 503 || s == 504;
        }
        return e instanceof UpstreamFailure failure && failure.retryable();
    }

    private static boolean upstreamFault(Throwable e) {
        return e instanceof ServerError || (e instanceof UpstreamFailure failure && failure.upstreamFault());
    }

    private static String outcome(UpstreamReply reply, Throwable failure) {
        if (failure instanceof UpstreamFailure f) {
            return f.kind().code();
        }
        if (failure != null) {
            return "error";
        }
        return (reply.status() / 100) + "xx";
    }

    private void baseUrl(Upstream upstream, Optional<String> configured) {
        configured.map(String::trim).filter(s -> !s.isEmpty()).ifPresent(url -> {
            URI uri;
            try {
                uri = URI.create(url);
            } catch (IllegalArgumentException e) {
                throw new IllegalStateException("scaigrid.lookup." + upstream.key() + "-url is not a URL: " + url);
            }
            if (uri.getHost() == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))) {
                throw new IllegalStateException("scaigrid.lookup." + upstream.key() + "-url must be an http(s) URL: " + url);
            }
            baseUrls.put(upstream, url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
        });
        if (!baseUrls.containsKey(upstream)) {
            LOG.warnf("%s is not configured (scaigrid.lookup.%s-url): its lookups answer 502", upstream.displayName(), upstream.key());
        }
    }

    /** A 5xx answer travelling through the guard as a failure. */
    private static final class ServerError extends RuntimeException {
        private final UpstreamReply reply;

        ServerError(UpstreamReply reply) {
            super("HTTP " + reply.status(), null, false, false);
            this.reply = reply;
        }
    }
}
