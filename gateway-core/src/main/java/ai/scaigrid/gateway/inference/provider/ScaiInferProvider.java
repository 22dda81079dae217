package ai.scaigrid.gateway.inference.provider;

import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.error.GrpcErrors;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.commons.scaiinfer.Logprobs;
import ai.scaigrid.commons.scaiinfer.Reasoning;
import ai.scaigrid.gateway.inference.CircuitBreaker;
import ai.scaigrid.gateway.nodes.NodeChannels;
import ai.scaigrid.gateway.nodes.NodeRegistry;
import ai.scaigrid.gateway.nodes.NodeSnapshot;
import ai.scaigrid.gateway.nodes.NodesConfig;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.EmbedResponse;
import ai.scaigrid.proto.scaiinfer.v1.Embedding;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.FunctionDefinition;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceError;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceResponse;
import ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.ResponseFormat;
import ai.scaigrid.proto.scaiinfer.v1.StreamOptions;
import ai.scaigrid.proto.scaiinfer.v1.Tool;
import ai.scaigrid.proto.scaiinfer.v1.ToolCall;
import ai.scaigrid.proto.scaiinfer.v1.ToolCallDelta;
import ai.scaigrid.proto.scaiinfer.v1.ToolChoice;
import ai.scaigrid.proto.scaiinfer.v1.Usage;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.smallrye.mutiny.subscription.UniEmitter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * The {@code scaiinfer} provider: a backend whose {@code model_name} is X means "any healthy ScaiInfer
 * node that has X loaded" ({@code connection_config.node_id} pins one node). For each call it picks a
 * node from the registry (power of two choices on load, see {@link NodeRegistry#pick}), opens
 * {@code scaiinfer.v1.InferenceService} on it with the node's token, the request id and the caller's
 * deadline, and relays the chunks as OpenAI {@code chat.completion.chunk} objects.
 *
 * <p>A node that fails before the first token (unreachable, draining, busy, model gone) is replaced
 * by another one, up to {@code scaigrid.nodes.max-attempts}; after the first token a failure ends the
 * stream with an {@link UpstreamFailure}. Each node has its own circuit breaker. Cancelling the
 * subscription cancels the node's gRPC call at once, which frees the node's slot.
 */
@ApplicationScoped
public class ScaiInferProvider implements Provider {
    private static final Logger LOG = Logger.getLogger(ScaiInferProvider.class);
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> REQUEST_ID = Metadata.Key.of(RequestIds.GRPC_METADATA, Metadata.ASCII_STRING_MARSHALLER);

    @Inject
    NodeRegistry registry;

    @Inject
    NodeChannels channels;

    @Inject
    NodesConfig config;

    @Inject
    ObjectMapper mapper;

    private final Map<String, CircuitBreaker> breakers = new ConcurrentHashMap<>();

    @Override
    public String type() {
        return "scaiinfer";
    }

    /** The circuit state of one node (for health views and tests). */
    public CircuitBreaker.State nodeCircuit(String nodeId) {
        CircuitBreaker b = breakers.get(nodeId);
        return b == null ? CircuitBreaker.State.CLOSED : b.state();
    }

    private CircuitBreaker breaker(String nodeId) {
        return breakers.computeIfAbsent(nodeId, id -> new CircuitBreaker(config.circuit().requestVolumeThreshold(),
                config.circuit().failureRatio(), config.circuit().delay().toMillis(), config.circuit().successThreshold()));
    }

    // ------------------------------------------------------------------ Provider

    @Override
    public Multi<ObjectNode> streamChat(BackendTarget backend, ProviderCall call) {
        return Multi.createFrom().emitter(emitter -> {
            InferenceRequest request;
            try {
                request = inferenceRequest(backend, call, true);
            } catch (UpstreamFailure f) {
                emitter.fail(f);
                return;
            }
            new StreamRun(backend, call, request, emitter).start();
        });
    }

    @Override
    public Uni<ObjectNode> chat(BackendTarget backend, ProviderCall call) {
        return Uni.createFrom().emitter(emitter -> {
            InferenceRequest request;
            try {
                request = inferenceRequest(backend, call, false);
            } catch (UpstreamFailure f) {
                emitter.fail(f);
                return;
            }
            new UnaryRun<InferenceResponse>(backend, call, emitter, response -> completion(response, call),
                    (stub, observer) -> stub.infer(request, observer)).start();
        });
    }

    @Override
    public Uni<ObjectNode> embed(BackendTarget backend, ProviderCall call) {
        return Uni.createFrom().emitter(emitter -> {
            EmbedRequest request;
            try {
                request = embedRequest(backend, call);
            } catch (UpstreamFailure f) {
                emitter.fail(f);
                return;
            }
            new UnaryRun<EmbedResponse>(backend, call, emitter, response -> embeddings(response, call),
                    (stub, observer) -> stub.embed(request, observer)).start();
        });
    }

    // ------------------------------------------------------------------ attempts

    private enum Outcome { SUCCESS, FAILURE, IGNORED }

    /** One try on one node: holds its local in-flight count and its breaker permit until settled. */
    private final class Attempt {
        final NodeSnapshot node;
        final CircuitBreaker breaker;
        private final AtomicBoolean settled = new AtomicBoolean();
        private volatile ClientCallStreamObserver<?> call;
        private volatile boolean cancelled;
        /** The channel the call went out on; null until the stub is made. */
        private volatile NodeChannels.Use channel;

        Attempt(NodeSnapshot node, CircuitBreaker breaker) {
            this.node = node;
            this.breaker = breaker;
            registry.localStarted(node.id());
        }

        void started(ClientCallStreamObserver<?> call) {
            this.call = call;
            if (cancelled) {
                call.cancel("cancelled by the gateway", null);
            }
        }

        void cancel() {
            cancelled = true;
            ClientCallStreamObserver<?> c = call;
            if (c != null) {
                c.cancel("cancelled by the gateway", null);
            }
        }

        void settle(Outcome outcome) {
            if (!settled.compareAndSet(false, true)) {
                return;
            }
            registry.localEnded(node.id());
            NodeChannels.Use c = channel;
            if (c != null) {
                c.close();
            }
            switch (outcome) {
                case SUCCESS -> breaker.onSuccess();
                case FAILURE -> breaker.onFailure();
                default -> breaker.onIgnored();
            }
        }
    }

    /** What one failed attempt means: the failure to report, whether another node may take over, the breaker outcome. */
    private record Classified(UpstreamFailure failure, boolean retry, Outcome outcome) {
    }

    /** The common part of a call: node choice, retries before the first answer, stubs. */
    private abstract class Run {
        final BackendTarget backend;
        final ProviderCall call;
        final String model;
        final String pinned;
        final Set<String> tried = new HashSet<>();
        final AtomicBoolean done = new AtomicBoolean();
        volatile Attempt current;
        int attempts;
        UpstreamFailure last;
        /** A node failed an attempt (not merely draining, full or without the model): only then is the backend at fault. */
        boolean nodeFailed;

        Run(BackendTarget backend, ProviderCall call) {
            this.backend = backend;
            this.call = call;
            this.model = backend.modelName();
            String node = backend.config("node_id", null);
            this.pinned = node == null || node.isBlank() ? null : node;
        }

        /** Starts the next attempt, or fails the call when no node is left. */
        synchronized void next() {
            if (done.get()) {
                return;
            }
            if (call.deadlineNanos() > 0 && call.deadlineNanos() - System.nanoTime() <= 0) {
                finish(UpstreamFailure.timeout("The request's deadline passed before a node answered"));
                return;
            }
            Attempt attempt = attempts >= Math.max(1, config.maxAttempts()) ? null : choose();
            if (attempt == null) {
                finish(forBackend(last != null ? last : new UpstreamFailure(ErrorCode.MODEL_UNAVAILABLE,
                        "No healthy ScaiInfer node has model " + model + " loaded", true, null, null)));
                return;
            }
            attempts++;
            current = attempt;
            // Start the node call detached from whatever io.grpc.Context this thread carries: under load
            // that may be ANOTHER inbound call's context, whose normal completion would cancel this call.
            // Deadline and cancellation travel explicitly (the stub's deadline, cancelled()).
            io.grpc.Context previous = io.grpc.Context.ROOT.attach();
            try {
                invoke(attempt, stub(attempt));
            } catch (RuntimeException e) {
                attempt.settle(Outcome.FAILURE);
                nodeFailed = true;
                last = UpstreamFailure.unavailable("The inference node could not be reached", e);
                next();
            } finally {
                io.grpc.Context.ROOT.detach(previous);
            }
        }

        private Attempt choose() {
            while (true) {
                Optional<NodeSnapshot> node = registry.pick(model, pinned, tried, id -> breaker(id).isCallPermitted());
                if (node.isEmpty()) {
                    return null;
                }
                tried.add(node.get().id());
                CircuitBreaker b = breaker(node.get().id());
                if (b.tryAcquire()) {
                    return new Attempt(node.get(), b);
                }
            }
        }

        private InferenceServiceGrpc.InferenceServiceStub stub(Attempt attempt) {
            NodeSnapshot node = attempt.node;
            Metadata headers = new Metadata();
            registry.callToken(node).ifPresent(token -> headers.put(AUTHORIZATION, "Bearer " + token));
            if (call.requestId() != null) {
                headers.put(REQUEST_ID, call.requestId());
            }
            NodeChannels.Use channel = channels.open(node.address());
            attempt.channel = channel;
            if (attempt.settled.get()) {
                channel.close(); // settled meanwhile (the caller went away): the count must not keep the call
            }
            InferenceServiceGrpc.InferenceServiceStub stub = InferenceServiceGrpc.newStub(channel.channel())
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            if (call.deadlineNanos() > 0) {
                // the caller's deadline travels to the node, which stops generating when it passes
                stub = stub.withDeadlineAfter(Math.max(1, call.deadlineNanos() - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
            return stub;
        }

        /** A failure of an attempt that has not produced anything yet: retry elsewhere or give up. */
        void failedBeforeFirst(Attempt attempt, Throwable t) {
            if (done.get()) {
                attempt.settle(Outcome.IGNORED);
                return;
            }
            Classified c = classify(t, attempt.node);
            attempt.settle(c.outcome());
            nodeFailed |= c.outcome() == Outcome.FAILURE;
            last = c.failure();
            if (c.retry()) {
                LOG.debugf("request %s: node %s failed before the first token (%s), trying another", call.requestId(),
                        attempt.node.id(), c.failure().getMessage());
                next();
            } else {
                finish(forBackend(c.failure()));
            }
        }

        /**
         * The backend's circuit counts what the nodes' circuits count: a node that failed. No live node
         * with the model (a node not registered yet, all draining, all full) or the caller's own deadline
         * still lets the dispatcher try the next backend, but must not open this backend's circuit, or
         * it would stay closed to traffic for the circuit's whole delay after a node appears.
         */
        private UpstreamFailure forBackend(UpstreamFailure failure) {
            return nodeFailed ? failure : failure.sparingCircuit();
        }

        /** The caller went away: stop the node's work now (synchronized with {@link #next}: no attempt starts after this). */
        synchronized void cancelled() {
            if (done.compareAndSet(false, true)) {
                Attempt a = current;
                if (a != null) {
                    a.cancel();
                    a.settle(Outcome.IGNORED);
                }
            }
        }

        abstract void invoke(Attempt attempt, InferenceServiceGrpc.InferenceServiceStub stub);

        abstract void finish(UpstreamFailure failure);
    }

    /** StreamInference with failover before the first chunk. */
    private final class StreamRun extends Run {
        private final InferenceRequest request;
        private final MultiEmitter<? super ObjectNode> emitter;
        private volatile boolean started;

        StreamRun(BackendTarget backend, ProviderCall call, InferenceRequest request, MultiEmitter<? super ObjectNode> emitter) {
            super(backend, call);
            this.request = request;
            this.emitter = emitter;
        }

        void start() {
            emitter.onTermination(this::cancelled);
            next();
        }

        @Override
        void invoke(Attempt attempt, InferenceServiceGrpc.InferenceServiceStub stub) {
            stub.streamInference(request, new ClientResponseObserver<InferenceRequest, InferenceChunk>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<InferenceRequest> requestStream) {
                    attempt.started(requestStream);
                }

                @Override
                public void onNext(InferenceChunk chunk) {
                    if (done.get()) {
                        return;
                    }
                    if (chunk.hasError()) {
                        attempt.settle(Outcome.FAILURE);
                        attempt.cancel();
                        finish(inBandFailure(chunk.getError(), attempt.node));
                        return;
                    }
                    started = true;
                    emitter.emit(chunkJson(chunk, call.frontendSlug()));
                }

                @Override
                public void onError(Throwable t) {
                    if (!started) {
                        failedBeforeFirst(attempt, t);
                        return;
                    }
                    if (done.get()) {
                        attempt.settle(Outcome.IGNORED);
                        return;
                    }
                    Status.Code code = Status.fromThrowable(t).getCode();
                    boolean deadline = code == Status.Code.DEADLINE_EXCEEDED;
                    attempt.settle(deadline ? Outcome.IGNORED : Outcome.FAILURE);
                    LOG.warnf("request %s: node %s failed mid-stream: %s", call.requestId(), attempt.node.id(), code);
                    finish(deadline ? UpstreamFailure.timeout("The request's deadline passed during generation")
                            : new UpstreamFailure(ErrorCode.BACKEND_ERROR, "The inference node failed during generation",
                            true, null, null));
                }

                @Override
                public void onCompleted() {
                    attempt.settle(Outcome.SUCCESS);
                    if (done.compareAndSet(false, true)) {
                        emitter.complete();
                    }
                }
            });
        }

        @Override
        void finish(UpstreamFailure failure) {
            if (done.compareAndSet(false, true)) {
                emitter.fail(failure);
            }
        }
    }

    /** A unary RPC (Infer, Embed) with failover; any failure happens before an answer, so any may move on. */
    private final class UnaryRun<R> extends Run {
        private final UniEmitter<? super ObjectNode> emitter;
        private final Function<R, ObjectNode> mapper;
        private final java.util.function.BiConsumer<InferenceServiceGrpc.InferenceServiceStub, ClientResponseObserver<Object, R>> rpc;

        @SuppressWarnings({"unchecked", "rawtypes"})
        UnaryRun(BackendTarget backend, ProviderCall call, UniEmitter<? super ObjectNode> emitter, Function<R, ObjectNode> mapper,
                 java.util.function.BiConsumer<InferenceServiceGrpc.InferenceServiceStub, ClientResponseObserver<?, R>> rpc) {
            super(backend, call);
            this.emitter = emitter;
            this.mapper = mapper;
            this.rpc = (java.util.function.BiConsumer) rpc;
        }

        void start() {
            emitter.onTermination(this::cancelled);
            next();
        }

        @Override
        void invoke(Attempt attempt, InferenceServiceGrpc.InferenceServiceStub stub) {
            rpc.accept(stub, new ClientResponseObserver<Object, R>() {
                private R result;

                @Override
                public void beforeStart(ClientCallStreamObserver<Object> requestStream) {
                    attempt.started(requestStream);
                }

                @Override
                public void onNext(R value) {
                    result = value;
                }

                @Override
                public void onError(Throwable t) {
                    failedBeforeFirst(attempt, t);
                }

                @Override
                public void onCompleted() {
                    attempt.settle(Outcome.SUCCESS);
                    if (done.compareAndSet(false, true)) {
                        try {
                            emitter.complete(mapper.apply(result));
                        } catch (RuntimeException e) {
                            emitter.fail(new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH,
                                    "The inference node's answer could not be read", true, null, e));
                        }
                    }
                }
            });
        }

        @Override
        void finish(UpstreamFailure failure) {
            if (done.compareAndSet(false, true)) {
                emitter.fail(failure);
            }
        }
    }

    // ------------------------------------------------------------------ failures

    private static Classified classify(Throwable t, NodeSnapshot node) {
        Status status = Status.fromThrowable(t);
        Metadata trailers = Status.trailersFromThrowable(t);
        String code = trailers == null ? null : trailers.get(GrpcErrors.ERROR_CODE_KEY);
        String description = status.getDescription();
        return switch (status.getCode()) {
            case DEADLINE_EXCEEDED -> new Classified(UpstreamFailure.timeout("The inference node did not answer within the request's deadline"),
                    false, Outcome.IGNORED);
            case INVALID_ARGUMENT, OUT_OF_RANGE -> new Classified(new UpstreamFailure(ErrorCode.VALIDATION_ERROR,
                    description == null || description.isBlank() ? "The inference node rejected the request"
                            : "The inference node rejected the request: " + truncate(description), false, null, null),
                    false, Outcome.IGNORED);
            case RESOURCE_EXHAUSTED -> new Classified(new UpstreamFailure(ErrorCode.BACKEND_RATE_LIMITED,
                    "Every inference node with this model is at capacity", true, null, null), true, Outcome.IGNORED);
            case NOT_FOUND -> new Classified(new UpstreamFailure(ErrorCode.MODEL_UNAVAILABLE,
                    "No inference node serves this model", true, null, null), true, Outcome.IGNORED);
            case UNAUTHENTICATED, PERMISSION_DENIED -> {
                LOG.warnf("node %s refused the gateway's credentials (%s); check scaigrid.nodes.call-token / the node's tokens",
                        node.id(), code);
                yield new Classified(UpstreamFailure.unavailable("The inference node refused the gateway", null), true, Outcome.FAILURE);
            }
            case UNAVAILABLE -> "SERVICE_DRAINING".equals(code)
                    ? new Classified(UpstreamFailure.unavailable("The inference node is draining", null), true, Outcome.IGNORED)
                    : new Classified(UpstreamFailure.unavailable("The inference node could not be reached", null), true, Outcome.FAILURE);
            default -> {
                LOG.warnf("node %s failed the call: %s %s", node.id(), status.getCode(),
                        description == null ? "" : truncate(description));
                yield new Classified(UpstreamFailure.unavailable("The inference node failed", null), true, Outcome.FAILURE);
            }
        };
    }

    private static UpstreamFailure inBandFailure(InferenceError error, NodeSnapshot node) {
        ErrorCode code = ErrorCode.fromCode(error.getCode()).filter(c -> !c.isServerFault()).orElse(ErrorCode.BACKEND_ERROR);
        LOG.warnf("node %s reported an error mid-stream: %s", node.id(), error.getCode());
        String message = error.getMessage().isBlank() ? "The inference node failed during generation" : truncate(error.getMessage());
        return new UpstreamFailure(code, message, code != ErrorCode.VALIDATION_ERROR, null, null);
    }

    private static String truncate(String s) {
        String one = s.replaceAll("[\\r\\n\\t]+", " ");
        return one.length() > 300 ? one.substring(0, 300) + "..." : one;
    }

    private static UpstreamFailure invalid(String field, String message) {
        return UpstreamFailure.invalid(field, message);
    }

    // ------------------------------------------------------------------ OpenAI body -> scaiinfer.v1

    public InferenceRequest inferenceRequest(BackendTarget backend, ProviderCall call, boolean stream) {
        JsonNode body = call.body() == null ? mapper.createObjectNode() : call.body();
        InferenceRequest.Builder r = InferenceRequest.newBuilder().setModel(backend.modelName());
        JsonNode messages = body.get("messages");
        JsonNode prompt = body.get("prompt");
        if (call.rawPrompt() != null) {
            // a raw text completion: the node continues the prompt as it is (a local server's /completions)
            r.setPrompt(call.rawPrompt());
        } else if (messages != null && messages.isArray() && !messages.isEmpty()) {
            for (JsonNode m : messages) {
                r.addMessages(message(m));
            }
        } else if (prompt != null && prompt.isTextual()) {
            r.setPrompt(prompt.asText());
        } else {
            throw invalid("messages", "messages must be a non-empty array");
        }
        JsonNode maxTokens = body.hasNonNull("max_completion_tokens") ? body.get("max_completion_tokens") : body.get("max_tokens");
        if (maxTokens != null && !maxTokens.isNull()) {
            if (!maxTokens.canConvertToInt() || maxTokens.asInt() < 1) {
                throw invalid("max_tokens", "must be a positive integer");
            }
            r.setMaxTokens(maxTokens.asInt());
        }
        number(body, "temperature").ifPresent(v -> r.setTemperature(v.floatValue()));
        number(body, "top_p").ifPresent(v -> r.setTopP(v.floatValue()));
        number(body, "presence_penalty").ifPresent(v -> r.setPresencePenalty(v.floatValue()));
        number(body, "frequency_penalty").ifPresent(v -> r.setFrequencyPenalty(v.floatValue()));
        JsonNode seed = body.get("seed");
        if (seed != null && !seed.isNull()) {
            if (!seed.canConvertToLong()) {
                throw invalid("seed", "must be an integer");
            }
            r.setSeed(seed.asLong());
        }
        JsonNode stop = body.get("stop");
        if (stop != null && stop.isTextual()) {
            r.addStop(stop.asText());
        } else if (stop != null && stop.isArray()) {
            stop.forEach(s -> r.addStop(s.asText()));
        }
        JsonNode tools = body.get("tools");
        if (tools != null && tools.isArray()) {
            for (JsonNode t : tools) {
                JsonNode fn = t.path("function");
                FunctionDefinition.Builder f = FunctionDefinition.newBuilder().setName(fn.path("name").asText(""))
                        .setDescription(fn.path("description").asText("")).setStrict(fn.path("strict").asBoolean(false));
                if (fn.hasNonNull("parameters")) {
                    f.setParametersJson(fn.get("parameters").toString());
                }
                r.addTools(Tool.newBuilder().setType(t.path("type").asText("function")).setFunction(f));
            }
        }
        JsonNode choice = body.get("tool_choice");
        if (choice != null && choice.isTextual()) {
            r.setToolChoice(ToolChoice.newBuilder().setMode(choice.asText()));
        } else if (choice != null && choice.isObject()) {
            r.setToolChoice(ToolChoice.newBuilder().setMode("function")
                    .setFunctionName(choice.path("function").path("name").asText("")));
        }
        JsonNode format = body.get("response_format");
        if (format != null && format.isObject()) {
            ResponseFormat.Builder f = ResponseFormat.newBuilder().setType(format.path("type").asText("text"));
            JsonNode schema = format.path("json_schema");
            if (schema.isObject()) {
                f.setSchemaName(schema.path("name").asText(""));
                if (schema.hasNonNull("schema")) {
                    f.setJsonSchema(schema.get("schema").toString());
                }
            }
            r.setResponseFormat(f);
        }
        if (body.path("reasoning_effort").isTextual()) {
            r.setReasoningEffort(body.get("reasoning_effort").asText());
        }
        if (body.path("logprobs").asBoolean(false)) {
            r.setLogprobs(true).setTopLogprobs(Math.max(0, body.path("top_logprobs").asInt(0)));
        }
        JsonNode metadata = body.get("metadata");
        if (metadata != null && metadata.isObject()) {
            metadata.fields().forEachRemaining(e -> r.putMetadata(e.getKey(), e.getValue().isTextual() ? e.getValue().asText()
                    : e.getValue().toString()));
        }
        if (stream) {
            r.setStreamOptions(StreamOptions.newBuilder().setIncludeUsage(true)); // the gateway accounts every call
        }
        return r.setRequestId(nullToEmpty(call.requestId())).setTenantId(nullToEmpty(call.tenantId()))
                .setUserId(nullToEmpty(call.userId())).setPartnerId(nullToEmpty(call.partnerId())).build();
    }

    private static ChatMessage message(JsonNode m) {
        if (!m.isObject()) {
            throw invalid("messages", "every message must be an object");
        }
        ChatMessage.Builder b = ChatMessage.newBuilder().setRole(m.path("role").asText(""));
        JsonNode content = m.get("content");
        if (content != null && content.isTextual()) {
            b.setContent(content.asText());
        } else if (content != null && content.isArray()) {
            // multimodal content blocks: their text parts, in order
            StringBuilder text = new StringBuilder();
            for (JsonNode part : content) {
                if ("text".equals(part.path("type").asText()) && part.path("text").isTextual()) {
                    if (text.length() > 0) {
                        text.append('\n');
                    }
                    text.append(part.get("text").asText());
                }
            }
            b.setContent(text.toString());
        }
        if (m.path("name").isTextual()) {
            b.setName(m.get("name").asText());
        }
        if (m.path("tool_call_id").isTextual()) {
            b.setToolCallId(m.get("tool_call_id").asText());
        }
        String thought = Reasoning.of(m);
        if (!thought.isEmpty()) {
            b.setReasoningContent(thought);
        }
        for (JsonNode call : m.path("tool_calls")) {
            JsonNode args = call.path("function").get("arguments");
            b.addToolCalls(ToolCall.newBuilder().setId(call.path("id").asText("")).setType(call.path("type").asText("function"))
                    .setFunction(FunctionCall.newBuilder().setName(call.path("function").path("name").asText(""))
                            .setArguments(args == null || args.isNull() ? "" : args.isTextual() ? args.asText() : args.toString())));
        }
        return b.build();
    }

    private static Optional<Double> number(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return Optional.empty();
        }
        if (!v.isNumber()) {
            throw invalid(field, "must be a number");
        }
        return Optional.of(v.asDouble());
    }

    private EmbedRequest embedRequest(BackendTarget backend, ProviderCall call) {
        JsonNode body = call.body() == null ? mapper.createObjectNode() : call.body();
        EmbedRequest.Builder r = EmbedRequest.newBuilder().setModel(backend.modelName());
        JsonNode input = body.get("input");
        if (input != null && input.isTextual()) {
            r.addInput(input.asText());
        } else if (input != null && input.isArray() && !input.isEmpty()) {
            for (JsonNode i : input) {
                if (!i.isTextual()) {
                    throw invalid("input", "must be text: this model's ScaiInfer backend does not take token ids");
                }
                r.addInput(i.asText());
            }
        } else {
            throw invalid("input", "must be a string or a non-empty array of strings");
        }
        JsonNode dimensions = body.get("dimensions");
        if (dimensions != null && dimensions.canConvertToInt()) {
            r.setDimensions(dimensions.asInt());
        }
        return r.setRequestId(nullToEmpty(call.requestId())).setTenantId(nullToEmpty(call.tenantId()))
                .setUserId(nullToEmpty(call.userId())).setPartnerId(nullToEmpty(call.partnerId())).build();
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }

    // ------------------------------------------------------------------ scaiinfer.v1 -> OpenAI shapes

    ObjectNode chunkJson(InferenceChunk chunk, String slug) {
        ObjectNode out = mapper.createObjectNode();
        out.put("id", chunk.getId());
        out.put("object", "chat.completion.chunk");
        out.put("created", chunk.hasCreated() ? chunk.getCreated().getSeconds() : System.currentTimeMillis() / 1000);
        out.put("model", slug);
        ObjectNode choice = out.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode delta = choice.putObject("delta");
        if (!chunk.getDelta().getRole().isEmpty()) {
            delta.put("role", chunk.getDelta().getRole());
        }
        if (!chunk.getDelta().getContent().isEmpty()) {
            delta.put("content", chunk.getDelta().getContent());
        }
        if (!chunk.getDelta().getReasoningContent().isEmpty()) {
            delta.put("reasoning_content", chunk.getDelta().getReasoningContent());
        }
        if (chunk.getDelta().getToolCallsCount() > 0) {
            ArrayNode calls = delta.putArray("tool_calls");
            for (ToolCallDelta d : chunk.getDelta().getToolCallsList()) {
                ObjectNode c = calls.addObject().put("index", d.getIndex());
                if (!d.getId().isEmpty()) {
                    c.put("id", d.getId());
                }
                if (!d.getType().isEmpty()) {
                    c.put("type", d.getType());
                }
                ObjectNode fn = c.putObject("function");
                if (!d.getFunction().getName().isEmpty()) {
                    fn.put("name", d.getFunction().getName());
                }
                fn.put("arguments", d.getFunction().getArguments());
            }
        }
        if (chunk.getLogprobsCount() > 0) {
            choice.set("logprobs", Logprobs.toJson(chunk.getLogprobsList(), mapper));
        }
        if (chunk.getFinishReason().isEmpty()) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", chunk.getFinishReason());
        }
        if (chunk.hasUsage()) {
            out.set("usage", usage(chunk.getUsage()));
        }
        return out;
    }

    private ObjectNode completion(InferenceResponse r, ProviderCall call) {
        ObjectNode out = mapper.createObjectNode();
        out.put("id", r.getId());
        out.put("object", "chat.completion");
        out.put("created", r.hasCreated() ? r.getCreated().getSeconds() : System.currentTimeMillis() / 1000);
        out.put("model", call.frontendSlug());
        ObjectNode choice = out.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", r.getMessage().getRole().isEmpty() ? "assistant" : r.getMessage().getRole());
        if (r.getMessage().getToolCallsCount() > 0 && r.getMessage().getContent().isEmpty()) {
            message.putNull("content");
        } else {
            message.put("content", r.getMessage().getContent());
        }
        if (!r.getMessage().getReasoningContent().isEmpty()) {
            message.put("reasoning_content", r.getMessage().getReasoningContent());
        }
        if (r.getMessage().getToolCallsCount() > 0) {
            ArrayNode calls = message.putArray("tool_calls");
            for (ToolCall c : r.getMessage().getToolCallsList()) {
                calls.addObject().put("id", c.getId()).put("type", c.getType().isEmpty() ? "function" : c.getType())
                        .putObject("function").put("name", c.getFunction().getName()).put("arguments", c.getFunction().getArguments());
            }
        }
        choice.set("logprobs", r.getLogprobsCount() > 0 ? Logprobs.toJson(r.getLogprobsList(), mapper) : mapper.nullNode());
        choice.put("finish_reason", r.getFinishReason().isEmpty() ? "stop" : r.getFinishReason());
        if (r.hasUsage()) {
            out.set("usage", usage(r.getUsage()));
        }
        return out;
    }

    private ObjectNode embeddings(EmbedResponse r, ProviderCall call) {
        ObjectNode out = mapper.createObjectNode();
        out.put("object", "list");
        ArrayNode data = out.putArray("data");
        for (Embedding e : r.getDataList()) {
            ObjectNode item = data.addObject().put("object", "embedding").put("index", e.getIndex());
            ArrayNode vector = item.putArray("embedding");
            e.getEmbeddingList().forEach(vector::add);
        }
        out.put("model", call.frontendSlug());
        out.putObject("usage").put("prompt_tokens", r.getUsage().getPromptTokens())
                .put("total_tokens", r.getUsage().getPromptTokens() + r.getUsage().getCompletionTokens());
        return out;
    }

    ObjectNode usage(Usage u) {
        ObjectNode out = mapper.createObjectNode().put("prompt_tokens", u.getPromptTokens()).put("completion_tokens", u.getCompletionTokens())
                .put("total_tokens", u.getTotalTokens());
        if (u.getReasoningTokens() > 0) {
            out.putObject("completion_tokens_details").put("reasoning_tokens", u.getReasoningTokens());
        }
        // a node's prompt cache (vLLM's prefix caching) in OpenAI's names, so usage records and prices see it
        if (u.getCachedTokens() > 0) {
            out.putObject("prompt_tokens_details").put("cached_tokens", u.getCachedTokens());
        }
        if (u.getCacheWriteTokens() > 0) {
            out.put("cache_creation_input_tokens", u.getCacheWriteTokens());
        }
        return out;
    }
}
