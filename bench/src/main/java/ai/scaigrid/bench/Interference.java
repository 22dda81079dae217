package ai.scaigrid.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * What the host did to a measurement window, printed next to every latency result so a tail can be
 * told apart from the code under test. Two readings:
 * <ul>
 *   <li>hiccups (as jHiccup measures them): a thread asks to sleep 1 ms, again and again, and records
 *   how much later than asked it woke; on a quiet host that is a few tens of microseconds, and every
 *   millisecond beyond it is a millisecond in which no thread of this process could have run either;</li>
 *   <li>CPU the kernel spent in {@code kdamond} threads (DAMON's memory monitor, used by some VM hosts
 *   for proactive reclaim) and in steal time, from /proc, where present.</li>
 * </ul>
 * It also reads the CPU time of the processes under test (env {@code WATCH_PIDS}, comma-separated, each
 * with its direct children, e.g. gateway-core and its embedded PostgreSQL's postmaster), so a result can
 * say what one request cost them.
 */
final class Interference {

    record Reading(double hiccupP99Ms, double hiccupMaxMs, long kdamondCpuMs, long stealMs, long watchedCpuMs) {
        @Override
        public String toString() {
            return String.format("host: hiccup p99 %.2f ms max %.1f ms, kdamond CPU %d ms, steal %d ms", hiccupP99Ms,
                    hiccupMaxMs, kdamondCpuMs, stealMs);
        }
    }

    private static final long TICK_MS = 10; // USER_HZ is 100 on every Linux we run on
    private static final long INTERVAL_NANOS = 1_000_000;

    private final long[] excess = new long[600_000];
    private volatile int count;
    private volatile boolean running = true;
    private final Thread meter;
    private final long kdamondStart = kdamondTicks();
    private final long stealStart = stealTicks();
    private static final List<Long> WATCHED = watchedPids();
    private final long watchedStart = watchedTicks();

    private Interference() {
        meter = new Thread(() -> {
            while (running) {
                long before = System.nanoTime();
                LockSupport.parkNanos(INTERVAL_NANOS);
                long late = System.nanoTime() - before - INTERVAL_NANOS;
                int i = count;
                if (i < excess.length) {
                    excess[i] = Math.max(0, late);
                    count = i + 1;
                }
            }
        }, "hiccup-meter");
        meter.setDaemon(true);
        meter.start();
    }

    static Interference start() {
        return new Interference();
    }

    Reading stop() {
        running = false;
        try {
            meter.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        long[] sorted = Arrays.copyOf(excess, count);
        Arrays.sort(sorted);
        double p99 = sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) Math.ceil(0.99 * sorted.length) - 1)] / 1e6;
        double max = sorted.length == 0 ? 0 : sorted[sorted.length - 1] / 1e6;
        return new Reading(p99, max, (kdamondTicks() - kdamondStart) * TICK_MS, (stealTicks() - stealStart) * TICK_MS,
                WATCHED.isEmpty() ? -1 : (watchedTicks() - watchedStart) * TICK_MS);
    }

    private static List<Long> watchedPids() {
        List<Long> pids = new ArrayList<>();
        for (String p : System.getenv().getOrDefault("WATCH_PIDS", "").split(",")) {
            if (!p.isBlank()) {
                pids.add(Long.parseLong(p.trim()));
            }
        }
        return pids;
    }

    /**
     * CPU the JIT compiler threads (C1 and C2) of this process and of the watched ones have used so far,
     * in milliseconds: the harness warms up until it stops growing, since a compilation during a measured
     * phase takes a core from the code being measured.
     */
    static long jitCpuMillis() {
        long ticks = 0;
        List<String> pids = new ArrayList<>();
        pids.add("self");
        WATCHED.forEach(p -> pids.add(Long.toString(p)));
        for (String pid : pids) {
            try (Stream<Path> tasks = Files.list(Path.of("/proc", pid, "task"))) {
                for (Path task : tasks.toList()) {
                    try {
                        String stat = Files.readString(task.resolve("stat"));
                        String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                        if (comm.startsWith("C1 CompilerThre") || comm.startsWith("C2 CompilerThre")) {
                            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                            ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                        }
                    } catch (IOException | RuntimeException gone) {
                        // the thread ended while we looked
                    }
                }
            } catch (IOException | RuntimeException noProc) {
                // not Linux, or the process is gone
            }
        }
        return ticks * TICK_MS;
    }

    /** utime + stime of the watched processes and of their direct children (all threads), in clock ticks. */
    private static long watchedTicks() {
        if (WATCHED.isEmpty()) {
            return 0;
        }
        long total = 0;
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path pid : procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).toList()) {
                try {
                    String stat = Files.readString(pid.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    long self = Long.parseLong(pid.getFileName().toString());
                    long parent = Long.parseLong(f[1]); // field 4: ppid
                    if (WATCHED.contains(self) || WATCHED.contains(parent)) {
                        total += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                    }
                } catch (IOException | RuntimeException gone) {
                    // the process ended while we looked
                }
            }
        } catch (IOException | RuntimeException noProc) {
            return 0;
        }
        return total;
    }

    /** utime + stime of every kdamond thread, in clock ticks; 0 where there is none (or no /proc). */
    private static long kdamondTicks() {
        long total = 0;
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            List<Path> pids = new ArrayList<>();
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).forEach(pids::add);
            for (Path pid : pids) {
                try {
                    if (!Files.readString(pid.resolve("comm")).startsWith("kdamond")) {
                        continue;
                    }
                    String stat = Files.readString(pid.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    total += Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15: utime, stime
                } catch (IOException | RuntimeException gone) {
                    // the process ended while we looked
                }
            }
        } catch (IOException | RuntimeException noProc) {
            return 0;
        }
        return total;
    }

    /** Steal time of all CPUs (the hypervisor ran something else), in clock ticks. */
    private static long stealTicks() {
        try {
            String cpu = Files.readAllLines(Path.of("/proc/stat")).get(0);
            String[] f = cpu.trim().split("\\s+");
            return f.length > 8 ? Long.parseLong(f[8]) : 0;
        } catch (IOException | RuntimeException noProc) {
            return 0;
        }
    }
}
