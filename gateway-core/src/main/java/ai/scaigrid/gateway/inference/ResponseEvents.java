package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Uni;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.SqlClient;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The events of streamed background responses ({@code background} and {@code stream}). The replica running one keeps
 * them in memory ({@link Log}) and writes them to {@code oai_response_events} in small batches (every
 * {@code scaigrid.responses.event-flush}, 200 ms), the last ones in the transaction that stores how it ended. A client
 * follows a response's events with {@link #follow}, from the start or after a sequence number (OpenAI's
 * {@code GET /responses/{id}?stream=true&starting_after=N}): from the log on the replica running it, as they come; from
 * the table anywhere else, polled every {@code scaigrid.responses.stream-poll} (250 ms) while it runs, and once it has
 * ended. A follower that goes away stops nothing: the response runs on.
 */
@ApplicationScoped
public class ResponseEvents {
    private static final Logger LOG = Logger.getLogger(ResponseEvents.class);
    /** Events that end a response's stream: nothing follows them but, after {@code response.failed}, {@code error}. */
    private static final Set<String> LAST = Set.of("response.completed", "response.incomplete", "response.failed", "error");
    /** Events a follower writes in one go; more wait until those are written. */
    private static final int PAGE = 500;

    @Inject
    Pool pool;

    @Inject
    ObjectMapper mapper;

    @Inject
    io.vertx.core.Vertx vertx;

    @Inject
    InferenceRoutes http;

    @ConfigProperty(name = "scaigrid.responses.event-flush", defaultValue = "200ms")
    Duration flushEvery;

    @ConfigProperty(name = "scaigrid.responses.stream-poll", defaultValue = "250ms")
    Duration pollEvery;

    /** The logs of the streamed responses running here, by response id. */
    private final Map<String, Log> logs = new ConcurrentHashMap<>();

    /** One event: its sequence number, its type and the event as JSON (written once, sent and stored as it is). */
    record Event(int sequence, String type, String json) {
    }

    /** Opens the log of a streamed response about to run here. */
    Log open(String id) {
        Log log = new Log(id);
        logs.put(id, log);
        return log;
    }

    /**
     * A running response's events, in order (an event's sequence number is its index). Events are appended unseen and
     * {@linkplain #publish published} to followers in steps, so that a response's last events reach them only once
     * they are stored with it.
     */
    final class Log {
        final String id;
        private final List<Event> events = new ArrayList<>();
        private final List<Follower> followers = new ArrayList<>();
        private int visible;
        private int persisted;
        private boolean ended;
        private boolean flushPending;

        private Log(String id) {
            this.id = id;
        }

        /** Adds an event, unseen until {@link #publish}. */
        synchronized void append(String type, ObjectNode event) {
            try {
                events.add(new Event(events.size(), type, mapper.writeValueAsString(event)));
            } catch (Exception e) {
                throw new IllegalStateException("a response event could not be written as JSON", e);
            }
        }

        /** Shows what was appended to the followers, and has it written to the table soon. */
        void publish() {
            List<Follower> wake;
            synchronized (this) {
                if (ended || visible == events.size()) {
                    return;
                }
                visible = events.size();
                wake = List.copyOf(followers);
                if (!flushPending) {
                    flushPending = true;
                    vertx.setTimer(Math.max(1, flushEvery.toMillis()), t -> flush());
                }
            }
            wake.forEach(Follower::wake);
        }

        /**
         * The response ended: {@code all} shows every appended event first (its last events are stored), else what was
         * published stays the end (it was cancelled, or could not be stored). Followers end once they have it all; the
         * log is no longer found here, and what is left unwritten is written.
         */
        void end(boolean all) {
            List<Follower> wake;
            synchronized (this) {
                if (ended) {
                    return;
                }
                if (all) {
                    visible = events.size();
                }
                ended = true;
                wake = List.copyOf(followers);
            }
            logs.remove(id, this);
            wake.forEach(Follower::wake);
            flush();
        }

        /** Writes the published events not written yet (a response deleted meanwhile has none: its rows are gone). */
        private void flush() {
            List<Event> batch;
            synchronized (this) {
                flushPending = false;
                batch = persisted >= visible ? List.of() : List.copyOf(events.subList(persisted, visible));
            }
            if (!batch.isEmpty()) {
                persist(pool, batch).subscribe().with(v -> { },
                        e -> LOG.debugf("writing the events of response %s failed: %s", id, e.toString()));
            }
        }

        /** Writes every event not written yet (published or not), in {@code conn}: the transaction storing the response's end. */
        Uni<Void> persistRest(SqlClient conn) {
            List<Event> batch;
            synchronized (this) {
                batch = persisted >= events.size() ? List.of() : List.copyOf(events.subList(persisted, events.size()));
            }
            return batch.isEmpty() ? Uni.createFrom().voidItem() : persist(conn, batch);
        }

        private Uni<Void> persist(SqlClient client, List<Event> batch) {
            Integer[] sequences = new Integer[batch.size()];
            String[] types = new String[batch.size()];
            String[] jsons = new String[batch.size()];
            for (int i = 0; i < batch.size(); i++) {
                sequences[i] = batch.get(i).sequence();
                types[i] = batch.get(i).type();
                jsons[i] = batch.get(i).json();
            }
            int upTo = sequences[sequences.length - 1] + 1;
            // a timed flush and the last one may overlap: what one of them wrote, the other skips
            return client.preparedQuery("INSERT INTO oai_response_events (response_id, sequence_number, type, event) "
                            + "SELECT $1, s, t, e FROM unnest($2::int[], $3::text[], $4::text[]) AS u(s, t, e) ON CONFLICT DO NOTHING")
                    .execute(Tuple.of(id, sequences, types, jsons))
                    .invoke(rows -> {
                        synchronized (this) {
                            persisted = Math.max(persisted, upTo);
                        }
                    })
                    .replaceWithVoid();
        }

        /** The published events after {@code cursor}, at most {@link #PAGE}; whether more are published; whether it ended. */
        private synchronized Slice after(int cursor) {
            int from = Math.max(0, cursor + 1);
            int to = Math.min(visible, from + PAGE);
            List<Event> out = from >= to ? List.of() : List.copyOf(events.subList(from, to));
            return new Slice(out, to < visible, ended && to >= visible);
        }

        private synchronized void attach(Follower f) {
            followers.add(f);
        }

        private synchronized void detach(Follower f) {
            followers.remove(f);
        }
    }

    private record Slice(List<Event> events, boolean more, boolean ended) {
    }

    /**
     * Streams the events of response {@code id} after sequence number {@code after} (-1: all) to the client as SSE,
     * on {@code context} (the request's); {@code headers} adds the request's own headers. The caller has checked that
     * the response is the client's and was streamed in the background.
     */
    void follow(RoutingContext rc, io.vertx.core.Context context, String id, int after, Consumer<HttpServerResponse> headers) {
        HttpServerResponse response = rc.response();
        headers.accept(response);
        InferenceRoutes.eventStreamHead(response);
        new Follower(rc, context, id, after, logs.get(id)).start();
    }

    /** One client following a response's events: all its work runs on the request's context. */
    private final class Follower {
        private final RoutingContext rc;
        private final io.vertx.core.Context context;
        private final String id;
        /** The response's log when it runs here; null: it is followed in the table. */
        private final Log log;
        /** The last sequence number written (or skipped, {@code starting_after}). */
        private int cursor;
        private boolean scheduled;
        private boolean awaitingDrain;
        private boolean done;
        private long lastWrite = System.nanoTime();
        private long keepAliveTimer = -1;
        private long pollTimer = -1;

        Follower(RoutingContext rc, io.vertx.core.Context context, String id, int after, Log log) {
            this.rc = rc;
            this.context = context;
            this.id = id;
            this.cursor = after;
            this.log = log;
        }

        void start() {
            rc.response().closeHandler(v -> context.runOnContext(x -> close()));
            Duration keepAlive = http.sseKeepAlive(); // through the bean's proxy: a method, not its field
            long every = keepAlive == null ? 0 : keepAlive.toMillis();
            if (every > 0) {
                keepAliveTimer = vertx.setPeriodic(every, t -> context.runOnContext(v -> keepAlive(every)));
            }
            rc.response().write(Buffer.buffer()); // the head now: the client knows it is connected before the first event
            if (log != null) {
                log.attach(this);
                wake();
            } else {
                poll();
            }
        }

        /** New events in the log, or its end (any thread). */
        void wake() {
            synchronized (this) {
                if (scheduled) {
                    return;
                }
                scheduled = true;
            }
            context.runOnContext(v -> pump());
        }

        private void pump() {
            synchronized (this) {
                scheduled = false;
            }
            if (done || awaitingDrain) {
                return;
            }
            Slice slice = log.after(cursor);
            write(slice.events());
            if (slice.ended()) {
                end();
            } else if (slice.more()) {
                afterDrain(this::wake);
            }
        }

        /** Reads the next events from the table; once the response has ended there, the last ones, and ends. */
        private void poll() {
            pollTimer = -1;
            if (done) {
                return;
            }
            pool.preparedQuery("SELECT status, response::text AS response FROM oai_responses WHERE id = $1")
                    .execute(Tuple.of(id))
                    .flatMap(rows -> {
                        Row row = rows.size() == 0 ? null : rows.iterator().next();
                        // read after the status: a response's last events are committed with its end
                        return pool.preparedQuery("SELECT sequence_number, type, event FROM oai_response_events WHERE response_id = $1 "
                                        + "AND sequence_number > $2 ORDER BY sequence_number LIMIT " + PAGE)
                                .execute(Tuple.of(id, cursor))
                                .map(events -> {
                                    List<Event> out = new ArrayList<>(events.size());
                                    for (Row e : events) {
                                        out.add(new Event(e.getInteger("sequence_number"), e.getString("type"), e.getString("event")));
                                    }
                                    return new Polled(row == null ? null : row.getString("status"),
                                            row == null ? null : row.getString("response"), out);
                                });
                    })
                    .subscribe().with(p -> context.runOnContext(v -> polled(p)), failure -> context.runOnContext(v -> {
                        LOG.warnf("following the events of response %s failed: %s", id, failure.toString());
                        broken();
                    }));
        }

        private void polled(Polled p) {
            if (done) {
                return;
            }
            write(p.events());
            if (p.events().size() == PAGE) {
                afterDrain(this::poll);
                return;
            }
            if (p.status() == null) {
                end(); // deleted meanwhile
                return;
            }
            if (!"queued".equals(p.status()) && !"in_progress".equals(p.status())) {
                endAs(p.status(), p.response());
                return;
            }
            pollTimer = vertx.setTimer(Math.max(1, pollEvery.toMillis()), t -> context.runOnContext(v -> poll()));
        }

        /**
         * The response ended as {@code status} in the table. When its stream has no last event (the replica running
         * it stopped, and the sweep failed it), the follower ends it with the stored response, as
         * {@code response.<status>}; a cancelled response's stream just ends.
         */
        private void endAs(String status, String stored) {
            if (!Set.of("completed", "incomplete", "failed").contains(status)) {
                end();
                return;
            }
            pool.preparedQuery("SELECT sequence_number, type FROM oai_response_events WHERE response_id = $1 "
                            + "ORDER BY sequence_number DESC LIMIT 1")
                    .execute(Tuple.of(id))
                    .subscribe().with(rows -> context.runOnContext(v -> {
                        if (done) {
                            return;
                        }
                        Row last = rows.size() == 0 ? null : rows.iterator().next();
                        int next = last == null ? 0 : last.getInteger("sequence_number") + 1;
                        if ((last == null || !LAST.contains(last.getString("type"))) && next > cursor) {
                            try {
                                String type = "response." + status;
                                ObjectNode event = mapper.createObjectNode().put("type", type).put("sequence_number", next);
                                event.set("response", StoredResponses.read(mapper, stored));
                                write(List.of(new Event(next, type, mapper.writeValueAsString(event))));
                            } catch (Exception e) {
                                LOG.warnf("ending the events of response %s failed: %s", id, e.toString());
                            }
                        }
                        end();
                    }), failure -> context.runOnContext(v -> broken()));
        }

        private void write(List<Event> events) {
            if (events.isEmpty()) {
                return;
            }
            HttpServerResponse response = rc.response();
            if (response.closed() || response.ended()) {
                close();
                return;
            }
            Buffer out = Buffer.buffer(events.size() * 128);
            for (Event e : events) {
                InferenceRoutes.appendEvent(out, e.type(), e.json().getBytes(StandardCharsets.UTF_8));
                cursor = e.sequence();
            }
            response.write(out);
            lastWrite = System.nanoTime();
        }

        /** Runs {@code next} now, or once the client has taken what is queued for it. */
        private void afterDrain(Runnable next) {
            HttpServerResponse response = rc.response();
            if (!response.writeQueueFull()) {
                next.run();
                return;
            }
            awaitingDrain = true;
            response.drainHandler(v -> {
                awaitingDrain = false;
                next.run();
            });
        }

        private void keepAlive(long everyMillis) {
            if (!done && System.nanoTime() - lastWrite >= everyMillis * 1_000_000L) {
                HttpServerResponse response = rc.response();
                if (!response.closed() && !response.ended()) {
                    response.write(InferenceRoutes.KEEP_ALIVE.copy());
                    lastWrite = System.nanoTime();
                }
            }
        }

        private void end() {
            HttpServerResponse response = rc.response();
            close();
            if (!response.closed() && !response.ended()) {
                response.end();
            }
        }

        /** The table could not be read: the connection is reset, so that the client does not take the stream as complete. */
        private void broken() {
            close();
            rc.response().reset();
        }

        private void close() {
            done = true;
            if (log != null) {
                log.detach(this);
            }
            if (keepAliveTimer >= 0) {
                vertx.cancelTimer(keepAliveTimer);
                keepAliveTimer = -1;
            }
            if (pollTimer >= 0) {
                vertx.cancelTimer(pollTimer);
                pollTimer = -1;
            }
        }
    }

    private record Polled(String status, String response, List<Event> events) {
    }
}
