package ai.scaigrid.nodeagent.backend;

import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.EmbedResponse;
import ai.scaigrid.proto.scaiinfer.v1.Embedding;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.TokenLogprob;
import ai.scaigrid.proto.scaiinfer.v1.Tool;
import ai.scaigrid.proto.scaiinfer.v1.ToolCallDelta;
import ai.scaigrid.proto.scaiinfer.v1.TopLogprob;
import com.google.protobuf.Timestamp;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Vertx;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The built-in model for demos, tests and benchmarks: deterministic text (same model, prompt and seed
 * give the same answer) streamed at a configured token rate after a configured time to first token.
 * Timing comes from Vert.x timers, never from a sleeping thread; each tick emits every token that is
 * due by then, so high rates keep their average without a timer per token.
 *
 * <p>By default ({@link DecodeClock#SHARED}) the model decodes the way a serving engine with continuous
 * batching does (vLLM, llama.cpp with parallel slots, TGI): each generation gets its first token after
 * its own time to first token (its prefill), then every running generation advances on the same decode
 * step, one clock per model. {@link DecodeClock#PER_STREAM} gives every generation its own timer, as
 * independent single-stream servers would, which spreads the same tokens over many more wake-ups.
 *
 * <p>With {@code reasoningTokens} above zero it plays a reasoning model: before its answer (text or tool
 * call) it streams that many tokens of deterministic "thinking" as {@code reasoning_content}, at the same
 * rate, counted in the completion tokens and cut by {@code max_tokens} first, as llama.cpp and vLLM count
 * a thinking model's output. {@code reasoning_effort} scales it: {@code none} 0, {@code minimal} a quarter,
 * {@code low} a half, {@code high} twice; unset or {@code medium}, the configured count.
 */
public final class SimulatedBackend implements InferenceBackend {
    private static final String[] WORDS = {
            "grid", "signal", "model", "token", "river", "stone", "light", "engine", "harbor", "garden", "pattern",
            "window", "orbit", "measure", "quiet", "bright", "steady", "simple", "careful", "rapid", "north",
            "answer", "question", "network", "packet", "thread", "cluster", "node", "stream", "vector", "layer",
            "matrix", "kernel", "cache", "record", "ledger", "bridge", "canvas", "mirror", "compass", "lantern",
            "meadow", "summit", "valley", "forest", "ember", "glacier", "horizon", "island", "journey", "keystone",
            "lattice", "mosaic", "nebula", "oasis", "prism", "quartz", "relay", "sextant", "tide", "umbra", "vertex",
            "willow", "zenith", "and", "the", "of", "with", "through", "across", "beyond", "under", "over"};

    /** Characters per streamed piece of a JSON answer (about a token's worth). */
    private static final int JSON_PIECE = 4;
    private static final com.fasterxml.jackson.databind.node.JsonNodeFactory NODES =
            com.fasterxml.jackson.databind.node.JsonNodeFactory.instance;

    private final Vertx vertx;
    private final String modelName;
    private final int tokensPerSecond;
    private final Duration timeToFirstToken;
    private final int outputTokens;
    private final int maxOutputTokens;
    private final int embeddingDimensions;
    private final DecodeClock decodeClock;
    private final int reasoningTokens;
    /** Generations past their first token, advanced by the shared decode clock. */
    private final Set<Run> decoding = ConcurrentHashMap.newKeySet();
    private long clockTimer = -1; // guarded by decoding

    /** How the generations of one model are timed after their first token. */
    public enum DecodeClock {
        /** One decode step for all running generations (continuous batching). */
        SHARED,
        /** A timer per generation. */
        PER_STREAM
    }

    public SimulatedBackend(Vertx vertx, String modelName, int tokensPerSecond, Duration timeToFirstToken, int outputTokens,
                            int maxOutputTokens, int embeddingDimensions) {
        this(vertx, modelName, tokensPerSecond, timeToFirstToken, outputTokens, maxOutputTokens, embeddingDimensions,
                DecodeClock.SHARED);
    }

    public SimulatedBackend(Vertx vertx, String modelName, int tokensPerSecond, Duration timeToFirstToken, int outputTokens,
                            int maxOutputTokens, int embeddingDimensions, DecodeClock decodeClock) {
        this(vertx, modelName, tokensPerSecond, timeToFirstToken, outputTokens, maxOutputTokens, embeddingDimensions, decodeClock, 0);
    }

    public SimulatedBackend(Vertx vertx, String modelName, int tokensPerSecond, Duration timeToFirstToken, int outputTokens,
                            int maxOutputTokens, int embeddingDimensions, DecodeClock decodeClock, int reasoningTokens) {
        this.decodeClock = decodeClock;
        this.reasoningTokens = Math.max(0, reasoningTokens);
        this.vertx = vertx;
        this.modelName = modelName;
        this.tokensPerSecond = tokensPerSecond;
        this.timeToFirstToken = timeToFirstToken;
        this.outputTokens = outputTokens;
        this.maxOutputTokens = maxOutputTokens;
        this.embeddingDimensions = embeddingDimensions;
    }

    @Override
    public String engine() {
        return "simulated";
    }

    /**
     * What a request will produce: the reasoning tokens, then the token texts (or one tool call), the
     * finish reason and prompt size; {@code drawn} when the tokens are words drawn from {@link #WORDS}
     * (not the pieces of a JSON answer), for their log probabilities.
     */
    public record Plan(List<String> reasoning, List<String> tokens, ToolCallDelta toolCall, String finishReason, int promptTokens,
                       boolean drawn) {
        Plan(List<String> tokens, ToolCallDelta toolCall, String finishReason, int promptTokens) {
            this(List.of(), tokens, toolCall, finishReason, promptTokens, false);
        }

        public String text() {
            return String.join("", tokens);
        }

        int completionTokens() {
            return reasoning.size() + (toolCall == null ? tokens.size() : Chunks.estimateTokens(toolCall.getFunction().getArguments()) + 1);
        }

        /** The steps a generation emits: one per reasoning token, then one per token, or one for the tool call. */
        int steps() {
            return reasoning.size() + (toolCall != null ? 1 : tokens.size());
        }

        Plan withReasoning(List<String> thought) {
            return new Plan(thought, tokens, toolCall, finishReason, promptTokens, drawn);
        }
    }

    public Plan plan(InferenceRequest request) {
        String prompt = Chunks.promptText(request);
        long seed = seedOf(prompt, request.hasSeed() ? request.getSeed() : null);
        int limit = request.hasMaxTokens() ? Math.max(0, Math.min(request.getMaxTokens(), maxOutputTokens)) : maxOutputTokens;
        int thinking = Math.min(reasoningTokensFor(request), limit);
        // the reasoning draws from its own generator, so a model's answers are the same with and without it
        Plan answer = answerPlan(request, new SplittableRandom(seed), limit - thinking, Chunks.estimateTokens(prompt));
        if (thinking == 0) {
            return answer;
        }
        return answer.withReasoning(words(new SplittableRandom(~seed), thinking, false));
    }

    private int reasoningTokensFor(InferenceRequest request) {
        if (reasoningTokens == 0 || !request.hasReasoningEffort()) {
            return reasoningTokens;
        }
        return switch (request.getReasoningEffort()) {
            case "none" -> 0;
            case "minimal" -> Math.max(1, reasoningTokens / 4);
            case "low" -> Math.max(1, reasoningTokens / 2);
            case "high" -> reasoningTokens * 2;
            default -> reasoningTokens;
        };
    }

    private Plan answerPlan(InferenceRequest request, SplittableRandom rng, int limit, int promptTokens) {
        String mode = request.hasToolChoice() ? request.getToolChoice().getMode() : "";
        if (request.getToolsCount() > 0 && (mode.equals("required") || mode.equals("function"))) {
            String name = mode.equals("function") && !request.getToolChoice().getFunctionName().isEmpty()
                    ? request.getToolChoice().getFunctionName() : firstFunction(request.getToolsList());
            String id = "call_" + Long.toHexString(rng.nextLong() & Long.MAX_VALUE);
            // arguments that satisfy the tool's parameter schema, so clients that validate them get through
            ToolCallDelta call = ToolCallDelta.newBuilder().setIndex(0).setId(id).setType("function")
                    .setFunction(FunctionCall.newBuilder().setName(name)
                            .setArguments(SchemaSample.of(parametersOf(request.getToolsList(), name), rng, WORDS)))
                    .build();
            return new Plan(List.of(), call, "tool_calls", promptTokens);
        }

        String format = request.hasResponseFormat() ? request.getResponseFormat().getType() : "";
        if (format.equals("json_schema")) {
            return jsonPlan(SchemaSample.of(request.getResponseFormat().getJsonSchema(), rng, WORDS), limit, promptTokens);
        }
        int count = Math.min(outputTokens, limit);
        String finish = outputTokens > limit ? "length" : "stop";
        List<String> tokens = words(rng, count, finish.equals("length"));
        if (format.equals("json_object")) {
            return jsonPlan(NODES.objectNode().put("answer", String.join("", tokens)).toString(), limit, promptTokens);
        }
        return applyStops(new Plan(List.of(), tokens, null, finish, promptTokens, true), request.getStopList());
    }

    /** {@code count} word tokens in sentences; the last ends its sentence unless the text was {@code cut} short. */
    private static List<String> words(SplittableRandom rng, int count, boolean cut) {
        List<String> tokens = new ArrayList<>(count);
        boolean capital = true;
        int sentenceLeft = 6 + rng.nextInt(9);
        for (int i = 0; i < count; i++) {
            String word = WORDS[rng.nextInt(WORDS.length)];
            if (capital) {
                word = Character.toUpperCase(word.charAt(0)) + word.substring(1);
                capital = false;
            }
            if (--sentenceLeft == 0 || (i == count - 1 && !cut)) {
                word = word + ".";
                capital = true;
                sentenceLeft = 6 + rng.nextInt(9);
            }
            tokens.add(i == 0 ? word : " " + word);
        }
        return tokens;
    }

    /** A JSON answer streamed in token-sized pieces; cut at the output limit ("length") as a real model's would be. */
    private static Plan jsonPlan(String json, int limit, int promptTokens) {
        List<String> pieces = new ArrayList<>();
        for (int i = 0; i < json.length() && pieces.size() < limit; i += JSON_PIECE) {
            pieces.add(json.substring(i, Math.min(json.length(), i + JSON_PIECE)));
        }
        return new Plan(pieces, null, (long) pieces.size() * JSON_PIECE < json.length() ? "length" : "stop", promptTokens);
    }

    private static String parametersOf(List<Tool> tools, String name) {
        for (Tool t : tools) {
            if (t.hasFunction() && t.getFunction().getName().equals(name)) {
                return t.getFunction().getParametersJson();
            }
        }
        return "";
    }

    /** Cuts the text before the first stop sequence it contains (finish_reason "stop"). */
    private static Plan applyStops(Plan plan, List<String> stops) {
        if (stops.isEmpty()) {
            return plan;
        }
        String text = plan.text();
        int cut = -1;
        for (String stop : stops) {
            int at = stop.isEmpty() ? -1 : text.indexOf(stop);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        if (cut < 0) {
            return plan;
        }
        List<String> kept = new ArrayList<>();
        int used = 0;
        for (String token : plan.tokens()) {
            if (used + token.length() <= cut) {
                kept.add(token);
                used += token.length();
            } else {
                if (cut > used) {
                    kept.add(token.substring(0, cut - used));
                }
                break;
            }
        }
        return new Plan(plan.reasoning(), kept, null, "stop", plan.promptTokens(), plan.drawn());
    }

    private static String firstFunction(List<Tool> tools) {
        for (Tool t : tools) {
            if (t.hasFunction() && !t.getFunction().getName().isEmpty()) {
                return t.getFunction().getName();
            }
        }
        return "tool";
    }

    private long seedOf(String prompt, Long seed) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(modelName.getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update(prompt.getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update((seed == null ? "-" : Long.toString(seed)).getBytes(StandardCharsets.UTF_8));
            return ByteBuffer.wrap(sha.digest()).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The log probability of any one word: the model draws its words uniformly from {@link #WORDS}. */
    private static final double WORD_LOGPROB = -Math.log(WORDS.length);
    private static final java.util.Map<String, Integer> WORD_INDEX = new java.util.HashMap<>();

    static {
        for (int i = 0; i < WORDS.length; i++) {
            WORD_INDEX.putIfAbsent(WORDS[i], i);
        }
    }

    /**
     * A token's log probability as this model drew it. A word token (with its leading space, capital and full stop)
     * was one of {@link #WORDS}, each as likely: {@code ln(1/|WORDS|)}, and its alternatives are the next words of
     * the list, written the same way. Anything else (a piece of a JSON answer: not {@code drawn}; a word cut by a stop
     * sequence) follows from what came before: log probability 0, no alternative.
     */
    static TokenLogprob logprob(String token, int alternatives, boolean drawn) {
        boolean space = token.startsWith(" ");
        boolean stop = token.endsWith(".");
        String core = token.substring(space ? 1 : 0, token.length() - (stop ? 1 : 0));
        boolean capital = !core.isEmpty() && Character.isUpperCase(core.charAt(0));
        String lower = capital ? Character.toLowerCase(core.charAt(0)) + core.substring(1) : core;
        Integer index = core.isEmpty() || !drawn ? null : WORD_INDEX.get(lower);
        TokenLogprob.Builder out = TokenLogprob.newBuilder().setToken(token)
                .setBytes(com.google.protobuf.ByteString.copyFromUtf8(token));
        if (index == null) {
            out.setLogprob(0);
            if (alternatives > 0) {
                out.addTopLogprobs(TopLogprob.newBuilder().setToken(token).setLogprob(0).setBytes(out.getBytes()));
            }
            return out.build();
        }
        out.setLogprob(WORD_LOGPROB);
        for (int i = 0; i < alternatives; i++) {
            String word = WORDS[(index + i) % WORDS.length];
            String alt = (space ? " " : "") + (capital ? Character.toUpperCase(word.charAt(0)) + word.substring(1) : word)
                    + (stop ? "." : "");
            out.addTopLogprobs(TopLogprob.newBuilder().setToken(alt).setLogprob(WORD_LOGPROB)
                    .setBytes(com.google.protobuf.ByteString.copyFromUtf8(alt)));
        }
        return out.build();
    }

    @Override
    public Multi<InferenceChunk> stream(InferenceRequest request) {
        int alternatives = request.getLogprobs() ? Math.max(0, Math.min(20, request.getTopLogprobs())) : -1;
        return Multi.createFrom().emitter(emitter -> new Run(plan(request), emitter, alternatives).start());
    }

    /** One generation in progress: emits due tokens on each timer tick. */
    private final class Run {
        private final Plan plan;
        private final MultiEmitter<? super InferenceChunk> emitter;
        private final String id = Chunks.newCompletionId();
        private final Timestamp created = Chunks.now();
        private final AtomicBoolean done = new AtomicBoolean();
        private final AtomicLong timer = new AtomicLong(-1);
        private final int steps;
        private long startNanos;
        private int next;

        /** The alternatives to report with each token's log probability (top_logprobs); -1: none asked. */
        private final int alternatives;

        Run(Plan plan, MultiEmitter<? super InferenceChunk> emitter, int alternatives) {
            this.plan = plan;
            this.emitter = emitter;
            this.steps = plan.steps();
            this.alternatives = alternatives;
        }

        void start() {
            startNanos = System.nanoTime();
            emitter.onTermination(this::stop);
            long ttftMillis = Math.max(1, timeToFirstToken.toMillis());
            timer.set(vertx.setTimer(ttftMillis, t -> {
                if (tick()) {
                    return;
                }
                if (decodeClock == DecodeClock.SHARED) {
                    timer.set(-1);
                    joinDecoding(this);
                    if (done.get()) {
                        decoding.remove(this);
                    }
                    return;
                }
                timer.set(vertx.setPeriodic(decodePeriodMillis(), p -> tick()));
                if (done.get()) {
                    stop();
                }
            }));
        }

        private long dueNanos(int step) {
            long perToken = tokensPerSecond <= 0 ? 0 : 1_000_000_000L / tokensPerSecond;
            return startNanos + timeToFirstToken.toNanos() + step * perToken;
        }

        /** Emits what is due; true when the generation is over. */
        private synchronized boolean tick() {
            if (done.get()) {
                return true;
            }
            long now = System.nanoTime();
            while (next < steps && (next == 0 || dueNanos(next) <= now)) {
                var delta = Chunks.delta();
                if (next == 0) {
                    delta.setRole("assistant");
                }
                int thought = plan.reasoning().size();
                if (next < thought) {
                    delta.setReasoningContent(plan.reasoning().get(next));
                } else if (plan.toolCall() != null) {
                    delta.addToolCalls(plan.toolCall());
                } else {
                    delta.setContent(plan.tokens().get(next - thought));
                }
                next++;
                var chunk = Chunks.base(id, modelName, created).setDelta(delta);
                if (alternatives >= 0 && !delta.getContent().isEmpty()) {
                    chunk.addLogprobs(logprob(delta.getContent(), alternatives, plan.drawn()));
                }
                emitter.emit(chunk.build());
                if (done.get()) {
                    return true;
                }
            }
            if (next < steps) {
                return false;
            }
            var last = Chunks.base(id, modelName, created).setFinishReason(plan.finishReason())
                    .setUsage(Chunks.usage(plan.promptTokens(), plan.completionTokens(), plan.reasoning().size()));
            if (steps == 0) {
                last.setDelta(Chunks.delta().setRole("assistant"));
            }
            if (done.compareAndSet(false, true)) {
                stop(); // off the decode step and its timers before the subscriber hears the end
                emitter.emit(last.build());
                emitter.complete();
            }
            return true;
        }

        private void stop() {
            done.set(true);
            long t = timer.get();
            if (t >= 0) {
                vertx.cancelTimer(t);
            }
            decoding.remove(this);
        }
    }

    /** Generations currently on the shared decode step (for tests). */
    int decodingGenerations() {
        return decoding.size();
    }

    private long decodePeriodMillis() {
        return tokensPerSecond <= 0 ? 1 : Math.max(1, 1000L / tokensPerSecond);
    }

    /** Adds a generation to the shared decode step, starting the model's clock if it is not running. */
    private void joinDecoding(Run run) {
        synchronized (decoding) {
            decoding.add(run);
            if (clockTimer < 0) {
                clockTimer = vertx.setPeriodic(decodePeriodMillis(), id -> decodeStep());
            }
        }
    }

    /** One decode step: every running generation emits what is due; the clock stops when none runs. */
    private void decodeStep() {
        for (Run run : decoding) {
            if (run.tick()) {
                decoding.remove(run);
            }
        }
        if (decoding.isEmpty()) {
            synchronized (decoding) {
                if (decoding.isEmpty() && clockTimer >= 0) {
                    vertx.cancelTimer(clockTimer);
                    clockTimer = -1;
                }
            }
        }
    }

    @Override
    public Uni<EmbedResponse> embed(EmbedRequest request) {
        return Uni.createFrom().item(() -> {
            int dims = request.hasDimensions() && request.getDimensions() > 0
                    ? Math.min(request.getDimensions(), embeddingDimensions) : embeddingDimensions;
            EmbedResponse.Builder out = EmbedResponse.newBuilder().setModel(modelName);
            int tokens = 0;
            for (int i = 0; i < request.getInputCount(); i++) {
                String text = request.getInput(i);
                tokens += Chunks.estimateTokens(text);
                SplittableRandom rng = new SplittableRandom(seedOf(text, null));
                float[] v = new float[dims];
                double norm = 0;
                for (int d = 0; d < dims; d++) {
                    v[d] = (float) (rng.nextDouble() * 2 - 1);
                    norm += v[d] * v[d];
                }
                norm = Math.sqrt(norm);
                Embedding.Builder e = Embedding.newBuilder().setIndex(i);
                for (float x : v) {
                    e.addEmbedding((float) (x / norm));
                }
                out.addData(e);
            }
            return out.setUsage(Chunks.usage(tokens, 0)).build();
        });
    }
}
