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
 *        [--direct-node host:port --direct-token T --direct-model M --direct-pid P] [--rounds 1]
 *
 * With {@code --direct-node} the target is a relay (the gateway) and the same load also goes straight to the
 * node, in {@code --rounds} rounds of each that alternate against the same running processes; the added time to
 * first token is printed pooled over the rounds and per round pair.
 *
 * The first {@code concurrency} streams start spread evenly over {@code --stagger-ms}, as the starts of
 * that many independent clients would be; started all at once, every stream of an equally long
 * generation would restart in the same instant, and the time to first token would measure that
 * synchronised wave instead of the server. Tokens are counted from each stream's final usage
 * (completion_tokens), chunks as messages received: a relay may carry several tokens in one chunk.
 */
public class StreamThroughput {
    static final Map<String, Integer> ERRORS = new java.util.concurrent.ConcurrentHashMap<>();
    /** One server to stream from: its address, bearer token, model and the pid whose CPU is measured. */
    record Target(String label, InferenceServiceGrpc.InferenceServiceStub stub, ManagedChannel channel, String model, long pid) {
        static Target of(String label, String address, String token, String model, long pid) {
            Metadata md = new Metadata();
            md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
            ManagedChannel channel = NettyChannelBuilder.forTarget(address).usePlaintext().build();
            return new Target(label, InferenceServiceGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md)),
                    channel, model, pid);
        }
    }

    /** What one measured round of streams against one target saw. */
    record Round(List<Long> ttft, long chunks, long tokens, int failures, double wall, double cpu, double otherCpu) {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        int concurrency = Integer.parseInt(a.getOrDefault("concurrency", "64"));
        int requests = Integer.parseInt(a.getOrDefault("requests", "2000"));
        int rounds = Integer.parseInt(a.getOrDefault("rounds", "1"));
        long pid = Long.parseLong(a.getOrDefault("node-pid", "0"));
        if (requests < 1 || requests > 200_000 || concurrency < 1 || concurrency > 2000 || rounds < 1 || rounds > 50) {
            throw new IllegalArgumentException("1 <= --requests <= 200000, 1 <= --concurrency <= 2000, 1 <= --rounds <= 50");
        }
        Target measured = Target.of(a.containsKey("direct-node") ? "through the gateway" : "streams",
                a.getOrDefault("node", "127.0.0.1:50060"), a.get("token"), a.getOrDefault("model", "scaigrid-sim-1"), pid);
        // --direct-node: the same load straight to the node, in rounds alternating with the measured target's
        // (direct, gateway, gateway, direct, ...) against the same running processes, so that both see the same
        // host and the added time to first token is a difference within one run, not between two runs
        Target direct = a.containsKey("direct-node") ? Target.of("direct to the node", a.get("direct-node"), a.get("direct-token"),
                a.get("direct-model"), Long.parseLong(a.getOrDefault("direct-pid", "0"))) : null;
        List<Target> targets = direct == null ? List.of(measured) : List.of(direct, measured);
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
        // per warm-up round of each target: a round against two targets runs twice the streams
        long jitQuietMs = Long.parseLong(a.getOrDefault("jit-quiet-ms", "100")) * targets.size();
        // at 150 streams/s a gateway's once-per-stream code (authentication, admission, the node call) needs
        // 100-200 s before C2 has compiled it (about 15,000 calls); 90 s left it compiling in the measured run
        long warmupMaxNanos = Long.parseLong(a.getOrDefault("warmup-max-s", "300")) * 1_000_000_000L;
        long warmStart = System.nanoTime();
        int warmRounds = 0;
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
            for (Target t : targets) {
                run(t.stub(), t.model(), warmupRequests, concurrency, staggerMillis, new ArrayList<>(), new AtomicLong(),
                        new AtomicLong(), new AtomicInteger());
            }
            jitRound = HeartbeatTicks.jitMillis(jitPids) - jit0;
            warmRounds++;
        } while (jitRound > jitQuietMs && System.nanoTime() - warmStart < warmupMaxNanos);
        System.out.printf("(warmed up: %d rounds of %d streams in %.0f s; JIT CPU in the last round %d ms)%n", warmRounds,
                warmupRequests * targets.size(), (System.nanoTime() - warmStart) / 1e9, jitRound);
        ERRORS.clear();
        if (a.containsKey("metrics-url")) { // the server's metrics right before the measured run, for its own-time share
            metrics.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(a.get("metrics-url"))).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofFile(java.nio.file.Path.of(a.get("metrics-out"))));
        }

        Map<Target, List<Round>> measuredRounds = new HashMap<>();
        List<Double> addedP99 = new ArrayList<>(); // per round pair, with --direct-node
        for (int r = 0; r < rounds; r++) {
            Map<Target, Round> pair = new HashMap<>();
            for (int k = 0; k < targets.size(); k++) {
                Target t = targets.get(r % 2 == 0 ? k : targets.size() - 1 - k);
                Target other = t == measured ? direct : measured;
                Round round = measure(t, other == null ? 0 : other.pid(), requests, concurrency, staggerMillis);
                measuredRounds.computeIfAbsent(t, x -> new ArrayList<>()).add(round);
                pair.put(t, round);
                if (rounds > 1) {
                    System.out.printf("  round %d, %-20s %s%n", r + 1, t.label() + ":", summary(round.ttft()));
                }
            }
            if (direct != null) {
                addedP99.add((quantile(sorted(pair.get(measured).ttft()), 0.99) - quantile(sorted(pair.get(direct).ttft()), 0.99)) / 1e6);
            }
        }
        targets.forEach(t -> t.channel().shutdownNow());
        for (Target t : targets) {
            report(t, measuredRounds.get(t), concurrency, direct != null, t == measured);
        }
        ERRORS.entrySet().stream().sorted((x, y) -> y.getValue() - x.getValue()).limit(3)
                .forEach(e -> System.out.printf("  failed x%d: %s%n", e.getValue(), e.getKey()));
        if (direct != null) {
            List<Long> d = pooled(measuredRounds.get(direct));
            List<Long> g = pooled(measuredRounds.get(measured));
            Collections.sort(addedP99);
            System.out.printf("added time to first token over %d rounds of each: p50 %.2f ms, p99 %.2f ms (pooled); "
                    + "p99 per round pair %s ms, median %.2f ms%n", rounds,
                    (quantile(g, 0.5) - quantile(d, 0.5)) / 1e6, (quantile(g, 0.99) - quantile(d, 0.99)) / 1e6,
                    addedP99.stream().map(x -> String.format("%.2f", x)).toList(), addedP99.get(addedP99.size() / 2));
        }
    }

    static Round measure(Target t, long otherPid, int requests, int concurrency, long staggerMillis) throws Exception {
        List<Long> ttft = Collections.synchronizedList(new ArrayList<>());
        AtomicLong chunks = new AtomicLong();
        AtomicLong tokens = new AtomicLong();
        AtomicInteger failures = new AtomicInteger();
        long cpu0 = HeartbeatTicks.cpu(t.pid());
        long other0 = HeartbeatTicks.cpu(otherPid);
        long t0 = System.nanoTime();
        run(t.stub(), t.model(), requests, concurrency, staggerMillis, ttft, chunks, tokens, failures);
        double wall = (System.nanoTime() - t0) / 1e9;
        return new Round(new ArrayList<>(ttft), chunks.get(), tokens.get(), failures.get(), wall,
                (HeartbeatTicks.cpu(t.pid()) - cpu0) / 100.0, (HeartbeatTicks.cpu(otherPid) - other0) / 100.0);
    }

    /**
     * Totals over a target's rounds; with a direct comparison the lines say which way the streams went, and the
     * relayed side also gives the node's CPU while it served the relay.
     */
    static void report(Target t, List<Round> rounds, int concurrency, boolean labelled, boolean relayed) {
        int requests = rounds.stream().mapToInt(r -> r.ttft().size() + r.failures()).sum();
        int failures = rounds.stream().mapToInt(Round::failures).sum();
        double wall = rounds.stream().mapToDouble(Round::wall).sum();
        long tokens = rounds.stream().mapToLong(Round::tokens).sum();
        long chunks = rounds.stream().mapToLong(Round::chunks).sum();
        double cpu = rounds.stream().mapToDouble(Round::cpu).sum();
        String prefix = labelled ? t.label() + ": " : "";
        System.out.printf("%s%d streams (%d failed) at concurrency %d in %.2f s: %.0f streams/s, %.0f tokens/s in %.0f chunks/s%n",
                prefix, requests, failures, concurrency, wall, requests / wall, tokens / wall, chunks / wall);
        List<Long> all = pooled(rounds);
        if (!all.isEmpty()) {
            System.out.printf("%stime to first token: %s%n", prefix, summary(all));
        }
        if (t.pid() > 0) {
            System.out.printf("%sserver CPU: %.2f s = %.0f%% of one core (%.1f us per token, %.1f us per chunk)%n", prefix, cpu,
                    100 * cpu / wall, cpu * 1e6 / Math.max(1, tokens), cpu * 1e6 / Math.max(1, chunks));
        }
        double other = rounds.stream().mapToDouble(Round::otherCpu).sum();
        if (labelled && relayed && other > 0) {
            System.out.printf("%snode CPU: %.1f us per chunk it sent%n", prefix, other * 1e6 / Math.max(1, chunks));
        }
    }

    /** The time to first token of all streams of these rounds, sorted. */
    static List<Long> pooled(List<Round> rounds) {
        List<Long> all = new ArrayList<>();
        rounds.forEach(r -> all.addAll(r.ttft()));
        return sorted(all);
    }

    static List<Long> sorted(List<Long> values) {
        List<Long> s = new ArrayList<>(values);
        Collections.sort(s);
        return s;
    }

    static double quantile(List<Long> sorted, double q) {
        return sorted.isEmpty() ? Double.NaN : sorted.get(Math.min(sorted.size() - 1, (int) (sorted.size() * q)));
    }

    static String summary(List<Long> ttft) {
        List<Long> s = sorted(ttft);
        return String.format("p50 %.1f ms, p99 %.1f ms", quantile(s, 0.5) / 1e6, quantile(s, 0.99) / 1e6);
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
