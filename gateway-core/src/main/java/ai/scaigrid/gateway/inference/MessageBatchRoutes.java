package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.gateway.identity.ApiKeys;
import ai.scaigrid.gateway.inference.InferenceRoutes.Api;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Uni;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.RowSet;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Anthropic's Message Batches API under {@code /anthropic/v1/messages/batches}, on the OpenAI batch runner
 * ({@link BatchRunner}): a batch's requests are checked and translated to chat as a message would be
 * ({@link MessagesApi#toChat}), kept as the input file of a batch row marked {@code api = anthropic}, and worked off in
 * the background as their creator; the results are read back as Anthropic's JSONL ({@code succeeded} with the
 * message, {@code errored}, {@code canceled}, {@code expired}) once the batch has ended. Batches are their owner's, as
 * at the OpenAI door.
 */
@ApplicationScoped
public class MessageBatchRoutes {
    private static final Pattern CUSTOM_ID = Pattern.compile("[a-zA-Z0-9_-]{1,64}");
    private static final String CHAT = "/v1/chat/completions";

    @Inject
    InferenceRoutes http;

    @Inject
    OaiBatchRoutes files;

    @Inject
    Pool pool;

    @Inject
    ObjectMapper mapper;

    void register(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(http.maxBody());
        router.post("/anthropic/v1/messages/batches").handler(body)
                .handler(rc -> http.answered(rc, Api.ANTHROPIC, caller -> create(rc, caller)))
                .failureHandler(rc -> http.routeFailure(rc, Api.ANTHROPIC));
        router.get("/anthropic/v1/messages/batches").handler(rc -> http.answered(rc, Api.ANTHROPIC, caller -> list(rc, caller)));
        router.get("/anthropic/v1/messages/batches/:id").handler(rc -> http.answered(rc, Api.ANTHROPIC,
                caller -> batch(caller, rc.pathParam("id")).map(b -> json(rc, b))));
        router.post("/anthropic/v1/messages/batches/:id/cancel").handler(rc -> http.answered(rc, Api.ANTHROPIC,
                caller -> cancel(rc, caller, rc.pathParam("id"))));
        router.delete("/anthropic/v1/messages/batches/:id").handler(rc -> http.answered(rc, Api.ANTHROPIC,
                caller -> delete(caller, rc.pathParam("id"))));
        router.get("/anthropic/v1/messages/batches/:id/results").handler(this::results);
    }

    /** Checks every request (a 400 naming {@code requests[i]...}), then stores the batch; nothing runs before all pass. */
    private Uni<ObjectNode> create(RoutingContext rc, Caller caller) {
        caller.require(Permissions.MODELS_USE);
        JsonNode body = http.jsonBody(rc);
        JsonNode requests = body.path("requests");
        if (!requests.isArray() || requests.isEmpty() || requests.size() > OaiBatchRoutes.MAX_LINES) {
            throw ApiException.validation("requests", "requests must be an array of 1 to " + OaiBatchRoutes.MAX_LINES + " requests");
        }
        StringBuilder input = new StringBuilder();
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < requests.size(); i++) {
            JsonNode request = requests.get(i);
            String at = "requests[" + i + "]";
            JsonNode customId = request.path("custom_id");
            if (!customId.isTextual() || !CUSTOM_ID.matcher(customId.asText()).matches()) {
                throw ApiException.validation(at + ".custom_id", "custom_id must be 1 to 64 letters, digits, underscores or dashes");
            }
            if (!ids.add(customId.asText())) {
                throw ApiException.validation(at + ".custom_id", "custom_id " + customId.asText() + " is used twice");
            }
            if (request.path("params").path("stream").asBoolean(false)) {
                throw ApiException.validation(at + ".params.stream", "a batched message is not streamed");
            }
            ObjectNode chat;
            try {
                chat = MessagesApi.toChat(request.get("params"), false);
                InferenceRequests.chat(chat.deepCopy()); // what the pipeline would refuse, refused now
            } catch (ApiException e) {
                throw ApiException.validation(at + ".params" + fieldOf(e), e.getMessage());
            }
            ObjectNode line = mapper.createObjectNode().put("custom_id", customId.asText()).put("method", "POST").put("url", CHAT);
            line.set("body", chat);
            input.append(line).append('\n');
        }
        String id = ApiKeys.newId("msgbatch");
        return pool.withTransaction(tx -> OaiBatchRoutes.insertFile(tx, caller.tenantId(), caller.partnerId(), OaiBatchRoutes.ownerOf(caller),
                        "batch", id + "_requests.jsonl", Buffer.buffer(input.toString()), files.defaultBatchExpiry())
                .flatMap(file -> tx.preparedQuery("""
                                INSERT INTO oai_batches (id, tenant_id, partner_id, owner_id, caller, endpoint, input_file_id,
                                    completion_window, status, total, expires_at, output_expires_seconds, api)
                                VALUES ($1, $2, $3, $4, $5, $6, $7, '24h', 'validating', $8, now() + interval '24 hours', $9, 'anthropic')
                                RETURNING *""")
                        .execute(Tuple.from(Arrays.asList(id, caller.tenantId(), caller.partnerId(), OaiBatchRoutes.ownerOf(caller),
                                BatchRunner.snapshot(caller), CHAT, file.getString("id"), requests.size(),
                                files.defaultBatchExpiry())))))
                .map(rows -> json(rc, rows.iterator().next()));
    }

    /** The field a request's refusal named, as a suffix of {@code requests[i].params}. */
    private static String fieldOf(ApiException e) {
        if (e.details() instanceof List<?> list && !list.isEmpty() && list.get(0) instanceof Map<?, ?> first
                && first.get("field") instanceof String field && !field.equals("body")) {
            return "." + field;
        }
        return "";
    }

    private Uni<Row> batch(Caller caller, String id) {
        return pool.preparedQuery("SELECT * FROM oai_batches WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND api = 'anthropic'")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .map(rows -> OaiBatchRoutes.one(rows, "No such message batch: " + id, "message_batch_id"));
    }

    /** Newest first, {@code limit} 1-1,000 (default 20), paged by {@code after_id} (older) or {@code before_id} (newer). */
    private Uni<ObjectNode> list(RoutingContext rc, Caller caller) {
        int limit = OaiBatchRoutes.intParam(rc, "limit", 20, 1, 1000);
        String after = OaiBatchRoutes.clean(rc.request().getParam("after_id"));
        String before = OaiBatchRoutes.clean(rc.request().getParam("before_id"));
        String sql = before != null ? """
                SELECT * FROM oai_batches WHERE tenant_id = $1 AND owner_id = $2 AND api = 'anthropic'
                  AND (created_at, id) > (SELECT created_at, id FROM oai_batches WHERE id = $3)
                ORDER BY created_at ASC, id ASC LIMIT $4""" : """
                SELECT * FROM oai_batches WHERE tenant_id = $1 AND owner_id = $2 AND api = 'anthropic'
                  AND ($3::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM oai_batches WHERE id = $3))
                ORDER BY created_at DESC, id DESC LIMIT $4""";
        return pool.preparedQuery(sql)
                .execute(Tuple.from(Arrays.asList(caller.tenantId(), OaiBatchRoutes.ownerOf(caller), before != null ? before : after,
                        limit + 1)))
                .map(rows -> {
                    List<ObjectNode> page = new ArrayList<>();
                    for (Row r : rows) {
                        if (page.size() < limit) {
                            page.add(json(rc, r));
                        }
                    }
                    if (before != null) {
                        java.util.Collections.reverse(page);
                    }
                    return MessagesApi.list(page, rows.size() > limit);
                });
    }

    /** A batch still processing moves to canceling (the runner ends it with what was done); an ended one is returned as it is. */
    private Uni<ObjectNode> cancel(RoutingContext rc, Caller caller, String id) {
        return batch(caller, id).flatMap(b -> pool.preparedQuery("""
                        UPDATE oai_batches SET status = 'cancelling', cancelling_at = now()
                        WHERE id = $1 AND status IN ('validating', 'in_progress') RETURNING *""")
                .execute(Tuple.of(b.getString("id")))
                .map(rows -> json(rc, rows.size() == 0 ? b : rows.iterator().next())));
    }

    /** An ended batch is deleted with its files; one still processing must be canceled first (409). */
    private Uni<ObjectNode> delete(Caller caller, String id) {
        return batch(caller, id).flatMap(b -> {
            if (!ended(b.getString("status"))) {
                throw new ApiException(ErrorCode.CONFLICT, "A message batch that is still processing cannot be deleted: cancel it first",
                        List.of(Map.of("field", "message_batch_id", "message", "processing_status is " + processing(b.getString("status")))));
            }
            return pool.withTransaction(tx -> tx.preparedQuery("DELETE FROM oai_batches WHERE id = $1 AND status = $2")
                    .execute(Tuple.of(b.getString("id"), b.getString("status")))
                    .flatMap(x -> tx.preparedQuery("DELETE FROM oai_files WHERE id = ANY($1) AND tenant_id = $2")
                            .execute(Tuple.of(java.util.stream.Stream.of(b.getString("input_file_id"), b.getString("output_file_id"),
                                    b.getString("error_file_id")).filter(java.util.Objects::nonNull).toArray(String[]::new),
                                    b.getString("tenant_id")))))
                    .map(x -> mapper.createObjectNode().put("id", b.getString("id")).put("type", "message_batch_deleted"));
        });
    }

    /**
     * The results, one JSON line per request in the order sent ({@code application/x-jsonl}), once the batch has ended:
     * {@code succeeded} with the message, {@code errored} with the error, {@code canceled} or {@code expired} for a
     * request never run. Before it has ended: 404, as the batch then has no {@code results_url}.
     */
    private void results(RoutingContext rc) {
        String requestId = http.begin(rc);
        http.authenticateListing(rc, requestId).flatMap(caller -> {
            if (caller == null) {
                return Uni.createFrom().<Buffer>nullItem(); // already answered
            }
            return batch(caller, rc.pathParam("id")).flatMap(b -> {
                if (!ended(b.getString("status"))) {
                    throw new ApiException(ErrorCode.NOT_FOUND, "The results of message batch " + b.getString("id")
                            + " are not available until it has ended", List.of(Map.of("field", "message_batch_id", "message", "processing")));
                }
                Uni<RowSet<Row>> input = pool.preparedQuery("SELECT content FROM oai_files WHERE id = $1")
                        .execute(Tuple.of(b.getString("input_file_id")));
                Uni<RowSet<Row>> answers = pool.preparedQuery("SELECT line, ok, result FROM oai_batch_results WHERE batch_id = $1")
                        .execute(Tuple.of(b.getString("id")));
                return Uni.combine().all().unis(input, answers).asTuple().map(t -> resultLines(b, t.getItem1(), t.getItem2()));
            });
        }).subscribe().with(out -> http.guard(rc, Api.ANTHROPIC, requestId, null, () -> {
            if (out != null && !rc.response().ended()) {
                rc.response().setStatusCode(200).putHeader("Content-Type", "application/x-jsonl").end(out);
            }
        }), failure -> http.fail(rc, Api.ANTHROPIC, requestId, InferencePipeline.toApiException(failure)));
    }

    private Buffer resultLines(Row b, RowSet<Row> input, RowSet<Row> answers) {
        if (input.size() == 0) {
            throw new ApiException(ErrorCode.NOT_FOUND, "The requests of message batch " + b.getString("id") + " are gone",
                    List.of(Map.of("field", "message_batch_id", "message", "requests gone")));
        }
        Map<Integer, Row> byLine = new HashMap<>();
        answers.forEach(r -> byLine.put(r.getInteger("line"), r));
        String unrun = "expired".equals(b.getString("status")) ? "expired" : "canceled";
        Buffer out = Buffer.buffer();
        String[] lines = input.iterator().next().getBuffer("content").toString().split("\n");
        for (int i = 0; i < lines.length; i++) {
            JsonObject request = new JsonObject(lines[i]);
            ObjectNode line = mapper.createObjectNode().put("custom_id", request.getString("custom_id"));
            ObjectNode result = line.putObject("result");
            Row answer = byLine.get(i);
            if (answer == null) {
                result.put("type", unrun);
            } else {
                JsonObject response = ((JsonObject) answer.getValue("result")).getJsonObject("response", new JsonObject());
                JsonNode body = mapper.valueToTree(response.getJsonObject("body", new JsonObject()).getMap());
                if (answer.getBoolean("ok")) {
                    result.put("type", "succeeded").set("message",
                            MessagesApi.message(body, request.getJsonObject("body").getString("model")));
                } else {
                    ObjectNode error = result.put("type", "errored").putObject("error").put("type", "error");
                    error.putObject("error").put("type", MessagesApi.errorType(response.getInteger("status_code", 500)))
                            .put("message", body.path("error").path("message").asText("The request failed"));
                }
            }
            out.appendString(line.toString()).appendString("\n");
        }
        return out;
    }

    private static boolean ended(String status) {
        return Set.of("completed", "failed", "cancelled", "expired").contains(status);
    }

    /** Anthropic's processing status for the runner's. */
    private static String processing(String status) {
        return ended(status) ? "ended" : "cancelling".equals(status) ? "canceling" : "in_progress";
    }

    /** A batch as Anthropic shows it; {@code results_url} (absolute, as the SDKs fetch it) once it has ended. */
    private ObjectNode json(RoutingContext rc, Row r) {
        String status = r.getString("status");
        boolean ended = ended(status);
        int total = r.getInteger("total");
        int succeeded = r.getInteger("completed");
        int errored = r.getInteger("failed");
        int rest = Math.max(0, total - succeeded - errored);
        ObjectNode out = mapper.createObjectNode().put("id", r.getString("id")).put("type", "message_batch")
                .put("processing_status", processing(status));
        out.putObject("request_counts").put("processing", ended ? 0 : rest).put("succeeded", succeeded)
                // a batch the runner failed whole (its creator's credential was revoked) errs in every request not done
                .put("errored", errored + ("failed".equals(status) ? rest : 0))
                .put("canceled", "cancelled".equals(status) ? rest : 0).put("expired", "expired".equals(status) ? rest : 0);
        OffsetDateTime endedAt = firstOf(r, "completed_at", "cancelled_at", "expired_at", "failed_at");
        out.put("ended_at", time(ended ? endedAt : null));
        out.put("created_at", time(r.getOffsetDateTime("created_at")));
        out.put("expires_at", time(r.getOffsetDateTime("expires_at")));
        out.putNull("archived_at");
        out.put("cancel_initiated_at", time(r.getOffsetDateTime("cancelling_at")));
        if (ended) {
            String uri = rc.request().absoluteURI();
            String base = uri.substring(0, Math.max(0, uri.indexOf("/anthropic/")));
            out.put("results_url", base + "/anthropic/v1/messages/batches/" + r.getString("id") + "/results");
        } else {
            out.putNull("results_url");
        }
        return out;
    }

    private static OffsetDateTime firstOf(Row r, String... columns) {
        for (String c : columns) {
            if (r.getOffsetDateTime(c) != null) {
                return r.getOffsetDateTime(c);
            }
        }
        return null;
    }

    private static String time(OffsetDateTime t) {
        return t == null ? null : t.toInstant().toString();
    }
}
