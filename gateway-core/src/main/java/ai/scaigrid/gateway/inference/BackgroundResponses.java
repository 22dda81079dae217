package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.scheduler.Scheduled;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.Cancellable;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Background responses ({@code background: true}): admitted like any request (permissions, limits, budgets), stored
 * as {@code in_progress} and answered {@code queued} at once; the chat completion then runs apart from the request
 * (the client may go away) and its answer is stored when it ends, for {@code GET /responses/{id}}.
 *
 * <p>The replica running a response touches its row every {@code scaigrid.responses.background-check} (2 s), and
 * learns so that it was cancelled or deleted meanwhile, on whichever replica: then it cancels the upstream call.
 * A response whose replica died is failed by the sweep once untouched for {@code scaigrid.responses.background-stale}
 * (1 min); one running while its replica shuts down is failed at once.
 */
@ApplicationScoped
public class BackgroundResponses {
    private static final Logger LOG = Logger.getLogger(BackgroundResponses.class);
    private static final String RUNNING = "status IN ('queued', 'in_progress')";

    @Inject
    Pool pool;

    @Inject
    ObjectMapper mapper;

    @Inject
    InferencePipeline pipeline;

    @Inject
    StoredResponses stored;

    @Inject
    InferenceRoutes http;

    @ConfigProperty(name = "scaigrid.responses.background-stale", defaultValue = "1m")
    Duration stale;

    /** The responses this replica runs: their exchange and upstream call. */
    private final Map<String, Running> running = new ConcurrentHashMap<>();

    @Inject
    ResponseEvents events;

    /**
     * A response running here: its exchange and upstream call; streamed, also its events ({@code log}) and their
     * framing. {@code ending} is taken by whoever ends it (its stream, a cancel, the shutdown), once.
     */
    private record Running(InferenceExchange ex, AtomicReference<Cancellable> call, ResponseEvents.Log log,
                           ResponsesApi.Stream framing, java.util.concurrent.atomic.AtomicBoolean ending) {
        Running(InferenceExchange ex) {
            this(ex, null, null);
        }

        Running(InferenceExchange ex, ResponseEvents.Log log, ResponsesApi.Stream framing) {
            this(ex, new AtomicReference<>(), log, framing, new java.util.concurrent.atomic.AtomicBoolean());
        }

        void cancel() {
            Cancellable c = call.get();
            if (c != null) {
                c.cancel();
            }
        }
    }

    /**
     * Stores an admitted background response as {@code in_progress} and starts it; the answer is the response as
     * queued. A failure to store it fails the request (its reservation released).
     */
    Uni<ObjectNode> start(InferenceExchange ex) {
        ResponsesApi.Turn turn = ex.responses;
        ObjectNode inProgress = ResponsesApi.skeleton(turn, System.currentTimeMillis() / 1000, ex.route.slug());
        inProgress.put("status", "in_progress");
        return stored.insert(pool, ex.caller, turn, inProgress, null, true)
                .onFailure().invoke(e -> pipeline.failed(ex, e))
                .map(r -> {
                    run(ex, inProgress);
                    return inProgress.deepCopy().put("status", "queued");
                });
    }

    private void run(InferenceExchange ex, ObjectNode inProgress) {
        ResponsesApi.Turn turn = ex.responses;
        Running r = new Running(ex);
        running.put(turn.id, r);
        r.call.set(pipeline.complete(ex)
                .flatMap(completion -> {
                    ObjectNode response = ResponsesApi.fromChat(turn, completion);
                    ObjectNode answer = ResponsesApi.answerMessage(response.get("output"),
                            completion.path("choices").path(0).path("message").get("thinking_blocks"));
                    return finish(turn, response, answer, null);
                })
                .onFailure().recoverWithUni(failure -> finish(turn, failed(inProgress,
                        InferencePipeline.toApiException(failure)), null, null))
                .onTermination().invoke(() -> ended(turn.id))
                .subscribe().with(done -> { }, failure -> LOG.warnf("background response %s: %s", turn.id, failure.toString())));
    }

    /**
     * Stores an admitted background response that is streamed ({@code stream} too) as {@code in_progress} and starts
     * it; its id once stored, for the client to {@linkplain ResponseEvents#follow follow} its events (which its going
     * away does not stop). A failure to store it fails the request (its reservation released).
     */
    Uni<String> startStreamed(InferenceExchange ex) {
        ResponsesApi.Turn turn = ex.responses;
        long createdAt = System.currentTimeMillis() / 1000;
        ObjectNode inProgress = ResponsesApi.skeleton(turn, createdAt, ex.route.slug());
        return stored.insert(pool, ex.caller, turn, inProgress, null, true)
                .onFailure().invoke(e -> pipeline.failed(ex, e))
                .map(v -> {
                    runStreamed(ex, createdAt);
                    return turn.id;
                });
    }

    private void runStreamed(InferenceExchange ex, long createdAt) {
        ResponsesApi.Turn turn = ex.responses;
        ResponseEvents.Log log = events.open(turn.id);
        Running r = new Running(ex, log, new ResponsesApi.Stream(turn, log::append));
        running.put(turn.id, r);
        synchronized (log) {
            r.framing.begin(createdAt, ex.route.slug());
        }
        log.publish();
        Multi<ObjectNode> chunks;
        try {
            chunks = pipeline.stream(ex);
        } catch (RuntimeException e) {
            chunks = Multi.createFrom().failure(e);
        }
        r.call.set(chunks
                .onItem().invoke(chunk -> {
                    synchronized (log) {
                        r.framing.onChunk(chunk);
                    }
                    log.publish();
                })
                .subscribe().with(chunk -> { }, failure -> endStreamed(r, failure), () -> endStreamed(r, null)));
    }

    /**
     * A streamed response's chat stream ended ({@code failure} null: whole): its last events ({@code response.completed},
     * or {@code response.failed} and {@code error}) are stored with it, then shown to its followers.
     */
    private void endStreamed(Running r, Throwable failure) {
        if (!r.ending.compareAndSet(false, true)) {
            return;
        }
        ResponsesApi.Turn turn = r.ex.responses;
        ObjectNode response;
        JsonNode answer = null;
        try {
            synchronized (r.log) {
                if (failure == null) {
                    response = r.framing.finish();
                    answer = r.framing.answer();
                    r.framing.completed(true);
                } else {
                    ApiException e = InferencePipeline.toApiException(failure);
                    response = r.framing.onFailure(e, http.oaiError(e));
                }
            }
        } catch (RuntimeException e) {
            LOG.warnf(e, "ending background response %s failed", turn.id);
            r.log.end(false);
            ended(turn.id);
            return;
        }
        // unstored (cancelled meanwhile), its last events are not shown: the stream ends as the cancel left it
        finish(turn, response, answer, r.log).subscribe().with(storedAsEnded -> {
            r.log.end(storedAsEnded);
            ended(turn.id);
        });
    }

    /**
     * The response as failed with {@code e}: the sanitised message, and a code from OpenAI's list for a response's
     * error ({@code server_error} for the gateway's and the backends' failures, else the request error's own code).
     */
    private ObjectNode failed(ObjectNode response, ApiException e) {
        ObjectNode out = response.deepCopy().put("status", "failed");
        out.putObject("error").put("code", ResponsesApi.errorCode(e, http.oaiError(e))).put("message", e.getMessage());
        return out;
    }

    /**
     * Stores how a running response ended, unless it was cancelled or deleted meanwhile; in the same transaction, a
     * streamed one's last events ({@code log}; null when not streamed) and a finished one's turn, when made in a
     * conversation. True when stored; false when it was cancelled or deleted meanwhile, or on a database failure
     * (logged).
     */
    private Uni<Boolean> finish(ResponsesApi.Turn turn, ObjectNode response, JsonNode answer, ResponseEvents.Log log) {
        return pool.withTransaction(conn -> Uni.createFrom().deferred(() -> conn.preparedQuery("UPDATE oai_responses SET status = $2, "
                                + "response = $3::text::json, context = $4::text::json, updated_at = now() WHERE id = $1 AND " + RUNNING)
                        .execute(Tuple.of(turn.id, response.path("status").asText(), stored.json(response),
                                stored.json(StoredResponses.context(turn, answer)))))
                        .flatMap(updated -> updated.rowCount() != 1 ? Uni.createFrom().item(false)
                                : (log == null ? Uni.createFrom().voidItem() : log.persistRest(conn))
                                        .flatMap(v -> stored.joinConversation(conn, turn, response, answer))
                                        .map(v -> true)))
                .onFailure().recoverWithItem(e -> {
                    LOG.warnf("storing background response %s failed: %s", turn.id, e.toString());
                    return false;
                });
    }

    /**
     * {@code POST /responses/{id}/cancel}: a running background response becomes {@code cancelled} (its upstream call
     * is cancelled here, or by its replica within a check); a finished one is returned as it is; a response that
     * did not run in the background cannot be cancelled (409).
     */
    Uni<JsonNode> cancel(Caller caller, String id) {
        Tuple owner = Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller));
        return pool.preparedQuery("SELECT status, background, response::text AS response FROM oai_responses "
                        + "WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND expires_at > now()")
                .execute(owner)
                .flatMap(rows -> {
                    if (rows.size() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "No response with id '" + id + "'");
                    }
                    Row r = rows.iterator().next();
                    if (!r.getBoolean("background")) {
                        throw new ApiException(ErrorCode.CONFLICT, "Only background responses can be cancelled; response '" + id
                                + "' is " + r.getString("status"));
                    }
                    ObjectNode response = (ObjectNode) read(r.getString("response"));
                    if (!"in_progress".equals(r.getString("status")) && !"queued".equals(r.getString("status"))) {
                        return Uni.createFrom().item((JsonNode) response);
                    }
                    ObjectNode cancelled = response.put("status", "cancelled");
                    return pool.preparedQuery("UPDATE oai_responses SET status = 'cancelled', response = $4::text::json, updated_at = now() "
                                    + "WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND " + RUNNING)
                            .execute(Tuple.of(owner.getString(0), owner.getString(1), owner.getString(2), cancelled.toString()))
                            .flatMap(updated -> {
                                if (updated.rowCount() == 0) {
                                    return cancel(caller, id); // it ended meanwhile: as it ended
                                }
                                stopHere(id);
                                return Uni.createFrom().item((JsonNode) cancelled);
                            });
                });
    }

    /** Cancels the upstream call of a response this replica runs (no-op otherwise); its usage record says cancelled. */
    private void stopHere(String id) {
        Running r = running.get(id);
        if (r != null) {
            r.cancel();
            pipeline.cancelled(r.ex);
            if (r.log != null && r.ending.compareAndSet(false, true)) {
                r.log.end(false); // its followers get what was published, then the end of the stream
                ended(id);
            }
        }
    }

    /**
     * Touches the rows of the responses running here; one that is no longer running (cancelled or deleted, on any
     * replica) is stopped. Costs nothing while none runs.
     */
    @Scheduled(every = "${scaigrid.responses.background-check:2s}", concurrentExecution = Scheduled.ConcurrentExecution.SKIP)
    Uni<Void> check() {
        if (running.isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        String[] ids = running.keySet().toArray(String[]::new);
        return pool.preparedQuery("UPDATE oai_responses SET updated_at = now() WHERE id = ANY($1) AND " + RUNNING + " RETURNING id")
                .execute(Tuple.of(ids))
                .map(rows -> {
                    java.util.Set<String> live = new java.util.HashSet<>();
                    rows.forEach(r -> live.add(r.getString("id")));
                    for (String id : ids) {
                        if (!live.contains(id)) {
                            stopHere(id);
                        }
                    }
                    return (Void) null;
                })
                .onFailure().recoverWithItem(e -> {
                    LOG.warnf("checking background responses failed: %s", e.toString());
                    return null;
                });
    }

    /** Fails background responses left running by a replica that died (untouched for {@code stale}). */
    @Scheduled(every = "${scaigrid.responses.background-sweep:1m}", delayed = "30s",
            concurrentExecution = Scheduled.ConcurrentExecution.SKIP)
    Uni<Void> sweep() {
        return pool.preparedQuery("SELECT id, response::text AS response FROM oai_responses WHERE background AND " + RUNNING
                        + " AND updated_at < now() - make_interval(secs => $1) LIMIT 500")
                .execute(Tuple.of(stale.toSeconds()))
                .flatMap(rows -> {
                    Uni<Void> chain = Uni.createFrom().voidItem();
                    for (Row r : rows) {
                        if (running.containsKey(r.getString("id"))) {
                            continue;
                        }
                        ObjectNode lost = failed((ObjectNode) read(r.getString("response")), new ApiException(ErrorCode.INTERNAL_ERROR,
                                "The gateway running this response stopped before it finished; create it again"));
                        chain = chain.flatMap(v -> pool.preparedQuery("UPDATE oai_responses SET status = 'failed', "
                                        + "response = $2::text::json, updated_at = now() WHERE id = $1 AND " + RUNNING
                                        + " AND updated_at < now() - make_interval(secs => $3)")
                                .execute(Tuple.of(r.getString("id"), lost.toString(), stale.toSeconds())).replaceWithVoid());
                    }
                    return chain;
                })
                .onFailure().recoverWithItem(e -> {
                    LOG.warnf("sweeping background responses failed: %s", e.toString());
                    return null;
                });
    }

    /**
     * A stopping replica fails what it still runs after the drain ({@link #awaitIdle}), so that nobody polls it for
     * the sweep's minute. Before the usage
     * recorder's last flush (an earlier priority), so that the records of the calls it cancels are written.
     */
    void stop(@Observes @jakarta.annotation.Priority(jakarta.interceptor.Interceptor.Priority.APPLICATION) ShutdownEvent event) {
        List<Running> left = List.copyOf(running.values());
        for (Running r : left) {
            r.cancel();
            pipeline.cancelled(r.ex);
            ResponsesApi.Turn turn = r.ex.responses;
            ApiException stopped = new ApiException(ErrorCode.SERVICE_UNAVAILABLE,
                    "The gateway stopped before this response finished; create it again");
            try {
                if (r.log != null) {
                    if (!r.ending.compareAndSet(false, true)) {
                        continue; // its stream is being stored as it ended
                    }
                    ObjectNode response;
                    synchronized (r.log) {
                        response = r.framing.onFailure(stopped, http.oaiError(stopped));
                    }
                    r.log.end(finish(turn, response, null, r.log).await().atMost(Duration.ofSeconds(5)));
                    continue;
                }
                ObjectNode response = ResponsesApi.skeleton(turn, System.currentTimeMillis() / 1000, r.ex.route.slug());
                finish(turn, failed(response, stopped), null, null)
                        .await().atMost(Duration.ofSeconds(5));
            } catch (RuntimeException e) {
                LOG.warnf("failing background response %s at shutdown failed: %s", turn.id, e.toString());
            }
        }
        running.clear();
    }

    private final Object idle = new Object();

    /** A response stopped running here (stored as it ended, or cancelled). */
    private void ended(String id) {
        running.remove(id);
        if (running.isEmpty()) {
            synchronized (idle) {
                idle.notifyAll();
            }
        }
    }

    /**
     * Waits up to {@code timeout} until no background response runs here: a draining replica lets them finish, as it
     * does its streams. True when none is left. Blocks: the shutdown thread (and tests) only.
     */
    public boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (idle) {
            while (!running.isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                idle.wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }

    /** Background responses running on this replica (tests read it). */
    public int runningHere() {
        return running.size();
    }

    private JsonNode read(String json) {
        return StoredResponses.read(mapper, json);
    }
}
