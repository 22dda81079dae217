package ai.scaigrid.launcher;

/** Start-up cannot go on; the message is shown to the user as it is. */
final class LauncherException extends Exception {
    LauncherException(String message) {
        super(message);
    }

    LauncherException(String message, Throwable cause) {
        super(message, cause);
    }
}
