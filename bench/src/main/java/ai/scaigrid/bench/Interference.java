package ai.scaigrid.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
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
        List<Path> tasks = new ArrayList<>(entries(Path.of("/proc/self/task")));
        WATCHED.forEach(pid -> tasks.addAll(entries(Path.of("/proc", Long.toString(pid), "task"))));
        return cpuTicks(tasks, t -> t.comm().startsWith("C1 CompilerThre") || t.comm().startsWith("C2 CompilerThre"))
                * TICK_MS;
    }

    /** utime + stime of the watched processes and of their direct children (all threads), in clock ticks. */
    private static long watchedTicks() {
        return WATCHED.isEmpty() ? 0 : cpuTicks(entries(Path.of("/proc")),
                p -> WATCHED.contains(p.pid()) || WATCHED.contains(p.ppid()));
    }

    /** utime + stime of every kdamond thread, in clock ticks; 0 where there is none (or no /proc). */
    private static long kdamondTicks() {
        return cpuTicks(entries(Path.of("/proc")), p -> p.comm().startsWith("kdamond"));
    }

    /** The fields of a /proc/[pid]/stat (or task stat) line this class reads. */
    private record Stat(long pid, String comm, long ppid, long cpuTicks) {
        static Stat parse(String line) {
            int close = line.lastIndexOf(')'); // comm may itself contain spaces and parentheses
            String[] f = line.substring(close + 2).split(" ");
            // fields 1, 2, 4, 14 and 15: pid, comm, ppid, utime, stime
            return new Stat(Long.parseLong(line.substring(0, line.indexOf(' '))), line.substring(line.indexOf('(') + 1, close),
                    Long.parseLong(f[1]), Long.parseLong(f[11]) + Long.parseLong(f[12]));
        }
    }

    /** Sum of utime + stime, in clock ticks, over the process or task directories whose stat matches. */
    private static long cpuTicks(List<Path> dirs, Predicate<Stat> which) {
        long total = 0;
        for (Path dir : dirs) {
            try {
                Stat stat = Stat.parse(Files.readString(dir.resolve("stat")));
                if (which.test(stat)) {
                    total += stat.cpuTicks();
                }
            } catch (IOException | RuntimeException gone) {
                // the process or thread ended while we looked
            }
        }
        return total;
    }

    /** The numeric entries (pids or tids) of a /proc directory; none where it is missing (not Linux, process gone). */
    private static List<Path> entries(Path dir) {
        try (Stream<Path> list = Files.list(dir)) {
            return list.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).toList();
        } catch (IOException | RuntimeException missing) {
            return List.of();
        }
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
