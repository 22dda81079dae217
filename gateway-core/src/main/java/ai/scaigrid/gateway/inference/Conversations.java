package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
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
import io.vertx.mutiny.sqlclient.SqlConnection;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.List;

/**
 * OpenAI's Conversations API under {@code /oai/v1/conversations}: a conversation keeps the items of a multi-turn
 * exchange (messages, function calls and their outputs, reasoning) until it is deleted. A Responses request made in it
 * ({@code conversation}) is preceded by its items, and adds its own input and output items once it has finished.
 * Like stored responses, a conversation is its owner's (the user, or without one the credential, in that tenant):
 * anyone else gets 404.
 */
@ApplicationScoped
public class Conversations {
    /** OpenAI's limit on the items one request may add. */
    static final int MAX_ADDED = 20;

    @Inject
    InferenceRoutes http;

    @Inject
    Pool pool;

    @Inject
    ObjectMapper mapper;

    void register(@Observes Router router) {
        BodyHandler body = BodyHandler.create(false).setBodyLimit(http.maxBody());
        router.post("/oai/v1/conversations").handler(body)
                .handler(rc -> http.authorizedJson(rc, caller -> create(caller, object(rc, true))))
                .failureHandler(rc -> http.routeFailure(rc, InferenceRoutes.Api.OAI));
        router.get("/oai/v1/conversations/:id").handler(rc -> http.authorizedJson(rc, caller -> get(caller, rc.pathParam("id"))));
        router.post("/oai/v1/conversations/:id").handler(body)
                .handler(rc -> http.authorizedJson(rc, caller -> update(caller, rc.pathParam("id"), object(rc, false))))
                .failureHandler(rc -> http.routeFailure(rc, InferenceRoutes.Api.OAI));
        router.delete("/oai/v1/conversations/:id").handler(rc -> http.authorizedJson(rc, caller -> delete(caller, rc.pathParam("id"))));
        router.get("/oai/v1/conversations/:id/items").handler(rc -> http.authorizedJson(rc, caller -> list(rc, caller)));
        router.post("/oai/v1/conversations/:id/items").handler(body)
                .handler(rc -> http.authorizedJson(rc, caller -> addItems(rc, caller)))
                .failureHandler(rc -> http.routeFailure(rc, InferenceRoutes.Api.OAI));
        router.get("/oai/v1/conversations/:id/items/:item").handler(rc -> http.authorizedJson(rc, caller -> item(rc, caller)));
        router.delete("/oai/v1/conversations/:id/items/:item").handler(rc -> http.authorizedJson(rc, caller -> deleteItem(rc, caller)));
    }

    /** The request's JSON object; an empty body is an empty object where {@code emptyAllowed}. */
    private ObjectNode object(RoutingContext rc, boolean emptyAllowed) {
        Buffer raw = rc.body().buffer();
        if (raw == null || raw.length() == 0) {
            if (emptyAllowed) {
                return mapper.createObjectNode();
            }
            throw ApiException.validation("body", "The request body must be a JSON object");
        }
        JsonNode body;
        try {
            body = mapper.readTree(raw.getBytes());
        } catch (Exception e) {
            throw ApiException.validation("body", "The request body is not valid JSON");
        }
        if (body == null || !body.isObject()) {
            throw ApiException.validation("body", "The request body must be a JSON object");
        }
        return (ObjectNode) body;
    }

    // ------------------------------------------------------------------ conversations

    private Uni<ObjectNode> create(Caller caller, ObjectNode body) {
        JsonNode metadata = body.get("metadata");
        OaiBatchRoutes.checkMetadata(metadata);
        JsonNode given = body.get("items");
        ArrayNode items = given == null || given.isNull() ? mapper.createArrayNode() : added(given, "items");
        String id = "conv_" + ResponsesApi.hex();
        String meta = metadata == null || metadata.isNull() ? "{}" : metadata.toString();
        return pool.withTransaction(conn -> conn.preparedQuery("""
                                INSERT INTO oai_conversations (id, tenant_id, owner_id, metadata) VALUES ($1, $2, $3, $4::text::json)
                                RETURNING id, metadata::text AS metadata, extract(epoch FROM created_at)::bigint AS created_at""")
                        .execute(Tuple.of(id, caller.tenantId(), OaiBatchRoutes.ownerOf(caller), OaiBatchRoutes.clean(meta)))
                        .flatMap(rows -> insert(conn, id, items, "items").replaceWith(conversation(rows.iterator().next()))));
    }

    private Uni<ObjectNode> get(Caller caller, String id) {
        return owned(pool, caller, id).map(this::conversation);
    }

    private Uni<ObjectNode> update(Caller caller, String id, ObjectNode body) {
        JsonNode metadata = body.get("metadata");
        if (metadata == null || metadata.isNull()) {
            throw ApiException.validation("metadata", "metadata is required: the conversation's new metadata");
        }
        OaiBatchRoutes.checkMetadata(metadata);
        return pool.preparedQuery("""
                        UPDATE oai_conversations SET metadata = $4::text::json WHERE id = $1 AND tenant_id = $2 AND owner_id = $3
                        RETURNING id, metadata::text AS metadata, extract(epoch FROM created_at)::bigint AS created_at""")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller),
                        OaiBatchRoutes.clean(metadata.toString())))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw notFound(id);
                    }
                    return conversation(rows.iterator().next());
                });
    }

    private Uni<ObjectNode> delete(Caller caller, String id) {
        return pool.preparedQuery("DELETE FROM oai_conversations WHERE id = $1 AND tenant_id = $2 AND owner_id = $3")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .map(rows -> {
                    if (rows.rowCount() == 0) {
                        throw notFound(id);
                    }
                    return mapper.createObjectNode().put("id", id).put("object", "conversation.deleted").put("deleted", true);
                });
    }

    /** The caller's conversation {@code id} (its row: id, metadata, created_at); 404 when there is none. */
    private Uni<Row> owned(io.vertx.mutiny.sqlclient.SqlClient conn, Caller caller, String id) {
        return conn.preparedQuery("""
                        SELECT id, metadata::text AS metadata, extract(epoch FROM created_at)::bigint AS created_at
                          FROM oai_conversations WHERE id = $1 AND tenant_id = $2 AND owner_id = $3""")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw notFound(id);
                    }
                    return rows.iterator().next();
                });
    }

    private ObjectNode conversation(Row row) {
        ObjectNode out = mapper.createObjectNode().put("id", row.getString("id")).put("object", "conversation")
                .put("created_at", row.getLong("created_at"));
        out.set("metadata", read(row.getString("metadata")));
        return out;
    }

    private static ApiException notFound(String id) {
        return new ApiException(ErrorCode.NOT_FOUND, "Conversation with id '" + id + "' not found.");
    }

    // ------------------------------------------------------------------ items

    /** Items a request adds: a list of 1-20 input items, checked as a response's input is. */
    private static ArrayNode added(JsonNode given, String field) {
        if (!given.isArray() || given.isEmpty() || given.size() > MAX_ADDED) {
            throw ApiException.validation(field, field + " must be a list of 1 to " + MAX_ADDED + " items");
        }
        return ResponsesApi.conversationItems(given, field);
    }

    /**
     * Appends {@code items} to the conversation, in order. With {@code field} (the request's list, e.g. {@code items}),
     * an item whose id the conversation already holds is a 400 naming it ({@code field[i].id}): ids are unique within
     * a conversation. Without, such an item is skipped (a response's input may repeat what the conversation holds).
     */
    private Uni<Void> insert(SqlConnection conn, String conversationId, ArrayNode items, String field) {
        Uni<Void> chain = Uni.createFrom().voidItem();
        for (int i = 0; i < items.size(); i++) {
            JsonNode item = items.get(i);
            String name = field + "[" + i + "]";
            chain = chain.flatMap(v -> conn.preparedQuery("""
                            INSERT INTO oai_conversation_items (conversation_id, id, item) VALUES ($1, $2, $3::text::json)
                            ON CONFLICT (conversation_id, id) DO NOTHING""")
                    .execute(Tuple.of(conversationId, OaiBatchRoutes.clean(item.path("id").asText()), OaiBatchRoutes.clean(item.toString())))
                    .map(rows -> {
                        if (rows.rowCount() == 0 && field != null) {
                            throw ApiException.validation(name + ".id", "This conversation already has an item with id '"
                                    + item.path("id").asText() + "'");
                        }
                        return null;
                    }));
        }
        return chain;
    }

    private Uni<ObjectNode> addItems(RoutingContext rc, Caller caller) {
        ObjectNode body = object(rc, false);
        JsonNode given = body.get("items");
        if (given == null || given.isNull()) {
            throw ApiException.validation("items", "items is required: a list of 1 to " + MAX_ADDED + " items");
        }
        ArrayNode items = added(given, "items");
        boolean sealed = includesEncrypted(rc);
        String id = rc.pathParam("id");
        return pool.withTransaction(conn -> conn.preparedQuery("""
                        SELECT id FROM oai_conversations WHERE id = $1 AND tenant_id = $2 AND owner_id = $3 FOR UPDATE""")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .flatMap(rows -> {
                    if (rows.size() == 0) {
                        throw notFound(id);
                    }
                    return insert(conn, rows.iterator().next().getString("id"), items, "items");
                }))
                .map(v -> {
                    List<JsonNode> shown = new ArrayList<>();
                    items.forEach(item -> shown.add(shown(item, sealed)));
                    return OaiBatchRoutes.list(shown, false);
                });
    }

    /** OpenAI's list of a conversation's items: {@code order} (desc by default), {@code after} an item id, {@code limit} 1-100. */
    private Uni<ObjectNode> list(RoutingContext rc, Caller caller) {
        int limit = OaiBatchRoutes.intParam(rc, "limit", 20, 1, 100);
        String order = rc.request().getParam("order");
        if (order != null && !"asc".equals(order) && !"desc".equals(order)) {
            throw ApiException.validation("order", "order must be asc or desc");
        }
        boolean ascending = "asc".equals(order);
        String after = rc.request().getParam("after");
        boolean sealed = includesEncrypted(rc);
        String id = rc.pathParam("id");
        return owned(pool, caller, id).flatMap(conversation -> {
            String conversationId = conversation.getString("id");
            // the cursor item's place; an id this conversation does not hold is a 400
            Uni<Long> from = after == null || after.isEmpty() ? Uni.createFrom().item(ascending ? Long.MIN_VALUE : Long.MAX_VALUE)
                    : pool.preparedQuery("SELECT seq FROM oai_conversation_items WHERE conversation_id = $1 AND id = $2")
                    .execute(Tuple.of(conversationId, OaiBatchRoutes.clean(after)))
                    .map(rows -> {
                        if (rows.size() == 0) {
                            throw ApiException.validation("after", "after must be the id of an item of this conversation");
                        }
                        return rows.iterator().next().getLong("seq");
                    });
            return from.flatMap(seq -> pool.preparedQuery("SELECT item::text AS item FROM oai_conversation_items WHERE conversation_id = $1"
                            + (ascending ? " AND seq > $2 ORDER BY seq ASC" : " AND seq < $2 ORDER BY seq DESC") + " LIMIT $3")
                    .execute(Tuple.of(conversationId, seq, limit + 1)))
                    .map(rows -> OaiBatchRoutes.page(rows, limit, r -> shown(read(r.getString("item")), sealed)));
        });
    }

    private Uni<JsonNode> item(RoutingContext rc, Caller caller) {
        String itemId = rc.pathParam("item");
        boolean sealed = includesEncrypted(rc);
        return owned(pool, caller, rc.pathParam("id")).flatMap(conversation -> pool.preparedQuery(
                        "SELECT item::text AS item FROM oai_conversation_items WHERE conversation_id = $1 AND id = $2")
                .execute(Tuple.of(conversation.getString("id"), OaiBatchRoutes.clean(itemId)))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Item with id '" + itemId + "' not found.");
                    }
                    return shown(read(rows.iterator().next().getString("item")), sealed);
                }));
    }

    /** Removes an item; the answer is the conversation, as at OpenAI. */
    private Uni<ObjectNode> deleteItem(RoutingContext rc, Caller caller) {
        String itemId = rc.pathParam("item");
        return owned(pool, caller, rc.pathParam("id")).flatMap(conversation -> pool.preparedQuery(
                        "DELETE FROM oai_conversation_items WHERE conversation_id = $1 AND id = $2")
                .execute(Tuple.of(conversation.getString("id"), OaiBatchRoutes.clean(itemId)))
                .map(rows -> {
                    if (rows.rowCount() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "Item with id '" + itemId + "' not found.");
                    }
                    return conversation(conversation);
                }));
    }

    /** An item as shown: a reasoning item's sealed thinking only when the request includes {@code reasoning.encrypted_content}. */
    private static JsonNode shown(JsonNode item, boolean sealed) {
        if (!sealed && item instanceof ObjectNode o && o.has("encrypted_content")) {
            ObjectNode copy = o.deepCopy();
            copy.remove("encrypted_content");
            return copy;
        }
        return item;
    }

    /** {@code include} (or {@code include[]}) names {@code reasoning.encrypted_content}. */
    private static boolean includesEncrypted(RoutingContext rc) {
        List<String> include = new ArrayList<>(rc.queryParam("include"));
        include.addAll(rc.queryParam("include[]"));
        return include.contains(ResponsesApi.ENCRYPTED_REASONING);
    }

    // ------------------------------------------------------------------ the Responses API's side

    /**
     * The chat messages that replay the caller's conversation {@code id}, oldest item first; a 400 naming
     * {@code conversation} when the caller has no such conversation.
     */
    Uni<List<JsonNode>> history(Caller caller, String id) {
        return pool.preparedQuery("""
                        SELECT (SELECT json_agg(i.item ORDER BY i.seq) FROM oai_conversation_items i
                                 WHERE i.conversation_id = c.id)::text AS items
                          FROM oai_conversations c WHERE c.id = $1 AND c.tenant_id = $2 AND c.owner_id = $3""")
                .execute(Tuple.of(OaiBatchRoutes.clean(id), caller.tenantId(), OaiBatchRoutes.ownerOf(caller)))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw ApiException.validation("conversation", "Conversation with id '" + id + "' not found.");
                    }
                    String items = rows.iterator().next().getString("items");
                    List<JsonNode> messages = new ArrayList<>();
                    ResponsesApi.messagesOf(items == null ? null : read(items)).forEach(messages::add);
                    return messages;
                });
    }

    /**
     * After a response made in a conversation: its input items, then its output items, join the conversation
     * (an input item it already holds, sent again, is not added twice). Runs in the caller's transaction.
     */
    Uni<Void> append(SqlConnection conn, String conversationId, ArrayNode inputItems, ArrayNode outputItems) {
        ArrayNode items = mapper.createArrayNode();
        items.addAll(inputItems);
        items.addAll(outputItems);
        return insert(conn, conversationId, items, null);
    }

    private JsonNode read(String json) {
        return StoredResponses.read(mapper, json);
    }
}
