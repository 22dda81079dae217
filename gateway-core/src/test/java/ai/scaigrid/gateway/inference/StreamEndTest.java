package ai.scaigrid.gateway.inference;

import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.smallrye.mutiny.subscription.MultiEmitter;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/** The operator around a streamed answer's chunks (InferencePipeline.stream): items, the tail, the end. */
class StreamEndTest {

    private final List<String> seen = new ArrayList<>();
    private final List<String> ends = new ArrayList<>();

    private StreamEnd<String> around(Multi<String> upstream, String tail) {
        return new StreamEnd<>(upstream, seen::add, () -> tail,
                (failure, cancelled) -> ends.add(cancelled ? "cancelled"
                        : failure == null ? "completed" : "failed: " + failure.getMessage()));
    }

    @Test
    void itemsPassAndTheTailWaitsForDemand() {
        AssertSubscriber<String> sub = around(Multi.createFrom().items("a", "b"), "usage").subscribe()
                .withSubscriber(AssertSubscriber.create(1));
        sub.assertItems("a");
        sub.request(1);
        sub.assertItems("a", "b").assertNotTerminated(); // the upstream completed; the tail has no demand yet
        assertThat(ends).isEmpty();
        sub.request(1);
        sub.assertItems("a", "b", "usage").assertCompleted();
        assertThat(seen).containsExactly("a", "b"); // the tail is ours: onItem does not see it
        assertThat(ends).containsExactly("completed");
    }

    @Test
    void withoutATailTheStreamCompletesAsItIs() {
        AssertSubscriber<String> sub = around(Multi.createFrom().items("a"), null).subscribe()
                .withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
        sub.assertItems("a").assertCompleted();
        assertThat(ends).containsExactly("completed");
    }

    @Test
    void theEndIsToldBeforeTheSubscriberHearsIt() {
        List<String> order = new ArrayList<>();
        new StreamEnd<>(Multi.createFrom().items("a"), x -> { }, () -> "tail", (f, c) -> order.add("end"))
                .subscribe().with(item -> order.add(item), () -> order.add("completion"));
        assertThat(order).containsExactly("a", "tail", "end", "completion");
    }

    @Test
    void aFailureEndsTheStreamOnceWithoutATail() {
        AssertSubscriber<String> sub = around(Multi.createFrom().<String>emitter(e -> e.emit("a").fail(new IllegalStateException("boom"))),
                "usage").subscribe().withSubscriber(AssertSubscriber.create(10));
        sub.assertItems("a").assertFailedWith(IllegalStateException.class, "boom");
        assertThat(ends).containsExactly("failed: boom");
    }

    @Test
    void cancellingTellsTheEndAndCancelsTheUpstream() {
        AtomicReference<MultiEmitter<? super String>> upstream = new AtomicReference<>();
        AssertSubscriber<String> sub = around(Multi.createFrom().<String>emitter(e -> upstream.set(e)), "usage").subscribe()
                .withSubscriber(AssertSubscriber.create(10));
        upstream.get().emit("a");
        sub.cancel();
        assertThat(upstream.get().isCancelled()).isTrue();
        assertThat(ends).containsExactly("cancelled");
        sub.cancel();
        assertThat(ends).hasSize(1);
    }

    @Test
    void cancellingWhileTheTailWaitsDropsIt() {
        AssertSubscriber<String> sub = around(Multi.createFrom().items("a"), "usage").subscribe()
                .withSubscriber(AssertSubscriber.create(1));
        sub.assertItems("a").assertNotTerminated();
        sub.cancel();
        sub.request(1);
        sub.assertItems("a");
        assertThat(ends).containsExactly("cancelled");
    }

    @Test
    void aFailingItemCallbackFailsTheStreamAndCancelsTheUpstream() {
        AtomicReference<MultiEmitter<? super String>> upstream = new AtomicReference<>();
        AssertSubscriber<String> sub = new StreamEnd<String>(Multi.createFrom().<String>emitter(e -> upstream.set(e)), x -> {
            throw new IllegalArgumentException("bad chunk");
        }, () -> null, (f, c) -> ends.add(f == null ? "other" : f.getMessage())).subscribe().withSubscriber(AssertSubscriber.create(10));
        upstream.get().emit("a");
        sub.assertHasNotReceivedAnyItem().assertFailedWith(IllegalArgumentException.class, "bad chunk");
        assertThat(upstream.get().isCancelled()).isTrue();
        assertThat(ends).containsExactly("bad chunk");
    }
}
