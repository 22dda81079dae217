package ai.scaigrid.commons.scaiinfer;

import ai.scaigrid.proto.scaiinfer.v1.ChunkDelta;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.subscription.Cancellable;
import io.smallrye.mutiny.subscription.MultiEmitter;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import io.vertx.core.Context;

/**
 * Merges the text deltas of a {@code StreamInference} stream that become available within one
 * event-loop task into one chunk, the way an inference engine hands a lagging consumer everything
 * generated since its last read. No token waits: what arrived is sent at the end of the current task,
 * so an idle stream still goes out chunk by chunk, while a burst (a node that produced several tokens
 * at once, one network read carrying many messages) costs one gRPC message instead of one per token.
 * A stream's first output (and a role-only opening before it) is not held even that long: it leaves at
 * once, ahead of the rest of the task, which in a relay is a whole decode step of other streams' chunks.
 * Only plain text deltas merge (answer text with answer text, reasoning with reasoning; their token log probabilities
 * with them); role, tool calls, thinking blocks, finish reason, usage and errors keep their own
 * chunks and their order. The flush runs on the event loop that delivered the chunk (no thread hop),
 * else on the given Vert.x context; with neither, chunks pass through as they are.
 */
public final class ChunkCoalescer {
    private ChunkCoalescer() {
    }

    /** The stream with same-task text deltas merged; {@code context} flushes chunks that arrive off an event loop. */
    public static Multi<InferenceChunk> coalesce(Multi<InferenceChunk> upstream, Context context) {
        return Multi.createFrom().emitter(emitter -> {
            Merger merger = new Merger(emitter, context);
            Cancellable subscription = upstream.subscribe().with(merger::onItem, merger::onFailure, merger::onComplete);
            emitter.onTermination(subscription::cancel);
        });
    }

    /**
     * True when {@code next} only appends text to {@code pending} and nothing else distinguishes them:
     * answer text to answer text, or reasoning to reasoning. {@code pendingHasText} and
     * {@code pendingHasReasoning} include what was already merged into {@code pending}: a chunk that
     * switches from one to the other starts a new chunk, so their order stays as the model produced it.
     */
    static boolean mergeable(InferenceChunk pending, boolean pendingHasText, boolean pendingHasReasoning, InferenceChunk next) {
        if (!(isPlainText(pending) && isPlainText(next) && next.getDelta().getRole().isEmpty()
                && pending.getId().equals(next.getId()) && pending.getModel().equals(next.getModel()))) {
            return false;
        }
        boolean nextHasText = !next.getDelta().getContent().isEmpty();
        boolean nextHasReasoning = !next.getDelta().getReasoningContent().isEmpty();
        return nextHasReasoning ? !pendingHasText && !nextHasText : !pendingHasReasoning;
    }

    /** Anything but a role-only opening: text, reasoning, or any chunk that is not plain text. */
    private static boolean carriesOutput(InferenceChunk c) {
        return !isPlainText(c) || !c.getDelta().getContent().isEmpty() || !c.getDelta().getReasoningContent().isEmpty();
    }

    private static boolean isPlainText(InferenceChunk c) {
        return c.getFinishReason().isEmpty() && !c.hasUsage() && !c.hasError() && c.getDelta().getToolCallsCount() == 0
                && c.getDelta().getThinkingBlocksCount() == 0;
    }

    private static final class Merger {
        private final MultiEmitter<? super InferenceChunk> emitter;
        private final Context context;
        // guarded by this; emissions also happen under the lock, so chunks leave in arrival order.
        // The text merged into the pending chunk is collected here and the chunk is rebuilt once, at the flush.
        private InferenceChunk pending;
        private final StringBuilder appended = new StringBuilder();
        private final StringBuilder appendedReasoning = new StringBuilder();
        /** The merged chunks' token log probabilities, after the pending chunk's own. */
        private final java.util.List<ai.scaigrid.proto.scaiinfer.v1.TokenLogprob> appendedLogprobs = new java.util.ArrayList<>();
        private boolean flushScheduled;
        /** Whether the stream's first output has gone out: until then chunks never wait for the end of the task. */
        private boolean started;

        Merger(MultiEmitter<? super InferenceChunk> emitter, Context context) {
            this.emitter = emitter;
            this.context = context;
        }

        void onItem(InferenceChunk chunk) {
            EventExecutor loop = ThreadExecutorMap.currentExecutor();
            if (loop == null && context == null) {
                synchronized (this) {
                    emitPending();
                    emitter.emit(chunk);
                }
                return;
            }
            boolean schedule;
            synchronized (this) {
                if (!started) {
                    // the time to first token: the first output leaves at once, ahead of whatever else this task
                    // delivers (a decode step's chunks of every other stream, in a relay); a role-only opening too
                    started = carriesOutput(chunk);
                    emitter.emit(chunk);
                    return;
                }
                if (pending != null && mergeable(pending, appended.length() > 0 || !pending.getDelta().getContent().isEmpty(),
                        appendedReasoning.length() > 0 || !pending.getDelta().getReasoningContent().isEmpty(), chunk)) {
                    appended.append(chunk.getDelta().getContent());
                    appendedReasoning.append(chunk.getDelta().getReasoningContent());
                    appendedLogprobs.addAll(chunk.getLogprobsList());
                } else {
                    emitPending();
                    pending = chunk;
                }
                schedule = !flushScheduled;
                flushScheduled = true;
            }
            if (schedule) {
                if (loop != null) {
                    loop.execute(this::flush); // after everything this event-loop task delivers
                } else {
                    context.runOnContext(v -> flush());
                }
            }
        }

        private synchronized void flush() {
            flushScheduled = false;
            emitPending();
        }

        /** Emits the pending chunk with the text merged into it, if there is one (caller holds the lock). */
        private void emitPending() {
            if (pending == null) {
                return;
            }
            InferenceChunk out = pending;
            pending = null;
            if (appended.length() > 0 || appendedReasoning.length() > 0) {
                ChunkDelta.Builder delta = out.getDelta().toBuilder();
                if (appended.length() > 0) {
                    delta.setContent(out.getDelta().getContent() + appended);
                }
                if (appendedReasoning.length() > 0) {
                    delta.setReasoningContent(out.getDelta().getReasoningContent() + appendedReasoning);
                }
                out = out.toBuilder().setDelta(delta).addAllLogprobs(appendedLogprobs).build();
                appended.setLength(0);
                appendedReasoning.setLength(0);
                appendedLogprobs.clear();
            }
            emitter.emit(out);
        }

        synchronized void onComplete() {
            flush();
            emitter.complete();
        }

        synchronized void onFailure(Throwable failure) {
            flush();
            emitter.fail(failure);
        }
    }
}
