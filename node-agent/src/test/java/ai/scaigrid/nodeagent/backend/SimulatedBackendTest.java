package ai.scaigrid.nodeagent.backend;

import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.EmbedResponse;
import ai.scaigrid.proto.scaiinfer.v1.FunctionDefinition;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.Tool;
import ai.scaigrid.proto.scaiinfer.v1.ToolChoice;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The simulated model: same prompt and seed give the same text; the configured rate and TTFT hold. */
class SimulatedBackendTest {
    private static Vertx vertx;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stop() {
        vertx.close();
    }

    private static SimulatedBackend backend(int rate, Duration ttft, int tokens) {
        return new SimulatedBackend(vertx, "sim", rate, ttft, tokens, 4096, 32);
    }

    private static InferenceRequest chat(String text, Long seed) {
        InferenceRequest.Builder b = InferenceRequest.newBuilder().setModel("sim")
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent(text));
        if (seed != null) {
            b.setSeed(seed);
        }
        return b.build();
    }

    private static List<InferenceChunk> run(SimulatedBackend backend, InferenceRequest request) {
        return backend.stream(request).collect().asList().await().atMost(Duration.ofSeconds(20));
    }

    private static String text(List<InferenceChunk> chunks) {
        return chunks.stream().map(c -> c.getDelta().getContent()).collect(Collectors.joining());
    }

    /**
     * The model draws each word uniformly from its vocabulary: every word token's log probability is ln(1/|vocabulary|), and
     * its alternatives are other words written the same way (space, capital, full stop); a JSON answer's pieces are
     * certain.
     */
    @Test
    void tokenLogprobsAreTheModelsOwnOdds() {
        SimulatedBackend b = backend(0, Duration.ofMillis(1), 12);
        List<InferenceChunk> chunks = run(b, chat("odds", 3L).toBuilder().setLogprobs(true).setTopLogprobs(3).build());
        List<ai.scaigrid.proto.scaiinfer.v1.TokenLogprob> tokens = chunks.stream().flatMap(c -> c.getLogprobsList().stream()).toList();
        assertThat(tokens).hasSize(12);
        assertThat(tokens.stream().map(t -> t.getToken()).collect(Collectors.joining())).isEqualTo(text(chunks));
        double uniform = tokens.get(0).getLogprob();
        assertThat(uniform).isEqualTo(-Math.log(73)); // its 73 words
        for (var t : tokens) {
            assertThat(t.getLogprob()).isEqualTo(uniform);
            assertThat(t.getBytes().toStringUtf8()).isEqualTo(t.getToken());
            assertThat(t.getTopLogprobsList()).hasSize(3);
            assertThat(t.getTopLogprobs(0).getToken()).isEqualTo(t.getToken());
            assertThat(t.getTopLogprobsList()).allSatisfy(alt -> {
                assertThat(alt.getLogprob()).isEqualTo(uniform);
                assertThat(alt.getToken().startsWith(" ")).isEqualTo(t.getToken().startsWith(" "));
                assertThat(alt.getToken().endsWith(".")).isEqualTo(t.getToken().endsWith("."));
            });
        }
        assertThat(tokens.get(0).getTopLogprobs(1).getToken()).isNotEqualTo(tokens.get(0).getToken());
        // the same text with and without them
        assertThat(text(run(b, chat("odds", 3L)))).isEqualTo(text(chunks));
        assertThat(run(b, chat("odds", 3L)).stream().mapToInt(InferenceChunk::getLogprobsCount).sum()).isZero();
        // a JSON answer follows from its schema: certain pieces
        List<InferenceChunk> json = run(b, chat("odds", 3L).toBuilder().setLogprobs(true)
                .setResponseFormat(ai.scaigrid.proto.scaiinfer.v1.ResponseFormat.newBuilder().setType("json_object")).build());
        assertThat(json.stream().flatMap(c -> c.getLogprobsList().stream())).isNotEmpty()
                .allSatisfy(t -> assertThat(t.getLogprob()).isZero());
    }

    @Test
    void samePromptAndSeedGiveTheSameTextAndChangingEitherChangesIt() {
        SimulatedBackend b = backend(0, Duration.ofMillis(1), 40);
        String first = text(run(b, chat("Tell me about grids", 7L)));
        String again = text(run(b, chat("Tell me about grids", 7L)));
        assertThat(first).isEqualTo(again).isNotBlank();
        assertThat(first.split(" ")).hasSize(40);
        assertThat(text(run(b, chat("Tell me about grids", 8L)))).isNotEqualTo(first);
        assertThat(text(run(b, chat("Tell me about rivers", 7L)))).isNotEqualTo(first);
        // a second backend instance (another node) with the same model answers the same
        assertThat(text(run(backend(0, Duration.ofMillis(1), 40), chat("Tell me about grids", 7L)))).isEqualTo(first);
    }

    @Test
    void chunksFollowTheContract() {
        List<InferenceChunk> chunks = run(backend(0, Duration.ofMillis(1), 12), chat("hello", 1L));
        assertThat(chunks).hasSize(13);
        assertThat(chunks.get(0).getDelta().getRole()).isEqualTo("assistant");
        assertThat(chunks.subList(1, 13)).allSatisfy(c -> assertThat(c.getDelta().getRole()).isEmpty());
        assertThat(chunks.subList(0, 12)).allSatisfy(c -> assertThat(c.getFinishReason()).isEmpty());
        assertThat(chunks.stream().map(InferenceChunk::getId).distinct()).hasSize(1);
        InferenceChunk last = chunks.get(12);
        assertThat(last.getFinishReason()).isEqualTo("stop");
        assertThat(last.getUsage().getCompletionTokens()).isEqualTo(12);
        assertThat(last.getUsage().getTotalTokens()).isEqualTo(12 + last.getUsage().getPromptTokens());
    }

    @ParameterizedTest
    @EnumSource(SimulatedBackend.DecodeClock.class)
    void tokenRateAndTimeToFirstTokenHold(SimulatedBackend.DecodeClock clock) {
        // 60 tokens at 200 tokens/s after 150 ms: first token at ~150 ms, the last at ~150 + 59 * 5 = 445 ms
        SimulatedBackend b = new SimulatedBackend(vertx, "sim", 200, Duration.ofMillis(150), 60, 4096, 32, clock);
        long start = System.nanoTime();
        long[] firstAt = {0};
        List<InferenceChunk> chunks = b.stream(chat("rate", 1L))
                .onItem().invoke(c -> {
                    if (firstAt[0] == 0) {
                        firstAt[0] = System.nanoTime();
                    }
                })
                .collect().asList().await().atMost(Duration.ofSeconds(10));
        long ttftMs = (firstAt[0] - start) / 1_000_000;
        long totalMs = (System.nanoTime() - start) / 1_000_000;
        assertThat(chunks).hasSize(61);
        // lower bounds are the contract; the upper ones only catch a runaway (a loaded CI machine is slow)
        assertThat(ttftMs).isBetween(140L, 1500L);
        assertThat(totalMs).isBetween(430L, 3000L);
        assertThat(b.decodingGenerations()).isZero();
    }

    /**
     * Three generations started 7 ms apart at 50 tokens/s: on the shared clock, after their first tokens
     * they advance together, so their tokens arrive in about as many bursts as one generation has tokens;
     * with a timer each, three times as many.
     */
    @ParameterizedTest
    @EnumSource(SimulatedBackend.DecodeClock.class)
    void theSharedClockAdvancesConcurrentGenerationsOnTheSameStep(SimulatedBackend.DecodeClock clock) {
        SimulatedBackend b = new SimulatedBackend(vertx, "sim", 50, Duration.ofMillis(5), 30, 4096, 32, clock);
        List<Long> emittedAt = Collections.synchronizedList(new ArrayList<>());
        List<AssertSubscriber<InferenceChunk>> subs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            subs.add(b.stream(chat("batch " + i, 1L)).onItem().invoke(c -> emittedAt.add(System.nanoTime()))
                    .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE)));
            long until = System.nanoTime() + 7_000_000;
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
        }
        subs.forEach(s -> s.awaitCompletion(Duration.ofSeconds(10)));
        assertThat(subs).allSatisfy(s -> assertThat(s.getItems()).hasSize(31));

        List<Long> times = new ArrayList<>(emittedAt);
        Collections.sort(times);
        int bursts = 1;
        for (int i = 1; i < times.size(); i++) {
            if (times.get(i) - times.get(i - 1) > 3_000_000) {
                bursts++;
            }
        }
        if (clock == SimulatedBackend.DecodeClock.SHARED) {
            assertThat(bursts).as("bursts of 93 chunks").isLessThanOrEqualTo(40);
        } else {
            assertThat(bursts).as("bursts of 93 chunks").isGreaterThanOrEqualTo(60);
        }
        assertThat(b.decodingGenerations()).isZero();
    }

    @Test
    void maxTokensCutsWithLengthAndStopSequencesCutBeforeTheStop() {
        SimulatedBackend b = backend(0, Duration.ofMillis(1), 30);
        List<InferenceChunk> cut = run(b, chat("long", 3L).toBuilder().setMaxTokens(5).build());
        assertThat(cut).hasSize(6);
        assertThat(cut.get(5).getFinishReason()).isEqualTo("length");

        String full = text(run(b, chat("stops", 3L)));
        String stop = full.substring(10, 14);
        String stopped = text(run(b, chat("stops", 3L).toBuilder().addStop(stop).build()));
        assertThat(stopped).isEqualTo(full.substring(0, full.indexOf(stop)));
    }

    @Test
    void aReasoningModelThinksBeforeItAnswersWithinMaxTokens() {
        SimulatedBackend thinker = new SimulatedBackend(vertx, "sim", 0, Duration.ofMillis(1), 10, 4096, 32,
                SimulatedBackend.DecodeClock.SHARED, 8);
        List<InferenceChunk> chunks = run(thinker, chat("why?", 5L));
        // 8 reasoning chunks (the first with the role), then 10 answer chunks, then the final one
        assertThat(chunks).hasSize(19);
        assertThat(chunks.get(0).getDelta().getRole()).isEqualTo("assistant");
        assertThat(chunks.subList(0, 8)).allSatisfy(c -> {
            assertThat(c.getDelta().getReasoningContent()).isNotEmpty();
            assertThat(c.getDelta().getContent()).isEmpty();
        });
        assertThat(chunks.subList(8, 18)).allSatisfy(c -> assertThat(c.getDelta().getReasoningContent()).isEmpty());
        assertThat(chunks.get(18).getUsage().getCompletionTokens()).as("thinking is output").isEqualTo(18);
        assertThat(chunks.get(18).getUsage().getReasoningTokens()).isEqualTo(8);
        // the answer is the one the same model gives without thinking; the thinking is deterministic too
        assertThat(text(chunks)).isEqualTo(text(run(backend(0, Duration.ofMillis(1), 10), chat("why?", 5L))));
        assertThat(Chunks.fold(chunks).getMessage().getReasoningContent())
                .isEqualTo(Chunks.fold(run(thinker, chat("why?", 5L))).getMessage().getReasoningContent()).endsWith(".");

        // reasoning_effort scales the thinking; none turns it off
        assertThat(thinker.plan(chat("why?", 5L).toBuilder().setReasoningEffort("high").build()).reasoning()).hasSize(16);
        assertThat(thinker.plan(chat("why?", 5L).toBuilder().setReasoningEffort("low").build()).reasoning()).hasSize(4);
        assertThat(thinker.plan(chat("why?", 5L).toBuilder().setReasoningEffort("none").build()).reasoning()).isEmpty();

        // max_tokens counts the thinking first: 12 leaves 4 answer tokens; 5 leaves none
        SimulatedBackend.Plan cut = thinker.plan(chat("why?", 5L).toBuilder().setMaxTokens(12).build());
        assertThat(cut.reasoning()).hasSize(8);
        assertThat(cut.tokens()).hasSize(4);
        assertThat(cut.finishReason()).isEqualTo("length");
        List<InferenceChunk> thinkingOnly = run(thinker, chat("why?", 5L).toBuilder().setMaxTokens(5).build());
        assertThat(text(thinkingOnly)).isEmpty();
        assertThat(thinkingOnly.get(thinkingOnly.size() - 1).getFinishReason()).isEqualTo("length");
        assertThat(thinkingOnly.get(thinkingOnly.size() - 1).getUsage().getCompletionTokens()).isEqualTo(5);
    }

    @Test
    void requiredToolChoiceYieldsAToolCall() {
        InferenceRequest r = chat("weather?", 1L).toBuilder()
                .addTools(Tool.newBuilder().setType("function").setFunction(FunctionDefinition.newBuilder().setName("get_weather")))
                .setToolChoice(ToolChoice.newBuilder().setMode("required")).build();
        List<InferenceChunk> chunks = run(backend(0, Duration.ofMillis(1), 10), r);
        assertThat(chunks.get(0).getDelta().getToolCalls(0).getFunction().getName()).isEqualTo("get_weather");
        assertThat(chunks.get(chunks.size() - 1).getFinishReason()).isEqualTo("tool_calls");
        assertThat(Chunks.fold(chunks).getMessage().getToolCalls(0).getId()).startsWith("call_");
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private static final String WEATHER_SCHEMA = """
            {"type": "object", "required": ["city", "unit", "days"], "properties": {
              "city": {"type": "string", "minLength": 3},
              "unit": {"enum": ["celsius", "fahrenheit"]},
              "days": {"type": "integer", "minimum": 1, "maximum": 7},
              "when": {"type": "string", "format": "date"},
              "alerts": {"type": ["boolean", "null"]},
              "stops": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"$ref": "#/$defs/stop"}}},
             "$defs": {"stop": {"type": "object", "properties": {"name": {"type": "string"},
              "lat": {"type": "number", "minimum": -90, "maximum": 90}, "next": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/stop"}]}}}}}
            """;

    /** Checks a sampled value against WEATHER_SCHEMA, field by field. */
    private static void assertWeather(com.fasterxml.jackson.databind.JsonNode v) {
        assertThat(v.path("city").isTextual()).isTrue();
        assertThat(v.path("city").asText().length()).isGreaterThanOrEqualTo(3);
        assertThat(v.path("unit").asText()).isIn("celsius", "fahrenheit");
        assertThat(v.path("days").isIntegralNumber()).isTrue();
        assertThat(v.path("days").asInt()).isBetween(1, 7);
        assertThat(v.path("when").asText()).matches("\\d{4}-\\d{2}-\\d{2}");
        assertThat(v.path("alerts").isBoolean()).isTrue();
        assertThat(v.path("stops")).hasSize(2);
        for (com.fasterxml.jackson.databind.JsonNode stop : v.path("stops")) {
            assertThat(stop.path("name").isTextual()).isTrue();
            assertThat(stop.path("lat").asDouble()).isBetween(-90.0, 90.0);
            assertThat(stop.path("next").isObject()).isTrue(); // recursive: followed, and bounded
        }
    }

    @Test
    void toolCallArgumentsFollowTheToolsSchema() throws Exception {
        InferenceRequest r = chat("weather?", 1L).toBuilder()
                .addTools(Tool.newBuilder().setType("function").setFunction(FunctionDefinition.newBuilder().setName("get_weather")
                        .setParametersJson(WEATHER_SCHEMA)))
                .setToolChoice(ToolChoice.newBuilder().setMode("required")).build();
        String arguments = Chunks.fold(run(backend(0, Duration.ofMillis(1), 10), r)).getMessage().getToolCalls(0).getFunction().getArguments();
        assertWeather(JSON.readTree(arguments));
        // deterministic for the same prompt and seed
        assertThat(Chunks.fold(run(backend(0, Duration.ofMillis(1), 10), r)).getMessage().getToolCalls(0).getFunction().getArguments())
                .isEqualTo(arguments);
    }

    @Test
    void aHostileSchemaCannotMakeTheAnswerHuge() throws Exception {
        String wide = "{\"type\":\"array\",\"minItems\":1000000000,\"items\":{\"type\":\"array\",\"minItems\":1000,"
                + "\"items\":{\"type\":\"array\",\"minItems\":1000,\"items\":{\"type\":\"string\",\"minLength\":2000000000}}}}";
        String sample = SchemaSample.of(wide, new java.util.SplittableRandom(1), new String[]{"word"});
        assertThat(sample.length()).isLessThan(3_000_000);
        assertThat(JSON.readTree(sample).isArray()).isTrue();
        assertThat(SchemaSample.of("{not json", new java.util.SplittableRandom(1), new String[]{"word"})).isEqualTo("{}");
        assertThat(SchemaSample.of("", new java.util.SplittableRandom(1), new String[]{"word"})).isEqualTo("{}");
    }

    @Test
    void responseFormatsGiveJsonStreamedInPieces() throws Exception {
        InferenceRequest schema = chat("structured", 2L).toBuilder().setResponseFormat(
                ai.scaigrid.proto.scaiinfer.v1.ResponseFormat.newBuilder().setType("json_schema").setSchemaName("weather")
                        .setJsonSchema(WEATHER_SCHEMA)).build();
        List<InferenceChunk> chunks = run(backend(0, Duration.ofMillis(1), 10), schema);
        assertThat(chunks.size()).isGreaterThan(10); // streamed token by token, not in one piece
        assertWeather(JSON.readTree(text(chunks)));
        assertThat(chunks.get(chunks.size() - 1).getFinishReason()).isEqualTo("stop");

        InferenceRequest object = chat("any json", 3L).toBuilder().setResponseFormat(
                ai.scaigrid.proto.scaiinfer.v1.ResponseFormat.newBuilder().setType("json_object")).build();
        assertThat(JSON.readTree(text(run(backend(0, Duration.ofMillis(1), 10), object))).path("answer").asText()).isNotBlank();

        // cut at max_tokens like any answer: what came is a prefix, and the finish says so
        List<InferenceChunk> cut = run(backend(0, Duration.ofMillis(1), 10), schema.toBuilder().setMaxTokens(3).build());
        assertThat(text(cut)).hasSize(12);
        assertThat(text(chunks)).startsWith(text(cut));
        assertThat(cut.get(cut.size() - 1).getFinishReason()).isEqualTo("length");
    }

    @Test
    void cancellingStopsTheGeneration() {
        SimulatedBackend b = backend(50, Duration.ofMillis(1), 1000);
        AssertSubscriber<InferenceChunk> sub = b.stream(chat("cancel me", 1L)).subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        await().atMost(Duration.ofSeconds(5)).until(() -> sub.getItems().size() >= 3);
        sub.cancel();
        int seen = sub.getItems().size();
        // nothing more arrives and the stream never completes: the timers are gone
        await().during(Duration.ofMillis(400)).atMost(Duration.ofSeconds(2))
                .until(() -> sub.getItems().size() <= seen + 1 && !sub.hasCompleted());
        assertThat(b.decodingGenerations()).as("the cancelled generation left the decode step").isZero();
    }

    @Test
    void embeddingsAreDeterministicUnitVectors() {
        SimulatedBackend b = backend(0, Duration.ofMillis(1), 1);
        EmbedRequest r = EmbedRequest.newBuilder().setModel("sim").addInput("a").addInput("b").build();
        EmbedResponse one = b.embed(r).await().atMost(Duration.ofSeconds(5));
        EmbedResponse two = b.embed(r).await().atMost(Duration.ofSeconds(5));
        assertThat(one.getDataList()).hasSize(2);
        assertThat(one.getData(0).getEmbeddingList()).hasSize(32).isEqualTo(two.getData(0).getEmbeddingList());
        assertThat(one.getData(0).getEmbeddingList()).isNotEqualTo(one.getData(1).getEmbeddingList());
        double norm = one.getData(1).getEmbeddingList().stream().mapToDouble(x -> x * x).sum();
        assertThat(norm).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-3));
    }
}
