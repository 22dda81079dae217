package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.gateway.identity.ApiKeys;
import ai.scaigrid.gateway.inference.InferenceRoutes.Api;
import ai.scaigrid.gateway.inference.provider.Upload;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Uni;
import io.vertx.core.buffer.Buffer;
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
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.OffsetDateTime;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * OpenAI's Files and Batch APIs under {@code /oai/v1}, in OpenAI's shapes and error format: a caller uploads a
 * JSONL file of requests ({@code purpose: batch}), creates a batch over it, and later reads the output and error
 * files; {@link BatchRunner} works the lines off through the inference pipeline as that caller. Files and batches
 * are their owner's: the user who created them (a caller without a user: its credential), in that tenant; anybody
 * else gets 404.
 */
@ApplicationScoped
public class OaiBatchRoutes {
    /** What a batch line may call, as OpenAI names it, and the pipeline's endpoint for it. */
    static final Map<String, String> ENDPOINTS = Map.of("/v1/chat/completions", "chat", "/v1/completions", "generate",
            "/v1/embeddings", "embed", "/v1/responses", "responses");
    static final Set<String> PURPOSES = Set.of("batch", "assistants", "fine-tune", "vision", "user_data", "evals");
    static final int MAX_LINES = 50_000;
    private static final int BATCH_BODY_LIMIT = 65536;

    @Inject
    InferenceRoutes http;

    @Inject
    Pool pool;

    @Inject
    ObjectMapper mapper;

    @ConfigProperty(name = "scaigrid.files.max-size", defaultValue = "31457280")
    long maxFile;

    /** How long batch files (inputs, and outputs without a policy of their own) are kept; 0 keeps them. OpenAI: 30 days. */
    @ConfigProperty(name = "scaigrid.files.batch-expiry", defaultValue = "30d")
    java.time.Duration batchExpiry;

    /** OpenAI's bounds for expires_after.seconds: one hour to 30 days. */
    static final int MIN_EXPIRY = 3600;
    static final int MAX_EXPIRY = 2_592_000;
    /** A file that has not expired (expired ones are gone for their owner at once and purged within the hour). */
    private static final String LIVE = "(expires_at IS NULL OR expires_at > now())";

    void register(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(BATCH_BODY_LIMIT);
        router.post("/oai/v1/files").handler(this::upload);
        router.get("/oai/v1/files").handler(rc -> http.authorizedJson(rc, caller -> listFiles(rc, caller)));
        router.get("/oai/v1/files/:id").handler(rc -> http.authorizedJson(rc, caller -> file(caller, rc.pathParam("id"))
                .map(this::fileJson)));
        router.get("/oai/v1/files/:id/content").handler(this::content);
        router.delete("/oai/v1/files/:id").handler(rc -> http.authorizedJson(rc, caller -> deleteFile(caller, rc.pathParam("id"))));
        router.post("/oai/v1/batches").handler(body).handler(rc -> http.authorizedJson(rc, caller -> createBatch(rc, caller)))
                .failureHandler(this::bodyFailure);
        router.get("/oai/v1/batches").handler(rc -> http.authorizedJson(rc, caller -> listBatches(rc, caller)));
        router.get("/oai/v1/batches/:id").handler(rc -> http.authorizedJson(rc, caller -> batch(caller, rc.pathParam("id"))
                .map(this::batchJson)));
        router.post("/oai/v1/batches/:id/cancel").handler(rc -> http.authorizedJson(rc, caller -> cancel(caller, rc.pathParam("id"))));
    }

    /** The body handler's refusals (over 64 KiB, unreadable) in OpenAI's error shape, with the request id. */
    private void bodyFailure(RoutingContext rc) {
        String requestId = http.begin(rc);
        ApiException e = rc.statusCode() == 413
                ? new ApiException(ErrorCode.PAYLOAD_TOO_LARGE, "The request body is larger than " + BATCH_BODY_LIMIT + " bytes",
                        Map.of("max_bytes", BATCH_BODY_LIMIT))
                : rc.statusCode() == 400 ? ApiException.validation("body", "The request body could not be read")
                : InferencePipeline.toApiException(rc.failure() != null ? rc.failure() : new IllegalStateException("route failed"));
        http.fail(rc, Api.OAI, requestId, e);
    }

    static String ownerOf(Caller caller) {
        return caller.userId() != null ? caller.userId() : caller.credentialId();
    }

    // ------------------------------------------------------------------ files

    private void upload(RoutingContext rc) {
        String requestId = http.begin(rc);
        Uni<Caller> permitted = http.authenticateListing(rc, requestId).invoke(caller -> {
            if (caller != null) {
                caller.require(Permissions.MODELS_USE);
            }
        });
        http.authenticatedUpload(rc, Api.OAI, requestId, permitted, caller ->
                http.readForm(rc, Api.OAI, requestId, maxFile, "file", (form, upload) -> Uni.createFrom().deferred(() -> store(caller, form, upload))
                        .subscribe().with(out -> http.guard(rc, Api.OAI, requestId, null, () -> http.json(rc, null, 200, out)),
                                failure -> http.fail(rc, Api.OAI, requestId, InferencePipeline.toApiException(failure)))));
    }

    private Uni<ObjectNode> store(Caller caller, ObjectNode form, Upload upload) {
        String purpose = form.path("purpose").asText("");
        if (!PURPOSES.contains(purpose)) {
            throw ApiException.validation("purpose", "purpose must be one of " + new java.util.TreeSet<>(PURPOSES));
        }
        if (upload == null || upload.bytes().length() == 0) {
            throw ApiException.validation("file", "file is required: the content, as a multipart/form-data file part");
        }
        // a batch file is refused at upload when a line is not JSON; up to 30 MiB is parsed on a worker, not the event loop
        Uni<Void> checked = !"batch".equals(purpose) ? Uni.createFrom().voidItem()
                : Uni.createFrom().item(() -> BatchLines.parse(mapper, upload.bytes(), null))
                        .runSubscriptionOn(io.smallrye.mutiny.infrastructure.Infrastructure.getDefaultWorkerPool()).replaceWithVoid();
        Integer expiry = expiresAfter(form.get("expires_after[anchor]"), form.get("expires_after[seconds]"), "expires_after");
        if (expiry == null && "batch".equals(purpose)) {
            expiry = defaultBatchExpiry();
        }
        Integer expiresIn = expiry;
        String filename = upload.filename().length() > 255 ? upload.filename().substring(0, 255) : upload.filename();
        return checked.flatMap(ok -> insertFile(pool, caller.tenantId(), caller.partnerId(), ownerOf(caller), purpose,
                        filename.replace('\u0000', '_'), upload.bytes(), expiresIn))
                .map(this::fileJson);
    }

    /** The configured expiry of batch files, in seconds; null when they are kept. */
    Integer defaultBatchExpiry() {
        return batchExpiry.isZero() || batchExpiry.isNegative() ? null : (int) Math.min(Integer.MAX_VALUE, batchExpiry.toSeconds());
    }

    /**
     * OpenAI's expiration policy, {@code {"anchor": "created_at", "seconds": 3600-2592000}} (as JSON, or as the form fields
     * {@code expires_after[anchor]} and {@code expires_after[seconds]}): the seconds, or null when none was given.
     */
    static Integer expiresAfter(JsonNode anchor, JsonNode seconds, String field) {
        boolean none = (anchor == null || anchor.isNull()) && (seconds == null || seconds.isNull());
        if (none) {
            return null;
        }
        if (anchor == null || !"created_at".equals(anchor.asText())) {
            throw ApiException.validation(field + ".anchor", "anchor must be \"created_at\"");
        }
        long n;
        try {
            n = seconds == null || !(seconds.isIntegralNumber() || seconds.isTextual()) ? -1 : Long.parseLong(seconds.asText().trim());
        } catch (NumberFormatException e) {
            n = -1;
        }
        if (n < MIN_EXPIRY || n > MAX_EXPIRY) {
            throw ApiException.validation(field + ".seconds", "seconds must be an integer from " + MIN_EXPIRY + " (an hour) to "
                    + MAX_EXPIRY + " (30 days)");
        }
        return (int) n;
    }

    /** A JSON policy object ({@code expires_after}, {@code output_expires_after}): its seconds, or null when absent. */
    static Integer expiresAfter(JsonNode policy, String field) {
        if (policy == null || policy.isNull()) {
            return null;
        }
        if (!policy.isObject()) {
            throw ApiException.validation(field, field + " must be {\"anchor\": \"created_at\", \"seconds\": ...}");
        }
        return expiresAfter(policy.get("anchor"), policy.get("seconds"), field);
    }

    /**
     * Stores a file (an upload, or a batch's output) as its owner's, expiring {@code expiresIn} seconds from now (null:
     * never); the new row's id, purpose, filename, bytes, created_at, expires_at.
     */
    static Uni<Row> insertFile(io.vertx.mutiny.sqlclient.SqlClient client, String tenantId, String partnerId, String ownerId,
                               String purpose, String filename, Buffer content, Integer expiresIn) {
        return client.preparedQuery("""
                        INSERT INTO oai_files (id, tenant_id, partner_id, owner_id, purpose, filename, bytes, content, expires_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))
                        RETURNING id, purpose, filename, bytes, created_at, expires_at""")
                .execute(Tuple.from(Arrays.asList("file-" + ApiKeys.newId("x").substring(2), tenantId, partnerId, ownerId, purpose,
                        filename, content.length(), content, expiresIn)))
                .map(rows -> rows.iterator().next());
    }

    /**
     * Deletes expired files (a thousand at a time), except the input of a batch still running, which its runner reads
     * to the end (its owner no longer sees it).
     */
    @io.quarkus.scheduler.Scheduled(every = "${scaigrid.files.purge-interval:1h}", delayed = "1m")
    Uni<Void> purgeExpiredFiles() {
        return pool.query("""
                        DELETE FROM oai_files WHERE id IN (
                            SELECT f.id FROM oai_files f
                             WHERE f.expires_at <= now()
                               AND NOT EXISTS (SELECT 1 FROM oai_batches b WHERE b.input_file_id = f.id
                                                 AND b.status IN ('validating', 'in_progress', 'finalizing', 'cancelling'))
                             LIMIT 1000)""")
                .execute()
                .flatMap(rows -> rows.rowCount() == 1000 ? purgeExpiredFiles() : Uni.createFrom().voidItem())
                .onFailure().recoverWithItem(e -> {
                    org.jboss.logging.Logger.getLogger(OaiBatchRoutes.class).warnf("purging expired files failed: %s", e.toString());
                    return null;
                });
    }

    /** A file of the caller's, or 404. */
    Uni<Row> file(Caller caller, String id) {
        return pool.preparedQuery("""
                        SELECT id, purpose, filename, bytes, created_at, expires_at FROM oai_files
                        WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND """ + LIVE)
                .execute(Tuple.of(clean(id), caller.tenantId(), ownerOf(caller)))
                .map(rows -> one(rows, "No such file: " + id, "file_id"));
    }

    private ObjectNode fileJson(Row r) {
        ObjectNode out = mapper.createObjectNode();
        out.put("id", r.getString("id")).put("object", "file").put("bytes", r.getInteger("bytes"))
                .put("created_at", r.getOffsetDateTime("created_at").toEpochSecond()).put("filename", r.getString("filename"))
                .put("purpose", r.getString("purpose")).put("status", "processed").putNull("status_details");
        OffsetDateTime expires = r.getOffsetDateTime("expires_at");
        if (expires == null) {
            out.putNull("expires_at");
        } else {
            out.put("expires_at", expires.toEpochSecond());
        }
        return out;
    }

    private Uni<ObjectNode> listFiles(RoutingContext rc, Caller caller) {
        int limit = intParam(rc, "limit", 10_000, 1, 10_000);
        boolean ascending = "asc".equals(rc.request().getParam("order"));
        if (rc.request().getParam("order") != null && !ascending && !"desc".equals(rc.request().getParam("order"))) {
            throw ApiException.validation("order", "order must be asc or desc");
        }
        String purpose = rc.request().getParam("purpose");
        String after = rc.request().getParam("after");
        String op = ascending ? ">" : "<";
        String sql = "SELECT id, purpose, filename, bytes, created_at, expires_at FROM oai_files WHERE tenant_id = $1 AND owner_id = $2 "
                + "AND " + LIVE + " "
                + "AND ($3::text IS NULL OR purpose = $3) "
                + "AND ($4::text IS NULL OR (created_at, id) " + op + " (SELECT created_at, id FROM oai_files WHERE id = $4)) "
                + "ORDER BY created_at " + (ascending ? "ASC" : "DESC") + ", id " + (ascending ? "ASC" : "DESC") + " LIMIT $5";
        return pool.preparedQuery(sql).execute(Tuple.from(Arrays.asList(caller.tenantId(), ownerOf(caller), clean(purpose),
                        clean(after), limit + 1)))
                .map(rows -> page(rows, limit, this::fileJson));
    }

    private void content(RoutingContext rc) {
        String requestId = http.begin(rc);
        http.authenticateListing(rc, requestId).flatMap(caller -> {
            if (caller == null) {
                return Uni.createFrom().<Row>nullItem();
            }
            caller.require(Permissions.MODELS_USE);
            return pool.preparedQuery("SELECT content FROM oai_files WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND " + LIVE)
                    .execute(Tuple.of(clean(rc.pathParam("id")), caller.tenantId(), ownerOf(caller)))
                    .map(rows -> one(rows, "No such file: " + rc.pathParam("id"), "file_id"));
        }).subscribe().with(row -> http.guard(rc, Api.OAI, requestId, null, () -> {
            if (row != null && !rc.response().ended()) {
                rc.response().putHeader("Content-Type", "application/octet-stream").end(row.getBuffer("content").getDelegate());
            }
        }), failure -> http.fail(rc, Api.OAI, requestId, InferencePipeline.toApiException(failure)));
    }

    private Uni<ObjectNode> deleteFile(Caller caller, String id) {
        return pool.preparedQuery("DELETE FROM oai_files WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND " + LIVE + " RETURNING id")
                .execute(Tuple.of(clean(id), caller.tenantId(), ownerOf(caller)))
                .map(rows -> {
                    one(rows, "No such file: " + id, "file_id");
                    return mapper.createObjectNode().put("id", id).put("object", "file").put("deleted", true);
                });
    }

    // ------------------------------------------------------------------ batches

    private Uni<ObjectNode> createBatch(RoutingContext rc, Caller caller) {
        JsonNode body;
        try {
            Buffer raw = rc.body().buffer();
            body = raw == null ? null : mapper.readTree(raw.getBytes());
        } catch (Exception e) {
            throw ApiException.validation("body", "The request body is not valid JSON");
        }
        if (body == null || !body.isObject()) {
            throw ApiException.validation("body", "The request body must be a JSON object");
        }
        String endpoint = body.path("endpoint").asText("");
        if (!ENDPOINTS.containsKey(endpoint)) {
            throw ApiException.validation("endpoint", "endpoint must be one of " + new java.util.TreeSet<>(ENDPOINTS.keySet()));
        }
        if (!"24h".equals(body.path("completion_window").asText(""))) {
            throw ApiException.validation("completion_window", "completion_window must be \"24h\"");
        }
        JsonNode metadata = body.get("metadata");
        checkMetadata(metadata);
        JsonNode inputFile = body.get("input_file_id");
        if (inputFile == null || !inputFile.isTextual() || inputFile.asText().isBlank()) {
            throw ApiException.validation("input_file_id", "input_file_id is required (a file uploaded with purpose batch)");
        }
        Integer asked = expiresAfter(body.get("output_expires_after"), "output_expires_after");
        Integer outputExpiry = asked != null ? asked : defaultBatchExpiry();
        return file(caller, inputFile.asText()).flatMap(f -> {
            if (!"batch".equals(f.getString("purpose"))) {
                throw ApiException.validation("input_file_id", "the input file must have been uploaded with purpose batch");
            }
            String id = ApiKeys.newId("batch");
            io.vertx.core.json.JsonObject snapshot = BatchRunner.snapshot(caller);
            return pool.preparedQuery("""
                            INSERT INTO oai_batches (id, tenant_id, partner_id, owner_id, caller, endpoint, input_file_id,
                                completion_window, status, metadata, expires_at, output_expires_seconds)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, '24h', 'validating', $8, now() + interval '24 hours', $9)
                            RETURNING *""")
                    .execute(Tuple.from(Arrays.asList(id, caller.tenantId(), caller.partnerId(), ownerOf(caller), snapshot, endpoint,
                            f.getString("id"), metadata == null || metadata.isNull() ? null
                                    : new io.vertx.core.json.JsonObject(metadata.toString()), outputExpiry)))
                    .map(rows -> batchJson(rows.iterator().next()));
        });
    }

    Uni<Row> batch(Caller caller, String id) {
        return pool.preparedQuery("SELECT * FROM oai_batches WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND api = 'oai'")
                .execute(Tuple.of(clean(id), caller.tenantId(), ownerOf(caller)))
                .map(rows -> one(rows, "No such batch: " + id, "batch_id"));
    }

    private Uni<ObjectNode> listBatches(RoutingContext rc, Caller caller) {
        int limit = intParam(rc, "limit", 20, 1, 100);
        String after = rc.request().getParam("after");
        return pool.preparedQuery("""
                        SELECT * FROM oai_batches WHERE tenant_id = $1 AND owner_id = $2 AND api = 'oai'
                          AND ($3::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM oai_batches WHERE id = $3))
                        ORDER BY created_at DESC, id DESC LIMIT $4""")
                .execute(Tuple.from(Arrays.asList(caller.tenantId(), ownerOf(caller), clean(after), limit + 1)))
                .map(rows -> page(rows, limit, this::batchJson));
    }

    /** Open batches move to cancelling (the runner ends them as cancelled, with what was done); others cannot be. */
    private Uni<ObjectNode> cancel(Caller caller, String id) {
        return batch(caller, id).flatMap(b -> pool.preparedQuery("""
                        UPDATE oai_batches SET status = 'cancelling', cancelling_at = now()
                        WHERE id = $1 AND status IN ('validating', 'in_progress') RETURNING *""")
                .execute(Tuple.of(b.getString("id")))
                .map(rows -> {
                    if (rows.size() == 0) {
                        if ("cancelling".equals(b.getString("status"))) {
                            return batchJson(b);
                        }
                        throw new ApiException(ErrorCode.CONFLICT, "A batch that is " + b.getString("status") + " cannot be cancelled",
                                List.of(Map.of("field", "batch_id", "message", "status is " + b.getString("status"))));
                    }
                    return batchJson(rows.iterator().next());
                }));
    }

    ObjectNode batchJson(Row r) {
        ObjectNode out = mapper.createObjectNode();
        out.put("id", r.getString("id")).put("object", "batch").put("endpoint", r.getString("endpoint"));
        Object errors = r.getValue("errors");
        if (errors == null) {
            out.putNull("errors");
        } else {
            out.set("errors", mapper.valueToTree(((io.vertx.core.json.JsonObject) errors).getMap()));
        }
        out.put("input_file_id", r.getString("input_file_id")).put("completion_window", r.getString("completion_window"))
                .put("status", r.getString("status"));
        out.put("output_file_id", r.getString("output_file_id"));
        out.put("error_file_id", r.getString("error_file_id"));
        for (String at : List.of("created_at", "in_progress_at", "expires_at", "finalizing_at", "completed_at", "failed_at",
                "expired_at", "cancelling_at", "cancelled_at")) {
            OffsetDateTime t = r.getOffsetDateTime(at);
            if (t == null) {
                out.putNull(at);
            } else {
                out.put(at, t.toEpochSecond());
            }
        }
        out.putObject("request_counts").put("total", r.getInteger("total")).put("completed", r.getInteger("completed"))
                .put("failed", r.getInteger("failed"));
        Object metadata = r.getValue("metadata");
        if (metadata == null) {
            out.putNull("metadata");
        } else {
            out.set("metadata", mapper.valueToTree(((io.vertx.core.json.JsonObject) metadata).getMap()));
        }
        return out;
    }

    // ------------------------------------------------------------------ helpers

    /** A page of up to {@code limit} rows, each as {@code view} shows it, read with one row more to tell {@code has_more}. */
    static <T extends JsonNode> ObjectNode page(RowSet<Row> rows, int limit, Function<Row, T> view) {
        List<JsonNode> items = new java.util.ArrayList<>();
        for (Row r : rows) {
            if (items.size() == limit) {
                break;
            }
            items.add(view.apply(r));
        }
        return list(items, rows.size() > limit);
    }

    /** OpenAI's list object: the items, the first and last item's id, and whether more follow. */
    static ObjectNode list(List<JsonNode> items, boolean more) {
        ObjectNode out = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        items.forEach(data::add);
        out.put("first_id", data.isEmpty() ? null : data.get(0).path("id").asText());
        out.put("last_id", data.isEmpty() ? null : data.get(data.size() - 1).path("id").asText());
        out.put("has_more", more);
        return out;
    }

    static Row one(RowSet<Row> rows, String message, String field) {
        if (rows.size() == 0) {
            throw new ApiException(ErrorCode.NOT_FOUND, message, List.of(Map.of("field", field, "message", "not found")));
        }
        return rows.iterator().next();
    }

    /** An identifier from the path or query: NUL cannot reach PostgreSQL (a text value cannot hold it: no such row). */
    /** OpenAI's metadata rules: null, or an object of at most 16 string values, keys up to 64 characters, values up to 512. */
    static void checkMetadata(JsonNode metadata) {
        if (metadata == null || metadata.isNull()) {
            return;
        }
        if (!metadata.isObject() || metadata.size() > 16) {
            throw ApiException.validation("metadata", "metadata must be an object of at most 16 string values");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = metadata.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().length() > 64 || !e.getValue().isTextual() || e.getValue().asText().length() > 512
                    || e.getKey().indexOf('\u0000') >= 0 || e.getValue().asText().indexOf('\u0000') >= 0) {
                throw ApiException.validation("metadata", "metadata keys are at most 64 characters, values strings of at most 512");
            }
        }
    }

    static String clean(String value) {
        return value == null ? null : value.replace('\u0000', '_');
    }

    static int intParam(RoutingContext rc, String name, int fallback, int min, int max) {
        String v = rc.request().getParam(name);
        if (v == null || v.isEmpty()) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // below
        }
        throw ApiException.validation(name, name + " must be an integer from " + min + " to " + max);
    }
}
