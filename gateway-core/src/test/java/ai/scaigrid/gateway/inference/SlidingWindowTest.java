package ai.scaigrid.gateway.inference;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The window's bookkeeping for sharing counts between replicas. */
class SlidingWindowTest {

    @Test
    void otherReplicasCountsJoinTheLimitAndLeaveWithTheirSecond() {
        SlidingWindow w = new SlidingWindow();
        long t = 1_000_000;
        assertThat(w.tryAcquire(t, 5, 0)).isEqualTo(-1);
        w.setRemote(t, t - 10, 3, 0);
        assertThat(w.requestCount(t)).isEqualTo(4);
        assertThat(w.tryAcquire(t, 5, 0)).isEqualTo(-1);
        // full: the oldest non-empty second is the remote one, ten seconds back
        assertThat(w.tryAcquire(t, 5, 0)).isEqualTo(50);
        // a newer figure for the same second replaces the old one
        w.setRemote(t, t - 10, 1, 0);
        assertThat(w.requestCount(t)).isEqualTo(3);
        // once that second leaves the window only the local requests remain
        assertThat(w.requestCount(t + 51)).isEqualTo(2);
        assertThat(w.requestCount(t + 60)).isZero();
    }

    @Test
    void remoteTokensCountAgainstTheTokenLimit() {
        SlidingWindow w = new SlidingWindow();
        long t = 2_000_000;
        w.setRemote(t, t, 0, 100);
        assertThat(w.tryAcquire(t, 0, 100)).isPositive();
        assertThat(w.tryAcquire(t, 0, 101)).isEqualTo(-1);
    }

    @Test
    void publishesEachChangedSecondOnceAndAgainAfterAFailure() {
        SlidingWindow w = new SlidingWindow();
        long t = 3_000_000;
        w.tryAcquire(t, 0, 0);
        w.tryAcquire(t + 1, 0, 0);
        w.addTokens(t + 1, 7);
        SlidingWindow.Bucket[] first = w.takeUnpublished(t + 1);
        assertThat(first).containsExactly(new SlidingWindow.Bucket(t, 1, 0), new SlidingWindow.Bucket(t + 1, 1, 7));
        assertThat(w.takeUnpublished(t + 1)).isEmpty();
        w.tryAcquire(t + 3, 0, 0);
        // publishing failed: the same seconds come out again, with whatever changed since
        w.unpublished(first[0].second());
        assertThat(w.takeUnpublished(t + 3)).extracting(SlidingWindow.Bucket::second).containsExactly(t, t + 1, t + 2, t + 3);
        // remote counts are never published back
        w.setRemote(t + 3, t + 3, 9, 9);
        assertThat(w.takeUnpublished(t + 3)).isEmpty();
    }

    @Test
    void sharingDoesNotKeepAnIdleWindowAlive() {
        SlidingWindow w = new SlidingWindow();
        long t = 4_000_000;
        w.tryAcquire(t, 0, 0);
        w.takeUnpublished(t + 30);
        w.setRemote(t + 30, t + 30, 1, 0);
        assertThat(w.lastUsedSecond).isEqualTo(t);
    }
}
