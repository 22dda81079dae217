package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CredentialType;
import ai.scaigrid.gateway.identity.ApiKeys;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.SqlClient;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Works off open batches ({@link OaiBatchRoutes}): every poll interval this replica leases the open batch that
 * waited longest (a row lock with SKIP LOCKED and a lease, so replicas share the work and a crashed replica's
 * batch is taken over when its lease ends), then validates its input file, or runs up to
 * {@code lines-per-round} of its lines through the inference pipeline as the batch's creator, a few at a time,
 * or finishes it. Every answered line is stored at once, so no line runs twice after a restart; a line refused
 * by a rate limit waits for a later round. A batch past its 24 hours expires with what was done.
 */
@ApplicationScoped
public class BatchRunner {
    private static final Logger LOG = Logger.getLogger(BatchRunner.class);

    @Inject
    Vertx vertx;

    @Inject
    Pool pool;

    @Inject
    InferencePipeline pipeline;

    @Inject
    InferenceRoutes http;

    @Inject
    StoredResponses storedResponses;

    @Inject
    ObjectMapper mapper;

    @Inject
    ai.scaigrid.gateway.health.Drain drain;

    @ConfigProperty(name = "scaigrid.batches.enabled", defaultValue = "true")
    boolean enabled;

    @ConfigProperty(name = "scaigrid.batches.poll-interval", defaultValue = "1s")
    Duration pollInterval;

    /** Lines of one batch in flight at once on this replica. */
    @ConfigProperty(name = "scaigrid.batches.concurrency", defaultValue = "4")
    int concurrency;

    @ConfigProperty(name = "scaigrid.batches.lines-per-round", defaultValue = "100")
    int linesPerRound;

    @ConfigProperty(name = "scaigrid.batches.lease", defaultValue = "10m")
    Duration lease;

    private final String replica = ApiKeys.newId("replica");
    private final AtomicBoolean busy = new AtomicBoolean();
    /** Parsed input files of the batches this replica works on, so a round does not parse the file again. */
    private final Map<String, BatchLines.Parsed> parsed = java.util.Collections.synchronizedMap(
            new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, BatchLines.Parsed> eldest) {
                    return size() > 8;
                }
            });
    private long timer = -1;

    void start(@Observes StartupEvent event) {
        if (enabled) {
            timer = vertx.setPeriodic(pollInterval.toMillis(), id -> poll());
        }
    }

    void stop(@Observes ShutdownEvent event) {
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
    }

    /** One round at a time on this replica; a round that finds nothing to do costs one query. */
    void poll() {
        if (drain.draining() || !busy.compareAndSet(false, true)) {
            // a draining replica takes no new round: its leases run out and another replica goes on
            return;
        }
        round().subscribe().with(worked -> {
            busy.set(false);
            if (worked) {
                vertx.runOnContext(v -> poll()); // more may wait: no need to sleep a whole interval
            }
        }, failure -> {
            busy.set(false);
            LOG.warnf(failure, "a batch round failed; the batch is tried again when its lease ends");
        });
    }

    /** Leases one open batch and moves it on; true when there was one. */
    Uni<Boolean> round() {
        return pool.preparedQuery("""
                        UPDATE oai_batches SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond'
                        WHERE id = (SELECT id FROM oai_batches
                                    WHERE status IN ('validating', 'in_progress', 'cancelling')
                                      AND (lease_until IS NULL OR lease_until < now())
                                    ORDER BY coalesce(lease_until, '-infinity'::timestamptz), created_at
                                    LIMIT 1 FOR UPDATE SKIP LOCKED)
                        RETURNING *, expires_at < now() AS expired""")
                .execute(Tuple.of(replica, lease.toMillis()))
                .flatMap(rows -> {
                    if (rows.size() == 0) {
                        return Uni.createFrom().item(false);
                    }
                    Row b = rows.iterator().next();
                    String status = b.getString("status");
                    Uni<Void> step;
                    if ("cancelling".equals(status)) {
                        step = finish(b, "cancelled");
                    } else if (Boolean.TRUE.equals(b.getBoolean("expired"))) {
                        step = finish(b, "expired");
                    } else if ("validating".equals(status)) {
                        step = validate(b);
                    } else {
                        step = run(b);
                    }
                    return step.replaceWith(true);
                });
    }

    private Uni<BatchLines.Parsed> lines(Row b) {
        BatchLines.Parsed known = parsed.get(b.getString("id"));
        if (known != null) {
            return Uni.createFrom().item(known);
        }
        return pool.preparedQuery("SELECT content FROM oai_files WHERE id = $1").execute(Tuple.of(b.getString("input_file_id")))
                .flatMap(rows -> {
                    if (rows.size() == 0) {
                        return Uni.createFrom().nullItem(); // deleted since
                    }
                    Buffer content = rows.iterator().next().getBuffer("content").getDelegate();
                    // up to 50,000 lines: parsed on a worker, not on the event loop
                    return Uni.createFrom().item(() -> {
                        BatchLines.Parsed p = BatchLines.parse(mapper, content, b.getString("endpoint"));
                        if (p.problems().isEmpty()) {
                            parsed.put(b.getString("id"), p);
                        }
                        return p;
                    }).runSubscriptionOn(io.smallrye.mutiny.infrastructure.Infrastructure.getDefaultWorkerPool());
                });
    }

    private Uni<Void> validate(Row b) {
        return lines(b).flatMap(p -> {
            if (p == null || !p.problems().isEmpty()) {
                List<Map<String, Object>> problems = p == null
                        ? List.of(Map.of("code", "invalid_request", "message", "the input file was deleted")) : p.problems();
                return fail(b, problems);
            }
            // a batch cancelled meanwhile stays cancelling; either way the lease ends now, so the next round moves it on
            return pool.preparedQuery("""
                            UPDATE oai_batches SET total = $2, lease_until = now(),
                                status = CASE WHEN status = 'validating' THEN 'in_progress' ELSE status END,
                                in_progress_at = CASE WHEN status = 'validating' THEN now() ELSE in_progress_at END
                            WHERE id = $1""")
                    .execute(Tuple.of(b.getString("id"), p.lines().size())).replaceWithVoid();
        });
    }

    private Uni<Void> fail(Row b, List<Map<String, Object>> problems) {
        JsonObject errors = new JsonObject().put("object", "list").put("data", new JsonArray(new ArrayList<>(problems)));
        return pool.preparedQuery("""
                        UPDATE oai_batches SET status = 'failed', failed_at = now(), errors = $2, lease_owner = NULL, lease_until = NULL
                        WHERE id = $1""")
                .execute(Tuple.of(b.getString("id"), errors)).replaceWithVoid()
                .invoke(() -> parsed.remove(b.getString("id")));
    }

    private Uni<Void> run(Row b) {
        String batchId = b.getString("id");
        Caller caller = callerOf(b.getValue("caller"));
        return stillValid(caller).flatMap(valid -> {
            if (!valid) {
                return fail(b, List.of(Map.of("code", "invalid_credential",
                        "message", "the credential that created the batch was revoked or has expired, or its user or tenant "
                                + "is no longer active")));
            }
            return lines(b).flatMap(p -> {
                if (p == null || !p.problems().isEmpty()) {
                    return fail(b, List.of(Map.of("code", "invalid_request", "message", "the input file was deleted")));
                }
                // the next lines not answered yet, found by PostgreSQL: a round reads at most lines-per-round rows back
                return pool.preparedQuery("""
                                SELECT g.i AS line FROM generate_series(0, $2 - 1) AS g(i)
                                WHERE NOT EXISTS (SELECT 1 FROM oai_batch_results r WHERE r.batch_id = $1 AND r.line = g.i)
                                ORDER BY g.i LIMIT $3""")
                        .execute(Tuple.of(batchId, p.lines().size(), linesPerRound))
                        .flatMap(open -> {
                            List<BatchLines.Line> pending = new ArrayList<>();
                            open.forEach(r -> pending.add(p.lines().get(r.getInteger("line"))));
                            if (pending.isEmpty()) {
                                return finish(b, "completed");
                            }
                            return Multi.createFrom().iterable(pending)
                                    .onItem().transformToUni(line -> answer(caller, b, line)).merge(Math.max(1, concurrency))
                                    .collect().asList()
                                    .flatMap(x -> pool.preparedQuery("""
                                                    UPDATE oai_batches b SET completed = c.ok, failed = c.not_ok, lease_until = now()
                                                    FROM (SELECT count(*) FILTER (WHERE ok) AS ok, count(*) FILTER (WHERE NOT ok) AS not_ok
                                                            FROM oai_batch_results WHERE batch_id = $1) c
                                                    WHERE b.id = $1""")
                                            .execute(Tuple.of(batchId)).replaceWithVoid());
                        });
            });
        });
    }

    /** Runs one line as the batch's creator and stores its answer; a rate-limited line is left for a later round. */
    private Uni<Void> answer(Caller caller, Row b, BatchLines.Line line) {
        String requestId = RequestIds.generate();
        String endpoint = OaiBatchRoutes.ENDPOINTS.get(line.url());
        ObjectNode body = line.body().deepCopy();
        String echo = "generate".equals(endpoint) ? InferenceRequests.echoText(body) : null;
        Uni<ObjectNode> call;
        if (body.path("stream").asBoolean(false)) {
            call = Uni.createFrom().failure(ApiException.validation("stream", "stream is not supported in a batch"));
        } else if ("responses".equals(endpoint)) {
            // a Responses request: stored and continued (previous_response_id) as over HTTP
            call = Uni.createFrom().deferred(() -> {
                ResponsesApi.Turn turn = new ResponsesApi.Turn(body);
                if (turn.background) {
                    throw ApiException.validation("background", "background is not supported in a batch: a batch runs in the background");
                }
                return storedResponses.chat(caller, turn)
                        .flatMap(chat -> pipeline.admit(caller, requestId, "batch", endpoint, chat, 0))
                        .flatMap(pipeline::complete)
                        .flatMap(completion -> storedResponses.respond(caller, turn, completion));
            });
        } else {
            call = Uni.createFrom().deferred(() -> pipeline.admit(caller, requestId, "batch", endpoint, body, 0))
                    .flatMap(ex -> "embed".equals(endpoint) ? pipeline.embed(ex)
                            : pipeline.complete(ex).map(c -> "generate".equals(endpoint) ? http.toTextCompletion(c, echo) : c));
        }
        return call.map(answer -> new LineResult(true, result(line, requestId, 200, answer)))
                .onFailure().recoverWithItem(failure -> {
                    ApiException e = InferencePipeline.toApiException(failure);
                    if (e.errorCode() == ErrorCode.RATE_LIMITED) {
                        return null;
                    }
                    return new LineResult(false, result(line, requestId, e.httpStatus(), http.oaiError(e)));
                })
                .flatMap(result -> result == null ? Uni.createFrom().voidItem() : pool.preparedQuery("""
                                INSERT INTO oai_batch_results (batch_id, line, ok, result) VALUES ($1, $2, $3, $4)
                                ON CONFLICT DO NOTHING""")
                        .execute(Tuple.of(b.getString("id"), line.index(), result.ok(), result.json()))
                        .replaceWithVoid());
    }

    private record LineResult(boolean ok, JsonObject json) {
    }

    /** OpenAI's output line: the request's answer (or error body) with its status and request id. */
    private static JsonObject result(BatchLines.Line line, String requestId, int status, ObjectNode body) {
        return new JsonObject().put("id", ApiKeys.newId("batch_req")).put("custom_id", line.customId())
                .put("response", new JsonObject().put("status_code", status).put("request_id", requestId)
                        .put("body", new JsonObject(body.toString())))
                .putNull("error");
    }

    /**
     * Ends a batch: its answered lines become the output file (2xx) and the error file (the rest; for an expired
     * batch also every line never run, as {@code batch_expired}), both in line order, in one transaction with the
     * batch's final status.
     */
    private Uni<Void> finish(Row b, String status) {
        String batchId = b.getString("id");
        // the requests themselves matter only to list an expired batch's unrun lines
        Uni<BatchLines.Parsed> requests = "expired".equals(status) ? lines(b) : Uni.createFrom().nullItem();
        return requests.flatMap(p -> pool.preparedQuery("SELECT line, ok, result FROM oai_batch_results WHERE batch_id = $1 ORDER BY line")
                .execute(Tuple.of(batchId)).flatMap(rows -> {
                    StringBuilder output = new StringBuilder();
                    StringBuilder errors = new StringBuilder();
                    Set<Integer> answered = new HashSet<>();
                    int ok = 0;
                    int failed = 0;
                    for (Row r : rows) {
                        answered.add(r.getInteger("line"));
                        JsonObject result = (JsonObject) r.getValue("result");
                        if (r.getBoolean("ok")) {
                            output.append(result.encode()).append('\n');
                            ok++;
                        } else {
                            errors.append(result.encode()).append('\n');
                            failed++;
                        }
                    }
                    if ("expired".equals(status) && p != null) {
                        for (BatchLines.Line line : p.lines()) {
                            if (!answered.contains(line.index())) {
                                errors.append(new JsonObject().put("id", ApiKeys.newId("batch_req"))
                                        .put("custom_id", line.customId()).putNull("response")
                                        .put("error", new JsonObject().put("code", "batch_expired")
                                                .put("message", "This request could not be executed before the completion window expired."))
                                        .encode()).append('\n');
                                failed++;
                            }
                        }
                    }
                    int completed = ok;
                    int failures = failed;
                    return pool.withTransaction(tx -> outputFile(tx, b, batchId + "_output.jsonl", output)
                            .flatMap(outputId -> outputFile(tx, b, batchId + "_error.jsonl", errors)
                                    .flatMap(errorId -> tx.preparedQuery("UPDATE oai_batches SET status = $2, output_file_id = $3, "
                                                    + "error_file_id = $4, completed = $5, failed = $6, "
                                                    + "lease_owner = NULL, lease_until = NULL, "
                                                    + "finalizing_at = CASE WHEN $2 = 'completed' THEN now() ELSE finalizing_at END, "
                                                    + "completed_at = CASE WHEN $2 = 'completed' THEN now() END, "
                                                    + "cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() END, "
                                                    + "expired_at = CASE WHEN $2 = 'expired' THEN now() END WHERE id = $1")
                                            .execute(Tuple.from(Arrays.asList(batchId, status, outputId, errorId, completed, failures))))));
                }))
                .replaceWithVoid()
                .invoke(() -> parsed.remove(batchId));
    }

    private Uni<String> outputFile(SqlClient tx, Row b, String filename, StringBuilder content) {
        if (content.isEmpty()) {
            return Uni.createFrom().nullItem();
        }
        return OaiBatchRoutes.insertFile(tx, b.getString("tenant_id"), b.getString("partner_id"), b.getString("owner_id"),
                "batch_output", filename, Buffer.buffer(content.toString()), b.getInteger("output_expires_seconds"))
                .map(row -> row.getString("id"));
    }

    /**
     * The creator must still be allowed to call, as a request of theirs would be: its tenant active, its user (if any)
     * active, and its credential neither revoked nor expired: an API key, or a service token this gateway issued
     * (another issuer's tokens cannot be looked up; a user's JWT is judged by the user's state).
     */
    private Uni<Boolean> stillValid(Caller caller) {
        return pool.preparedQuery("""
                        SELECT coalesce((SELECT status = 'active' FROM tenants WHERE id = $1), false)
                           AND ($2::text IS NULL OR coalesce((SELECT status = 'active' FROM users WHERE id = $2), false))
                           AND CASE $3
                                 WHEN 'API_KEY' THEN EXISTS (SELECT 1 FROM api_keys WHERE id = $4 AND revoked_at IS NULL
                                                                AND (expires_at IS NULL OR expires_at > now()))
                                 WHEN 'SERVICE_TOKEN' THEN NOT EXISTS (SELECT 1 FROM service_tokens WHERE id = $4
                                                                AND (revoked_at IS NOT NULL OR expires_at <= now()))
                                 ELSE true
                               END AS ok""")
                .execute(Tuple.of(caller.tenantId(), caller.userId(), caller.credentialType().name(), caller.credentialId()))
                .map(rows -> rows.iterator().next().getBoolean("ok"));
    }

    /** The batch creator as stored ({@link #snapshot}). */
    static Caller callerOf(Object stored) {
        JsonObject c = (JsonObject) stored;
        return new Caller(c.getString("partner_id"), c.getString("tenant_id"), c.getString("user_id"), strings(c, "roles"),
                strings(c, "permissions"), CredentialType.valueOf(c.getString("credential_type")), c.getString("credential_id"),
                strings(c, "model_group_ids"), strings(c, "service_scopes"));
    }

    static JsonObject snapshot(Caller caller) {
        return new JsonObject().put("partner_id", caller.partnerId()).put("tenant_id", caller.tenantId())
                .put("user_id", caller.userId()).put("roles", new JsonArray(List.copyOf(caller.roles())))
                .put("permissions", new JsonArray(List.copyOf(caller.permissions())))
                .put("credential_type", caller.credentialType().name()).put("credential_id", caller.credentialId())
                .put("model_group_ids", new JsonArray(List.copyOf(caller.modelGroupIds())))
                .put("service_scopes", new JsonArray(List.copyOf(caller.serviceScopes())));
    }

    private static Set<String> strings(JsonObject c, String field) {
        Set<String> out = new HashSet<>();
        JsonArray a = c.getJsonArray(field);
        if (a != null) {
            a.forEach(v -> out.add(String.valueOf(v)));
        }
        return out;
    }
}
