package ai.scaigrid.gateway.inference.provider;

import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.vertx.PerEventLoop;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.parsetools.RecordParser;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The HTTP side of every HTTP provider (OpenAI-protocol upstreams, Anthropic): one non-blocking
 * client per event loop, the per-backend timeouts (connect, first token, idle), JSON exchanges,
 * server-sent events read line by line as they arrive, and the classification of failures into
 * {@link UpstreamFailure}s that never carry an upstream's body. What the events mean is the
 * provider's: it hands in an {@link SseTranslator}.
 *
 * <p>Backend {@code connection_config} keys read here: {@code connect_timeout_ms},
 * {@code first_token_timeout_ms}, {@code idle_timeout_ms}, and the sealed {@code headers}.
 */
@ApplicationScoped
public class UpstreamHttp {
    private static final Logger LOG = Logger.getLogger(UpstreamHttp.class);

    @Inject
    Vertx vertx;

    @Inject
    ObjectMapper mapper;

    @ConfigProperty(name = "scaigrid.inference.connect-timeout", defaultValue = "5s")
    java.time.Duration defaultConnectTimeout;

    @ConfigProperty(name = "scaigrid.inference.first-token-timeout", defaultValue = "120s")
    java.time.Duration defaultFirstTokenTimeout;

    @ConfigProperty(name = "scaigrid.inference.idle-timeout", defaultValue = "60s")
    java.time.Duration defaultIdleTimeout;

    /** Pooled connections per upstream host, per event loop (each loop has its own pool). */
    @ConfigProperty(name = "scaigrid.inference.upstream-pool-size", defaultValue = "500")
    int poolSize;

    /** One upstream client (one connection pool) per event loop: see {@link PerEventLoop}. */
    private final PerEventLoop<HttpClient> clients = new PerEventLoop<>(() -> vertx.createHttpClient(new HttpClientOptions()
                    .setKeepAlive(true)
                    .setTcpNoDelay(true)
                    .setMaxInitialLineLength(8192)
                    .setDecompressionSupported(true),
            new PoolOptions().setHttp1MaxSize(poolSize)), HttpClient::close);

    /**
     * What a provider makes of the server-sent events of one streaming response. Called on the
     * event loop, one event at a time, in order.
     */
    public interface SseTranslator {
        /**
         * One event ({@code event} is its {@code event:} field or null; its data is
         * {@code data[0..size)}, lines joined by '\n'). Emits zero or more chunks through {@code emit};
         * throws an {@link UpstreamFailure} for an error event.
         *
         * @return true when this event ends the stream (OpenAI's {@code [DONE]}, Anthropic's {@code message_stop})
         */
        boolean onEvent(String event, byte[] data, int size, Consumer<ObjectNode> emit);

        /**
         * Whether a response that ends without the end event is cut short (an error after its first
         * chunk) rather than complete. OpenAI-protocol servers often omit {@code [DONE]}.
         */
        default boolean requiresEndEvent() {
            return false;
        }
    }

    @PreDestroy
    void close() {
        clients.close();
    }

    /** A POST to {@code url} with the backend's timeouts and sealed extra headers; the caller adds its credentials. */
    public RequestOptions post(BackendTarget backend, String url) {
        URI uri;
        try {
            uri = URI.create(url);
        } catch (IllegalArgumentException e) {
            // stored before base_url was validated on write
            throw new UpstreamFailure(ErrorCode.BACKEND_ERROR, "The backend's base_url is not a valid URL", true, null, null);
        }
        RequestOptions options = new RequestOptions()
                .setMethod(HttpMethod.POST)
                .setAbsoluteURI(uri.toString())
                .setConnectTimeout(backend.configLong("connect_timeout_ms", defaultConnectTimeout.toMillis()))
                .setIdleTimeout(backend.configLong("idle_timeout_ms", defaultIdleTimeout.toMillis()))
                .putHeader("content-type", "application/json")
                .putHeader("accept", "application/json, text/event-stream");
        extraHeaders(backend).forEach(options::putHeader);
        return options;
    }

    /** The backend's extra headers ({@code connection_config.headers}), by name as written. */
    static Map<String, String> extraHeaders(BackendTarget backend) {
        Map<String, String> out = new java.util.LinkedHashMap<>();
        // extra headers are sealed with the other secrets; backends written before that keep them in the config
        Object sealedHeaders = backend.secrets() == null ? null : backend.secrets().get("headers");
        if (sealedHeaders instanceof io.vertx.core.json.JsonObject object) {
            sealedHeaders = object.getMap();
        }
        if (sealedHeaders instanceof Map<?, ?> extra) {
            extra.forEach((name, value) -> out.put(String.valueOf(name), String.valueOf(value)));
        } else {
            JsonNode headers = backend.connectionConfig() == null ? null : backend.connectionConfig().get("headers");
            if (headers != null && headers.isObject()) {
                headers.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
            }
        }
        return out;
    }

    static String stripSlash(String base) {
        return base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
    }

    private long firstTokenMillis(BackendTarget backend, ProviderCall call) {
        long configured = backend.configLong("first_token_timeout_ms", defaultFirstTokenTimeout.toMillis());
        if (call.deadlineNanos() > 0) {
            long left = (call.deadlineNanos() - System.nanoTime()) / 1_000_000L;
            configured = Math.min(configured, Math.max(1, left));
        }
        return configured;
    }

    /**
     * A non-streaming JSON POST; the whole body is read, then parsed. {@code options} is built on
     * subscription, so a backend that cannot be called fails this Uni (and fails over) instead of throwing.
     */
    public Uni<JsonNode> exchange(BackendTarget backend, ProviderCall call, Supplier<RequestOptions> options, ObjectNode body) {
        return exchangeRaw(backend, call, options, Buffer.buffer(serialize(body))).map(this::parse);
    }

    /** A whole answer's JSON, or UPSTREAM_SHAPE_MISMATCH. */
    public JsonNode parse(RawAnswer answer) {
        try {
            return mapper.readTree(answer.body().getBytes());
        } catch (Exception e) {
            throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, e);
        }
    }

    /** A whole successful answer: its {@code content-type} (null when none was sent) and body. */
    public record RawAnswer(String contentType, Buffer body, HttpClientResponse stream) {
        public RawAnswer(String contentType, Buffer body) {
            this(contentType, body, null);
        }

        /** Whether the upstream said its answer is JSON ({@code application/json}, {@code ...+json}). */
        public boolean isJson() {
            return contentType != null && contentType.toLowerCase(java.util.Locale.ROOT).contains("json");
        }
    }

    /**
     * A POST of {@code payload} (whatever {@code options} says it is: JSON, a multipart form) whose whole answer
     * is returned as it came (audio, text or JSON), with the same timeouts and failure classification as
     * {@link #exchange}.
     */
    public Uni<RawAnswer> exchangeRaw(BackendTarget backend, ProviderCall call, Supplier<RequestOptions> options, Buffer payload) {
        return Uni.createFrom().emitter(emitter -> {
            Call c = open(backend, call, options, payload, emitter::fail, emitter::onTermination, () -> true,
                    "The upstream did not answer in time");
            if (c == null) {
                return;
            }
            send(c, emitter::fail, response ->
                    response.body().onComplete(bar -> {
                        if (bar.failed()) {
                            fail(c.done, emitter::fail, connectFailure(bar.cause()));
                            return;
                        }
                        if (!c.done.compareAndSet(false, true)) {
                            return;
                        }
                        vertx.cancelTimer(c.timer);
                        if (response.statusCode() / 100 != 2) {
                            emitter.fail(statusFailure(response.statusCode(), response.getHeader("retry-after"), bar.result()));
                            return;
                        }
                        emitter.complete(new RawAnswer(response.getHeader("content-type"), bar.result()));
                    }));
        });
    }

    /**
     * A POST whose answer is relayed as it arrives (speech audio): the item comes with the upstream's 2xx status and
     * headers, its body still to be read ({@link RawAnswer#stream}, paused; the request's idle timeout guards it); a
     * non-2xx answer fails as in {@link #exchangeRaw}. Failover can happen until the item; after it, the reader owns the
     * upstream response (resetting its request when its own client goes away).
     */
    public Uni<RawAnswer> exchangeStreamed(BackendTarget backend, ProviderCall call, Supplier<RequestOptions> options, Buffer payload) {
        return Uni.createFrom().emitter(emitter -> {
            Call c = open(backend, call, options, payload, emitter::fail, emitter::onTermination, () -> true,
                    "The upstream did not answer in time");
            if (c == null) {
                return;
            }
            send(c, emitter::fail, response -> {
                if (response.statusCode() / 100 != 2) {
                    response.body().onComplete(bar -> {
                        if (c.done.compareAndSet(false, true)) {
                            vertx.cancelTimer(c.timer);
                            emitter.fail(bar.failed() ? connectFailure(bar.cause())
                                    : statusFailure(response.statusCode(), response.getHeader("retry-after"), bar.result()));
                        }
                    });
                    return;
                }
                response.pause();
                if (!c.done.compareAndSet(false, true)) {
                    return; // timed out or abandoned meanwhile: its request was reset
                }
                vertx.cancelTimer(c.timer);
                emitter.complete(new RawAnswer(response.getHeader("content-type"), null, response));
            });
        });
    }

    /** One upstream call in flight: the request, its body, whether it has ended, and its first-token timer. */
    private static final class Call {
        final RequestOptions request;
        final Buffer payload;
        final AtomicBoolean done = new AtomicBoolean();
        /** The request once a connection was taken, so that a timeout or the caller going away can reset it. */
        volatile HttpClientRequest outgoing;
        long timer;

        Call(RequestOptions request, Buffer payload) {
            this.request = request;
            this.payload = payload;
        }

        void reset() {
            HttpClientRequest r = outgoing;
            if (r != null) {
                r.reset();
            }
        }
    }

    /**
     * What every POST starts with, on subscription: builds the request (a backend that cannot be called
     * fails the call here, and null is returned) and arms the first-token timer. When the timer fires while
     * {@code waiting} still holds, the upstream request is reset and the call fails with {@code timeoutMessage};
     * termination (the caller went away) cancels the timer and resets the upstream request at once.
     */
    private Call open(BackendTarget backend, ProviderCall call, Supplier<RequestOptions> options, Buffer payload,
                      Consumer<Throwable> failer, Consumer<Runnable> onTermination, BooleanSupplier waiting,
                      String timeoutMessage) {
        RequestOptions request;
        try {
            request = options.get();
        } catch (UpstreamFailure f) {
            failer.accept(f);
            return null;
        }
        Call c = new Call(request, payload);
        c.timer = vertx.setTimer(firstTokenMillis(backend, call), id -> {
            if (waiting.getAsBoolean() && c.done.compareAndSet(false, true)) {
                c.reset();
                failer.accept(UpstreamFailure.timeout(timeoutMessage));
            }
        });
        onTermination.accept(() -> {
            vertx.cancelTimer(c.timer);
            if (c.done.compareAndSet(false, true)) {
                c.reset();
            }
        });
        return c;
    }

    /**
     * Takes a pooled connection and sends the call's request on it; the response goes to {@code onResponse},
     * a failure to {@code failer}, unless the call ended meanwhile (then the request is reset).
     */
    private void send(Call c, Consumer<Throwable> failer, Consumer<HttpClientResponse> onResponse) {
        clients.get().request(c.request).onComplete(ar -> {
            if (ar.failed()) {
                fail(c.done, failer, connectFailure(ar.cause()));
                return;
            }
            HttpClientRequest outgoing = ar.result();
            c.outgoing = outgoing;
            if (c.done.get()) {
                outgoing.reset();
                return;
            }
            outgoing.send(c.payload).onComplete(rar -> {
                if (rar.failed()) {
                    fail(c.done, failer, connectFailure(rar.cause()));
                    return;
                }
                onResponse.accept(rar.result());
            });
        });
    }

    /**
     * A GET whose JSON answer is returned (provider discovery). Fails with an {@link UpstreamFailure}
     * of code PROVIDER_DISCOVERY_ERROR whose message names only the status.
     */
    public Uni<JsonNode> getJson(Supplier<RequestOptions> options, java.time.Duration timeout) {
        return Uni.createFrom().<JsonNode>emitter(emitter -> {
            RequestOptions request;
            try {
                request = options.get().setMethod(HttpMethod.GET).removeHeader("content-type");
            } catch (UpstreamFailure e) {
                emitter.fail(new UpstreamFailure(ErrorCode.PROVIDER_DISCOVERY_ERROR, e.getMessage().replace("backend", "provider"),
                        false, null, null));
                return;
            } catch (RuntimeException e) {
                // settings stored before they were validated on write (e.g. a header Vert.x refuses)
                emitter.fail(new UpstreamFailure(ErrorCode.PROVIDER_DISCOVERY_ERROR, "The provider's connection settings cannot be used",
                        false, null, e));
                return;
            }
            HttpClientRequest[] current = new HttpClientRequest[1];
            AtomicBoolean done = new AtomicBoolean();
            emitter.onTermination(() -> {
                if (done.compareAndSet(false, true) && current[0] != null) {
                    current[0].reset(); // timed out or the caller went away
                }
            });
            clients.get().request(request)
                    .compose(outgoing -> {
                        current[0] = outgoing;
                        return outgoing.send();
                    })
                    .compose(response -> response.body().map(body -> {
                        if (response.statusCode() / 100 != 2) {
                            throw new UpstreamFailure(ErrorCode.PROVIDER_DISCOVERY_ERROR,
                                    "The provider answered HTTP " + response.statusCode(), false, null, null);
                        }
                        try {
                            return mapper.readTree(body.getBytes());
                        } catch (Exception e) {
                            throw new UpstreamFailure(ErrorCode.PROVIDER_DISCOVERY_ERROR,
                                    "The provider's model list could not be parsed", false, null, e);
                        }
                    }))
                    .onComplete(ar -> {
                        if (!done.compareAndSet(false, true)) {
                            return;
                        }
                        if (ar.succeeded()) {
                            emitter.complete(ar.result());
                        } else {
                            emitter.fail(ar.cause() instanceof UpstreamFailure f ? f : connectFailure(ar.cause()));
                        }
                    });
        }).ifNoItem().after(timeout).failWith(() -> UpstreamFailure.timeout("The provider did not answer in time"));
    }

    /**
     * A streaming POST: the response's server-sent events go through {@code translator} as they
     * arrive. Nothing is sent before subscription; cancelling resets the upstream request at once.
     * The first-token timeout runs until the translator emits its first chunk.
     */
    public Multi<ObjectNode> stream(BackendTarget backend, ProviderCall call, Supplier<RequestOptions> options, ObjectNode body,
                                    SseTranslator translator) {
        return Multi.createFrom().emitter(emitter -> startStream(backend, call, options, body, translator, emitter));
    }

    private void startStream(BackendTarget backend, ProviderCall call, Supplier<RequestOptions> options, ObjectNode body,
                             SseTranslator translator, MultiEmitter<? super ObjectNode> emitter) {
        AtomicBoolean firstEvent = new AtomicBoolean();
        Call c = open(backend, call, options, Buffer.buffer(serialize(body)), emitter::fail, emitter::onTermination, () -> !firstEvent.get(),
                "The upstream sent no first token in time");
        if (c == null) {
            return;
        }
        AtomicBoolean done = c.done;
        Consumer<ObjectNode> emit = chunk -> {
            if (firstEvent.compareAndSet(false, true)) {
                vertx.cancelTimer(c.timer);
            }
            emitter.emit(chunk);
        };
        send(c, emitter::fail, response -> {
            if (response.statusCode() / 100 != 2) {
                response.body().onComplete(bar -> fail(done, emitter::fail,
                        statusFailure(response.statusCode(), response.getHeader("retry-after"), bar.succeeded() ? bar.result() : null)));
                return;
            }
            SseState state = new SseState();
            RecordParser parser = RecordParser.newDelimited("\n", line -> {
                if (done.get()) {
                    return;
                }
                // bytes all the way to the JSON parser: no String per line, per field and per event
                int end = line.length();
                if (end > 0 && line.getByte(end - 1) == '\r') {
                    end--;
                }
                if (end == 0) {
                    state.dispatch(translator, call, emit, emitter, done);
                } else if (startsWith(line, end, DATA)) {
                    int from = end > 5 && line.getByte(5) == ' ' ? 6 : 5;
                    state.appendData(line, from, end);
                } else if (startsWith(line, end, EVENT)) {
                    state.event = line.getString(6, end, "UTF-8").trim();
                }
            });
            response.handler(parser);
            response.exceptionHandler(t -> fail(done, emitter::fail, connectFailure(t)));
            response.endHandler(v -> {
                state.dispatch(translator, call, emit, emitter, done);
                if (done.compareAndSet(false, true)) {
                    vertx.cancelTimer(c.timer);
                    if (state.sawEnd || (firstEvent.get() && !translator.requiresEndEvent())) {
                        emitter.complete();
                    } else {
                        emitter.fail(new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, firstEvent.get()
                                ? "The upstream stream ended before the answer was complete"
                                : "The upstream stream ended without any event", true, null, null));
                    }
                }
            });
        });
    }

    private static final byte[] DATA = "data:".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT = "event:".getBytes(StandardCharsets.US_ASCII);

    private static boolean startsWith(Buffer line, int end, byte[] prefix) {
        if (end < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (line.getByte(i) != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    /** One SSE event being assembled from its lines (the data as UTF-8 bytes, lines joined by '\n'). */
    private static final class SseState {
        byte[] data = new byte[512];
        int length;
        boolean hasData;
        String event;
        boolean sawEnd;

        void appendData(Buffer line, int from, int end) {
            int needed = length + (hasData ? 1 : 0) + (end - from);
            if (needed > data.length) {
                data = Arrays.copyOf(data, Math.max(needed, data.length * 2));
            }
            if (hasData) {
                data[length++] = '\n';
            }
            line.getBytes(from, end, data, length);
            length += end - from;
            hasData = true;
        }

        void dispatch(SseTranslator translator, ProviderCall call, Consumer<ObjectNode> emit,
                      MultiEmitter<? super ObjectNode> emitter, AtomicBoolean done) {
            if (!hasData) {
                event = null;
                return;
            }
            String eventName = event;
            int size = length;
            length = 0;
            hasData = false;
            event = null;
            if (done.get() || sawEnd) {
                return;
            }
            try {
                sawEnd = translator.onEvent(eventName, data, size, emit);
            } catch (UpstreamFailure f) {
                if (f.code() == ErrorCode.BACKEND_ERROR || f.code() == ErrorCode.BACKEND_RATE_LIMITED) {
                    LOG.warnf("upstream stream error for request %s: %s", call.requestId(),
                            truncate(new String(data, 0, size, StandardCharsets.UTF_8)));
                }
                fail(done, emitter::fail, f);
            } catch (RuntimeException e) {
                fail(done, emitter::fail, new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH,
                        "The upstream sent an unreadable event", true, null, e));
            }
        }
    }

    private static void fail(AtomicBoolean done, Consumer<Throwable> failer, Throwable failure) {
        if (done.compareAndSet(false, true)) {
            failer.accept(failure);
        }
    }

    static UpstreamFailure connectFailure(Throwable t) {
        if (t instanceof UpstreamFailure f) {
            return f;
        }
        if (t instanceof TimeoutException || (t.getMessage() != null && t.getMessage().toLowerCase().contains("timeout"))
                || t.getClass().getSimpleName().contains("Timeout")) {
            return new UpstreamFailure(ErrorCode.BACKEND_TIMEOUT, "The upstream timed out", true, null, t);
        }
        return UpstreamFailure.unavailable("The upstream could not be reached", t);
    }

    /**
     * A non-2xx answer, classified. Only the upstream's own {@code error.message} (OpenAI's and
     * Anthropic's error shape alike) of a request it refused as invalid reaches the caller, shortened.
     */
    UpstreamFailure statusFailure(int status, String retryAfter, Buffer body) {
        return classifyStatus(status, retryAfter, body).withHttpStatus(status);
    }

    private UpstreamFailure classifyStatus(int status, String retryAfter, Buffer body) {
        String upstreamMessage = null;
        if (body != null && body.length() > 0) {
            try {
                JsonNode json = mapper.readTree(body.getBytes());
                JsonNode message = json.path("error").path("message");
                if (message.isTextual()) {
                    upstreamMessage = message.asText();
                }
            } catch (Exception ignored) {
                // not JSON: nothing of it is shown
            }
        }
        LOG.debugf("upstream answered HTTP %d: %s", status, upstreamMessage);
        if (status == 429) {
            Integer after = null;
            try {
                after = retryAfter == null ? null : Integer.parseInt(retryAfter.trim());
            } catch (NumberFormatException ignored) {
                // an HTTP date: leave it out
            }
            return new UpstreamFailure(ErrorCode.BACKEND_RATE_LIMITED, "The upstream is rate limiting requests", true, after, null);
        }
        if (status == 400 || status == 422 || status == 413) {
            // the request itself was refused (too long a context, a parameter the model does not take):
            // the caller can fix it, so say why, briefly, and do not blame the backend
            String reason = upstreamMessage == null ? "The upstream rejected the request" : "The upstream rejected the request: " + truncate(upstreamMessage);
            return new UpstreamFailure(ErrorCode.VALIDATION_ERROR, reason, false, null, null);
        }
        if (status == 408 || status == 504) {
            return new UpstreamFailure(ErrorCode.BACKEND_TIMEOUT, "The upstream timed out", true, null, null);
        }
        return new UpstreamFailure(ErrorCode.BACKEND_ERROR, "The upstream returned an error (HTTP " + status + ")", true, null, null);
    }

    static String truncate(String s) {
        String oneLine = s.replaceAll("[\\r\\n\\t]+", " ");
        return oneLine.length() > 300 ? oneLine.substring(0, 300) + "..." : oneLine;
    }

    byte[] serialize(ObjectNode body) {
        try {
            return mapper.writeValueAsBytes(body);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
