package ai.scaigrid.gateway.inference;

import java.util.function.LongSupplier;

/**
 * A circuit breaker with MicroProfile Fault Tolerance semantics, kept per backend (and per node),
 * which annotation-driven breakers cannot do for keys known only at run time.
 *
 * <ul>
 *   <li>CLOSED: calls pass; the outcomes of the last {@code requestVolumeThreshold} calls are kept
 *   in a rolling window; when the window is full and at least {@code failureRatio} of it failed,
 *   the breaker opens.</li>
 *   <li>OPEN: calls are refused for {@code delayMillis}; then the breaker is half-open.</li>
 *   <li>HALF_OPEN: one trial call at a time passes; {@code successThreshold} consecutive successes
 *   close the breaker, any failure opens it again.</li>
 * </ul>
 * Thread-safe; every method is O(1).
 */
public final class CircuitBreaker {
    public enum State { CLOSED, OPEN, HALF_OPEN }

    private final int volume;
    private final double failureRatio;
    private final long delayNanos;
    private final int successThreshold;
    private final LongSupplier clock;

    private final boolean[] window;
    private int windowCount;
    private int windowPos;
    private int windowFailures;
    private State state = State.CLOSED;
    private long openedAt;
    private int halfOpenSuccesses;
    private boolean trialInFlight;

    public CircuitBreaker(int requestVolumeThreshold, double failureRatio, long delayMillis, int successThreshold) {
        this(requestVolumeThreshold, failureRatio, delayMillis, successThreshold, System::nanoTime);
    }

    CircuitBreaker(int requestVolumeThreshold, double failureRatio, long delayMillis, int successThreshold, LongSupplier clock) {
        if (requestVolumeThreshold < 1 || failureRatio <= 0 || failureRatio > 1 || delayMillis < 0 || successThreshold < 1) {
            throw new IllegalArgumentException("invalid circuit breaker settings");
        }
        this.volume = requestVolumeThreshold;
        this.failureRatio = failureRatio;
        this.delayNanos = delayMillis * 1_000_000L;
        this.successThreshold = successThreshold;
        this.clock = clock;
        this.window = new boolean[requestVolumeThreshold];
    }

    /**
     * Asks to make a call. True means go ahead, and the caller must report the outcome with
     * {@link #onSuccess()} or {@link #onFailure()} (or {@link #onIgnored()} for an outcome that
     * says nothing about the backend, such as a client cancelling).
     */
    public synchronized boolean tryAcquire() {
        switch (state) {
            case CLOSED:
                return true;
            case OPEN:
                if (clock.getAsLong() - openedAt < delayNanos) {
                    return false;
                }
                state = State.HALF_OPEN;
                halfOpenSuccesses = 0;
                trialInFlight = false;
                // fall through to the half-open trial
            case HALF_OPEN:
            default:
                if (trialInFlight) {
                    return false;
                }
                trialInFlight = true;
                return true;
        }
    }

    /** Would a call be allowed now? (No side effects; for routing decisions and metrics.) */
    public synchronized boolean isCallPermitted() {
        return switch (state) {
            case CLOSED -> true;
            case OPEN -> clock.getAsLong() - openedAt >= delayNanos;
            case HALF_OPEN -> !trialInFlight;
        };
    }

    public synchronized void onSuccess() {
        if (state == State.HALF_OPEN) {
            trialInFlight = false;
            if (++halfOpenSuccesses >= successThreshold) {
                close();
            }
            return;
        }
        if (state == State.CLOSED) {
            record(false);
        }
    }

    public synchronized void onFailure() {
        if (state == State.HALF_OPEN) {
            open();
            return;
        }
        if (state == State.CLOSED) {
            record(true);
            if (windowCount == volume && windowFailures >= Math.ceil(failureRatio * volume)) {
                open();
            }
        }
    }

    /** The call ended without telling anything about the backend's health. */
    public synchronized void onIgnored() {
        if (state == State.HALF_OPEN) {
            trialInFlight = false;
        }
    }

    public synchronized State state() {
        if (state == State.OPEN && clock.getAsLong() - openedAt >= delayNanos) {
            return State.HALF_OPEN;
        }
        return state;
    }

    private void record(boolean failure) {
        if (windowCount == volume) {
            if (window[windowPos]) {
                windowFailures--;
            }
        } else {
            windowCount++;
        }
        window[windowPos] = failure;
        if (failure) {
            windowFailures++;
        }
        windowPos = (windowPos + 1) % volume;
    }

    private void open() {
        state = State.OPEN;
        openedAt = clock.getAsLong();
        trialInFlight = false;
    }

    private void close() {
        state = State.CLOSED;
        windowCount = 0;
        windowPos = 0;
        windowFailures = 0;
        trialInFlight = false;
    }
}
