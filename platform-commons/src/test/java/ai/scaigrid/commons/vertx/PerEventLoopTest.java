package ai.scaigrid.commons.vertx;

import io.vertx.core.AbstractVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class PerEventLoopTest {

    @Test
    void oneInstancePerEventLoopOneSharedOffTheLoopAllClosed() throws Exception {
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(2));
        try {
            AtomicInteger made = new AtomicInteger();
            Set<Integer> closed = ConcurrentHashMap.newKeySet();
            PerEventLoop<Integer> instances = new PerEventLoop<>(made::incrementAndGet, closed::add);

            // two verticle instances get contexts on the two event loops in turn
            Map<String, List<Integer>> byThread = new ConcurrentHashMap<>();
            vertx.deployVerticle(() -> new AbstractVerticle() {
                @Override
                public void start() {
                    List<Integer> got = byThread.computeIfAbsent(Thread.currentThread().getName(), k -> new CopyOnWriteArrayList<>());
                    got.add(instances.get());
                    got.add(instances.get());
                }
            }, new DeploymentOptions().setInstances(2)).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertThat(byThread).hasSize(2);
            List<List<Integer>> loops = new ArrayList<>(byThread.values());
            List<Integer> firstLoop = loops.get(0);
            List<Integer> secondLoop = loops.get(1);
            assertThat(firstLoop).containsOnly(firstLoop.get(0)); // same loop, same instance
            assertThat(secondLoop).containsOnly(secondLoop.get(0));
            assertThat(firstLoop.get(0)).isNotEqualTo(secondLoop.get(0));

            Integer offLoop = instances.get();
            assertThat(instances.get()).isEqualTo(offLoop);
            assertThat(offLoop).isNotIn(firstLoop.get(0), secondLoop.get(0));

            instances.close();
            assertThat(closed).containsExactlyInAnyOrder(firstLoop.get(0), secondLoop.get(0), offLoop);
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
