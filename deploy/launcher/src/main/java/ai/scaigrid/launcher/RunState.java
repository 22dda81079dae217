package ai.scaigrid.launcher;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * What one data directory's launcher owns, kept so that a launcher killed hard (SIGKILL, a crashed
 * IDE) leaves nothing in the way of the next start:
 * <ul>
 *   <li>{@code launcher.lock}: locked for as long as a launcher runs on the directory (the OS drops
 *       the lock when the process dies, however it dies); a second launcher is refused;</li>
 *   <li>{@code launcher.pids}: the services it started (pid, start time, name), removed on a clean
 *       stop. Found at start with the lock free, they are leftovers: stopped before anything starts.</li>
 * </ul>
 */
final class RunState {
    static final String LOCK_FILE = "launcher.lock";
    static final String PIDS_FILE = "launcher.pids";

    private final Path dataDir;
    private final FileChannel lockChannel;
    private final FileLock lock;

    private RunState(Path dataDir, FileChannel lockChannel, FileLock lock) {
        this.dataDir = dataDir;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /** Takes the data directory for this launcher, or explains that another launcher has it. */
    static RunState acquire(Path dataDir, Term term) throws LauncherException {
        try {
            Files.createDirectories(dataDir);
            FileChannel channel = FileChannel.open(dataDir.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                channel.close();
                throw new LauncherException("another launcher is already running on " + term.show(dataDir)
                        + "; stop it first (Ctrl-C in its terminal), or use another --data-dir");
            }
            return new RunState(dataDir, channel, lock);
        } catch (IOException e) {
            throw new LauncherException("cannot use the data directory " + term.show(dataDir) + ": " + e.getMessage(), e);
        }
    }

    /** Services a previous launcher on this directory started and that still run: stopped (SIGTERM, then killed). */
    List<String> stopLeftoverServices(Term term) {
        Path file = dataDir.resolve(PIDS_FILE);
        List<String> stopped = new ArrayList<>();
        List<ProcessHandle> alive = new ArrayList<>();
        try {
            if (!Files.isRegularFile(file)) {
                return stopped;
            }
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] f = line.trim().split(" ", 3);
                if (f.length < 3) {
                    continue;
                }
                long pid;
                long started;
                try {
                    pid = Long.parseLong(f[0]);
                    started = Long.parseLong(f[1]);
                } catch (NumberFormatException e) {
                    continue;
                }
                Optional<ProcessHandle> h = ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                        // the same process, not a later one that got the pid again
                        .filter(p -> p.info().startInstant().map(i -> i.toEpochMilli() == started).orElse(false));
                if (h.isPresent()) {
                    alive.add(h.get());
                    stopped.add(f[2] + " (pid " + pid + ")");
                }
            }
        } catch (IOException e) {
            return stopped;
        }
        if (!alive.isEmpty()) {
            term.step("stopping services left running by an earlier launcher: " + String.join(", ", stopped));
            alive.forEach(ProcessHandle::destroy);
            long deadline = System.nanoTime() + Launcher.STOP_GRACE.toNanos();
            for (ProcessHandle h : alive) {
                try {
                    h.onExit().get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (Exception e) {
                    h.destroyForcibly();
                    h.onExit().completeOnTimeout(h, 10, TimeUnit.SECONDS).join();
                }
            }
        }
        clearServices();
        return stopped;
    }

    /** Notes a started service, so that a later launcher can clean up after this one if it is killed. */
    synchronized void recordService(String name, Process process) {
        ProcessHandle h = process.toHandle();
        long started = h.info().startInstant().map(i -> i.toEpochMilli()).orElse(-1L);
        try {
            Files.writeString(dataDir.resolve(PIDS_FILE), h.pid() + " " + started + " " + name + System.lineSeparator(),
                    StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // only a convenience for the next start
        }
    }

    synchronized void clearServices() {
        try {
            Files.deleteIfExists(dataDir.resolve(PIDS_FILE));
        } catch (IOException e) {
            // only a convenience for the next start
        }
    }

    void release() {
        try {
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            // the OS releases it at exit anyway
        }
    }
}
