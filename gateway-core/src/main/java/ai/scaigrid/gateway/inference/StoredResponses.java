package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.scheduler.Scheduled;
import io.smallrye.mutiny.Uni;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.SqlClient;
import io.vertx.mutiny.sqlclient.SqlConnection;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Stored responses of OpenAI's Responses API: every response is kept (unless asked {@code store: false}) for
 * {@code scaigrid.responses.retention} (30 days, OpenAI's), so that {@code previous_response_id} can continue its
 * conversation ({@link #history}) and {@code GET /oai/v1/responses/{id}}, {@code .../input_items} and
 * {@code DELETE} work. A response is its owner's, like files and batches: the user who created it (a caller without a
 * user: its credential), in that tenant; anybody else gets 404.
 */
@ApplicationScoped
public class StoredResponses {
    private static final Logger LOG = Logger.getLogger(StoredResponses.class);

    @Inject
    InferenceRoutes http;

    @Inject
    Pool pool;

    @Inject
    Conversations conversations;

    @Inject
    BackgroundResponses background;

    @Inject
    ObjectMapper mapper;

    @Inject
    ResponseEvents events;

    @ConfigProperty(name = "scaigrid.responses.retention", defaultValue = "30d")
    Duration retention;

    void register(@Observes Router router) {
        router.get("/oai/v1/responses/:id").handler(rc -> {
            if (streamAsked(rc)) {
                http.authorizedStream(rc, (caller, context) -> follow(rc, context, caller));
            } else {
                http.authorizedJson(rc, caller -> get(caller, rc.pathParam("id")));
            }
        });
        router.get("/oai/v1/responses/:id/input_items").handler(rc -> http.authorizedJson(rc, caller -> inputItems(rc, caller)));
        router.delete("/oai/v1/responses/:id").handler(rc -> http.authorizedJson(rc, caller -> delete(caller, rc.pathParam("id"))));
        router.post("/oai/v1/responses/:id/cancel")
                .handler(rc -> http.authorizedJson(rc, caller -> background.cancel(caller, rc.pathParam("id"))));
    }

    /** {@code ?stream=true}: the response's events as SSE, not the response (a malformed value is answered as the request's 400). */
    private static boolean streamAsked(RoutingContext rc) {
        String stream = rc.request().getParam("stream");
        return stream != null && !"false".equals(stream);
    }

    /**
     * {@code GET /responses/{id}?stream=true&starting_after=N}: the events of a background response created with
     * {@code stream}, after sequence number N (all without it), while it runs and after ({@link ResponseEvents}).
     * Another response is a 400 naming {@code stream}: its events were not kept.
     */
    private Uni<Runnable> follow(RoutingContext rc, io.vertx.core.Context context, Caller caller) {
        if (!"true".equals(rc.request().getParam("stream"))) {
            throw ApiException.validation("stream", "stream must be true or false");
        }
        String given = rc.request().getParam("starting_after");
        int after = -1;
        if (given != null) {
            try {
                after = Integer.parseInt(given);
            } catch (NumberFormatException e) {
                after = -2;
            }
            if (after < 0) {
                throw ApiException.validation("starting_after", "starting_after must be an event's sequence number (an integer from 0)");
            }
        }
        String id = rc.pathParam("id");
        int startingAfter = after;
        return column(caller, id, "streamed")
                .map(streamed -> {
                    if (!streamed.asBoolean()) {
                        throw ApiException.validation("stream", "Response '" + id + "' was not created with background and stream, "
                                + "so its events were not kept: fetch it without stream");
                    }
                    return () -> events.follow(rc, context, id, startingAfter, response -> { });
                });
    }

    /**
     * The responses a conversation by {@code previous_response_id} is made of ($1: the last one's id; $2, $3: the
     * caller's tenant and owner id), each with its {@code depth} from the last (0), while none has expired.
     */
    private static final String CHAIN = """
            WITH RECURSIVE chain AS (
                SELECT id, previous_response_id, 0 AS depth FROM oai_responses
                 WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND expires_at > now()
                UNION ALL
                SELECT r.id, r.previous_response_id, c.depth + 1 FROM oai_responses r
                  JOIN chain c ON r.id = c.previous_response_id
                 WHERE r.tenant_id = $2 AND r.owner_id = $3 AND r.expires_at > now())
            """;

    /**
     * The chat messages of the conversation {@code previousId} ends, oldest turn first: each stored turn's input and
     * answer. A 400 naming {@code previous_response_id} when the caller has no such response, or when an earlier
     * turn of it was deleted or has expired (a conversation with a hole in it would mislead the model).
     */
    Uni<List<JsonNode>> history(Caller caller, String previousId) {
        return pool.preparedQuery(CHAIN + """
                        SELECT r.id, r.previous_response_id, r.status, r.context::text AS context
                          FROM chain JOIN oai_responses r ON r.id = chain.id ORDER BY chain.depth DESC""")
                .execute(Tuple.of(OaiBatchRoutes.clean(previousId), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw ApiException.validation("previous_response_id", "Previous response with id '" + previousId + "' not found.");
                    }
                    List<JsonNode> messages = new ArrayList<>();
                    boolean first = true;
                    for (Row r : rows) {
                        if (first && r.getString("previous_response_id") != null) {
                            throw ApiException.validation("previous_response_id", "An earlier response of this conversation ('"
                                    + r.getString("previous_response_id") + "') was deleted or has expired.");
                        }
                        first = false;
                        if ("in_progress".equals(r.getString("status")) || "queued".equals(r.getString("status"))) {
                            throw ApiException.validation("previous_response_id", "Response '" + r.getString("id")
                                    + "' of this conversation is still running in the background; continue once it has finished.");
                        }
                        read(r.getString("context")).forEach(messages::add);
                    }
                    return messages;
                });
    }

    /**
     * The chat request of a Responses turn: after the earlier turns it continues ({@code previous_response_id}) or the
     * items of the conversation it is made in ({@code conversation}), if any.
     */
    Uni<ObjectNode> chat(Caller caller, ResponsesApi.Turn turn) {
        Uni<List<JsonNode>> history = turn.previousId != null ? history(caller, turn.previousId)
                : turn.conversationId != null ? conversations.history(caller, turn.conversationId)
                : Uni.createFrom().item(List.of());
        return history.map(turn::chat);
    }

    /** The response of a turn's finished chat completion, stored as asked ({@code store: false} in it when it could not be). */
    Uni<ObjectNode> respond(Caller caller, ResponsesApi.Turn turn, ObjectNode completion) {
        ObjectNode response = ResponsesApi.fromChat(turn, completion);
        ObjectNode answer = ResponsesApi.answerMessage(response.get("output"),
                completion.path("choices").path(0).path("message").get("thinking_blocks"));
        return keep(caller, turn, response, answer);
    }

    /**
     * A finished response, stored as asked with the turn's {@code answer} ({@link #save}); {@code store: false} in it
     * when it could not be.
     */
    Uni<ObjectNode> keep(Caller caller, ResponsesApi.Turn turn, ObjectNode response, JsonNode answer) {
        return save(caller, turn, response, answer).map(stored -> {
            if (!stored) {
                response.put("store", false);
            }
            return response;
        });
    }

    /**
     * The {@code mcp_approval_request} item {@code id} that an approval in {@code turn} answers: from the turn's own
     * input, else from the output of the response it continues, else from the conversation it is made in; null when
     * the caller has none such.
     */
    Uni<JsonNode> approvalRequest(Caller caller, ResponsesApi.Turn turn, String id) {
        for (JsonNode item : turn.inputItems) {
            if ("mcp_approval_request".equals(item.path("type").asText()) && id.equals(item.path("id").asText())) {
                return Uni.createFrom().item(item);
            }
        }
        if (turn.previousId != null) {
            return pool.preparedQuery("""
                            SELECT item::text AS item FROM oai_responses r, json_array_elements(r.response -> 'output') item
                             WHERE r.id = $1 AND r.tenant_id = $2 AND r.owner_id = $3 AND r.expires_at > now()
                               AND item ->> 'type' = 'mcp_approval_request' AND item ->> 'id' = $4""")
                    .execute(Tuple.of(OaiBatchRoutes.clean(turn.previousId), caller.tenantId(), OaiBatchRoutes.ownerOf(caller), id))
                    .map(rows -> rows.size() == 0 ? null : read(rows.iterator().next().getString("item")));
        }
        if (turn.conversationId != null) {
            return pool.preparedQuery("""
                            SELECT i.item::text AS item FROM oai_conversation_items i JOIN oai_conversations c ON c.id = i.conversation_id
                             WHERE c.id = $1 AND c.tenant_id = $2 AND c.owner_id = $3 AND i.id = $4
                               AND i.item ->> 'type' = 'mcp_approval_request'""")
                    .execute(Tuple.of(OaiBatchRoutes.clean(turn.conversationId), caller.tenantId(), OaiBatchRoutes.ownerOf(caller), id))
                    .map(rows -> rows.size() == 0 ? null : read(rows.iterator().next().getString("item")));
        }
        return Uni.createFrom().nullItem();
    }

    /**
     * The tool lists ({@code mcp_list_tools} items) already in a turn's context, by server label, the latest of each:
     * from the responses it continues, from the conversation it is made in, and from its own input. As at OpenAI, a
     * server whose tools are in the context is not asked for them again.
     */
    Uni<java.util.Map<String, JsonNode>> listedTools(Caller caller, ResponsesApi.Turn turn) {
        Uni<List<JsonNode>> earlier;
        if (turn.previousId != null) {
            earlier = pool.preparedQuery(CHAIN + """
                            SELECT item::text AS item FROM chain JOIN oai_responses r ON r.id = chain.id
                                   CROSS JOIN LATERAL json_array_elements(r.response -> 'output') item
                             WHERE item ->> 'type' = 'mcp_list_tools' ORDER BY chain.depth DESC""")
                    .execute(Tuple.of(OaiBatchRoutes.clean(turn.previousId), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                    .map(this::items);
        } else if (turn.conversationId != null) {
            earlier = pool.preparedQuery("""
                            SELECT i.item::text AS item FROM oai_conversation_items i JOIN oai_conversations c ON c.id = i.conversation_id
                             WHERE c.id = $1 AND c.tenant_id = $2 AND c.owner_id = $3 AND i.item ->> 'type' = 'mcp_list_tools'
                             ORDER BY i.seq""")
                    .execute(Tuple.of(OaiBatchRoutes.clean(turn.conversationId), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                    .map(this::items);
        } else {
            earlier = Uni.createFrom().item(List.of());
        }
        return earlier.map(items -> {
            java.util.Map<String, JsonNode> byLabel = new java.util.HashMap<>();
            List<JsonNode> all = new ArrayList<>(items);
            turn.inputItems.forEach(all::add);
            for (JsonNode item : all) {
                // a list that failed (its error set) lists nothing: such a server is asked again
                boolean listed = item.path("error").isNull() || item.path("error").isMissingNode();
                if ("mcp_list_tools".equals(item.path("type").asText()) && item.path("server_label").isTextual()
                        && item.path("tools").isArray() && listed) {
                    byLabel.put(item.path("server_label").asText(), item.path("tools"));
                }
            }
            return byLabel;
        });
    }

    private List<JsonNode> items(io.vertx.mutiny.sqlclient.RowSet<Row> rows) {
        List<JsonNode> out = new ArrayList<>();
        rows.forEach(r -> out.add(read(r.getString("item"))));
        return out;
    }

    /**
     * Keeps a finished (or failed) response with its turn, unless the request said {@code store: false}, and adds a
     * finished one's input and output items to the conversation it was made in; true when done as asked. A database
     * failure is logged and yields false (nothing of it kept): the caller still gets its answer, marked
     * {@code store: false}.
     */
    Uni<Boolean> save(Caller caller, ResponsesApi.Turn turn, ObjectNode response, JsonNode answer) {
        if (!turn.store && !joinsConversation(turn, response)) {
            return Uni.createFrom().item(true);
        }
        return pool.withTransaction(conn -> (turn.store ? insert(conn, caller, turn, response, answer, false) : Uni.createFrom().voidItem())
                        .flatMap(v -> joinConversation(conn, turn, response, answer)))
                .map(v -> true)
                .onFailure().recoverWithItem(e -> {
                    LOG.warnf("storing response %s failed: %s", turn.id, e.toString());
                    return false;
                });
    }

    /**
     * Inserts a response: its status is the response's, its context the turn's input and {@code answer} (null: none
     * yet), kept for {@code scaigrid.responses.retention}.
     */
    Uni<Void> insert(SqlClient conn, Caller caller, ResponsesApi.Turn turn, ObjectNode response, JsonNode answer, boolean background) {
        return Uni.createFrom().deferred(() -> conn.preparedQuery("""
                        INSERT INTO oai_responses (id, tenant_id, owner_id, previous_response_id, status, response, input_items,
                                                   context, expires_at, background, streamed)
                        VALUES ($1, $2, $3, $4, $5, $6::text::json, $7::text::json, $8::text::json,
                                now() + make_interval(secs => $9), $10, $11)""")
                .execute(Tuple.tuple().addString(turn.id).addString(caller.tenantId()).addString(OaiBatchRoutes.ownerOf(caller))
                        .addString(turn.previousId).addString(response.path("status").asText()).addString(json(response))
                        .addString(json(turn.inputItems)).addString(json(context(turn, answer))).addLong(retention.toSeconds())
                        .addBoolean(background).addBoolean(background && turn.stream)))
                .replaceWithVoid();
    }

    /**
     * A turn as later turns replay it, as chat messages: its input, then the assistant's {@code answer} (if any: one
     * message, or, for a run with MCP servers, the messages it added).
     */
    static ArrayNode context(ResponsesApi.Turn turn, JsonNode answer) {
        ArrayNode context = turn.inputMessages.deepCopy();
        if (answer != null && answer.isArray()) {
            context.addAll((ArrayNode) answer);
        } else if (answer != null) {
            context.add(answer);
        }
        return context;
    }

    /** Whether a response adds its turn to a conversation: made in one, and not failed. */
    static boolean joinsConversation(ResponsesApi.Turn turn, ObjectNode response) {
        return turn.conversationId != null && !"failed".equals(response.path("status").asText());
    }

    /** Adds a response's input and output items to its conversation, if it {@linkplain #joinsConversation joins} one. */
    Uni<Void> joinConversation(SqlConnection conn, ResponsesApi.Turn turn, ObjectNode response, JsonNode answer) {
        return joinsConversation(turn, response) ? conversations.append(conn, turn.conversationId, turn.keptInput(),
                ResponsesApi.keptOutput(response.path("output"), answer)) : Uni.createFrom().voidItem();
    }

    String json(JsonNode node) {
        try {
            return mapper.writeValueAsString(node);
        } catch (Exception e) {
            throw new IllegalStateException("a response could not be written as JSON", e);
        }
    }

    private Uni<ObjectNode> get(Caller caller, String id) {
        return column(caller, id, "response").map(ObjectNode.class::cast);
    }

    /** A JSON value (a column, or an expression over one) of the caller's stored response {@code id}; 404 when there is none. */
    private Uni<JsonNode> column(Caller caller, String id, String column) {
        return pool.preparedQuery("SELECT " + column + "::text AS v FROM oai_responses "
                        + "WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND expires_at > now()")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "No response with id '" + id + "'");
                    }
                    return read(rows.iterator().next().getString("v"));
                });
    }

    /** OpenAI's list of a response's input items: {@code order} (desc by default), {@code after} an item id, {@code limit} 1-100. */
    private Uni<ObjectNode> inputItems(RoutingContext rc, Caller caller) {
        int limit = OaiBatchRoutes.intParam(rc, "limit", 20, 1, 100);
        String order = rc.request().getParam("order");
        if (order != null && !"asc".equals(order) && !"desc".equals(order)) {
            throw ApiException.validation("order", "order must be asc or desc");
        }
        String after = rc.request().getParam("after");
        return column(caller, rc.pathParam("id"), "input_items").map(stored -> {
            List<JsonNode> items = new ArrayList<>();
            stored.forEach(items::add);
            if (!"asc".equals(order)) {
                java.util.Collections.reverse(items);
            }
            int from = 0;
            if (after != null && !after.isEmpty()) {
                from = -1;
                for (int i = 0; i < items.size() && from < 0; i++) {
                    if (after.equals(items.get(i).path("id").asText())) {
                        from = i + 1;
                    }
                }
                if (from < 0) {
                    throw ApiException.validation("after", "after must be the id of one of this response's input items");
                }
            }
            return OaiBatchRoutes.list(items.subList(from, Math.min(items.size(), from + limit)), from + limit < items.size());
        });
    }

    private Uni<ObjectNode> delete(Caller caller, String id) {
        return pool.preparedQuery("DELETE FROM oai_responses WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 AND expires_at > now()")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .map(rows -> {
                    if (rows.rowCount() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "No response with id '" + id + "'");
                    }
                    return mapper.createObjectNode().put("id", id).put("object", "response").put("deleted", true);
                });
    }

    /** Drops expired responses (a few thousand rows at a time, so no purge holds locks for long). */
    @Scheduled(every = "${scaigrid.responses.purge-interval:1h}", delayed = "1m")
    Uni<Void> purge() {
        return pool.query("DELETE FROM oai_responses WHERE id IN (SELECT id FROM oai_responses WHERE expires_at <= now() LIMIT 5000)")
                .execute()
                .flatMap(rows -> rows.rowCount() == 5000 ? purge() : Uni.createFrom().voidItem())
                .onFailure().recoverWithItem(e -> {
                    LOG.warnf("purging expired responses failed: %s", e.toString());
                    return null;
                });
    }

    private JsonNode read(String json) {
        return read(mapper, json);
    }

    /** A JSON column as stored (responses, conversation items): it was written as JSON, so anything else is a bug. */
    static JsonNode read(ObjectMapper mapper, String json) {
        try {
            return mapper.readTree(json);
        } catch (Exception e) {
            throw new IllegalStateException("a stored JSON column is not JSON", e);
        }
    }
}
