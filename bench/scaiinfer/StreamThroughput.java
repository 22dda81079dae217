import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * node-agent simulated streaming throughput: a fixed number of StreamInference calls with a fixed
 * concurrency against one node; reports requests/s, chunks (tokens)/s, time to first token and the
 * node's CPU (from /proc/<pid>/stat). Bounded in count; loopback only.
 *
 *   java -cp "node-agent/target/quarkus-app/lib/main/*" bench/scaiinfer/StreamThroughput.java \
 *        --node 127.0.0.1:50060 --token <inbound token> --model bench-fast --node-pid <pid> \
 *        [--concurrency 64] [--requests 2000] [--stagger-ms 1000] [--warmup-requests N]
 *        [--jit-pids pid,pid] [--jit-quiet-ms 100] [--warmup-max-s 300] [--metrics-url URL --metrics-out FILE]
 *
 * The first {@code concurrency} streams start spread evenly over {@code --stagger-ms}, as the starts of
 * that many independent clients would be; started all at once, every stream of an equally long
 * generation would restart in the same instant, and the time to first token would measure that
 * synchronised wave instead of the server. Tokens are counted from each stream's final usage
 * (completion_tokens), chunks as messages received: a relay may carry several tokens in one chunk.
 */
public class StreamThroughput {
    static final Map<String, Integer> ERRORS = new java.util.concurrent.ConcurrentHashMap<>();
    public static void main(String[] argv) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        int concurrency = Integer.parseInt(a.getOrDefault("concurrency", "64"));
        int requests = Integer.parseInt(a.getOrDefault("requests", "2000"));
        long pid = Long.parseLong(a.getOrDefault("node-pid", "0"));
        if (requests < 1 || requests > 200_000 || concurrency < 1 || concurrency > 2000) {
            throw new IllegalArgumentException("1 <= --requests <= 200000, 1 <= --concurrency <= 2000");
        }
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + a.get("token"));
        ManagedChannel channel = NettyChannelBuilder.forTarget(a.getOrDefault("node", "127.0.0.1:50060")).usePlaintext().build();
        InferenceServiceGrpc.InferenceServiceStub stub = InferenceServiceGrpc.newStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
        String model = a.getOrDefault("model", "scaigrid-sim-1");
        long staggerMillis = Long.parseLong(a.getOrDefault("stagger-ms", "1000"));
        int warmupRequests = Integer.parseInt(a.getOrDefault("warmup-requests", Integer.toString(Math.max(200, requests / 3))));

        // warm-up at the measured concurrency, so that class loading and the JIT are not measured; then more
        // warm-up rounds while the JIT compilers (this client's and the servers' in --jit-pids) still used more
        // than --jit-quiet-ms of CPU in the last round: a C2 compilation during the measured run takes a core
        // from the code being measured (profiles of a single warm-up round showed C1+C2 at half the gateway's CPU)
        List<Long> jitPids = new ArrayList<>();
        jitPids.add(ProcessHandle.current().pid());
        for (String p : a.getOrDefault("jit-pids", pid > 0 ? Long.toString(pid) : "").split(",")) {
            if (!p.isBlank()) {
                jitPids.add(Long.parseLong(p.trim()));
            }
        }
        long jitQuietMs = Long.parseLong(a.getOrDefault("jit-quiet-ms", "100"));
        // at 150 streams/s a gateway's once-per-stream code (authentication, admission, the node call) needs
        // 100-200 s before C2 has compiled it (about 15,000 calls); 90 s left it compiling in the measured run
        long warmupMaxNanos = Long.parseLong(a.getOrDefault("warmup-max-s", "300")) * 1_000_000_000L;
        long warmStart = System.nanoTime();
        int rounds = 0;
        long jitRound;
        // with --metrics-url the server is read right before the measured run; read it in every warm-up round too,
        // as a scraper would, so that first read does not make the server's JIT recompile shared paths in the run
        var metrics = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();
        do {
            if (a.containsKey("metrics-url")) {
                metrics.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(a.get("metrics-url"))).build(),
                        java.net.http.HttpResponse.BodyHandlers.discarding());
            }
            long jit0 = HeartbeatTicks.jitMillis(jitPids);
            run(stub, model, warmupRequests, concurrency, staggerMillis, new ArrayList<>(), new AtomicLong(), new AtomicLong(),
                    new AtomicInteger());
            jitRound = HeartbeatTicks.jitMillis(jitPids) - jit0;
            rounds++;
        } while (jitRound > jitQuietMs && System.nanoTime() - warmStart < warmupMaxNanos);
        System.out.printf("(warmed up: %d rounds of %d streams in %.0f s; JIT CPU in the last round %d ms)%n", rounds,
                warmupRequests, (System.nanoTime() - warmStart) / 1e9, jitRound);
        ERRORS.clear();
        if (a.containsKey("metrics-url")) { // the server's metrics right before the measured run, for its own-time share
            metrics.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(a.get("metrics-url"))).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofFile(java.nio.file.Path.of(a.get("metrics-out"))));
        }

        List<Long> ttft = Collections.synchronizedList(new ArrayList<>());
        AtomicLong chunks = new AtomicLong();
        AtomicLong tokens = new AtomicLong();
        AtomicInteger failures = new AtomicInteger();
        long cpu0 = HeartbeatTicks.cpu(pid);
        long t0 = System.nanoTime();
        run(stub, model, requests, concurrency, staggerMillis, ttft, chunks, tokens, failures);
        double wall = (System.nanoTime() - t0) / 1e9;
        long cpu1 = HeartbeatTicks.cpu(pid);
        channel.shutdownNow();
        List<Long> sorted = new ArrayList<>(ttft);
        Collections.sort(sorted);
        System.out.printf("%d streams (%d failed) at concurrency %d in %.2f s: %.0f streams/s, %.0f tokens/s in %.0f chunks/s%n",
                requests, failures.get(), concurrency, wall, requests / wall, tokens.get() / wall, chunks.get() / wall);
        ERRORS.entrySet().stream().sorted((x, y) -> y.getValue() - x.getValue()).limit(3)
                .forEach(e -> System.out.printf("  failed x%d: %s%n", e.getValue(), e.getKey()));
        if (!sorted.isEmpty()) {
            System.out.printf("time to first token: p50 %.1f ms, p99 %.1f ms%n", sorted.get(sorted.size() / 2) / 1e6,
                    sorted.get((int) (sorted.size() * 0.99)) / 1e6);
        }
        if (pid > 0) {
            double cpu = (cpu1 - cpu0) / 100.0;
            System.out.printf("server CPU: %.2f s = %.0f%% of one core (%.1f us per token, %.1f us per chunk)%n", cpu,
                    100 * cpu / wall, cpu * 1e6 / Math.max(1, tokens.get()), cpu * 1e6 / Math.max(1, chunks.get()));
        }
    }

    static void run(InferenceServiceGrpc.InferenceServiceStub stub, String model, int requests, int concurrency, long staggerMillis,
                    List<Long> ttft, AtomicLong chunks, AtomicLong tokens, AtomicInteger failures) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(requests);
        AtomicInteger next = new AtomicInteger();
        Runnable[] launch = new Runnable[1];
        launch[0] = () -> {
            int i = next.getAndIncrement();
            if (i >= requests) {
                return;
            }
            long start = System.nanoTime();
            InferenceRequest r = InferenceRequest.newBuilder().setModel(model).setSeed(i)
                    .setStreamOptions(ai.scaigrid.proto.scaiinfer.v1.StreamOptions.newBuilder().setIncludeUsage(true))
                    .addMessages(ChatMessage.newBuilder().setRole("user").setContent("benchmark prompt " + i)).build();
            stub.withDeadlineAfter(60, TimeUnit.SECONDS).streamInference(r, new StreamObserver<InferenceChunk>() {
                boolean first = true;

                @Override
                public void onNext(InferenceChunk c) {
                    if (first) {
                        first = false;
                        ttft.add(System.nanoTime() - start);
                    }
                    chunks.incrementAndGet();
                    if (c.hasUsage()) {
                        tokens.addAndGet(c.getUsage().getCompletionTokens());
                    }
                }

                @Override
                public void onError(Throwable t) {
                    failures.incrementAndGet();
                    io.grpc.Status st = io.grpc.Status.fromThrowable(t);
                    Metadata trailers = io.grpc.Status.trailersFromThrowable(t);
                    String code = trailers == null ? null
                            : trailers.get(Metadata.Key.of("scaigrid-error-code", Metadata.ASCII_STRING_MARSHALLER));
                    ERRORS.merge(st.getCode() + " " + code + ": " + st.getDescription(), 1, Integer::sum);
                    done.countDown();
                    launch[0].run();
                }

                @Override
                public void onCompleted() {
                    done.countDown();
                    launch[0].run();
                }
            });
        };
        java.util.concurrent.ScheduledExecutorService starter = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
        for (int c = 0; c < concurrency; c++) {
            starter.schedule(launch[0], staggerMillis * 1000 * c / concurrency, TimeUnit.MICROSECONDS);
        }
        boolean finished = done.await(10, TimeUnit.MINUTES);
        starter.shutdownNow();
        if (!finished) {
            throw new IllegalStateException("the run did not finish in 10 minutes");
        }
    }

    /** utime + stime of a process, in clock ticks. */
    static final class HeartbeatTicks {
        static long cpu(long pid) throws Exception {
            if (pid <= 0) {
                return 0;
            }
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        }

        /** CPU (ms) the C1/C2 compiler threads of these processes have used so far. */
        static long jitMillis(List<Long> pids) {
            long ticks = 0;
            for (long pid : pids) {
                java.io.File[] tasks = new java.io.File("/proc/" + pid + "/task").listFiles();
                for (java.io.File t : tasks == null ? new java.io.File[0] : tasks) {
                    try {
                        String stat = java.nio.file.Files.readString(t.toPath().resolve("stat"));
                        String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                        if (comm.startsWith("C1 CompilerThre") || comm.startsWith("C2 CompilerThre")) {
                            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                            ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                        }
                    } catch (Exception gone) {
                        // the thread ended between listing and reading
                    }
                }
            }
            return ticks * 10; // USER_HZ = 100
        }
    }
}
