package ai.scaigrid.nodeagent.backend;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.FunctionDefinition;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceResponse;
import ai.scaigrid.proto.scaiinfer.v1.ResponseFormat;
import ai.scaigrid.proto.scaiinfer.v1.ThinkingBlock;
import ai.scaigrid.proto.scaiinfer.v1.Tool;
import ai.scaigrid.proto.scaiinfer.v1.ToolChoice;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;

/** The OpenAI-compatible backend against a local server speaking SSE as llama-server / vLLM do. */
class OpenAiCompatibleBackendTest {
    private static SseUpstream upstream;
    private static Vertx vertx;

    @BeforeAll
    static void start() {
        upstream = new SseUpstream();
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stop() {
        upstream.close();
        vertx.close();
    }

    private static OpenAiCompatibleBackend backend(String upstreamModel) {
        return new OpenAiCompatibleBackend(vertx, "local-llama", upstreamModel, upstream.baseUrl() + "/", "sk-local", Duration.ofSeconds(10));
    }

    private static InferenceRequest chat(String text) {
        return InferenceRequest.newBuilder().setModel("local-llama")
                .addMessages(ChatMessage.newBuilder().setRole("system").setContent("Be brief."))
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent(text)).build();
    }

    private static List<InferenceChunk> run(OpenAiCompatibleBackend b, InferenceRequest r) {
        return b.stream(r).collect().asList().await().atMost(Duration.ofSeconds(10));
    }

    @Test
    void relaysDeltasAndPutsUsageOnTheFinalChunk() {
        List<InferenceChunk> chunks = run(backend("llama-ok"), chat("hi"));
        assertThat(chunks.stream().map(c -> c.getDelta().getContent()).collect(Collectors.joining())).isEqualTo("Hello world");
        assertThat(chunks.get(0).getDelta().getRole()).isEqualTo("assistant");
        assertThat(chunks.get(0).getId()).isEqualTo("chatcmpl-up1");
        assertThat(chunks.get(0).getModel()).isEqualTo("local-llama");
        InferenceChunk last = chunks.get(chunks.size() - 1);
        assertThat(last.getFinishReason()).isEqualTo("stop");
        assertThat(last.getUsage().getPromptTokens()).isEqualTo(9);
        assertThat(last.getUsage().getCompletionTokens()).isEqualTo(2);
        assertThat(chunks.subList(0, chunks.size() - 1)).allSatisfy(c -> assertThat(c.getFinishReason()).isEmpty());
        // exactly one final chunk
        assertThat(chunks.stream().filter(c -> !c.getFinishReason().isEmpty())).hasSize(1);
    }

    @Test
    void tokenLogprobsAreAskedForAndRelayedWithTheirTokens() {
        List<InferenceChunk> chunks = run(backend("llama-ok"), chat("hi").toBuilder().setLogprobs(true).setTopLogprobs(2).build());
        assertThat(upstream.lastBody.get().getBoolean("logprobs")).isTrue();
        assertThat(upstream.lastBody.get().getInteger("top_logprobs")).isEqualTo(2);
        List<ai.scaigrid.proto.scaiinfer.v1.TokenLogprob> tokens = Chunks.fold(chunks).getLogprobsList();
        assertThat(tokens).extracting(t -> t.getToken(), t -> t.getLogprob())
                .containsExactly(tuple("Hello", -0.5), tuple(" world", -0.125));
        assertThat(tokens.get(0).getBytes().toStringUtf8()).isEqualTo("Hello");
        assertThat(tokens.get(0).getTopLogprobsList()).extracting(t -> t.getToken()).containsExactly("Hello", "Hi");
        // unasked, none
        assertThat(Chunks.fold(run(backend("llama-ok"), chat("hi"))).getLogprobsCount()).isZero();
        assertThat(upstream.lastBody.get().containsKey("logprobs")).isFalse();

        // a raw prompt: /completions takes the count of alternatives, and answers in its own shape
        List<InferenceChunk> text = run(backend("llama-ok"), InferenceRequest.newBuilder().setModel("local-llama").setPrompt("Once")
                .setLogprobs(true).setTopLogprobs(2).build());
        assertThat(upstream.lastBody.get().getInteger("logprobs")).isEqualTo(2);
        assertThat(upstream.lastBody.get().containsKey("top_logprobs")).isFalse();
        List<ai.scaigrid.proto.scaiinfer.v1.TokenLogprob> textTokens = Chunks.fold(text).getLogprobsList();
        assertThat(textTokens).extracting(t -> t.getToken(), t -> t.getLogprob())
                .containsExactly(tuple("Once", -1.5), tuple(" upon", -0.25));
        assertThat(textTokens.get(0).getTopLogprobsList()).extracting(t -> t.getToken()).containsExactly("Once", "One");
    }

    @Test
    void prefixCacheHitsAreReportedAsCachedTokens() {
        List<InferenceChunk> chunks = run(backend("vllm-cached"), chat("hi"));
        assertThat(chunks.get(chunks.size() - 1).getUsage().getCachedTokens()).isEqualTo(8);
        assertThat(Chunks.fold(chunks).getUsage().getCachedTokens()).isEqualTo(8);
        List<InferenceChunk> plain = run(backend("llama-ok"), chat("hi"));
        assertThat(plain.get(plain.size() - 1).getUsage().getCachedTokens()).isZero();
    }

    @Test
    void aReasoningModelsThinkingTravelsAsReasoningContentWhicheverFieldTheServerUses() {
        for (String model : List.of("llama-think", "ollama-think")) {
            List<InferenceChunk> chunks = run(backend(model), chat("hi").toBuilder().setReasoningEffort("low").build());
            assertThat(chunks).extracting(c -> c.getDelta().getReasoningContent(), c -> c.getDelta().getContent())
                    .as(model).startsWith(tuple("The user", ""), tuple(" greets me.", ""), tuple("", "Hello!"));
            assertThat(chunks.get(0).getDelta().getRole()).isEqualTo("assistant");
            InferenceResponse folded = Chunks.fold(chunks);
            assertThat(folded.getMessage().getReasoningContent()).isEqualTo("The user greets me.");
            assertThat(folded.getMessage().getContent()).isEqualTo("Hello!");
            assertThat(folded.getUsage().getCompletionTokens()).isEqualTo(6);
            assertThat(folded.getUsage().getReasoningTokens()).as("the server's own split").isEqualTo(4);
            assertThat(upstream.lastBody.get().getString("reasoning_effort")).isEqualTo("low");
        }
        // the next turn: the thinking goes back as reasoning_content, which chat templates read; Anthropic's
        // signed blocks mean nothing to a local server and stay behind
        InferenceRequest next = chat("hi").toBuilder().addMessages(ChatMessage.newBuilder().setRole("assistant").setContent("Hello!")
                        .setReasoningContent("The user greets me.")
                        .addThinkingBlocks(ThinkingBlock.newBuilder().setType("thinking").setThinking("x").setSignature("sig")))
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("again")).build();
        run(backend("llama-think"), next);
        JsonObject assistant = upstream.lastBody.get().getJsonArray("messages").getJsonObject(2);
        assertThat(assistant.getString("reasoning_content")).isEqualTo("The user greets me.");
        assertThat(assistant.containsKey("thinking_blocks")).isFalse();
    }

    @Test
    void translatesTheRequestFieldByField() {
        InferenceRequest r = chat("weather in Paris?").toBuilder().setMaxTokens(50).setTemperature(0.5f).setTopP(0.9f)
                .addStop("END").setSeed(42).setUserId("user_1")
                .addTools(Tool.newBuilder().setType("function").setFunction(FunctionDefinition.newBuilder()
                        .setName("get_weather").setDescription("Weather by city")
                        .setParametersJson("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}")))
                .setToolChoice(ToolChoice.newBuilder().setMode("function").setFunctionName("get_weather"))
                .setResponseFormat(ResponseFormat.newBuilder().setType("json_object"))
                .build();
        run(backend("llama-ok"), r);
        JsonObject body = upstream.lastBody.get();
        assertThat(body.getString("model")).isEqualTo("llama-ok");
        assertThat(body.getBoolean("stream")).isTrue();
        assertThat(body.getJsonObject("stream_options").getBoolean("include_usage")).isTrue();
        assertThat(body.getJsonArray("messages").getJsonObject(1).getString("content")).isEqualTo("weather in Paris?");
        assertThat(body.getInteger("max_tokens")).isEqualTo(50);
        assertThat(body.getDouble("temperature")).isEqualTo(0.5);
        assertThat(body.getJsonArray("stop").getString(0)).isEqualTo("END");
        assertThat(body.getLong("seed")).isEqualTo(42L);
        assertThat(body.getJsonArray("tools").getJsonObject(0).getJsonObject("function").getJsonObject("parameters")
                .getJsonObject("properties").containsKey("city")).isTrue();
        assertThat(body.getJsonObject("tool_choice").getJsonObject("function").getString("name")).isEqualTo("get_weather");
        assertThat(body.getJsonObject("response_format").getString("type")).isEqualTo("json_object");
        assertThat(upstream.lastAuthorization.get()).isEqualTo("Bearer sk-local");
    }

    @Test
    void developerInstructionsReachALocalServerAsSystem() {
        InferenceRequest r = InferenceRequest.newBuilder().setModel("local-llama")
                .addMessages(ai.scaigrid.proto.scaiinfer.v1.ChatMessage.newBuilder().setRole("developer").setContent("be terse"))
                .addMessages(ai.scaigrid.proto.scaiinfer.v1.ChatMessage.newBuilder().setRole("user").setContent("hi"))
                .build();
        run(backend("llama-ok"), r);
        io.vertx.core.json.JsonArray messages = upstream.lastBody.get().getJsonArray("messages");
        assertThat(messages.getJsonObject(0).getString("role")).isEqualTo("system");
        assertThat(messages.getJsonObject(0).getString("content")).isEqualTo("be terse");
        assertThat(messages.getJsonObject(1).getString("role")).isEqualTo("user");
    }

    @Test
    void toolCallFragmentsArriveAndFoldIntoOneCall() {
        List<InferenceChunk> chunks = run(backend("llama-tools"), chat("weather?"));
        assertThat(chunks.get(chunks.size() - 1).getFinishReason()).isEqualTo("tool_calls");
        InferenceResponse folded = Chunks.fold(chunks);
        assertThat(folded.getMessage().getToolCalls(0).getId()).isEqualTo("call_abc");
        assertThat(folded.getMessage().getToolCalls(0).getFunction().getName()).isEqualTo("get_weather");
        assertThat(folded.getMessage().getToolCalls(0).getFunction().getArguments()).isEqualTo("{\"city\":\"Paris\"}");
    }

    @Test
    void rawPromptsUseTheCompletionsEndpoint() {
        List<InferenceChunk> chunks = run(backend("llama-ok"), InferenceRequest.newBuilder().setModel("local-llama")
                .setPrompt("Once").build());
        assertThat(chunks.stream().map(c -> c.getDelta().getContent()).collect(Collectors.joining())).isEqualTo("Once upon a time");
        assertThat(chunks.get(chunks.size() - 1).getFinishReason()).isEqualTo("length");
        assertThat(chunks.get(chunks.size() - 1).getUsage().getTotalTokens()).isEqualTo(7);
        assertThat(upstream.lastBody.get().getString("prompt")).isEqualTo("Once");
    }

    @Test
    void upstreamErrorsBecomeScaigridCodesWithoutInternals() {
        assertThatThrownBy(() -> run(backend("llama-bad"), chat("x")))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.errorCode()).isEqualTo(ErrorCode.VALIDATION_ERROR);
                    assertThat(e.getMessage()).contains("context length exceeded");
                });
        assertThatThrownBy(() -> run(backend("llama-down"), chat("x")))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.errorCode()).isEqualTo(ErrorCode.BACKEND_ERROR);
                    assertThat(e.getMessage()).doesNotContain("Foo.java");
                });
        OpenAiCompatibleBackend nowhere = new OpenAiCompatibleBackend(vertx, "m", "m", "http://127.0.0.1:1/v1", null, Duration.ofSeconds(5));
        assertThatThrownBy(() -> run(nowhere, chat("x")))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.errorCode()).isEqualTo(ErrorCode.BACKEND_ERROR));
    }

    @Test
    void aStreamCutMidwayFails() {
        AssertSubscriber<InferenceChunk> sub = backend("llama-broken").stream(chat("x"))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        sub.awaitFailure(Duration.ofSeconds(10));
        assertThat(sub.getItems()).hasSize(1);
        assertThat(sub.getFailure()).isInstanceOf(ApiException.class);
    }

    @Test
    void cancellingResetsTheUpstreamRequest() {
        int before = upstream.abandonedStreams.get();
        AssertSubscriber<InferenceChunk> sub = backend("llama-slow").stream(chat("x"))
                .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        await().atMost(Duration.ofSeconds(5)).until(() -> sub.getItems().size() >= 3);
        sub.cancel();
        await().atMost(Duration.ofSeconds(2)).until(() -> upstream.abandonedStreams.get() == before + 1);
    }

    @Test
    void embeddings() {
        var response = backend("embedder").embed(EmbedRequest.newBuilder().setModel("local-llama").addInput("a").addInput("b").build())
                .await().atMost(Duration.ofSeconds(10));
        assertThat(response.getDataList()).hasSize(2);
        assertThat(response.getData(1).getEmbeddingList()).containsExactly(0.5f, -0.25f, 1f);
        assertThat(response.getUsage().getPromptTokens()).isEqualTo(7);
        assertThat(response.getModel()).isEqualTo("local-llama");
    }
}
