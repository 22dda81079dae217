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
 */
final class Interference {

    record Reading(double hiccupP99Ms, double hiccupMaxMs, long kdamondCpuMs, long stealMs) {
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
        return new Reading(p99, max, (kdamondTicks() - kdamondStart) * TICK_MS, (stealTicks() - stealStart) * TICK_MS);
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
