package ai.scaigrid.launcher;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The launcher's console output: one line per step, with ✓ / ▶ / ✗ when the locale is UTF-8 and
 * plain {@code [ok]} / {@code [..]} / {@code [!!]} otherwise. Every method prints whole lines under
 * one lock, so lines from parallel start-up threads never interleave.
 */
final class Term {
    private final PrintStream out;
    private final boolean unicode;
    private final Path cwd;

    Term(PrintStream out, boolean unicode, Path cwd) {
        this.out = out;
        this.unicode = unicode;
        this.cwd = cwd.toAbsolutePath().normalize();
    }

    static Term forEnvironment(Map<String, String> env, Path cwd) {
        boolean unicode = isUtf8Locale(env);
        PrintStream out = unicode
                ? new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8)
                : System.out;
        return new Term(out, unicode, cwd);
    }

    /** The effective character-type locale (LC_ALL, then LC_CTYPE, then LANG) names UTF-8. */
    static boolean isUtf8Locale(Map<String, String> env) {
        for (String name : List.of("LC_ALL", "LC_CTYPE", "LANG")) {
            String value = env.get(name);
            if (value != null && !value.isBlank()) {
                String v = value.toLowerCase(Locale.ROOT);
                return v.contains("utf-8") || v.contains("utf8");
            }
        }
        return false;
    }

    boolean unicode() {
        return unicode;
    }

    String ellipsis() {
        return unicode ? "…" : "...";
    }

    void step(String text) {
        line((unicode ? "▶ " : "[..] ") + text + ellipsis());
    }

    void ok(String text) {
        line((unicode ? "✓ " : "[ok] ") + text);
    }

    void fail(String text) {
        line((unicode ? "✗ " : "[!!] ") + text);
    }

    void warn(String text) {
        line((unicode ? "! " : "[!]  ") + text);
    }

    /** Log lines quoted under a message, indented so they stand apart from the launcher's own. */
    void quote(List<String> lines) {
        String bar = unicode ? "    │ " : "    | ";
        synchronized (this) {
            if (lines.isEmpty()) {
                out.println(bar + "(the log is empty)");
            }
            for (String l : lines) {
                out.println(bar + l);
            }
            out.flush();
        }
    }

    synchronized void line(String text) {
        out.println(text);
        out.flush();
    }

    synchronized void lines(List<String> text) {
        text.forEach(out::println);
        out.flush();
    }

    /** A path as the user would type it: relative to the current directory when below it. */
    String show(Path path) {
        Path p = path.toAbsolutePath().normalize();
        if (p.startsWith(cwd) && !p.equals(cwd)) {
            return cwd.relativize(p).toString();
        }
        return p.toString();
    }

    static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.1fs", nanos / 1e9);
    }
}
