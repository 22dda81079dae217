package ai.scaigrid.nodeagent.backend;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.scaiinfer.Logprobs;
import ai.scaigrid.commons.scaiinfer.OpenAiChatBodies;
import ai.scaigrid.commons.scaiinfer.Reasoning;
import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.EmbedResponse;
import ai.scaigrid.proto.scaiinfer.v1.Embedding;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.ToolCallDelta;
import ai.scaigrid.proto.scaiinfer.v1.Usage;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Timestamp;
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
import io.vertx.core.http.RequestOptions;
import io.vertx.core.parsetools.RecordParser;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * A local OpenAI-compatible server (llama.cpp {@code llama-server}, vLLM, Ollama ...): each request is
 * translated field by field to {@code /chat/completions} (or {@code /completions} for a raw prompt)
 * with {@code stream: true}, and the SSE events are relayed as InferenceChunks as they arrive. The
 * A reasoning model's thinking ({@code reasoning_content}, or {@code reasoning}) travels as the
 * chunks' reasoning_content. The finish_reason is held back until the stream ends so that it travels together with the usage,
 * which these servers send in a separate last event. Non-blocking (Vert.x HTTP client); cancelling
 * the subscription resets the HTTP request, which makes the server stop generating.
 */
public final class OpenAiCompatibleBackend implements InferenceBackend {
    private static final Logger LOG = Logger.getLogger(OpenAiCompatibleBackend.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient client;
    private final String modelName;
    private final String upstreamModel;
    private final String baseUrl;
    private final String apiKey;
    private final Duration timeout;

    public OpenAiCompatibleBackend(Vertx vertx, String modelName, String upstreamModel, String baseUrl, String apiKey,
                                   Duration timeout) {
        this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true)
                .setConnectTimeout(5000).setMaxPoolSize(256));
        this.modelName = modelName;
        this.upstreamModel = upstreamModel;
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.apiKey = apiKey;
        this.timeout = timeout;
    }

    @Override
    public String engine() {
        return "openai-compatible";
    }

    public void close() {
        client.close();
    }

    // ------------------------------------------------------------------ request translation

    ObjectNode requestBody(InferenceRequest r) {
        ObjectNode body = OpenAiChatBodies.of(r, JSON);
        body.put("model", upstreamModel);
        if (r.hasPrompt()) {
            // a raw prompt goes to /completions, which takes neither messages nor tools
            body.remove("messages");
            body.remove("tools");
            body.remove("tool_choice");
            Logprobs.asCompletionCount(body, r);
        } else if (!body.has("messages")) {
            body.putArray("messages");
        }
        // OpenAI's newer name for system instructions; local servers' chat templates know only "system"
        // (llama.cpp's Jinja templates raise on a role they do not know)
        for (JsonNode message : body.path("messages")) {
            if ("developer".equals(message.path("role").asText())) {
                ((ObjectNode) message).put("role", "system");
            }
            // Anthropic's signed thinking means nothing to a local server (its reasoning_content stays)
            ((ObjectNode) message).remove("thinking_blocks");
        }
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        if (!r.getUserId().isEmpty()) {
            body.put("user", r.getUserId());
        }
        return body;
    }

    private RequestOptions options(String path) {
        RequestOptions o = new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(baseUrl + path)
                .setIdleTimeout(timeout.toMillis())
                .putHeader("content-type", "application/json")
                .putHeader("accept", "text/event-stream, application/json");
        if (apiKey != null && !apiKey.isBlank()) {
            o.putHeader("authorization", "Bearer " + apiKey);
        }
        return o;
    }

    // ------------------------------------------------------------------ streaming

    @Override
    public Multi<InferenceChunk> stream(InferenceRequest request) {
        return Multi.createFrom().emitter(emitter -> {
            ObjectNode body;
            try {
                body = requestBody(request);
            } catch (ApiException e) {
                emitter.fail(e);
                return;
            }
            new Relay(emitter, request.hasPrompt()).start(body);
        });
    }

    /** One relayed SSE stream. */
    private final class Relay {
        private final MultiEmitter<? super InferenceChunk> emitter;
        private final boolean completions;
        private final AtomicBoolean done = new AtomicBoolean();
        private final AtomicReference<HttpClientRequest> current = new AtomicReference<>();
        private final StringBuilder data = new StringBuilder();
        private String id = Chunks.newCompletionId();
        private Timestamp created = Chunks.now();
        private String finish = "";
        private Usage usage;
        private boolean sawEvent;
        private boolean sentRole;

        Relay(MultiEmitter<? super InferenceChunk> emitter, boolean completions) {
            this.emitter = emitter;
            this.completions = completions;
        }

        void start(ObjectNode body) {
            emitter.onTermination(() -> {
                if (done.compareAndSet(false, true)) {
                    HttpClientRequest r = current.get();
                    if (r != null) {
                        r.reset(); // the gateway went away: the local server stops generating
                    }
                }
            });
            Buffer payload = Buffer.buffer(body.toString());
            client.request(options(completions ? "/completions" : "/chat/completions")).onComplete(ar -> {
                if (ar.failed()) {
                    fail(unreachable(ar.cause()));
                    return;
                }
                HttpClientRequest req = ar.result();
                current.set(req);
                if (done.get()) {
                    req.reset();
                    return;
                }
                req.send(payload).onComplete(rar -> {
                    if (rar.failed()) {
                        fail(unreachable(rar.cause()));
                        return;
                    }
                    HttpClientResponse response = rar.result();
                    if (response.statusCode() / 100 != 2) {
                        response.body().onComplete(b -> fail(statusFailure(response.statusCode(), b.succeeded() ? b.result() : null)));
                        return;
                    }
                    response.exceptionHandler(t -> fail(unreachable(t)));
                    response.handler(RecordParser.newDelimited("\n", this::line));
                    response.endHandler(v -> {
                        dispatch();
                        finish();
                    });
                });
            });
        }

        private void line(Buffer raw) {
            if (done.get()) {
                return;
            }
            String text = raw.toString(StandardCharsets.UTF_8);
            if (text.endsWith("\r")) {
                text = text.substring(0, text.length() - 1);
            }
            if (text.isEmpty()) {
                dispatch();
            } else if (text.startsWith("data:")) {
                if (data.length() > 0) {
                    data.append('\n');
                }
                data.append(text.length() > 5 && text.charAt(5) == ' ' ? text.substring(6) : text.substring(5));
            }
        }

        private void dispatch() {
            if (data.length() == 0 || done.get()) {
                data.setLength(0);
                return;
            }
            String payload = data.toString().trim();
            data.setLength(0);
            if (payload.equals("[DONE]")) {
                finish();
                return;
            }
            JsonNode event;
            try {
                event = JSON.readTree(payload);
            } catch (Exception e) {
                fail(new ApiException(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The local model server sent an unreadable event"));
                return;
            }
            if (event.has("error")) {
                LOG.warnf("local model server reported an error: %s", truncate(payload));
                fail(new ApiException(ErrorCode.BACKEND_ERROR, "The local model server reported an error during generation"));
                return;
            }
            sawEvent = true;
            if (event.hasNonNull("id") && event.get("id").isTextual()) {
                id = event.get("id").asText();
            }
            if (event.hasNonNull("created") && event.get("created").canConvertToLong()) {
                created = Timestamp.newBuilder().setSeconds(event.get("created").asLong()).build();
            }
            JsonNode u = event.get("usage");
            if (u != null && u.isObject()) {
                int prompt = u.path("prompt_tokens").asInt(0);
                int completion = u.path("completion_tokens").asInt(0);
                usage = Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(completion)
                        .setTotalTokens(u.path("total_tokens").asInt(prompt + completion))
                        .setReasoningTokens(Reasoning.tokens(u))
                        // vLLM (--enable-prefix-caching) reports its prefix-cache hits as OpenAI does
                        .setCachedTokens(Math.max(0, u.path("prompt_tokens_details").path("cached_tokens").asInt(0))).build();
            }
            JsonNode choice = event.path("choices").path(0);
            if (choice.isMissingNode()) {
                return;
            }
            var delta = Chunks.delta();
            boolean any = false;
            if (completions) {
                String t = choice.path("text").asText("");
                if (!t.isEmpty()) {
                    delta.setContent(t);
                    any = true;
                }
            } else {
                JsonNode d = choice.path("delta");
                if (d.path("content").isTextual() && !d.get("content").asText().isEmpty()) {
                    delta.setContent(d.get("content").asText());
                    any = true;
                }
                String thought = Reasoning.of(d);
                if (!thought.isEmpty()) {
                    delta.setReasoningContent(thought);
                    any = true;
                }
                for (JsonNode tc : d.path("tool_calls")) {
                    ToolCallDelta.Builder b = ToolCallDelta.newBuilder().setIndex(tc.path("index").asInt(0));
                    if (tc.path("id").isTextual()) {
                        b.setId(tc.get("id").asText());
                    }
                    if (tc.path("type").isTextual()) {
                        b.setType(tc.get("type").asText());
                    }
                    JsonNode fn = tc.path("function");
                    FunctionCall.Builder f = FunctionCall.newBuilder();
                    if (fn.path("name").isTextual()) {
                        f.setName(fn.get("name").asText());
                    }
                    JsonNode args = fn.get("arguments");
                    if (args != null && !args.isNull()) {
                        // some servers send the arguments as an object: the contract wants a JSON string
                        f.setArguments(args.isTextual() ? args.asText() : args.toString());
                    }
                    delta.addToolCalls(b.setFunction(f));
                    any = true;
                }
            }
            if (choice.path("finish_reason").isTextual()) {
                finish = choice.get("finish_reason").asText();
            }
            if (any) {
                if (!sentRole) {
                    delta.setRole("assistant");
                    sentRole = true;
                }
                // the tokens' log probabilities, when asked: chat's shape, or the completions' from /completions
                emitter.emit(Chunks.base(id, modelName, created).setDelta(delta)
                        .addAllLogprobs(Logprobs.fromJson(choice.get("logprobs"))).build());
            }
        }

        private void finish() {
            if (!done.compareAndSet(false, true)) {
                return;
            }
            if (!sawEvent) {
                emitter.fail(new ApiException(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The local model server ended the stream without any event"));
                return;
            }
            var last = Chunks.base(id, modelName, created).setFinishReason(finish.isEmpty() ? "stop" : finish);
            if (!sentRole) {
                last.setDelta(Chunks.delta().setRole("assistant"));
            }
            if (usage != null) {
                last.setUsage(usage);
            }
            emitter.emit(last.build());
            emitter.complete();
        }

        private void fail(ApiException e) {
            if (done.compareAndSet(false, true)) {
                HttpClientRequest r = current.get();
                if (r != null) {
                    r.reset();
                }
                emitter.fail(e);
            }
        }
    }

    // ------------------------------------------------------------------ embeddings

    @Override
    public Uni<EmbedResponse> embed(EmbedRequest request) {
        ObjectNode body = JSON.createObjectNode().put("model", upstreamModel);
        ArrayNode input = body.putArray("input");
        request.getInputList().forEach(input::add);
        if (request.hasDimensions()) {
            body.put("dimensions", request.getDimensions());
        }
        return Uni.createFrom().<JsonNode>emitter(em -> {
            AtomicReference<HttpClientRequest> current = new AtomicReference<>();
            AtomicBoolean done = new AtomicBoolean();
            Consumer<ApiException> fail = e -> {
                if (done.compareAndSet(false, true)) {
                    em.fail(e);
                }
            };
            em.onTermination(() -> {
                if (done.compareAndSet(false, true) && current.get() != null) {
                    current.get().reset();
                }
            });
            client.request(options("/embeddings").putHeader("accept", "application/json")).onComplete(ar -> {
                if (ar.failed()) {
                    fail.accept(unreachable(ar.cause()));
                    return;
                }
                current.set(ar.result());
                ar.result().send(Buffer.buffer(body.toString())).onComplete(rar -> {
                    if (rar.failed()) {
                        fail.accept(unreachable(rar.cause()));
                        return;
                    }
                    HttpClientResponse response = rar.result();
                    response.body().onComplete(bar -> {
                        if (bar.failed()) {
                            fail.accept(unreachable(bar.cause()));
                            return;
                        }
                        if (response.statusCode() / 100 != 2) {
                            fail.accept(statusFailure(response.statusCode(), bar.result()));
                            return;
                        }
                        try {
                            JsonNode json = JSON.readTree(bar.result().getBytes());
                            if (done.compareAndSet(false, true)) {
                                em.complete(json);
                            }
                        } catch (Exception e) {
                            fail.accept(new ApiException(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The local model server sent an unreadable reply"));
                        }
                    });
                });
            });
        }).map(json -> {
            EmbedResponse.Builder out = EmbedResponse.newBuilder().setModel(modelName);
            JsonNode data = json.path("data");
            if (!data.isArray()) {
                throw new ApiException(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The local model server sent an unreadable reply");
            }
            for (JsonNode item : data) {
                Embedding.Builder e = Embedding.newBuilder().setIndex(item.path("index").asInt(0));
                item.path("embedding").forEach(x -> e.addEmbedding((float) x.asDouble()));
                out.addData(e);
            }
            int prompt = json.path("usage").path("prompt_tokens").asInt(0);
            return out.setUsage(Chunks.usage(prompt, 0)).build();
        });
    }

    // ------------------------------------------------------------------ failures

    private static ApiException unreachable(Throwable t) {
        if (t instanceof ApiException e) {
            return e;
        }
        String name = t.getClass().getSimpleName();
        if (name.contains("Timeout") || (t.getMessage() != null && t.getMessage().toLowerCase().contains("timeout"))) {
            return new ApiException(ErrorCode.BACKEND_TIMEOUT, "The local model server timed out");
        }
        LOG.warnf("local model server unreachable: %s", t.toString());
        return new ApiException(ErrorCode.BACKEND_ERROR, "The local model server could not be reached");
    }

    private static ApiException statusFailure(int status, Buffer body) {
        String message = null;
        if (body != null && body.length() > 0) {
            try {
                JsonNode m = JSON.readTree(body.getBytes()).path("error").path("message");
                message = m.isTextual() ? m.asText() : null;
            } catch (Exception ignored) {
                // not JSON: nothing of it is relayed
            }
        }
        LOG.debugf("local model server answered HTTP %d: %s", status, message);
        if (status == 429) {
            return new ApiException(ErrorCode.BACKEND_RATE_LIMITED, "The local model server is overloaded");
        }
        if (status == 400 || status == 413 || status == 422) {
            return new ApiException(ErrorCode.VALIDATION_ERROR, message == null ? "The local model server rejected the request"
                    : "The local model server rejected the request: " + truncate(message));
        }
        if (status == 404) {
            return new ApiException(ErrorCode.MODEL_NOT_FOUND, "The local model server does not serve this model");
        }
        return new ApiException(ErrorCode.BACKEND_ERROR, "The local model server returned an error (HTTP " + status + ")");
    }

    private static String truncate(String s) {
        String one = s.replaceAll("[\\r\\n\\t]+", " ");
        return one.length() > 300 ? one.substring(0, 300) + "..." : one;
    }
}
