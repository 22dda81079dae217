package ai.scaigrid.lookup;

import org.jboss.logmanager.ExtLogRecord;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** Collects what the service logs while open (level and formatted message), for assertions on logging. */
final class LogCapture extends Handler implements AutoCloseable {
    record Line(Level level, String logger, String message) {
    }

    private final List<Line> lines = new CopyOnWriteArrayList<>();
    private final Logger root = Logger.getLogger("");

    LogCapture() {
        setLevel(Level.ALL);
        root.addHandler(this);
    }

    List<Line> lines() {
        return lines;
    }

    @Override
    public void publish(LogRecord record) {
        String message = record instanceof ExtLogRecord ext ? ext.getFormattedMessage() : String.valueOf(record.getMessage());
        if (record.getThrown() != null) {
            message += " " + record.getThrown();
        }
        lines.add(new Line(record.getLevel(), record.getLoggerName(), message));
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        root.removeHandler(this);
    }
}
