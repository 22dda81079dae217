package ai.scaigrid.commons.scaiinfer;

import ai.scaigrid.proto.scaiinfer.v1.ChunkDelta;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceError;
import ai.scaigrid.proto.scaiinfer.v1.ThinkingBlock;
import ai.scaigrid.proto.scaiinfer.v1.ToolCallDelta;
import ai.scaigrid.proto.scaiinfer.v1.Usage;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;

class ChunkCoalescerTest {
    static Vertx vertx;
    static Context context;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
        context = vertx.getOrCreateContext();
    }

    @AfterAll
    static void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static InferenceChunk text(String content) {
        return InferenceChunk.newBuilder().setId("c1").setModel("m").setDelta(ChunkDelta.newBuilder().setContent(content)).build();
    }

    static InferenceChunk first(String content) {
        return InferenceChunk.newBuilder().setId("c1").setModel("m")
                .setDelta(ChunkDelta.newBuilder().setRole("assistant").setContent(content)).build();
    }

    static InferenceChunk last() {
        return InferenceChunk.newBuilder().setId("c1").setModel("m").setFinishReason("stop")
                .setUsage(Usage.newBuilder().setPromptTokens(3).setCompletionTokens(4).setTotalTokens(7)).build();
    }

    /** Subscribes on the context and runs {@code producer} with the upstream emitter in one context task. */
    static List<InferenceChunk> collect(java.util.function.BiConsumer<MultiEmitter<? super InferenceChunk>, Context> producer,
                                        AtomicReference<Throwable> failure) {
        return collect(new CopyOnWriteArrayList<>(), producer, failure);
    }

    /** The same, into {@code out}, which the producer may look at while its task runs. */
    static List<InferenceChunk> collect(List<InferenceChunk> out,
                                        java.util.function.BiConsumer<MultiEmitter<? super InferenceChunk>, Context> producer,
                                        AtomicReference<Throwable> failure) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        context.runOnContext(v -> {
            AtomicReference<MultiEmitter<? super InferenceChunk>> upstream = new AtomicReference<>();
            Multi<InferenceChunk> source = Multi.createFrom().<InferenceChunk>emitter(e -> upstream.set(e));
            ChunkCoalescer.coalesce(source, context).subscribe().with(out::add, t -> {
                failure.set(t);
                done.complete(null);
            }, () -> done.complete(null));
            producer.accept(upstream.get(), context);
        });
        done.orTimeout(10, TimeUnit.SECONDS).join();
        return out;
    }

    @Test
    void mergedTextKeepsEveryTokensLogprobInOrder() {
        java.util.function.Function<String, InferenceChunk> withLogprob = t -> text(t).toBuilder()
                .addLogprobs(ai.scaigrid.proto.scaiinfer.v1.TokenLogprob.newBuilder().setToken(t).setLogprob(-t.length())).build();
        List<InferenceChunk> out = collect((up, ctx) -> {
            up.emit(first("Hi."));
            up.emit(withLogprob.apply(" Hel"));
            up.emit(withLogprob.apply("lo"));
            up.emit(withLogprob.apply(" world"));
            up.emit(last());
            up.complete();
        }, new AtomicReference<>());
        assertThat(out).hasSize(3);
        assertThat(out.get(1).getDelta().getContent()).isEqualTo(" Hello world");
        assertThat(out.get(1).getLogprobsList()).extracting(l -> l.getToken(), l -> l.getLogprob())
                .containsExactly(tuple(" Hel", -4.0), tuple("lo", -2.0), tuple(" world", -6.0));
    }

    @Test
    void theFirstOutputLeavesAtOnceAndTheRestOfTheTaskAsOneChunk() {
        List<Integer> seenDuringTheTask = new CopyOnWriteArrayList<>();
        List<InferenceChunk> out = new CopyOnWriteArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        collect(out, (up, ctx) -> {
            up.emit(first("Hello"));
            seenDuringTheTask.add(out.size()); // the first token did not wait for the end of the task
            up.emit(text(" brave"));
            up.emit(text(" new"));
            up.emit(text(" world"));
            seenDuringTheTask.add(out.size()); // the rest does, to leave as one chunk
            up.emit(last());
            up.complete();
        }, failure);
        assertThat(failure.get()).isNull();
        assertThat(seenDuringTheTask).containsExactly(1, 1);
        assertThat(out).hasSize(3);
        assertThat(out.get(0)).isEqualTo(first("Hello"));
        assertThat(out.get(1).getDelta().getRole()).isEmpty();
        assertThat(out.get(1).getDelta().getContent()).isEqualTo(" brave new world");
        assertThat(out.get(1).getId()).isEqualTo("c1");
        assertThat(out.get(2)).isEqualTo(last());
    }

    @Test
    void aRoleOnlyOpeningDoesNotCountAsTheFirstOutput() {
        List<InferenceChunk> out = collect((up, ctx) -> {
            up.emit(first(""));
            up.emit(text("Hello"));
            up.emit(text(" world"));
            up.emit(text("!"));
            up.emit(last());
            up.complete();
        }, new AtomicReference<>());
        assertThat(out).extracting(c -> c.getDelta().getContent()).containsExactly("", "Hello", " world!", "");
    }

    static InferenceChunk reasoning(String thought) {
        return InferenceChunk.newBuilder().setId("c1").setModel("m").setDelta(ChunkDelta.newBuilder().setReasoningContent(thought)).build();
    }

    @Test
    void reasoningMergesWithReasoningAndTextWithTextInTheOrderTheyCame() {
        List<InferenceChunk> out = collect((up, ctx) -> {
            up.emit(first(""));
            up.emit(reasoning("Hmm."));
            up.emit(reasoning(" Let me"));
            up.emit(reasoning(" think."));
            up.emit(text("The answer"));
            up.emit(text(" is 4."));
            up.emit(reasoning(" (late thought)"));
            up.emit(last());
            up.complete();
        }, new AtomicReference<>());
        assertThat(out).extracting(c -> c.getDelta().getReasoningContent(), c -> c.getDelta().getContent())
                .containsExactly(tuple("", ""), tuple("Hmm.", ""), tuple(" Let me think.", ""), tuple("", "The answer is 4."),
                        tuple(" (late thought)", ""), tuple("", ""));
        assertThat(out.get(0).getDelta().getRole()).isEqualTo("assistant");
    }

    @Test
    void deltasOfDifferentTasksAreNotHeldBack() {
        List<InferenceChunk> out = collect((up, ctx) -> {
            up.emit(first("a"));
            ctx.runOnContext(v1 -> {
                up.emit(text("b"));
                ctx.runOnContext(v2 -> {
                    up.emit(text("c"));
                    up.emit(text("d"));
                    ctx.runOnContext(v3 -> {
                        up.emit(last());
                        up.complete();
                    });
                });
            });
        }, new AtomicReference<>());
        assertThat(out).extracting(c -> c.getDelta().getContent()).containsExactly("a", "b", "cd", "");
    }

    @Test
    void aTokenIsSentAtTheEndOfTheTaskThatProducedItWithoutWaitingForMore() {
        List<InferenceChunk> seen = new CopyOnWriteArrayList<>();
        AtomicBoolean completed = new AtomicBoolean();
        AtomicReference<MultiEmitter<? super InferenceChunk>> upstream = new AtomicReference<>();
        context.runOnContext(v -> ChunkCoalescer.coalesce(Multi.createFrom().<InferenceChunk>emitter(e -> upstream.set(e)), context)
                .subscribe().with(seen::add, t -> { }, () -> completed.set(true)));
        await().atMost(Duration.ofSeconds(5)).until(() -> upstream.get() != null);
        context.runOnContext(v -> upstream.get().emit(first("x")));
        // the stream stays open: the chunk must still arrive
        await().atMost(Duration.ofSeconds(5)).until(() -> seen.size() == 1);
        assertThat(completed).isFalse();
        context.runOnContext(v -> upstream.get().complete());
        await().atMost(Duration.ofSeconds(5)).untilTrue(completed);
    }

    @Test
    void toolCallsErrorsAndOtherCompletionsAreNeverMerged() {
        InferenceChunk tool = InferenceChunk.newBuilder().setId("c1").setModel("m").setDelta(ChunkDelta.newBuilder()
                .addToolCalls(ToolCallDelta.newBuilder().setIndex(0).setId("call_1").setType("function")
                        .setFunction(FunctionCall.newBuilder().setName("f").setArguments("{")))).build();
        InferenceChunk otherId = text("z").toBuilder().setId("c2").build();
        InferenceChunk block = InferenceChunk.newBuilder().setId("c1").setModel("m").setDelta(ChunkDelta.newBuilder()
                .addThinkingBlocks(ThinkingBlock.newBuilder().setType("thinking").setThinking("t").setSignature("s"))).build();
        InferenceChunk error = InferenceChunk.newBuilder().setId("c1").setModel("m").setFinishReason("error")
                .setError(InferenceError.newBuilder().setCode("BACKEND_ERROR").setMessage("failed")).build();
        List<InferenceChunk> out = collect((up, ctx) -> {
            up.emit(first("a"));
            up.emit(tool);
            up.emit(text("b"));
            up.emit(block);
            up.emit(text("c"));
            up.emit(otherId);
            up.emit(error);
            up.complete();
        }, new AtomicReference<>());
        assertThat(out).containsExactly(first("a"), tool, text("b"), block, text("c"), otherId, error);
    }

    @Test
    void aFailureComesAfterEveryPendingDelta() {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<InferenceChunk> out = collect((up, ctx) -> {
            up.emit(first("a"));
            up.emit(text("b"));
            up.emit(text("c"));
            up.fail(new IllegalStateException("node gone"));
        }, failure);
        assertThat(out).extracting(c -> c.getDelta().getContent()).containsExactly("a", "bc");
        assertThat(failure.get()).hasMessage("node gone");
    }

    @Test
    void withoutAVertxContextChunksPassThroughUnchanged() {
        List<InferenceChunk> out = ChunkCoalescer.coalesce(Multi.createFrom().items(first("a"), text("b"), last()), null)
                .collect().asList().await().atMost(Duration.ofSeconds(5));
        assertThat(out).containsExactly(first("a"), text("b"), last());
    }

    @Test
    void cancellingTheCoalescedStreamCancelsTheUpstream() {
        AtomicBoolean upstreamCancelled = new AtomicBoolean();
        AtomicReference<io.smallrye.mutiny.subscription.Cancellable> subscription = new AtomicReference<>();
        context.runOnContext(v -> subscription.set(ChunkCoalescer.coalesce(Multi.createFrom().<InferenceChunk>emitter(e -> { })
                        .onCancellation().invoke(() -> upstreamCancelled.set(true)), context)
                .subscribe().with(c -> { })));
        await().atMost(Duration.ofSeconds(5)).until(() -> subscription.get() != null);
        subscription.get().cancel();
        await().atMost(Duration.ofSeconds(5)).untilTrue(upstreamCancelled);
    }
}
