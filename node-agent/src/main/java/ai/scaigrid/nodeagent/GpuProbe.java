package ai.scaigrid.nodeagent;

import ai.scaigrid.proto.scaiinfer.v1.GpuStatus;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The node's GPUs as {@code nvidia-smi} reports them, for the heartbeats. nvidia-smi runs every
 * {@code scaigrid.node.gpu.interval} on a worker thread, never on the event loop, and is killed after
 * {@code scaigrid.node.gpu.timeout} (a wedged driver can hang it); heartbeats only read the cached last
 * result, so a slow, failing or missing nvidia-smi never delays one. A failed run clears the cache:
 * reporting stale figures for a GPU that may be gone would mislead the gateway more than reporting none.
 * Without nvidia-smi (CPU-only nodes) nothing runs at all and the node reports no GPUs.
 */
@ApplicationScoped
public class GpuProbe {
    private static final Logger LOG = Logger.getLogger(GpuProbe.class);
    static final String QUERY = "--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu";
    static final String FORMAT = "--format=csv,noheader,nounits";
    private static final long MIB = 1024L * 1024L;

    /** One GPU; a {@code null} component is a value nvidia-smi did not give ({@code [N/A]}, {@code [Not Supported]} ...). */
    public record Gpu(int index, String uuid, String name, Long memoryTotalMib, Long memoryUsedMib,
                      Double utilizationPercent, Double temperatureCelsius) {

        /** heartbeat.proto units: bytes, utilisation as a fraction; an absent value stays the proto default (0 = unknown). */
        GpuStatus toProto() {
            GpuStatus.Builder g = GpuStatus.newBuilder().setIndex(index);
            if (uuid != null) {
                g.setUuid(uuid);
            }
            if (name != null) {
                g.setName(name);
            }
            if (memoryTotalMib != null) {
                g.setMemoryTotalBytes(memoryTotalMib * MIB);
            }
            if (memoryUsedMib != null) {
                g.setMemoryUsedBytes(memoryUsedMib * MIB);
            }
            if (utilizationPercent != null) {
                g.setUtilization(utilizationPercent / 100.0);
            }
            if (temperatureCelsius != null) {
                g.setTemperatureCelsius(temperatureCelsius);
            }
            return g.build();
        }
    }

    @Inject
    NodeAgentConfig config;

    @Inject
    Vertx vertx;

    private volatile Path executable;
    private volatile Duration timeout = Duration.ofSeconds(3);
    /** The last result, both ways, swapped whole so that readers never see halves of two runs. */
    private record Snapshot(List<Gpu> gpus, List<GpuStatus> reported) {
        static final Snapshot NONE = new Snapshot(List.of(), List.of());
    }

    private volatile Snapshot last = Snapshot.NONE;
    private volatile String status = "not started";
    private volatile boolean failing;
    private final AtomicBoolean probing = new AtomicBoolean();
    /** The last nvidia-smi process; one that survived being killed (stuck in the driver) blocks new runs. */
    private volatile Process process;
    private volatile long timerId = -1;

    public GpuProbe() {
    }

    /** A probe of the given executable, driven by {@link #refresh()} (tests). */
    GpuProbe(Path executable, Duration timeout) {
        this.executable = executable;
        this.timeout = timeout;
        this.status = "nvidia-smi at " + executable;
    }

    void onStart(@Observes StartupEvent event) {
        NodeAgentConfig.Gpu gpu = config.gpu();
        if (!gpu.enabled()) {
            status = "off (scaigrid.node.gpu.enabled=false)";
            return;
        }
        executable = resolve(gpu.nvidiaSmi());
        if (executable == null) {
            status = "no nvidia-smi (" + gpu.nvidiaSmi() + ")";
            LOG.infof("no nvidia-smi found (scaigrid.node.gpu.nvidia-smi=%s): this node reports no GPUs", gpu.nvidiaSmi());
            return;
        }
        timeout = gpu.timeout();
        status = "nvidia-smi at " + executable;
        LOG.infof("GPUs reported from %s every %s", executable, gpu.interval());
        long every = Math.max(100, gpu.interval().toMillis());
        timerId = vertx.setPeriodic(1, every, t -> {
            if (!probing.get()) { // a run still going (up to the timeout) is not queued behind
                Infrastructure.getDefaultWorkerPool().execute(this::refresh);
            }
        });
    }

    void onStop(@Observes ShutdownEvent event) {
        long t = timerId;
        if (t >= 0) {
            vertx.cancelTimer(t);
        }
        Process p = process;
        if (p != null && p.isAlive()) {
            kill(p);
        }
    }

    /** The GPUs of the last successful run, as heartbeats carry them; never blocks. */
    public List<GpuStatus> current() {
        return last.reported();
    }

    /** The GPUs of the last successful run. */
    public List<Gpu> gpus() {
        return last.gpus();
    }

    /** Where the figures come from, or why there are none (readiness data). */
    public String status() {
        return status;
    }

    /**
     * An executable path for {@code nvidiaSmi}: itself if it names a path, else the first match on PATH;
     * {@code null} when there is none (the normal case on a CPU-only node).
     */
    static Path resolve(String nvidiaSmi) {
        if (nvidiaSmi == null || nvidiaSmi.isBlank()) {
            return null;
        }
        try {
            if (nvidiaSmi.contains("/") || nvidiaSmi.contains(File.separator)) {
                Path p = Path.of(nvidiaSmi);
                return Files.isRegularFile(p) && Files.isExecutable(p) ? p : null;
            }
            String path = System.getenv("PATH");
            if (path == null) {
                return null;
            }
            for (String dir : path.split(File.pathSeparator)) {
                if (dir.isBlank()) {
                    continue;
                }
                Path p = Path.of(dir, nvidiaSmi);
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return p;
                }
            }
        } catch (InvalidPathException e) {
            return null;
        }
        return null;
    }

    /** One nvidia-smi run, updating the cache; blocks up to the timeout (call it off the event loop). Never throws. */
    void refresh() {
        Path exe = executable;
        if (exe == null || !probing.compareAndSet(false, true)) {
            return;
        }
        try {
            Process previous = process;
            if (previous != null && previous.isAlive()) {
                fail("an earlier nvidia-smi (pid " + previous.pid() + ") could not be killed and still runs");
                return;
            }
            List<Gpu> found = run(exe);
            if (found != null) {
                last = new Snapshot(found, found.stream().map(Gpu::toProto).toList());
                status = "nvidia-smi at " + exe;
                if (failing) {
                    failing = false;
                    LOG.infof("nvidia-smi works again: %d GPU(s)", found.size());
                }
            }
        } catch (RuntimeException e) {
            fail(e.toString());
        } finally {
            probing.set(false);
        }
    }

    /** The parsed GPUs, or {@code null} after {@link #fail} when the run failed. */
    private List<Gpu> run(Path exe) {
        Process p;
        try {
            // nvidia-smi's output is a line per GPU, far below the pipe buffer: the process never blocks on it
            p = new ProcessBuilder(exe.toString(), QUERY, FORMAT).redirectErrorStream(true).start();
        } catch (IOException | RuntimeException e) {
            fail("cannot run " + exe + ": " + e.getMessage());
            return null;
        }
        process = p;
        try {
            p.getOutputStream().close(); // nothing to read from us
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                fail("nvidia-smi gave no answer within " + timeout.toMillis() + " ms; killed it");
                return null;
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                fail("nvidia-smi exited with " + p.exitValue() + ": " + firstLine(out));
                return null;
            }
            return parse(out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill(p);
            fail("interrupted");
            return null;
        } catch (IOException e) {
            fail("cannot read nvidia-smi's output: " + e.getMessage());
            return null;
        }
    }

    /** Kills nvidia-smi and whatever it started (a wrapper script's children would keep running otherwise). */
    private static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void fail(String problem) {
        last = Snapshot.NONE;
        status = problem;
        if (!failing) { // once per failure streak: a broken nvidia-smi would otherwise log every interval
            failing = true;
            LOG.warnf("GPU probe failed, reporting no GPUs until it works again: %s", problem);
        } else {
            LOG.debugf("GPU probe failed: %s", problem);
        }
    }

    private static String firstLine(String out) {
        String line = out.strip().lines().findFirst().orElse("");
        return line.length() > 200 ? line.substring(0, 200) : line;
    }

    /**
     * Parses {@code nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu
     * --format=csv,noheader,nounits} output. Values nvidia-smi cannot give ({@code [N/A]}, {@code [Not Supported]},
     * {@code [Unknown Error]} ...) or that are no numbers become {@code null}; lines with too few fields are
     * skipped. The name is whatever lies between uuid and the four figures, so a comma in it does no harm.
     */
    static List<Gpu> parse(String output) {
        List<Gpu> out = new ArrayList<>();
        for (String line : output.split("\\R")) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split(",", -1);
            if (f.length < 7) {
                LOG.debugf("nvidia-smi line skipped: %s", line);
                continue;
            }
            int n = f.length;
            Long index = integer(f[0]);
            String name = text(String.join(",", Arrays.copyOfRange(f, 2, n - 4)));
            out.add(new Gpu(index != null ? index.intValue() : out.size(), text(f[1]), name, integer(f[n - 4]),
                    integer(f[n - 3]), decimal(f[n - 2]), decimal(f[n - 1])));
        }
        return List.copyOf(out);
    }

    /** The value, or {@code null} for nvidia-smi's markers of a missing value. */
    private static String text(String raw) {
        String v = raw.strip();
        if (v.isEmpty() || (v.startsWith("[") && v.endsWith("]")) || v.equalsIgnoreCase("N/A")) {
            return null;
        }
        // no control characters (the gateway refuses NUL in any string of a heartbeat), and bounded
        v = v.replaceAll("\\p{Cntrl}", "");
        return v.length() > 256 ? v.substring(0, 256) : v;
    }

    private static Long integer(String raw) {
        Double d = decimal(raw);
        return d == null ? null : Math.round(d);
    }

    private static Double decimal(String raw) {
        String v = text(raw);
        if (v == null) {
            return null;
        }
        try {
            // "nounits" asks for bare numbers; a unit that comes anyway ("81920 MiB", "35 %") is dropped
            double d = Double.parseDouble(v.split("\\s+")[0]);
            return Double.isFinite(d) && d >= 0 ? d : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
