package ai.scaigrid.commons.error;

import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Decides whether an error text is safe to show a caller. Texts that look like a stack trace, a
 * traceback, SQL or a driver message are replaced by the code's generic message (seed 001: "callers
 * never receive leaked SQL, Python stack traces, or other infrastructure noise").
 */
public final class Sanitizer {
    private static final List<String> MARKERS = List.of(
            "traceback (most recent call last)", "exception in thread", "\tat ", "\n  at ", ".java:",
            "caused by:", "stacktrace", "stack trace", "sqlstate", "org.postgresql", "psycopg", "sqlalchemy",
            "io.vertx.pgclient", "hibernate", "nullpointerexception", "file \"/", "syntax error at or near",
            "duplicate key value", "violates foreign key", "violates unique constraint", "relation \"");
    private static final Pattern SQL = Pattern.compile(
            "\\b(select\\s+.+\\s+from|insert\\s+into|update\\s+\\S+\\s+set|delete\\s+from)\\b",
            Pattern.CASE_INSENSITIVE | Pattern.DOTALL);
    private static final int MAX_LENGTH = 500;

    private Sanitizer() {
    }

    public static boolean looksInternal(String text) {
        if (text == null) {
            return false;
        }
        String lower = text.toLowerCase(Locale.ROOT);
        for (String marker : MARKERS) {
            if (lower.contains(marker)) {
                return true;
            }
        }
        return SQL.matcher(text).find();
    }

    /** The text itself when it is safe and short, otherwise the fallback. */
    public static String safeMessage(String text, String fallback) {
        if (text == null || text.isBlank() || looksInternal(text) || text.length() > MAX_LENGTH) {
            return fallback;
        }
        return text;
    }
}
