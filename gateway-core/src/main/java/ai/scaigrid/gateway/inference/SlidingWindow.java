package ai.scaigrid.gateway.inference;

/**
 * Requests and tokens over the last 60 seconds, in one-second buckets (the documented ScaiGrid
 * window), with running totals so a check is O(1) amortised. Thread-safe.
 */
final class SlidingWindow {
    static final int SECONDS = 60;
    private final long[] requests = new long[SECONDS];
    private final long[] tokens = new long[SECONDS];
    private final long[] bucketSecond = new long[SECONDS];
    private long requestTotal;
    private long tokenTotal;
    private long lastSeen = Long.MIN_VALUE;
    volatile long lastUsedSecond;

    private void advance(long nowSecond) {
        lastUsedSecond = nowSecond;
        if (lastSeen != Long.MIN_VALUE && nowSecond - lastSeen >= SECONDS) {
            java.util.Arrays.fill(requests, 0);
            java.util.Arrays.fill(tokens, 0);
            java.util.Arrays.fill(bucketSecond, 0);
            requestTotal = 0;
            tokenTotal = 0;
        } else if (lastSeen != Long.MIN_VALUE) {
            for (long s = lastSeen + 1; s <= nowSecond; s++) {
                int i = (int) Math.floorMod(s, SECONDS);
                requestTotal -= requests[i];
                tokenTotal -= tokens[i];
                requests[i] = 0;
                tokens[i] = 0;
                bucketSecond[i] = s;
            }
        }
        if (lastSeen == Long.MIN_VALUE || nowSecond > lastSeen) {
            lastSeen = nowSecond;
            bucketSecond[(int) Math.floorMod(nowSecond, SECONDS)] = nowSecond;
        }
    }

    /**
     * Takes one request if both limits allow it (a limit of 0 means none). Returns -1 when taken,
     * otherwise the seconds until enough of the window has passed.
     */
    synchronized long tryAcquire(long nowSecond, long requestLimit, long tokenLimit) {
        advance(nowSecond);
        boolean tokensFull = tokenLimit > 0 && tokenTotal >= tokenLimit;
        if (requestsFull(requestLimit) || tokensFull) {
            return retryAfter(nowSecond);
        }
        requests[(int) Math.floorMod(nowSecond, SECONDS)]++;
        requestTotal++;
        return -1;
    }

    /** Would one more request go over the request limit (0: none)? What a refusal reports as its cause. */
    synchronized boolean requestsFull(long nowSecond, long requestLimit) {
        advance(nowSecond);
        return requestsFull(requestLimit);
    }

    private boolean requestsFull(long requestLimit) {
        return requestLimit > 0 && requestTotal + 1 > requestLimit;
    }

    synchronized void release(long nowSecond) {
        advance(nowSecond);
        // give back the request of a failed admission at a later level
        int i = (int) Math.floorMod(nowSecond, SECONDS);
        if (requests[i] > 0) {
            requests[i]--;
            requestTotal--;
        } else if (requestTotal > 0) {
            for (int k = 0; k < SECONDS; k++) {
                if (requests[k] > 0) {
                    requests[k]--;
                    requestTotal--;
                    break;
                }
            }
        }
    }

    synchronized void addTokens(long nowSecond, long count) {
        advance(nowSecond);
        tokens[(int) Math.floorMod(nowSecond, SECONDS)] += count;
        tokenTotal += count;
    }

    synchronized long requestCount(long nowSecond) {
        advance(nowSecond);
        return requestTotal;
    }

    /** Seconds until the oldest non-empty bucket leaves the window (at least 1). */
    private long retryAfter(long nowSecond) {
        for (long s = nowSecond - SECONDS + 1; s <= nowSecond; s++) {
            int i = (int) Math.floorMod(s, SECONDS);
            if (bucketSecond[i] == s && (requests[i] > 0 || tokens[i] > 0)) {
                return Math.max(1, s + SECONDS - nowSecond);
            }
        }
        return 1;
    }
}
