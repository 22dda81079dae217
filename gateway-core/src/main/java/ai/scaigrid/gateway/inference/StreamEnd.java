package ai.scaigrid.gateway.inference;

import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.helpers.Subscriptions;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.smallrye.mutiny.operators.multi.AbstractMultiOperator;
import io.smallrye.mutiny.operators.multi.MultiOperatorProcessor;
import io.smallrye.mutiny.subscription.MultiSubscriber;

import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One operator for what a streamed answer needs around its chunks: each item is shown to {@code onItem} on its
 * way through; when the upstream completes, {@code tail} may add one last item (null: none), sent as soon as the
 * subscriber has demand for it; {@code onEnd} hears once how the stream ended (completed, failed or cancelled),
 * before the subscriber does. It stands for {@code onItem().invoke}, {@code onCompletion().switchTo} and
 * {@code onTermination().invoke}: on a relayed token stream, switchTo's concatenation alone put two more
 * subscribers and their demand bookkeeping in the path of every chunk.
 */
final class StreamEnd<T> extends AbstractMultiOperator<T, T> {

    /** How the stream ended: a failure, or {@code cancelled} by the subscriber, or neither (completed). */
    interface EndCallback {
        void ended(Throwable failure, boolean cancelled);
    }

    private final Consumer<T> onItem;
    private final Supplier<T> tail;
    private final EndCallback onEnd;

    StreamEnd(Multi<? extends T> upstream, Consumer<T> onItem, Supplier<T> tail, EndCallback onEnd) {
        super(upstream);
        this.onItem = onItem;
        this.tail = tail;
        this.onEnd = onEnd;
    }

    @Override
    public void subscribe(MultiSubscriber<? super T> downstream) {
        upstream.subscribe().withSubscriber(new Processor(downstream));
    }

    private final class Processor extends MultiOperatorProcessor<T, T> {
        /** The subscriber's outstanding demand, for the tail (the upstream keeps its own count of the rest). */
        private final AtomicLong requested = new AtomicLong();
        private final AtomicReference<T> pendingTail = new AtomicReference<>();
        private final AtomicBoolean ended = new AtomicBoolean();

        Processor(MultiSubscriber<? super T> downstream) {
            super(downstream);
        }

        @Override
        public void onItem(T item) {
            if (isDone()) {
                return;
            }
            try {
                onItem.accept(item);
            } catch (Throwable failure) {
                Flow.Subscription subscription = getAndSetUpstreamSubscription(Subscriptions.CANCELLED);
                if (subscription != Subscriptions.CANCELLED) {
                    subscription.cancel();
                    end(failure);
                }
                return;
            }
            if (requested.get() != Long.MAX_VALUE) {
                requested.decrementAndGet();
            }
            downstream.onItem(item);
        }

        @Override
        public void onFailure(Throwable failure) {
            if (getAndSetUpstreamSubscription(Subscriptions.CANCELLED) == Subscriptions.CANCELLED) {
                Infrastructure.handleDroppedException(failure);
                return;
            }
            end(failure);
        }

        @Override
        public void onCompletion() {
            if (getAndSetUpstreamSubscription(Subscriptions.CANCELLED) == Subscriptions.CANCELLED) {
                return;
            }
            T last;
            try {
                last = tail.get();
            } catch (Throwable failure) {
                end(failure);
                return;
            }
            if (last == null) {
                end(null);
                return;
            }
            pendingTail.set(last);
            sendTail(); // set before the demand is read, as request() adds demand before it reads the tail
        }

        @Override
        public void request(long n) {
            if (n > 0) {
                Subscriptions.add(requested, n);
                if (pendingTail.get() != null) {
                    sendTail();
                    return;
                }
            }
            super.request(n);
        }

        @Override
        public void cancel() {
            pendingTail.set(null);
            if (ended.compareAndSet(false, true)) {
                onEnd.ended(null, true);
            }
            super.cancel();
        }

        private void sendTail() {
            if (requested.get() > 0) {
                T last = pendingTail.getAndSet(null);
                if (last != null) {
                    downstream.onItem(last);
                    end(null);
                }
            }
        }

        /** Tells {@code onEnd}, then the subscriber; a failing callback fails a stream that would have completed. */
        private void end(Throwable failure) {
            if (!ended.compareAndSet(false, true)) {
                return;
            }
            Throwable outcome = failure;
            try {
                onEnd.ended(failure, false);
            } catch (Throwable callbackFailure) {
                if (outcome == null) {
                    outcome = callbackFailure;
                } else {
                    outcome.addSuppressed(callbackFailure);
                }
            }
            if (outcome == null) {
                downstream.onCompletion();
            } else {
                downstream.onFailure(outcome);
            }
        }
    }
}
