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

/**
 * Any OpenAI-compatible HTTP upstream: OpenAI itself, vLLM, llama.cpp's llama-server, Ollama.
 * {@code connection_config}: {@code base_url} (up to and including {@code /v1}), optional
 * {@code connect_timeout_ms}, {@code first_token_timeout_ms}, {@code idle_timeout_ms},
 * secret {@code headers} (extra headers, sealed like every secret) and {@code api_key} (sent as a bearer token).
 *
 * <p>Non-blocking end to end (Vert.x HTTP client); SSE is relayed event by event as it arrives;
 * cancelling the subscription resets the upstream request at once.
 */
@ApplicationScoped
public class OpenAiProvider implements Provider {
    private static final Logger LOG = Logger.getLogger(OpenAiProvider.class);

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

    @Override
    public String type() {
        return "openai";
    }

    /** {@code custom} is any OpenAI-protocol endpoint (reference §1.3), served the same way. */
    @Override
    public java.util.Set<String> types() {
        return java.util.Set.of("openai", "custom");
    }

    /**
     * {@code GET <base_url>/models} with the backend's credentials: the upstream's model list, for
     * provider discovery. Fails with an {@link UpstreamFailure} whose message names only the status.
     */
    public Uni<JsonNode> listModels(BackendTarget provider, java.time.Duration timeout) {
        return Uni.createFrom().<JsonNode>emitter(emitter -> {
            RequestOptions options;
            try {
                options = options(provider, "/models").setMethod(HttpMethod.GET).removeHeader("content-type");
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
            clients.get().request(options)
                    .compose(request -> {
                        current[0] = request;
                        return request.send();
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

    @PreDestroy
    void close() {
        clients.close();
    }

    @Override
    public Uni<ObjectNode> chat(BackendTarget backend, ProviderCall call) {
        ObjectNode body = requestBody(backend, call, false);
        return exchange(backend, call, "/chat/completions", body).map(json -> {
            if (!(json instanceof ObjectNode node) || !node.has("choices")) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
            }
            node.put("model", call.frontendSlug());
            return node;
        });
    }

    @Override
    public Uni<ObjectNode> embed(BackendTarget backend, ProviderCall call) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        return exchange(backend, call, "/embeddings", body).map(json -> {
            if (!(json instanceof ObjectNode node) || !node.path("data").isArray()) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
            }
            node.put("model", call.frontendSlug());
            return node;
        });
    }

    @Override
    public Multi<ObjectNode> streamChat(BackendTarget backend, ProviderCall call) {
        ObjectNode body = requestBody(backend, call, true);
        return Multi.createFrom().emitter(emitter -> startStream(backend, call, body, emitter));
    }

    private ObjectNode requestBody(BackendTarget backend, ProviderCall call, boolean stream) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        if (stream) {
            body.put("stream", true);
            // ask for a final usage chunk; upstreams that ignore it are counted by the dispatcher
            body.putObject("stream_options").put("include_usage", true);
        } else {
            body.remove("stream");
            body.remove("stream_options");
        }
        return body;
    }

    private RequestOptions options(BackendTarget backend, String path) {
        String base = backend.config("base_url", null);
        if (base == null || base.isBlank()) {
            throw new UpstreamFailure(ErrorCode.BACKEND_ERROR, "The backend has no base_url configured", true, null, null);
        }
        URI uri;
        try {
            uri = URI.create(stripSlash(base) + path);
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
        String key = backend.secret("api_key");
        if (key != null && !key.isBlank()) {
            options.putHeader("authorization", "Bearer " + key);
        }
        // extra headers are sealed with the other secrets; backends written before that keep them in the config
        Object sealedHeaders = backend.secrets() == null ? null : backend.secrets().get("headers");
        if (sealedHeaders instanceof io.vertx.core.json.JsonObject object) {
            sealedHeaders = object.getMap();
        }
        if (sealedHeaders instanceof Map<?, ?> extra) {
            extra.forEach((name, value) -> options.putHeader(String.valueOf(name), String.valueOf(value)));
        } else {
            JsonNode headers = backend.connectionConfig() == null ? null : backend.connectionConfig().get("headers");
            if (headers != null && headers.isObject()) {
                headers.fields().forEachRemaining(e -> options.putHeader(e.getKey(), e.getValue().asText()));
            }
        }
        return options;
    }

    private static String stripSlash(String base) {
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

    /** A non-streaming JSON POST; the whole body is read, then parsed. */
    private Uni<JsonNode> exchange(BackendTarget backend, ProviderCall call, String path, ObjectNode body) {
        return Uni.createFrom().emitter(emitter -> {
            RequestOptions options;
            try {
                options = options(backend, path);
            } catch (UpstreamFailure f) {
                emitter.fail(f);
                return;
            }
            Buffer payload = Buffer.buffer(serialize(body));
            AtomicBoolean done = new AtomicBoolean();
            HttpClientRequest[] current = new HttpClientRequest[1];
            long timer = vertx.setTimer(firstTokenMillis(backend, call), id -> {
                if (done.compareAndSet(false, true)) {
                    if (current[0] != null) {
                        current[0].reset();
                    }
                    emitter.fail(UpstreamFailure.timeout("The upstream did not answer in time"));
                }
            });
            emitter.onTermination(() -> {
                vertx.cancelTimer(timer);
                if (done.compareAndSet(false, true) && current[0] != null) {
                    current[0].reset(); // the caller went away: abort the upstream call
                }
            });
            clients.get().request(options).onComplete(ar -> {
                if (ar.failed()) {
                    fail(done, emitter::fail, connectFailure(ar.cause()));
                    return;
                }
                HttpClientRequest request = ar.result();
                current[0] = request;
                if (done.get()) {
                    request.reset();
                    return;
                }
                request.send(payload).onComplete(rar -> {
                    if (rar.failed()) {
                        fail(done, emitter::fail, connectFailure(rar.cause()));
                        return;
                    }
                    HttpClientResponse response = rar.result();
                    response.body().onComplete(bar -> {
                        if (bar.failed()) {
                            fail(done, emitter::fail, connectFailure(bar.cause()));
                            return;
                        }
                        if (!done.compareAndSet(false, true)) {
                            return;
                        }
                        vertx.cancelTimer(timer);
                        if (response.statusCode() / 100 != 2) {
                            emitter.fail(statusFailure(response.statusCode(), response.getHeader("retry-after"), bar.result()));
                            return;
                        }
                        try {
                            emitter.complete(mapper.readTree(bar.result().getBytes()));
                        } catch (Exception e) {
                            emitter.fail(new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH,
                                    "The upstream reply could not be parsed", true, null, e));
                        }
                    });
                });
            });
        });
    }

    private void startStream(BackendTarget backend, ProviderCall call, ObjectNode body, MultiEmitter<? super ObjectNode> emitter) {
        RequestOptions options;
        try {
            options = options(backend, "/chat/completions");
        } catch (UpstreamFailure f) {
            emitter.fail(f);
            return;
        }
        Buffer payload = Buffer.buffer(serialize(body));
        AtomicBoolean done = new AtomicBoolean();
        AtomicBoolean firstEvent = new AtomicBoolean();
        HttpClientRequest[] current = new HttpClientRequest[1];
        long timer = vertx.setTimer(firstTokenMillis(backend, call), id -> {
            if (!firstEvent.get() && done.compareAndSet(false, true)) {
                if (current[0] != null) {
                    current[0].reset();
                }
                emitter.fail(UpstreamFailure.timeout("The upstream sent no first token in time"));
            }
        });
        emitter.onTermination(() -> {
            vertx.cancelTimer(timer);
            if (done.compareAndSet(false, true) && current[0] != null) {
                current[0].reset(); // cancelled by the caller: stop the generation upstream at once
            }
        });
        clients.get().request(options).onComplete(ar -> {
            if (ar.failed()) {
                fail(done, emitter::fail, connectFailure(ar.cause()));
                return;
            }
            HttpClientRequest request = ar.result();
            current[0] = request;
            if (done.get()) {
                request.reset();
                return;
            }
            request.send(payload).onComplete(rar -> {
                if (rar.failed()) {
                    fail(done, emitter::fail, connectFailure(rar.cause()));
                    return;
                }
                HttpClientResponse response = rar.result();
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
                        state.dispatch(this, call, emitter, done, firstEvent, timer);
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
                    state.dispatch(this, call, emitter, done, firstEvent, timer);
                    if (done.compareAndSet(false, true)) {
                        vertx.cancelTimer(timer);
                        if (state.sawDone || firstEvent.get()) {
                            emitter.complete();
                        } else {
                            emitter.fail(new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH,
                                    "The upstream stream ended without any event", true, null, null));
                        }
                    }
                });
            });
        });
    }

    private static final byte[] DATA = "data:".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT = "event:".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);

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
        boolean sawDone;

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

        /** The event's data is the stream's end marker, [DONE]. */
        private boolean isDone(int size) {
            int from = 0;
            int to = size;
            while (from < to && data[from] <= ' ') {
                from++;
            }
            while (to > from && data[to - 1] <= ' ') {
                to--;
            }
            return Arrays.equals(data, from, to, DONE, 0, DONE.length);
        }

        void dispatch(OpenAiProvider provider, ProviderCall call, MultiEmitter<? super ObjectNode> emitter,
                      AtomicBoolean done, AtomicBoolean firstEvent, long timer) {
            if (!hasData) {
                event = null;
                return;
            }
            String eventName = event;
            int size = length;
            length = 0;
            hasData = false;
            event = null;
            if (done.get()) {
                return;
            }
            if (isDone(size)) {
                sawDone = true;
                return;
            }
            JsonNode json;
            try {
                json = provider.mapper.readTree(data, 0, size);
            } catch (Exception e) {
                fail(done, emitter::fail, new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH,
                        "The upstream sent an unreadable event", true, null, e));
                return;
            }
            if ("error".equals(eventName) || json.has("error")) {
                LOG.warnf("upstream stream error for request %s: %s", call.requestId(),
                        truncate(new String(data, 0, size, StandardCharsets.UTF_8)));
                fail(done, emitter::fail, new UpstreamFailure(ErrorCode.BACKEND_ERROR,
                        "The upstream reported an error during generation", true, null, null));
                return;
            }
            if (!(json instanceof ObjectNode chunk)) {
                return;
            }
            chunk.put("model", call.frontendSlug());
            if (firstEvent.compareAndSet(false, true)) {
                provider.vertx.cancelTimer(timer);
            }
            emitter.emit(chunk);
        }
    }

    private static void fail(AtomicBoolean done, java.util.function.Consumer<Throwable> failer, Throwable failure) {
        if (done.compareAndSet(false, true)) {
            failer.accept(failure);
        }
    }

    private static UpstreamFailure connectFailure(Throwable t) {
        if (t instanceof UpstreamFailure f) {
            return f;
        }
        if (t instanceof TimeoutException || (t.getMessage() != null && t.getMessage().toLowerCase().contains("timeout"))
                || t.getClass().getSimpleName().contains("Timeout")) {
            return new UpstreamFailure(ErrorCode.BACKEND_TIMEOUT, "The upstream timed out", true, null, t);
        }
        return UpstreamFailure.unavailable("The upstream could not be reached", t);
    }

    private UpstreamFailure statusFailure(int status, String retryAfter, Buffer body) {
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

    private static String truncate(String s) {
        String oneLine = s.replaceAll("[\\r\\n\\t]+", " ");
        return oneLine.length() > 300 ? oneLine.substring(0, 300) + "..." : oneLine;
    }

    private byte[] serialize(ObjectNode body) {
        try {
            return mapper.writeValueAsBytes(body);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
