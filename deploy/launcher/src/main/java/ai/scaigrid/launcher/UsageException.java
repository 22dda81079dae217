package ai.scaigrid.launcher;

/** A wrong flag, environment variable or combination of them; the message says what to change. */
final class UsageException extends Exception {
    UsageException(String message) {
        super(message);
    }
}
