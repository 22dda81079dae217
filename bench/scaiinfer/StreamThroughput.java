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
 *        [--arrivals closed|open] [--relay-label "through the gateway"] [--warmup-concurrency N]
 *        [--prewarm-streams N --prewarm-model M --direct-prewarm-model M]
 *
 * With {@code --direct-node} the target is a relay (the gateway) and the same load also goes straight to the
 * node, in {@code --rounds} rounds of each that alternate against the same running processes; the added time to
 * first token is printed pooled over the rounds and per round pair.
 *
 * The first {@code concurrency} streams start spread evenly over {@code --stagger-ms} (by default over a mean
 * stream's length as the warm-up measured it, at most 1 s), as the starts of
 * that many independent clients would be; started all at once, every stream of an equally long
 * generation would restart in the same instant, and the time to first token would measure that
 * synchronised wave instead of the server. Tokens are counted from each stream's final usage
 * (completion_tokens), chunks as messages received: a relay may carry several tokens in one chunk.
 *
 * {@code --arrivals closed} (the default) keeps {@code concurrency} streams open: each client starts its next
 * stream the moment one ends. {@code --arrivals open} starts the measured streams at random (Poisson) times
 * instead, independent of when others end, at the rate that keeps {@code concurrency} streams open on average
 * (the rate is concurrency / mean stream duration of the last warm-up round, which stays closed). With a model
 * that decodes all its streams in one step, closed-loop clients all start their next stream inside a decode
 * step's burst of chunks, the busiest moment of every process on the path; open arrivals land anywhere.
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
    record Round(List<Long> ttft, int streams, long chunks, long tokens, int failures, double wall, double cpu, double otherCpu,
                 long openAtStarts, long[] syscalls) {
    }

    /** What the streams of one run counted, filled in from gRPC's threads. */
    static final class Tally {
        final List<Long> ttft = Collections.synchronizedList(new ArrayList<>());
        final AtomicLong chunks = new AtomicLong();
        final AtomicLong tokens = new AtomicLong();
        final AtomicInteger failures = new AtomicInteger();
        final AtomicLong streamNanos = new AtomicLong(); // summed over ended streams
        final AtomicInteger ended = new AtomicInteger();
        final AtomicInteger open = new AtomicInteger();
        final AtomicLong openAtStarts = new AtomicLong(); // streams already open when each timed stream started, summed
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
        Target measured = Target.of(a.containsKey("direct-node") ? a.getOrDefault("relay-label", "through the gateway") : "streams",
                a.getOrDefault("node", "127.0.0.1:50060"), a.get("token"), a.getOrDefault("model", "scaigrid-sim-1"), pid);
        // --direct-node: the same load straight to the node, in rounds alternating with the measured target's
        // (direct, gateway, gateway, direct, ...) against the same running processes, so that both see the same
        // host and the added time to first token is a difference within one run, not between two runs
        Target direct = a.containsKey("direct-node") ? Target.of("direct to the node", a.get("direct-node"), a.get("direct-token"),
                a.get("direct-model"), Long.parseLong(a.getOrDefault("direct-pid", "0"))) : null;
        List<Target> targets = direct == null ? List.of(measured) : List.of(direct, measured);
        long staggerMillis = Long.parseLong(a.getOrDefault("stagger-ms", "1000"));
        // a low concurrency can warm up at a higher one: at 15 streams/s the once-per-stream code never reaches C2 within
        // the warm-up's time cap, and the measured rounds would time the JIT's earlier tiers, not the steady state
        int warmupConcurrency = Integer.parseInt(a.getOrDefault("warmup-concurrency", Integer.toString(concurrency)));
        int warmupRequests = Integer.parseInt(a.getOrDefault("warmup-requests",
                Integer.toString(Math.max(200, Math.max(requests, 10 * warmupConcurrency) / 3))));
        boolean open = switch (a.getOrDefault("arrivals", "closed")) {
            case "closed" -> false;
            case "open" -> true;
            default -> throw new IllegalArgumentException("--arrivals closed|open");
        };

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
        // --prewarm-streams: first that many streams of a fast model (--prewarm-model; --direct-prewarm-model for the
        // direct target) through each target. HotSpot moves a method from C1 to C2 only after about 5,000-10,000 calls
        // (more while C2 is busy), checked every 1,024: at 150 streams/s the once-per-stream code (authentication,
        // admission, the node call) was still C1 code after 200 s, when the JIT had long been quiet, so a paced model's
        // rounds timed a gateway fresh from its start, not one that has served for a while.
        int prewarm = Integer.parseInt(a.getOrDefault("prewarm-streams", "0"));
        if (prewarm > 0) {
            for (Target t : targets) {
                String model = a.get(t == measured ? "prewarm-model" : "direct-prewarm-model");
                Tally pre = new Tally();
                run(t.stub(), model == null ? t.model() : model, prewarm, warmupConcurrency, staggerMillis, 0, 0, pre);
            }
            System.out.printf("(pre-warmed: %d streams each way in %.0f s)%n", prewarm, (System.nanoTime() - warmStart) / 1e9);
        }
        int warmRounds = 0;
        long jitRound;
        double meanStreamNanos = 0;
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
                Tally warm = new Tally();
                run(t.stub(), t.model(), warmupRequests, warmupConcurrency, staggerMillis, 0, 0, warm);
                if (t == targets.get(0)) {
                    meanStreamNanos = (double) warm.streamNanos.get() / Math.max(1, warm.ended.get());
                }
            }
            jitRound = HeartbeatTicks.jitMillis(jitPids) - jit0;
            warmRounds++;
        } while (jitRound > jitQuietMs && System.nanoTime() - warmStart < warmupMaxNanos);
        System.out.printf("(warmed up: %d rounds of %d streams at concurrency %d in %.0f s; JIT CPU in the last round %d ms)%n",
                warmRounds, warmupRequests * targets.size(), warmupConcurrency, (System.nanoTime() - warmStart) / 1e9, jitRound);
        // open arrivals: the rate at which streams of the warm-up's mean duration keep `concurrency` open on average
        double rate = open ? concurrency / (meanStreamNanos / 1e9) : 0;
        if (open) {
            System.out.printf("(open arrivals: %.1f streams/s at random times, for %d open on average; mean stream %.0f ms)%n",
                    rate, concurrency, meanStreamNanos / 1e6);
        }
        // spread over more than a stream's length, the first starts would never have `concurrency` open together
        // (unpaced streams last tens of milliseconds; a round of them ended before a 1 s spread did)
        long measuredStagger = a.containsKey("stagger-ms") ? staggerMillis : Math.min(staggerMillis, (long) (meanStreamNanos / 1e6));
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
                // both targets of a round pair get the same arrival times
                Round round = measure(t, other == null ? 0 : other.pid(), requests, concurrency, measuredStagger, rate, r + 1);
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

    static Round measure(Target t, long otherPid, int requests, int concurrency, long staggerMillis, double rate, long seed)
            throws Exception {
        Tally tally = new Tally();
        long cpu0 = HeartbeatTicks.cpu(t.pid());
        long other0 = HeartbeatTicks.cpu(otherPid);
        long[] sys0 = HeartbeatTicks.syscalls(t.pid());
        long t0 = System.nanoTime();
        run(t.stub(), t.model(), requests, concurrency, staggerMillis, rate, seed, tally);
        double wall = (System.nanoTime() - t0) / 1e9;
        long[] sys = HeartbeatTicks.syscalls(t.pid());
        for (int i = 0; i < sys.length; i++) {
            sys[i] -= sys0[i];
        }
        return new Round(new ArrayList<>(tally.ttft), tally.ended.get(), tally.chunks.get(), tally.tokens.get(), tally.failures.get(), wall,
                (HeartbeatTicks.cpu(t.pid()) - cpu0) / 100.0, (HeartbeatTicks.cpu(otherPid) - other0) / 100.0,
                tally.openAtStarts.get(), sys);
    }

    /**
     * Totals over a target's rounds; with a direct comparison the lines say which way the streams went, and the
     * relayed side also gives the node's CPU while it served the relay.
     */
    static void report(Target t, List<Round> rounds, int concurrency, boolean labelled, boolean relayed) {
        int requests = rounds.stream().mapToInt(Round::streams).sum();
        int failures = rounds.stream().mapToInt(Round::failures).sum();
        double wall = rounds.stream().mapToDouble(Round::wall).sum();
        long tokens = rounds.stream().mapToLong(Round::tokens).sum();
        long chunks = rounds.stream().mapToLong(Round::chunks).sum();
        double cpu = rounds.stream().mapToDouble(Round::cpu).sum();
        String prefix = labelled ? t.label() + ": " : "";
        List<Long> all = pooled(rounds);
        double openAtStart = (double) rounds.stream().mapToLong(Round::openAtStarts).sum() / Math.max(1, all.size());
        System.out.printf("%s%d streams (%d failed) at concurrency %d (%.0f others open at a timed start) in %.2f s: %.0f streams/s, "
                        + "%.0f tokens/s in %.0f chunks/s%n",
                prefix, requests, failures, concurrency, openAtStart, wall, requests / wall, tokens / wall, chunks / wall);
        if (!all.isEmpty()) {
            System.out.printf("%stime to first token: %s%n", prefix, summary(all));
        }
        if (t.pid() > 0) {
            System.out.printf("%sserver CPU: %.2f s = %.0f%% of one core (%.1f us per token, %.1f us per chunk)%n", prefix, cpu,
                    100 * cpu / wall, cpu * 1e6 / Math.max(1, tokens), cpu * 1e6 / Math.max(1, chunks));
            // how many reads, writes and wake-ups a chunk costs: larger batches per read mean fewer of each
            long[] sys = new long[5];
            rounds.forEach(r -> java.util.Arrays.setAll(sys, i -> sys[i] + r.syscalls()[i]));
            System.out.printf("%sserver per 100 chunks: %.1f reads, %.1f writes (system calls), %.1f waits, %.1f preemptions"
                            + " (context switches)%n",
                    prefix, 100.0 * sys[0] / Math.max(1, chunks), 100.0 * sys[1] / Math.max(1, chunks),
                    100.0 * sys[2] / Math.max(1, chunks), 100.0 * sys[3] / Math.max(1, chunks));
            // time the server's threads were ready to run but every core was taken: the host's share of its latency
            System.out.printf("%sserver waited for a core: %.1f us per chunk, %.0f ms per second (its threads, summed)%n",
                    prefix, sys[4] / 1e3 / Math.max(1, chunks), sys[4] / 1e6 / wall);
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

    /**
     * {@code requests} streams: with {@code rate} 0, {@code concurrency} clients that each start the next stream when
     * one ends (the first ones spread over {@code staggerMillis}); otherwise streams started at Poisson arrival times
     * of that many per second from {@code seed}, whatever else is open; then the first {@code concurrency} streams are
     * the ramp to that many open, untimed, and come on top of {@code requests}.
     */
    static void run(InferenceServiceGrpc.InferenceServiceStub stub, String model, int requests, int concurrency, long staggerMillis,
                    double rate, long seed, Tally tally) throws InterruptedException {
        int ramp = rate == 0 ? 0 : concurrency;
        CountDownLatch done = new CountDownLatch(ramp + requests);
        AtomicInteger next = new AtomicInteger();
        Runnable[] launch = new Runnable[1];
        launch[0] = () -> {
            int i = next.getAndIncrement();
            if (i < ramp + requests) {
                start(stub, model, i, i >= ramp, tally, () -> {
                    done.countDown();
                    if (rate == 0) {
                        launch[0].run();
                    }
                });
            }
        };
        java.util.concurrent.ScheduledExecutorService starter = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
        if (rate == 0) {
            for (int c = 0; c < concurrency; c++) {
                starter.schedule(launch[0], staggerMillis * 1000 * c / concurrency, TimeUnit.MICROSECONDS);
            }
        } else {
            starter.execute(() -> {
                java.util.Random gaps = new java.util.Random(seed);
                long at = System.nanoTime();
                for (int i = 0; i < ramp + requests && !Thread.currentThread().isInterrupted(); i++) {
                    at += (long) (-Math.log(1 - gaps.nextDouble()) / rate * 1e9); // exponential gaps: Poisson arrivals
                    for (long wait; (wait = at - System.nanoTime()) > 0; ) {
                        java.util.concurrent.locks.LockSupport.parkNanos(wait);
                    }
                    launch[0].run();
                }
            });
        }
        boolean finished = done.await(10, TimeUnit.MINUTES);
        starter.shutdownNow();
        if (!finished) {
            throw new IllegalStateException("the run did not finish in 10 minutes");
        }
    }

    static void start(InferenceServiceGrpc.InferenceServiceStub stub, String model, int i, boolean timed, Tally tally, Runnable ended) {
        int others = tally.open.getAndIncrement();
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
                    if (timed) {
                        tally.ttft.add(System.nanoTime() - start);
                        tally.openAtStarts.addAndGet(others);
                    }
                }
                tally.chunks.incrementAndGet();
                if (c.hasUsage()) {
                    tally.tokens.addAndGet(c.getUsage().getCompletionTokens());
                }
            }

            @Override
            public void onError(Throwable t) {
                tally.failures.incrementAndGet();
                io.grpc.Status st = io.grpc.Status.fromThrowable(t);
                Metadata trailers = io.grpc.Status.trailersFromThrowable(t);
                String code = trailers == null ? null
                        : trailers.get(Metadata.Key.of("scaigrid-error-code", Metadata.ASCII_STRING_MARSHALLER));
                ERRORS.merge(st.getCode() + " " + code + ": " + st.getDescription(), 1, Integer::sum);
                end();
            }

            @Override
            public void onCompleted() {
                end();
            }

            private void end() {
                tally.open.decrementAndGet();
                tally.streamNanos.addAndGet(System.nanoTime() - start);
                tally.ended.incrementAndGet();
                ended.run();
            }
        });
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
                for (java.io.File t : threads(pid)) {
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

        /**
         * Read and write system calls (/proc/<pid>/io: read(2)-family calls only, a proxy's recv(2) does not count),
         * context switches, voluntary (a thread waited) and not (the scheduler took its core), and nanoseconds its
         * threads were runnable but waited for a core, summed over its threads, so far; zeros where /proc does not tell.
         */
        static long[] syscalls(long pid) {
            long[] out = new long[5];
            if (pid <= 0) {
                return out;
            }
            try {
                for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc", Long.toString(pid), "io"))) {
                    if (line.startsWith("syscr:")) {
                        out[0] = Long.parseLong(line.substring(6).trim());
                    } else if (line.startsWith("syscw:")) {
                        out[1] = Long.parseLong(line.substring(6).trim());
                    }
                }
            } catch (Exception unreadable) {
                // another user's process
            }
            for (java.io.File t : threads(pid)) {
                try {
                    // schedstat: time on a core, time runnable but waiting for one (ns), timeslices
                    String[] sched = java.nio.file.Files.readString(t.toPath().resolve("schedstat")).trim().split(" ");
                    out[4] += Long.parseLong(sched[1]);
                } catch (Exception unavailable) {
                    // the thread ended, or the kernel keeps no scheduler statistics
                }
                try {
                    for (String line : java.nio.file.Files.readAllLines(t.toPath().resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:")) {
                            out[2] += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
                            out[3] += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                } catch (Exception gone) {
                    // the thread ended between listing and reading
                }
            }
            return out;
        }

        /** The process's threads' /proc directories (none once it has gone). */
        static java.io.File[] threads(long pid) {
            java.io.File[] tasks = new java.io.File("/proc/" + pid + "/task").listFiles();
            return tasks == null ? new java.io.File[0] : tasks;
        }
    }
}
