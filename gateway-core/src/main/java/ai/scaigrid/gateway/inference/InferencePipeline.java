package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.DataErrors;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.scaiinfer.Reasoning;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.gateway.inference.provider.BackendTarget;
import ai.scaigrid.gateway.inference.provider.Provider;
import ai.scaigrid.gateway.inference.provider.ProviderCall;
import ai.scaigrid.gateway.inference.provider.Providers;
import ai.scaigrid.gateway.inference.provider.UpstreamFailure;
import ai.scaigrid.gateway.inference.provider.UpstreamHttp;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The inference pipeline shared by the native API, the OpenAI-compatible layer and gRPC:
 * validate → resolve the model the caller may see → rate limits → budget reservation → dispatch to
 * backends (priority, then weight; open circuits skipped; failover only before the first token) →
 * one usage record. API layers only frame requests and responses.
 */
@ApplicationScoped
public class InferencePipeline {
    private static final Logger LOG = Logger.getLogger(InferencePipeline.class);

    @Inject
    ModelRoutes routes;

    @Inject
    Limits limits;

    @Inject
    UsageRecorder usage;

    @Inject
    Providers providers;

    @Inject
    MeterRegistry registry;

    @Inject
    GatewayOverhead overhead;

    @Inject
    com.fasterxml.jackson.databind.ObjectMapper mapper;

    @ConfigProperty(name = "scaigrid.inference.default-max-output-tokens", defaultValue = "4096")
    int defaultMaxOutput;
    @ConfigProperty(name = "scaigrid.inference.circuit.request-volume-threshold", defaultValue = "20")
    int circuitVolume;
    @ConfigProperty(name = "scaigrid.inference.circuit.failure-ratio", defaultValue = "0.5")
    double circuitRatio;
    @ConfigProperty(name = "scaigrid.inference.circuit.delay", defaultValue = "30s")
    java.time.Duration circuitDelay;
    @ConfigProperty(name = "scaigrid.inference.circuit.success-threshold", defaultValue = "1")
    int circuitSuccesses;

    private final Map<String, CircuitBreaker> breakers = new ConcurrentHashMap<>();

    // ------------------------------------------------------------------ admission

    /**
     * Permission, rate limits, validation, model resolution and budget, in that order: the limits come
     * before anything can fail (reference §2.4 puts them in front of routing), so a caller cannot send
     * malformed or unknown-model requests without limit; every authenticated request counts.
     */
    public Uni<InferenceExchange> admit(Caller caller, String requestId, String api, String endpoint, JsonNode body,
                                        long deadlineNanos) {
        caller.require(Permissions.MODELS_USE);
        // read before validation takes it off the body: the upload a transcription holds its budget for
        JsonNode upload = body != null && audio(endpoint) ? body.path(InferenceRequests.UPLOAD_FIELD).deepCopy() : null;
        return limits.settings(caller.tenantId()).flatMap(settings -> {
            Limits.RateState rate = limits.admit(caller, settings);
            InferenceRequests.Parsed parsed = switch (endpoint) {
                case "generate" -> InferenceRequests.generate(body);
                case "embed" -> InferenceRequests.embed(body);
                case "images" -> InferenceRequests.images(body);
                case "image_edits" -> InferenceRequests.imageEdit(body);
                case "image_variations" -> InferenceRequests.imageVariation(body);
                case "speech" -> InferenceRequests.speech(body);
                case "transcriptions", "translations" -> InferenceRequests.transcription(body, "translations".equals(endpoint));
                case "moderations" -> InferenceRequests.moderation(body);
                default -> InferenceRequests.chat(body);
            };
            InferenceExchange ex = new InferenceExchange(caller, requestId, api, endpoint, parsed, deadlineNanos);
            ex.audioSeconds = knownAudioSeconds(upload); // the upload's own length; what the upstream reports replaces it
            ex.rate = rate;
            return routes.resolve(caller, parsed.model()).flatMap(route -> {
                ex.route = route;
                checkModality(route, endpoint);
                InferenceRequests.Parsed effective = ModelDefaults.apply(parsed, route, endpoint);
                ex.request = effective;
                if (route.maxOutputTokens() != null && effective.maxTokens() != null && effective.maxTokens() > route.maxOutputTokens()) {
                    throw new ApiException(ErrorCode.VALIDATION_ERROR,
                            "max_tokens " + effective.maxTokens() + " is over this model's limit of " + route.maxOutputTokens(),
                            List.of(Map.of("field", "max_tokens", "message", "must be at most " + route.maxOutputTokens())));
                }
                java.util.function.BiPredicate<Provider, BackendTarget> needed = needed(ex);
                if (needed != null && !route.backends().isEmpty() && route.backends().stream().noneMatch(b -> can(b, needed))) {
                    String ability = images(endpoint) ? "generate images" : audio(endpoint) ? "serve audio"
                            : "moderations".equals(endpoint) ? "moderate" : null;
                    if (ability != null) {
                        throw new ApiException(ErrorCode.MODEL_UNAVAILABLE, "None of model " + route.slug() + "'s backends can " + ability);
                    }
                    throw completionPrompt(ex) != null
                            ? new ApiException(ErrorCode.VALIDATION_ERROR, "None of this model's backends has a native text-completion "
                            + "endpoint, which several prompts, token ids and echo with logprobs need",
                            List.of(Map.of("field", "prompt", "message", "send one text prompt (and no logprobs with echo) to model "
                                    + route.slug())))
                            : new ApiException(ErrorCode.VALIDATION_ERROR, "None of this model's backends can answer more than one choice",
                            List.of(Map.of("field", "n", "message", "must be 1 for model " + route.slug())));
                }
                if (route.contextWindow() != null && effective.promptEstimate() > route.contextWindow()) {
                    throw new ApiException(ErrorCode.VALIDATION_ERROR, "The prompt is longer than this model's context window",
                            List.of(Map.of("field", "messages", "message", "about " + effective.promptEstimate()
                                    + " tokens; the context window is " + route.contextWindow())));
                }
                // n choices (or images) can each run to the output cap
                long worstAllChoices = (long) worstOutput(ex) * InferenceRequests.choices(effective.body());
                long worstTokens = effective.promptEstimate() + worstAllChoices;
                int images = images(endpoint) ? InferenceRequests.choices(effective.body()) : 0;
                return limits.reserve(caller.tenantId(), settings, worstTokens, route.prices().worstCost(
                        effective.promptEstimate(), InferenceRequests.marksCache(effective.body()), worstAllChoices, images)
                        .add(route.prices().audioCost(worstAudioSeconds(upload))));
            }).map(reservation -> {
                ex.reservation = reservation;
                return ex;
            });
        });
    }

    private int worstOutput(InferenceExchange ex) {
        if ("embed".equals(ex.endpoint) || "speech".equals(ex.endpoint) || "moderations".equals(ex.endpoint)) {
            return 0;
        }
        if (ex.request.maxTokens() != null) {
            return ex.request.maxTokens();
        }
        return ex.route.maxOutputTokens() != null ? ex.route.maxOutputTokens() : defaultMaxOutput;
    }

    private static void checkModality(ModelRoutes.Route route, String endpoint) {
        String needed = switch (endpoint) {
            case "embed" -> "embedding";
            case "images", "image_edits", "image_variations" -> "image";
            case "speech", "transcriptions", "translations" -> "audio";
            case "moderations" -> "moderation";
            default -> "chat";
        };
        if (!needed.equals(route.modality())) {
            throw new ApiException(ErrorCode.VALIDATION_ERROR, "Model " + route.slug() + " is a " + route.modality()
                    + " model and cannot serve " + endpoint + " requests",
                    List.of(Map.of("field", "model", "message", "wrong modality: " + route.modality())));
        }
    }

    // ------------------------------------------------------------------ dispatch

    /** A complete (non-streaming) chat: a chat.completion object, model = the frontend slug. */
    public Uni<ObjectNode> complete(InferenceExchange ex) {
        return attemptUni(ex, candidates(ex), 0, (p, b) -> p.chat(b, call(ex)))
                .map(result -> {
                    ex.firstTokenNanos = System.nanoTime();
                    JsonNode u = result.path("usage");
                    if (u.has("completion_tokens")) {
                        ex.takeUsage(u);
                    } else {
                        for (JsonNode choice : result.path("choices")) {
                            ex.completionChars += choice.path("message").path("content").asText("").length();
                            int thought = Reasoning.of(choice.path("message")).length();
                            ex.completionChars += thought;
                            ex.reasoningChars += thought;
                            ex.completionChars += choice.path("message").path("tool_calls").isMissingNode() ? 0
                                    : choice.path("message").path("tool_calls").toString().length();
                        }
                        result.set("usage", usageNode(ex));
                    }
                    return result;
                })
                .onItemOrFailure().invoke((item, failure) -> finish(ex, failure));
    }

    public Uni<ObjectNode> embed(InferenceExchange ex) {
        return attemptUni(ex, candidates(ex), 0, (p, b) -> p.embed(b, call(ex)))
                .map(result -> {
                    ex.firstTokenNanos = System.nanoTime();
                    JsonNode u = result.path("usage");
                    ex.promptTokens = u.has("prompt_tokens") ? u.path("prompt_tokens").asInt() : ex.request.promptEstimate();
                    ex.completionTokens = 0;
                    if (!u.has("prompt_tokens")) {
                        result.putObject("usage").put("prompt_tokens", ex.promptTokens).put("total_tokens", ex.promptTokens);
                    }
                    if (InferenceRequests.EMBEDDING_BASE64.equals(ex.request.body().path("encoding_format").asText())) {
                        encodeBase64(result);
                    }
                    return result;
                })
                .onItemOrFailure().invoke((item, failure) -> finish(ex, failure));
    }

    /**
     * Image generation (and edits, and variations): OpenAI's images response. Tokens are the upstream's where it
     * reports them (gpt-image-1's {@code input_tokens} / {@code output_tokens}), else the prompt estimate and no
     * output; the images are counted from the answer, so a backend that returns fewer than asked is charged for what
     * it returned.
     */
    public Uni<ObjectNode> generateImages(InferenceExchange ex) {
        return attemptUni(ex, candidates(ex), 0, (p, b) -> switch (ex.endpoint) {
                    case "image_edits" -> p.editImages(b, call(ex), ex.files);
                    case "image_variations" -> p.imageVariations(b, call(ex), ex.files);
                    default -> p.generateImages(b, call(ex));
                })
                .map(result -> {
                    ex.firstTokenNanos = System.nanoTime();
                    if (!ex.takeInputOutputTokens(result.path("usage"))) {
                        ex.promptTokens = ex.request.promptEstimate();
                        ex.completionTokens = 0;
                    }
                    ex.images = result.path("data").size();
                    return result;
                })
                .onItemOrFailure().invoke((item, failure) -> finish(ex, failure));
    }

    /** Moderation: OpenAI's moderation object. The prompt is the input (estimated: classifiers report no usage); there is no output. */
    public Uni<ObjectNode> moderate(InferenceExchange ex) {
        return attemptUni(ex, candidates(ex), 0, (p, b) -> p.moderate(b, call(ex)))
                .invoke(result -> {
                    ex.firstTokenNanos = System.nanoTime();
                    ex.promptTokens = ex.request.promptEstimate();
                    ex.completionTokens = 0;
                })
                .onItemOrFailure().invoke((item, failure) -> finish(ex, failure));
    }

    /** Text to speech: the audio as the upstream sent it. The prompt is the input text (estimated); there is no output. */
    public Uni<UpstreamHttp.RawAnswer> synthesizeSpeech(InferenceExchange ex) {
        return attemptUni(ex, candidates(ex), 0, (p, b) -> p.synthesizeSpeech(b, call(ex)))
                .invoke(audio -> {
                    ex.firstTokenNanos = System.nanoTime();
                    ex.promptTokens = ex.request.promptEstimate();
                    ex.completionTokens = 0;
                })
                .onItemOrFailure().invoke((item, failure) -> finishUnlessRelayed(ex, item, failure));
    }

    /** Records a request now, unless its answer is still to be relayed: then {@link #relayEnded} does, when it ends. */
    private void finishUnlessRelayed(InferenceExchange ex, UpstreamHttp.RawAnswer answer, Throwable failure) {
        if (failure != null || answer == null || answer.stream() == null) {
            finish(ex, failure);
        }
    }

    /** A relayed answer ({@link UpstreamHttp.RawAnswer#stream}) ended: whole ({@code failure} null), or broken off. */
    public void relayEnded(InferenceExchange ex, Throwable failure) {
        finish(ex, failure);
    }

    /**
     * Speech to text (or, for {@code translations}, to English text): the upstream's answer as it came. Tokens are
     * the upstream's where it reports them (gpt-4o-transcribe's {@code usage} of type {@code tokens}); otherwise the
     * prompt is the {@code prompt} field (estimated) and the output the transcript counted like a completion (about
     * four characters a token).
     */
    public Uni<UpstreamHttp.RawAnswer> transcribe(InferenceExchange ex) {
        boolean translate = "translations".equals(ex.endpoint);
        return attemptUni(ex, candidates(ex), 0, (p, b) -> p.transcribe(b, call(ex), ex.upload, translate))
                .invoke(answer -> {
                    ex.firstTokenNanos = System.nanoTime();
                    if (answer.stream() != null) {
                        // server-sent events, relayed as they come: their usage is read on the way (RelayedEvents)
                        ex.promptTokens = ex.request.promptEstimate();
                        return;
                    }
                    JsonNode json = null;
                    if (answer.isJson()) {
                        try {
                            json = mapper.readTree(answer.body().getBytes());
                        } catch (Exception e) {
                            throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", false,
                                    null, e);
                        }
                    }
                    BigDecimal seconds = AudioDuration.reported(json);
                    if (seconds != null) {
                        ex.audioSeconds = seconds; // else the upload's own length, known since admission
                    }
                    if (!ex.takeInputOutputTokens(json == null ? null : json.path("usage"))) {
                        ex.promptTokens = ex.request.promptEstimate();
                        ex.completionChars = json != null ? json.path("text").asText("").length() : answer.body().length();
                    }
                })
                .onItemOrFailure().invoke((item, failure) -> finishUnlessRelayed(ex, item, failure));
    }


    /**
     * OpenAI's {@code encoding_format: "base64"} (what the official SDKs ask for unless told otherwise):
     * each vector as its float32 values, little-endian, in base64.
     */
    static void encodeBase64(ObjectNode embeddings) {
        for (JsonNode item : embeddings.path("data")) {
            JsonNode vector = item.get("embedding");
            if (item instanceof ObjectNode o && vector != null && vector.isArray()) {
                ByteBuffer bytes = ByteBuffer.allocate(4 * vector.size()).order(ByteOrder.LITTLE_ENDIAN);
                for (JsonNode v : vector) {
                    if (!v.isNumber()) {
                        throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", false, null, null);
                    }
                    bytes.putFloat(v.floatValue());
                }
                o.put("embedding", Base64.getEncoder().encodeToString(bytes.array()));
            }
        }
    }

    /** Cancellation while waiting for a complete answer (the client went away). */
    public void cancelled(InferenceExchange ex) {
        finishAs(ex, "cancelled", null);
    }

    /** An admitted request that failed outside the dispatcher: its record says so, and its reservation is released. */
    public void failed(InferenceExchange ex, Throwable failure) {
        finish(ex, failure);
    }

    /**
     * A streaming chat: chat.completion.chunk objects. Failover happens only before the first chunk;
     * a failure after it ends the stream with that failure. The last item carries usage (the
     * upstream's, or counted). Cancelling the subscription cancels the upstream call.
     */
    public Multi<ObjectNode> stream(InferenceExchange ex) {
        List<BackendTarget> candidates = candidates(ex);
        AtomicBoolean sawUsage = new AtomicBoolean();
        String[] lastMeta = new String[2]; // id, created
        return new StreamEnd<>(attemptMulti(ex, candidates, 0), chunk -> {
            if (ex.firstTokenNanos == 0) {
                ex.firstTokenNanos = System.nanoTime();
            }
            lastMeta[0] = chunk.path("id").asText(null);
            lastMeta[1] = chunk.path("created").asText(null);
            for (JsonNode choice : chunk.path("choices")) {
                JsonNode delta = choice.path("delta");
                ex.completionChars += delta.path("content").asText("").length();
                int thought = Reasoning.of(delta).length();
                ex.completionChars += thought;
                ex.reasoningChars += thought;
                if (delta.has("tool_calls")) {
                    ex.completionChars += delta.get("tool_calls").toString().length();
                }
            }
            JsonNode u = chunk.get("usage");
            if (u != null && u.has("completion_tokens")) {
                sawUsage.set(true);
                ex.takeUsage(u);
            }
        }, () -> {
            if (sawUsage.get()) {
                return null;
            }
            // the upstream reported no usage: add a final usage chunk with our own count
            ObjectNode last = InferenceRequests.newObject();
            last.put("id", lastMeta[0] == null ? "chatcmpl-" + ex.requestId : lastMeta[0]);
            last.put("object", "chat.completion.chunk");
            last.put("created", lastMeta[1] == null ? System.currentTimeMillis() / 1000 : Long.parseLong(lastMeta[1]));
            last.put("model", ex.route.slug());
            last.putArray("choices");
            last.set("usage", usageNode(ex));
            return last;
        }, (failure, cancelled) -> {
            if (cancelled) {
                finishAs(ex, "cancelled", null);
            } else {
                finish(ex, failure);
            }
        });
    }

    private ObjectNode usageNode(InferenceExchange ex) {
        ObjectNode u = InferenceRequests.newObject();
        u.put("prompt_tokens", ex.promptTokens());
        u.put("completion_tokens", ex.completionTokens());
        u.put("total_tokens", ex.promptTokens() + ex.completionTokens());
        if (ex.reasoningChars > 0) {
            u.putObject("completion_tokens_details").put("reasoning_tokens", ex.countedReasoningTokens());
        }
        return u;
    }

    private ProviderCall call(InferenceExchange ex) {
        JsonNode completionPrompt = completionPrompt(ex);
        return new ProviderCall(ex.requestId, ex.caller.tenantId(), ex.caller.partnerId(), ex.caller.userId(), ex.route.slug(),
                ex.request.body(), ex.deadlineNanos, worstOutput(ex), ex.request.defaulted(),
                "generate".equals(ex.endpoint) && completionPrompt == null ? InferenceRequests.rawPrompt(ex.request.body()) : null,
                completionPrompt);
    }

    /** A text completion's prompt that only a native text-completion endpoint can answer, or null. */
    private static JsonNode completionPrompt(InferenceExchange ex) {
        return "generate".equals(ex.endpoint) ? InferenceRequests.completionPrompt(ex.request.body()) : null;
    }

    /** Backends in the order to try: by priority; within one priority, a weighted random order. */
    List<BackendTarget> candidates(InferenceExchange ex) {
        List<BackendTarget> all = ex.route.backends();
        if (all.isEmpty()) {
            throw new ApiException(ErrorCode.MODEL_UNAVAILABLE, "Model " + ex.route.slug() + " has no active backend");
        }
        java.util.function.BiPredicate<Provider, BackendTarget> needed = needed(ex);
        if (needed != null) {
            // only backends that can answer it (admission made sure there is one), so a failover never ends in a refusal
            all = all.stream().filter(b -> can(b, needed)).toList();
        }
        List<BackendTarget> ordered = new ArrayList<>(all.size());
        int i = 0;
        while (i < all.size()) {
            int j = i;
            while (j < all.size() && all.get(j).priority() == all.get(i).priority()) {
                j++;
            }
            List<BackendTarget> tier = new ArrayList<>(all.subList(i, j));
            while (!tier.isEmpty()) {
                long total = 0;
                for (BackendTarget b : tier) {
                    total += Math.max(0, b.weight());
                }
                int pick = 0;
                if (total > 0) {
                    long r = ThreadLocalRandom.current().nextLong(total);
                    for (int k = 0; k < tier.size(); k++) {
                        r -= Math.max(0, tier.get(k).weight());
                        if (r < 0) {
                            pick = k;
                            break;
                        }
                    }
                }
                ordered.add(tier.remove(pick));
            }
            i = j;
        }
        return ordered;
    }

    /**
     * What a backend (its provider, its configuration) must be able to do for this request: draw (images), speak and
     * listen (audio), moderate, complete text natively (several prompts, token ids, echo with logprobs), answer several
     * choices in one call ({@code n} above 1); null when any backend will do.
     */
    private static java.util.function.BiPredicate<Provider, BackendTarget> needed(InferenceExchange ex) {
        if (images(ex.endpoint)) {
            return (p, b) -> p.generatesImages();
        }
        if (audio(ex.endpoint)) {
            return (p, b) -> p.servesAudio();
        }
        if ("moderations".equals(ex.endpoint)) {
            return (p, b) -> p.moderates();
        }
        if (completionPrompt(ex) != null) {
            return Provider::completesTextNatively;
        }
        boolean severalChoices = ("chat".equals(ex.endpoint) || "generate".equals(ex.endpoint))
                && InferenceRequests.choices(ex.request.body()) > 1;
        return severalChoices ? (p, b) -> p.answersSeveralChoices() : null;
    }

    /**
     * The most audio an upload can hold, for a price per minute: the upload's own length when its header tells (WAV, MP3,
     * FLAC, Ogg, MP4/M4A, WebM), else its size at 6 kbit/s (the leanest speech codec OpenAI's formats carry, Opus in Ogg or
     * WebM). Null without an upload.
     */
    static BigDecimal worstAudioSeconds(JsonNode upload) {
        BigDecimal known = knownAudioSeconds(upload);
        if (known != null || upload == null) {
            return known;
        }
        long bytes = upload.path("bytes").asLong(0);
        return bytes <= 0 ? null : BigDecimal.valueOf(bytes).divide(BigDecimal.valueOf(750), java.math.MathContext.DECIMAL64);
    }

    /** An upload's length when the API layer read it from the file's header (WAV, MP3, FLAC, Ogg, MP4/M4A, WebM), else null. */
    private static BigDecimal knownAudioSeconds(JsonNode upload) {
        return upload != null && upload.path("seconds").isNumber() ? upload.get("seconds").decimalValue() : null;
    }

    static boolean images(String endpoint) {
        return "images".equals(endpoint) || "image_edits".equals(endpoint) || "image_variations".equals(endpoint);
    }

    static boolean audio(String endpoint) {
        return "speech".equals(endpoint) || "transcriptions".equals(endpoint) || "translations".equals(endpoint);
    }

    private boolean can(BackendTarget backend, java.util.function.BiPredicate<Provider, BackendTarget> needed) {
        Provider p = providers.forType(backend.providerType());
        return p != null && needed.test(p, backend);
    }

    CircuitBreaker breaker(String backendId) {
        return breakers.computeIfAbsent(backendId, id -> {
            CircuitBreaker b = new CircuitBreaker(circuitVolume, circuitRatio, circuitDelay.toMillis(), circuitSuccesses);
            registry.gauge("scaigrid_circuit_breaker_state", Tags.of("backend_id", id), b,
                    cb -> switch (cb.state()) {
                        case CLOSED -> 0;
                        case HALF_OPEN -> 1;
                        case OPEN -> 2;
                    });
            return b;
        });
    }

    /** Every backend circuit this replica has seen, by backend id (for the detailed health view). */
    public Map<String, CircuitBreaker.State> circuitStates() {
        Map<String, CircuitBreaker.State> out = new java.util.TreeMap<>();
        breakers.forEach((id, b) -> out.put(id, b.state()));
        return out;
    }

    /** The state of a backend's circuit (for health views and tests). */
    public CircuitBreaker.State circuitState(String backendId) {
        CircuitBreaker b = breakers.get(backendId);
        return b == null ? CircuitBreaker.State.CLOSED : b.state();
    }

    private <T> Uni<T> attemptUni(InferenceExchange ex, List<BackendTarget> candidates, int index,
                                  java.util.function.BiFunction<Provider, BackendTarget, Uni<T>> call) {
        return Uni.createFrom().deferred(() -> {
            int i = nextPermitted(candidates, index);
            if (i < 0) {
                return Uni.createFrom().failure(noBackend(ex, index));
            }
            BackendTarget backend = candidates.get(i);
            ex.backend = backend;
            CircuitBreaker breaker = breaker(backend.id());
            Provider provider = providers.forType(backend.providerType());
            overhead.dispatched(ex);
            return call.apply(provider, backend)
                    .onItem().invoke(breaker::onSuccess)
                    .onCancellation().invoke(breaker::onIgnored)
                    .onFailure().recoverWithUni(failure -> {
                        UpstreamFailure f = classify(failure);
                        if (f.tripsCircuit()) {
                            breaker.onFailure();
                        } else {
                            breaker.onIgnored();
                        }
                        if (!f.countsAsBackendFailure()) {
                            return Uni.createFrom().failure(f);
                        }
                        LOG.warnf("request %s: backend %s failed (%s), trying the next", ex.requestId, backend.id(), f.getMessage());
                        return attemptUni(ex, candidates, i + 1, call).onFailure(NoBackendLeft.class).transform(none -> f);
                    });
        });
    }

    private Multi<ObjectNode> attemptMulti(InferenceExchange ex, List<BackendTarget> candidates, int index) {
        return Multi.createFrom().deferred(() -> {
            int i = nextPermitted(candidates, index);
            if (i < 0) {
                return Multi.createFrom().failure(noBackend(ex, index));
            }
            BackendTarget backend = candidates.get(i);
            ex.backend = backend;
            CircuitBreaker breaker = breaker(backend.id());
            Provider provider = providers.forType(backend.providerType());
            AtomicBoolean started = new AtomicBoolean();
            overhead.dispatched(ex);
            return provider.streamChat(backend, call(ex))
                    .onItem().invoke(() -> started.set(true))
                    .onTermination().invoke((failure, cancelled) -> {
                        if (cancelled) {
                            breaker.onIgnored();
                        } else if (failure == null) {
                            breaker.onSuccess();
                        } // a failure: recoverWithMulti decides
                    })
                    .onFailure().recoverWithMulti(failure -> {
                        UpstreamFailure f = classify(failure);
                        if (f.tripsCircuit()) {
                            breaker.onFailure();
                        } else {
                            breaker.onIgnored();
                        }
                        if (started.get() || !f.countsAsBackendFailure()) {
                            // after the first token no other backend may take over: the client sees an error event
                            return Multi.createFrom().failure(f);
                        }
                        LOG.warnf("request %s: backend %s failed before the first token (%s), trying the next",
                                ex.requestId, backend.id(), f.getMessage());
                        return attemptMulti(ex, candidates, i + 1).onFailure(NoBackendLeft.class).transform(none -> f);
                    });
        });
    }

    /** Marker: every candidate was tried or skipped; the caller reports the last real failure. */
    static final class NoBackendLeft extends ApiException {
        NoBackendLeft(ErrorCode code, String message) {
            super(code, message);
        }
    }

    private NoBackendLeft noBackend(InferenceExchange ex, int index) {
        return new NoBackendLeft(ErrorCode.MODEL_UNAVAILABLE, "No healthy backend is available for model " + ex.route.slug());
    }

    private int nextPermitted(List<BackendTarget> candidates, int from) {
        for (int i = from; i < candidates.size(); i++) {
            BackendTarget b = candidates.get(i);
            if (providers.forType(b.providerType()) == null) {
                continue; // a provider type this build does not serve
            }
            if (breaker(b.id()).tryAcquire()) {
                return i;
            }
        }
        return -1;
    }

    private static UpstreamFailure classify(Throwable failure) {
        if (failure instanceof UpstreamFailure f) {
            return f;
        }
        if (failure instanceof NoBackendLeft n) {
            return new UpstreamFailure(n.errorCode(), n.getMessage(), false, null, null);
        }
        if (failure instanceof ApiException a) {
            return new UpstreamFailure(a.errorCode(), a.getMessage(), false, null, a);
        }
        LOG.errorf(failure, "provider failed unexpectedly");
        return UpstreamFailure.unavailable("The backend failed", failure);
    }

    /** Turns any pipeline failure into the ApiException the API layers render. */
    public static ApiException toApiException(Throwable failure) {
        if (failure instanceof NoBackendLeft n) {
            return n;
        }
        if (failure instanceof UpstreamFailure f) {
            return new ApiException(f.code(), f.getMessage(), f.details(),
                    f.retryAfterSeconds() == null ? null : f.retryAfterSeconds().longValue(), null);
        }
        if (failure instanceof ApiException a) {
            return a;
        }
        ApiException dataError = DataErrors.asValidationError(failure);
        if (dataError != null) {
            return dataError;
        }
        return new ApiException(ErrorCode.INTERNAL_ERROR, "An internal error occurred", null, null, failure);
    }

    // ------------------------------------------------------------------ accounting

    private void finish(InferenceExchange ex, Throwable failure) {
        if (failure == null) {
            finishAs(ex, "ok", null);
        } else {
            finishAs(ex, "error", toApiException(failure).errorCode().name());
        }
    }

    private void finishAs(InferenceExchange ex, String status, String errorCode) {
        synchronized (ex) {
            if (ex.finished) {
                return;
            }
            ex.finished = true;
        }
        long now = System.nanoTime();
        boolean produced = ex.firstTokenNanos != 0;
        int prompt = produced || "ok".equals(status) ? ex.promptTokens() : 0;
        int completion = produced ? ex.completionTokens() : 0;
        ModelPrices.PromptTokens promptTokens = new ModelPrices.PromptTokens(prompt, ex.cachedTokens, ex.cacheWriteTokens,
                ex.cacheWrite1hTokens).clamped();
        int images = produced ? ex.images : 0;
        BigDecimal audioSeconds = produced && ex.audioSeconds != null ? ex.audioSeconds : BigDecimal.ZERO;
        BigDecimal cost = ex.route.prices().cost(promptTokens, completion, images, audioSeconds);
        limits.recordTokens(ex.caller, prompt + completion);
        BackendTarget backend = ex.backend;
        usage.record(new UsageRecorder.UsageRecord("usage_" + ex.requestId + "_" + Long.toString(now & 0xffffff, 36),
                ex.requestId, ex.caller.partnerId(), ex.caller.tenantId(), ex.caller.userId(), ex.caller.credentialId(),
                ex.route.slug(), backend == null ? null : backend.id(), backend == null ? null : backend.providerType(),
                ex.endpoint, ex.api, ex.request.stream(), prompt, completion, produced ? ex.reasoningTokens() : 0,
                (int) promptTokens.cached(), (int) promptTokens.written(), images, audioSeconds, cost,
                (int) ((now - ex.startedNanos) / 1_000_000),
                produced ? Integer.valueOf((int) ((ex.firstTokenNanos - ex.startedNanos) / 1_000_000)) : null,
                status, errorCode, OffsetDateTime.now(ZoneOffset.UTC)));
        // after the record: the spend is pending in the usage recorder before the reservation is released,
        // so a concurrent budget check never sees neither
        if (ex.reservation != null) {
            ex.reservation.release();
        }
    }

}
