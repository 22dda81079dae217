package ai.scaigrid.commons.error;

import ai.scaigrid.commons.api.NulFreeStrings;
import io.vertx.sqlclient.DatabaseException;
import org.jboss.logging.Logger;

import java.util.List;
import java.util.Map;

/**
 * A value from the request that the database refused to store or compare is the caller's error, not
 * ours: PostgreSQL's "data exception" class ({@code 22xxx}: a NUL character in text, a malformed
 * number or date, a value out of range) and "program limit exceeded" class ({@code 54xxx}: a value
 * too large for an index) become {@code 400 VALIDATION_ERROR} with a plain message, never the
 * database's own text. Everything else stays an internal error.
 * <p>
 * The SQL client is optional on the class path (node-agent has no database), so its exception type
 * is only touched when it is present.
 */
public final class DataErrors {
    private static final Logger LOG = Logger.getLogger(DataErrors.class);
    private static final boolean SQL_CLIENT = present("io.vertx.sqlclient.DatabaseException");

    private DataErrors() {
    }

    /** The caller-facing error for {@code failure} (or one of its causes), or null when it is not a data error. */
    public static ApiException asValidationError(Throwable failure) {
        if (!SQL_CLIENT) {
            return null;
        }
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String state = SqlState.of(t);
            if (state != null) {
                String message = message(state);
                if (message == null) {
                    return null;
                }
                LOG.debugf("database refused a request value (SQLSTATE %s): %s", state, t.getMessage());
                return new ApiException(ErrorCode.VALIDATION_ERROR, message, List.of(Map.of("field", "request", "message", message)));
            }
        }
        return null;
    }

    /** The message for a SQLSTATE that a request value can cause, or null for one it cannot. */
    static String message(String sqlState) {
        if (sqlState == null || sqlState.length() != 5) {
            return null;
        }
        return switch (sqlState) {
            case "22021", "22P05" -> NulFreeStrings.MESSAGE;
            case "22001" -> "A value is longer than the field allows";
            case "22003" -> "A number is out of range";
            case "22007", "22008" -> "A date or time value is not valid";
            case "22P02" -> "A value does not have the expected format";
            default -> sqlState.startsWith("22") ? "A value in the request is not valid"
                    : sqlState.startsWith("54") ? "A value in the request is too large" : null;
        };
    }

    private static boolean present(String className) {
        try {
            Class.forName(className, false, DataErrors.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** Loaded only when the SQL client is on the class path. */
    private static final class SqlState {
        static String of(Throwable t) {
            return t instanceof DatabaseException db ? db.getSqlState() : null;
        }
    }
}
