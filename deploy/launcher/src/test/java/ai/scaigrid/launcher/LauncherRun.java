package ai.scaigrid.launcher;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The launcher as a real child process, for the tests: its output is collected line by line (and
 * echoed with a prefix, for the build log), its stdin is closed at once like in CI.
 */
final class LauncherRun implements AutoCloseable {
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final Set<ProcessHandle> seenDescendants = new LinkedHashSet<>();
    private boolean ended;

    private LauncherRun(Process process, String label) {
        this.process = process;
        Thread reader = new Thread(() -> read(label), "launcher-output-" + label);
        reader.setDaemon(true);
        reader.start();
    }

    static String javaBinary() {
        return ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /**
     * Starts {@code command}; the launcher's environment is this JVM's without any SCAIGRID_* variable
     * and with LANG=C, plus {@code env}.
     */
    static LauncherRun start(String label, List<String> command, Map<String, String> env, Path workDir) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).directory(workDir.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("SCAIGRID_") || k.startsWith("FAKE_SERVICE_")
                || k.equals("LC_ALL") || k.equals("LC_CTYPE"));
        pb.environment().put("LANG", "C"); // plain [ok] / [..] unless the test asks for UTF-8
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close(); // no stdin, as in CI
        return new LauncherRun(p, label);
    }

    private void read(String label) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                System.out.println("[" + label + "] " + line);
                synchronized (lines) {
                    lines.add(line);
                    lines.notifyAll();
                }
            }
        } catch (IOException e) {
            // process gone
        } finally {
            synchronized (lines) {
                ended = true;
                lines.notifyAll();
            }
        }
    }

    Process process() {
        return process;
    }

    /**
     * SIGTERM, like Ctrl-C / {@code kill}. Through the ProcessHandle: {@code Process.destroy()} sends
     * the same signal but also closes our end of the output pipe, losing what the launcher prints
     * while it stops.
     */
    void sigterm() {
        process.toHandle().destroy();
    }

    /** Waits (bounded) for a line matching; false when the time passes or the output ends first. */
    boolean awaitLine(Predicate<String> matcher, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            while (true) {
                if (lines.stream().anyMatch(matcher)) {
                    return true;
                }
                long left = deadline - System.nanoTime();
                if (ended || left <= 0) {
                    return false;
                }
                lines.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
        }
    }

    /** Waits (bounded) for {@value Launcher#READY_MARKER} and the line after it (so the whole summary has been read). */
    boolean awaitReady(Duration timeout) throws InterruptedException {
        return awaitLine(Launcher.READY_MARKER::equals, timeout)
                && awaitLine("Press Ctrl-C to stop."::equals, Duration.ofSeconds(30));
    }

    /** Waits (bounded) for the process to end and its output to be read completely. */
    boolean awaitExit(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            return false;
        }
        synchronized (lines) {
            while (!ended && System.nanoTime() < deadline) {
                lines.wait(100);
            }
        }
        return true;
    }

    List<String> lines() {
        synchronized (lines) {
            return List.copyOf(lines);
        }
    }

    String output() {
        return String.join("\n", lines());
    }

    /** Remembers every process below the launcher right now (to check later that none survives). */
    Set<ProcessHandle> captureDescendants() {
        process.descendants().forEach(seenDescendants::add);
        return Set.copyOf(seenDescendants);
    }

    List<ProcessHandle> survivors() {
        return seenDescendants.stream().filter(ProcessHandle::isAlive).collect(Collectors.toList());
    }

    @Override
    public void close() throws InterruptedException {
        captureDescendants();
        if (process.isAlive()) {
            sigterm();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
        for (ProcessHandle h : seenDescendants) {
            if (h.isAlive()) {
                h.destroyForcibly();
            }
        }
    }
}
