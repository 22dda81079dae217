package ai.scaigrid.gateway.inference;

import java.util.Arrays;

/**
 * Requests and tokens over the last 60 seconds, in one-second buckets (the documented ScaiGrid
 * window), with running totals so a check is O(1) amortised. Thread-safe.
 *
 * <p>Each bucket has this replica's own counts and, beside them, what the other gateway replicas
 * counted for the same key in that second ({@link #setRemote}, filled in by {@link RateLimitSync});
 * a limit applies to the sum. Only the local counts are published to the other replicas.
 */
final class SlidingWindow {
    static final int SECONDS = 60;
    private final long[] requests = new long[SECONDS];
    private final long[] tokens = new long[SECONDS];
    private final long[] remoteRequests = new long[SECONDS];
    private final long[] remoteTokens = new long[SECONDS];
    private final long[] bucketSecond = new long[SECONDS];
    private long requestTotal;
    private long tokenTotal;
    private long lastSeen = Long.MIN_VALUE;
    /** The last second a request used this window (publishing and remote counts do not count). */
    volatile long lastUsedSecond;
    /** The oldest second whose local counts may have changed since they were last published. */
    private long unpublishedFrom = Long.MIN_VALUE;

    /** Moves the window to {@code nowSecond} on behalf of a request (it keeps the window from eviction). */
    private void use(long nowSecond) {
        lastUsedSecond = nowSecond;
        advance(nowSecond);
    }

    private void advance(long nowSecond) {
        if (lastSeen != Long.MIN_VALUE && nowSecond - lastSeen >= SECONDS) {
            Arrays.fill(requests, 0);
            Arrays.fill(tokens, 0);
            Arrays.fill(remoteRequests, 0);
            Arrays.fill(remoteTokens, 0);
            Arrays.fill(bucketSecond, 0);
            requestTotal = 0;
            tokenTotal = 0;
        } else if (lastSeen != Long.MIN_VALUE) {
            for (long s = lastSeen + 1; s <= nowSecond; s++) {
                int i = (int) Math.floorMod(s, SECONDS);
                requestTotal -= requests[i] + remoteRequests[i];
                tokenTotal -= tokens[i] + remoteTokens[i];
                requests[i] = 0;
                tokens[i] = 0;
                remoteRequests[i] = 0;
                remoteTokens[i] = 0;
                bucketSecond[i] = s;
            }
        }
        if (lastSeen == Long.MIN_VALUE || nowSecond > lastSeen) {
            lastSeen = nowSecond;
            bucketSecond[(int) Math.floorMod(nowSecond, SECONDS)] = nowSecond;
        }
    }

    private void touched(long nowSecond) {
        if (unpublishedFrom == Long.MIN_VALUE || nowSecond < unpublishedFrom) {
            unpublishedFrom = nowSecond;
        }
    }

    /**
     * Takes one request if both limits allow it (a limit of 0 means none). Returns -1 when taken,
     * otherwise the seconds until enough of the window has passed.
     */
    synchronized long tryAcquire(long nowSecond, long requestLimit, long tokenLimit) {
        use(nowSecond);
        boolean tokensFull = tokenLimit > 0 && tokenTotal >= tokenLimit;
        if (requestsFull(requestLimit) || tokensFull) {
            return retryAfter(nowSecond);
        }
        requests[(int) Math.floorMod(nowSecond, SECONDS)]++;
        requestTotal++;
        touched(nowSecond);
        return -1;
    }

    /** Would one more request go over the request limit (0: none)? What a refusal reports as its cause. */
    synchronized boolean requestsFull(long nowSecond, long requestLimit) {
        use(nowSecond);
        return requestsFull(requestLimit);
    }

    private boolean requestsFull(long requestLimit) {
        return requestLimit > 0 && requestTotal + 1 > requestLimit;
    }

    synchronized void release(long nowSecond) {
        use(nowSecond);
        // give back the request of a failed admission at a later level
        int i = (int) Math.floorMod(nowSecond, SECONDS);
        if (requests[i] > 0) {
            requests[i]--;
            requestTotal--;
            touched(nowSecond);
        } else {
            for (int k = 0; k < SECONDS; k++) {
                if (requests[k] > 0) {
                    requests[k]--;
                    requestTotal--;
                    touched(bucketSecond[k]);
                    break;
                }
            }
        }
    }

    synchronized void addTokens(long nowSecond, long count) {
        use(nowSecond);
        tokens[(int) Math.floorMod(nowSecond, SECONDS)] += count;
        tokenTotal += count;
        touched(nowSecond);
    }

    /** Requests in the window, this replica's and the others'. */
    synchronized long requestCount(long nowSecond) {
        use(nowSecond);
        return requestTotal;
    }

    /** One second's local counts, as published to the other replicas. */
    record Bucket(long second, long requests, long tokens) {
    }

    /**
     * The local buckets that changed since the last call (oldest first, within the window), for
     * publishing; marks them published.
     */
    synchronized Bucket[] takeUnpublished(long nowSecond) {
        advance(nowSecond);
        if (unpublishedFrom == Long.MIN_VALUE) {
            return new Bucket[0];
        }
        long from = Math.max(unpublishedFrom, nowSecond - SECONDS + 1);
        unpublishedFrom = Long.MIN_VALUE;
        Bucket[] out = new Bucket[(int) (nowSecond - from + 1)];
        for (long s = from; s <= nowSecond; s++) {
            int i = (int) Math.floorMod(s, SECONDS);
            out[(int) (s - from)] = new Bucket(s, requests[i], tokens[i]);
        }
        return out;
    }

    /** Puts back what {@link #takeUnpublished} took when publishing it failed. */
    synchronized void unpublished(long fromSecond) {
        touched(fromSecond);
    }

    /** The other replicas' counts for one second (their sum, replacing what was known before). */
    synchronized void setRemote(long nowSecond, long second, long requestCount, long tokenCount) {
        advance(nowSecond);
        if (second > nowSecond || second <= nowSecond - SECONDS) {
            return;
        }
        int i = (int) Math.floorMod(second, SECONDS);
        requestTotal += requestCount - remoteRequests[i];
        tokenTotal += tokenCount - remoteTokens[i];
        remoteRequests[i] = requestCount;
        remoteTokens[i] = tokenCount;
        bucketSecond[i] = second;
    }

    /** Seconds until the oldest non-empty bucket leaves the window (at least 1). */
    /** Seconds until the oldest count in the window (this replica's or another's) leaves it; at least 1. */
    synchronized long secondsUntilOldestLeaves(long nowSecond) {
        use(nowSecond);
        return retryAfter(nowSecond);
    }

    private long retryAfter(long nowSecond) {
        for (long s = nowSecond - SECONDS + 1; s <= nowSecond; s++) {
            int i = (int) Math.floorMod(s, SECONDS);
            if (bucketSecond[i] == s && (requests[i] > 0 || tokens[i] > 0 || remoteRequests[i] > 0 || remoteTokens[i] > 0)) {
                return Math.max(1, s + SECONDS - nowSecond);
            }
        }
        return 1;
    }
}
