package ai.scaigrid.launcher;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The last lines a service wrote to its log since it was started. */
final class LogTail {
    private static final int MAX_BYTES = 256 * 1024;

    private LogTail() {
    }

    /**
     * @param from where this run's part of the (appended-to) log begins
     */
    static List<String> lastLines(Path file, long from, int count) {
        try {
            if (!Files.exists(file)) {
                return List.of();
            }
            try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
                long end = raf.length();
                long start = Math.max(Math.max(from, 0), end - MAX_BYTES);
                if (start >= end) {
                    return List.of();
                }
                byte[] bytes = new byte[(int) (end - start)];
                raf.seek(start);
                raf.readFully(bytes);
                String text = new String(bytes, StandardCharsets.UTF_8);
                List<String> lines = new ArrayList<>(List.of(text.split("\\R", -1)));
                if (start > from && !lines.isEmpty()) {
                    lines.remove(0); // cut mid-line
                }
                while (!lines.isEmpty() && lines.get(lines.size() - 1).isEmpty()) {
                    lines.remove(lines.size() - 1);
                }
                return List.copyOf(lines.subList(Math.max(0, lines.size() - count), lines.size()));
            }
        } catch (IOException e) {
            return List.of("(could not read " + file + ": " + e.getMessage() + ")");
        }
    }
}
