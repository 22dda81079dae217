import ai.scaigrid.proto.scaiinfer.v1.Capacity;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatAck;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatRequest;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.LoadedModel;
import ai.scaigrid.proto.scaiinfer.v1.ModelState;
import ai.scaigrid.proto.scaiinfer.v1.NodeHealth;
import com.google.protobuf.Timestamp;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Heartbeat ingestion cost: N simulated nodes each send scaiinfer.v1.HeartbeatService.Heartbeat every
 * interval (phases spread evenly), for a warm-up and then a measured window; the gateway's CPU time
 * over the window is read from /proc/<pid>/stat. Bounded in count and time; loopback only.
 *
 *   java -cp "gateway-core/target/quarkus-app/lib/main/*" bench/scaiinfer/HeartbeatLoad.java \
 *        --gateway 127.0.0.1:50051 --token <scaiinfer.node service token> --gateway-pid <pid> \
 *        [--nodes 1000] [--interval-ms 1000] [--warmup-s 10] [--seconds 30] [--channels 4] [--mode stream|unary]
 *
 * {@code stream} (what node-agent does by default): each node keeps one HeartbeatStream open and writes a
 * report on it every interval; {@code unary}: one Heartbeat call per report.
 */
public class HeartbeatLoad {
    public static void main(String[] argv) throws Exception {
        Map<String, String> a = args(argv);
        String target = a.getOrDefault("gateway", "127.0.0.1:50051");
        String token = a.get("token");
        long pid = Long.parseLong(a.getOrDefault("gateway-pid", "0"));
        int nodes = Integer.parseInt(a.getOrDefault("nodes", "1000"));
        long interval = Long.parseLong(a.getOrDefault("interval-ms", "1000"));
        int warmup = Integer.parseInt(a.getOrDefault("warmup-s", "10"));
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "30"));
        int channelCount = Integer.parseInt(a.getOrDefault("channels", "4"));
        boolean stream = a.getOrDefault("mode", "stream").equals("stream");
        if (token == null || nodes < 1 || nodes > 20000 || seconds < 1 || seconds > 600) {
            throw new IllegalArgumentException("--token is required; 1 <= --nodes <= 20000; 1 <= --seconds <= 600");
        }
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        List<ManagedChannel> channels = new ArrayList<>();
        List<HeartbeatServiceGrpc.HeartbeatServiceStub> stubs = new ArrayList<>();
        for (int i = 0; i < channelCount; i++) {
            ManagedChannel c = NettyChannelBuilder.forTarget(target).usePlaintext().build();
            channels.add(c);
            stubs.add(HeartbeatServiceGrpc.newStub(c).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md)));
        }
        Instant started = Instant.now();
        Timestamp startedAt = Timestamp.newBuilder().setSeconds(started.getEpochSecond()).build();
        long[] sequence = new long[nodes];
        String[] ids = new String[nodes];
        for (int n = 0; n < nodes; n++) {
            ids[n] = String.format("bench-node-%05d", n);
        }
        AtomicLong sent = new AtomicLong(), acked = new AtomicLong(), rejected = new AtomicLong(), failed = new AtomicLong();
        ConcurrentLinkedQueue<Long> latencies = new ConcurrentLinkedQueue<>();
        ScheduledExecutorService timer = Executors.newScheduledThreadPool(2);
        long endAt = System.nanoTime() + TimeUnit.SECONDS.toNanos(warmup + seconds);
        boolean[] measuring = {false};
        boolean[] ending = {false};
        @SuppressWarnings("unchecked")
        StreamObserver<HeartbeatRequest>[] streams = new StreamObserver[nodes];
        long[] sentAt = new long[nodes];
        for (int n = 0; stream && n < nodes; n++) {
            int node = n;
            streams[n] = stubs.get(node % stubs.size()).heartbeatStream(new StreamObserver<>() {
                @Override
                public void onNext(HeartbeatAck ack) {
                    (ack.getAccepted() ? acked : rejected).incrementAndGet();
                    if (measuring[0] && ack.getAckedSequence() > 0) {
                        latencies.add(System.nanoTime() - sentAt[node]);
                    }
                }

                @Override
                public void onError(Throwable t) {
                    if (!ending[0]) {
                        failed.incrementAndGet();
                    }
                }

                @Override
                public void onCompleted() {
                }
            });
        }
        for (int n = 0; n < nodes; n++) {
            int node = n;
            long phase = interval * n / nodes;
            timer.scheduleAtFixedRate(() -> {
                if (System.nanoTime() > endAt) {
                    return;
                }
                HeartbeatRequest r = HeartbeatRequest.newBuilder()
                        .setNodeId(ids[node]).setAddress("127.0.0.1:" + (20000 + node))
                        .setVersion("bench").setEngine("simulated").setHealth(NodeHealth.NODE_HEALTH_HEALTHY)
                        .setCapacity(Capacity.newBuilder().setMaxConcurrency(16).setInFlight(node % 16))
                        .addLoadedModels(LoadedModel.newBuilder().setName("bench-model").setState(ModelState.MODEL_STATE_READY)
                                .setModality("chat").setInFlight(node % 16))
                        .setStartedAt(startedAt).setSequence(++sequence[node]).build();
                long t0 = System.nanoTime();
                sent.incrementAndGet();
                if (stream) {
                    synchronized (streams[node]) {
                        sentAt[node] = t0;
                        streams[node].onNext(r);
                    }
                    return;
                }
                stubs.get(node % stubs.size()).withDeadlineAfter(5, TimeUnit.SECONDS).heartbeat(r, new StreamObserver<>() {
                    @Override
                    public void onNext(HeartbeatAck ack) {
                        (ack.getAccepted() ? acked : rejected).incrementAndGet();
                        if (measuring[0]) {
                            latencies.add(System.nanoTime() - t0);
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        failed.incrementAndGet();
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
            }, phase, interval, TimeUnit.MILLISECONDS);
        }
        System.out.printf("%d nodes (%s), one heartbeat each every %d ms; warm-up %d s%n", nodes,
                stream ? "one HeartbeatStream each" : "unary Heartbeat calls", interval, warmup);
        TimeUnit.SECONDS.sleep(warmup); // a load generator's own pacing, not a test
        measuring[0] = true;
        long cpu0 = cpuTicks(pid);
        long acked0 = acked.get();
        long t0 = System.nanoTime();
        TimeUnit.SECONDS.sleep(seconds);
        long cpu1 = cpuTicks(pid);
        double wall = (System.nanoTime() - t0) / 1e9;
        long ackedWindow = acked.get() - acked0;
        ending[0] = true;
        timer.shutdownNow();
        for (int n = 0; stream && n < nodes; n++) {
            synchronized (streams[n]) {
                streams[n].onCompleted();
            }
        }
        channels.forEach(ManagedChannel::shutdownNow);
        Long[] sorted = latencies.toArray(new Long[0]);
        Arrays.sort(sorted);
        System.out.printf("measured %.1f s: %d heartbeats acked (%.0f/s), %d rejected, %d failed%n", wall, ackedWindow,
                ackedWindow / wall, rejected.get(), failed.get());
        if (sorted.length > 0) {
            System.out.printf("ack latency: p50 %.2f ms, p99 %.2f ms%n", sorted[sorted.length / 2] / 1e6,
                    sorted[(int) (sorted.length * 0.99)] / 1e6);
        }
        if (pid > 0) {
            double cpuSeconds = (cpu1 - cpu0) / 100.0; // USER_HZ
            System.out.printf("gateway CPU: %.2f s over %.1f s = %.1f%% of one core (%.1f us per heartbeat)%n", cpuSeconds, wall,
                    100 * cpuSeconds / wall, ackedWindow == 0 ? 0 : cpuSeconds * 1e6 / ackedWindow);
        }
    }

    /** utime + stime of a process, in clock ticks. */
    static long cpuTicks(long pid) throws Exception {
        if (pid <= 0) {
            return 0;
        }
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    static Map<String, String> args(String[] argv) {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            out.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        return out;
    }
}
