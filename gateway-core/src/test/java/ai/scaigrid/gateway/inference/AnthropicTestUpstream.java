package ai.scaigrid.gateway.inference;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A local stand-in for Anthropic's Messages API (a system we do not own), speaking its wire format:
 * {@code x-api-key} and {@code anthropic-version} required, answers and named SSE events as Anthropic
 * sends them. Behaviour by model name: {@code claude-echo} (echoes the last user text),
 * {@code claude-tools} (a sentence, then a {@code get_weather} tool call), {@code claude-overloaded}
 * (529), {@code claude-midfail} (one delta, then an {@code error} event), {@code claude-cut} (one delta,
 * then the response ends without {@code message_stop}), {@code claude-thinking} (a signed thinking block
 * {@link #THINKING}, then the echo), {@code claude-redacted} (thinking, a redacted_thinking block
 * {@link #REDACTED}, more thinking, then the echo). {@code GET /v1/models} lists them.
 * Every request's body is recorded with its headers and query under {@code _...} keys.
 */
public final class AnthropicTestUpstream {
    public static final String KEY = "sk-ant-test-key";
    /** claude-thinking's thinking, as its stream sends it (two deltas), and the block's signature (two deltas). */
    public static final String[] THINKING = {"The user wants ", "an echo."};
    public static final String SIGNATURE = "EqQBCgIYAhIM3zb+kT/aX9Qw5sigZ2l0aGluaw==";
    public static final String REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlx";
    private static AnthropicTestUpstream instance;

    public final CopyOnWriteArrayList<JsonObject> requests = new CopyOnWriteArrayList<>();
    private final Vertx vertx = Vertx.vertx();
    private final HttpServer server;

    private AnthropicTestUpstream() throws Exception {
        server = vertx.createHttpServer().requestHandler(this::handle).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    public static synchronized AnthropicTestUpstream get() {
        if (instance == null) {
            try {
                instance = new AnthropicTestUpstream();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        return instance;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.actualPort() + "/v1";
    }

    /** The last recorded request whose body mentions {@code text}. */
    public JsonObject sentContaining(String text) {
        for (int i = requests.size() - 1; i >= 0; i--) {
            if (requests.get(i).encode().contains(text)) {
                return requests.get(i);
            }
        }
        throw new AssertionError("no request to the Anthropic stand-in mentioned " + text);
    }

    /**
     * What the request being answered wrote to the prompt cache, as Anthropic reports a first call with breakpoints:
     * 2 tokens to the 5-minute cache when anything is marked without a ttl or with 5m, 3 to the 1-hour cache when
     * anything is marked 1h; none without marks. Set per request on the server's thread, read by {@link #usage}.
     */
    private static final ThreadLocal<int[]> CACHE_WRITES = ThreadLocal.withInitial(() -> new int[2]);

    private static int[] cacheWrites(JsonObject body) {
        int[] marks = new int[2];
        countMarks(body, marks);
        return new int[]{marks[0] > 0 ? 2 : 0, marks[1] > 0 ? 3 : 0};
    }

    /** Breakpoints anywhere in the request, by lifetime: [5 minutes, 1 hour]. */
    private static void countMarks(Object node, int[] marks) {
        if (node instanceof JsonObject o) {
            if (o.getValue("cache_control") instanceof JsonObject mark) {
                marks["1h".equals(mark.getString("ttl")) ? 1 : 0]++;
            }
            o.forEach(e -> countMarks(e.getValue(), marks));
        } else if (node instanceof JsonArray a) {
            a.forEach(v -> countMarks(v, marks));
        }
    }

    private void handle(HttpServerRequest req) {
        req.body().onSuccess(buf -> {
            JsonObject body = buf.length() == 0 ? new JsonObject() : buf.toJsonObject();
            CACHE_WRITES.set(cacheWrites(body));
            JsonObject recorded = body.copy().put("_path", req.path()).put("_query", req.query())
                    .put("_x_api_key", req.getHeader("x-api-key")).put("_version", req.getHeader("anthropic-version"))
                    .put("_authorization", req.getHeader("authorization")).put("_beta", req.getHeader("anthropic-beta"));
            requests.add(recorded);
            HttpServerResponse res = req.response().putHeader("content-type", "application/json");
            if (!KEY.equals(req.getHeader("x-api-key"))) {
                res.setStatusCode(401).end(error("authentication_error", "invalid x-api-key"));
                return;
            }
            if (req.getHeader("anthropic-version") == null) {
                res.setStatusCode(400).end(error("invalid_request_error", "anthropic-version: header is required"));
                return;
            }
            if (req.method() == io.vertx.core.http.HttpMethod.GET && req.path().equals("/v1/models")) {
                // one model a page, as a server may give fewer than the limit asked for: callers must follow after_id
                List<String> ids = List.of("claude-echo", "claude-tools", "claude-third");
                String after = req.getParam("after_id");
                int next = after == null ? 0 : ids.indexOf(after) + 1;
                String id = ids.get(next);
                JsonArray data = new JsonArray().add(new JsonObject().put("type", "model").put("id", id).put("display_name", id)
                        .put("created_at", "2025-01-01T00:00:00Z"));
                res.end(new JsonObject().put("data", data).put("has_more", next < ids.size() - 1)
                        .put("first_id", id).put("last_id", id).encode());
                return;
            }
            if (!req.path().equals("/v1/messages")) {
                res.setStatusCode(404).end(error("not_found_error", "Not found"));
                return;
            }
            String model = body.getString("model", "");
            if (body.getValue("max_tokens") == null) {
                res.setStatusCode(400).end(error("invalid_request_error", "max_tokens: Field required"));
                return;
            }
            boolean stream = body.getBoolean("stream", false);
            switch (model) {
                case "claude-overloaded" -> res.setStatusCode(529).end(error("overloaded_error", "Overloaded"));
                case "claude-midfail" -> {
                    sse(res);
                    res.write(event("message_start", messageStart()));
                    res.write(textBlockStart());
                    res.write(event("content_block_delta", textDelta(0, "Partial")));
                    res.end(event("error", new JsonObject().put("type", "error")
                            .put("error", new JsonObject().put("type", "overloaded_error").put("message", "Overloaded (internal shard 7)"))));
                }
                case "claude-cut" -> {
                    sse(res);
                    res.write(event("message_start", messageStart()));
                    res.write(textBlockStart());
                    res.end(event("content_block_delta", textDelta(0, "Cut")));
                }
                case "claude-thinking" -> {
                    String text = "echo: " + lastUserText(body);
                    if (stream) {
                        streamThinking(res, text);
                    } else {
                        res.end(message(new JsonArray()
                                .add(new JsonObject().put("type", "thinking").put("thinking", String.join("", THINKING))
                                        .put("signature", SIGNATURE))
                                .add(new JsonObject().put("type", "text").put("text", text)), "end_turn").encode());
                    }
                }
                case "claude-redacted" -> {
                    String text = "echo: " + lastUserText(body);
                    if (stream) {
                        streamRedacted(res, text);
                    } else {
                        res.end(message(new JsonArray()
                                .add(new JsonObject().put("type", "thinking").put("thinking", "First. ").put("signature", "sig-1"))
                                .add(new JsonObject().put("type", "redacted_thinking").put("data", REDACTED))
                                .add(new JsonObject().put("type", "thinking").put("thinking", "Then.").put("signature", "sig-2"))
                                .add(new JsonObject().put("type", "text").put("text", text)), "end_turn").encode());
                    }
                }
                case "claude-tools" -> {
                    if (stream) {
                        streamTools(res);
                    } else {
                        res.end(message(new JsonArray()
                                .add(new JsonObject().put("type", "text").put("text", "Let me check."))
                                .add(new JsonObject().put("type", "tool_use").put("id", "toolu_01").put("name", "get_weather")
                                        .put("input", new JsonObject().put("city", "Oslo"))), "tool_use").encode());
                    }
                }
                default -> {
                    String text = "echo: " + lastUserText(body);
                    JsonObject choice = body.getJsonObject("tool_choice");
                    if (choice != null && "tool".equals(choice.getString("type"))) {
                        // a forced tool: its input is the answer, {"answer": <text>}
                        forcedTool(res, stream, choice.getString("name"), text);
                        return;
                    }
                    // a stop sequence in the echo ends it there, as at Anthropic (stop_reason stop_sequence, and which one)
                    String matched = null;
                    int cut = -1;
                    for (Object stop : body.getJsonArray("stop_sequences", new JsonArray())) {
                        int at = text.indexOf((String) stop);
                        if (at >= 0 && (cut < 0 || at < cut)) {
                            cut = at;
                            matched = (String) stop;
                        }
                    }
                    text = cut < 0 ? text : text.substring(0, cut);
                    if (stream) {
                        streamText(res, text, matched);
                    } else {
                        JsonObject answer = message(new JsonArray().add(new JsonObject().put("type", "text").put("text", text)),
                                matched == null ? "end_turn" : "stop_sequence");
                        res.end((matched == null ? answer : answer.put("stop_sequence", matched)).encode());
                    }
                }
            }
        });
    }

    private static String lastUserText(JsonObject body) {
        JsonArray messages = body.getJsonArray("messages", new JsonArray());
        for (int i = messages.size() - 1; i >= 0; i--) {
            JsonObject m = messages.getJsonObject(i);
            if (!"user".equals(m.getString("role"))) {
                continue;
            }
            Object content = m.getValue("content");
            if (content instanceof String s) {
                return s;
            }
            JsonArray blocks = (JsonArray) content;
            for (int j = blocks.size() - 1; j >= 0; j--) {
                if ("text".equals(blocks.getJsonObject(j).getString("type"))) {
                    return blocks.getJsonObject(j).getString("text");
                }
            }
        }
        return "";
    }

    private static JsonObject usage(int output) {
        int[] writes = CACHE_WRITES.get();
        JsonObject usage = new JsonObject().put("input_tokens", 11).put("cache_creation_input_tokens", writes[0] + writes[1])
                .put("cache_read_input_tokens", 4).put("output_tokens", output);
        if (writes[0] + writes[1] > 0) {
            usage.put("cache_creation", new JsonObject().put("ephemeral_5m_input_tokens", writes[0])
                    .put("ephemeral_1h_input_tokens", writes[1]));
        }
        return usage;
    }

    private static JsonObject message(JsonArray content, String stopReason) {
        return new JsonObject().put("id", "msg_01test").put("type", "message").put("role", "assistant").put("model", "claude-x")
                .put("content", content).put("stop_reason", stopReason).putNull("stop_sequence").put("usage", usage(6));
    }

    private static JsonObject messageStart() {
        return new JsonObject().put("type", "message_start").put("message", new JsonObject().put("id", "msg_01stream")
                .put("type", "message").put("role", "assistant").put("model", "claude-x").put("content", new JsonArray())
                .putNull("stop_reason").put("usage", usage(1)));
    }

    /** The start of an (empty) text block at index 0. */
    private static String textBlockStart() {
        return event("content_block_start", new JsonObject().put("type", "content_block_start").put("index", 0)
                .put("content_block", new JsonObject().put("type", "text").put("text", "")));
    }

    private static JsonObject textDelta(int index, String text) {
        return new JsonObject().put("type", "content_block_delta").put("index", index)
                .put("delta", new JsonObject().put("type", "text_delta").put("text", text));
    }

    private static void sse(HttpServerResponse res) {
        res.setChunked(true).putHeader("content-type", "text/event-stream");
    }

    private static String event(String name, JsonObject data) {
        return "event: " + name + "\ndata: " + data.encode() + "\n\n";
    }

    private static void streamText(HttpServerResponse res, String text) {
        streamText(res, text, null);
    }

    private static void streamText(HttpServerResponse res, String text, String stopSequence) {
        sse(res);
        res.write(event("message_start", messageStart()));
        res.write(textBlockStart());
        res.write(event("ping", new JsonObject().put("type", "ping")));
        for (String word : text.split("(?<= )")) {
            res.write(event("content_block_delta", textDelta(0, word)));
        }
        res.write(event("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", 0)));
        if (stopSequence == null) {
            end(res, "end_turn");
            return;
        }
        res.write(event("message_delta", new JsonObject().put("type", "message_delta")
                .put("delta", new JsonObject().put("stop_reason", "stop_sequence").put("stop_sequence", stopSequence))
                .put("usage", new JsonObject().put("output_tokens", 6))));
        res.end(event("message_stop", new JsonObject().put("type", "message_stop")));
    }

    /** A signed thinking block at index 0 (as Anthropic streams it: empty start, thinking and signature deltas), then text. */
    private static void streamThinking(HttpServerResponse res, String text) {
        sse(res);
        res.write(event("message_start", messageStart()));
        res.write(event("content_block_start", new JsonObject().put("type", "content_block_start").put("index", 0)
                .put("content_block", new JsonObject().put("type", "thinking").put("thinking", "").put("signature", ""))));
        for (String part : THINKING) {
            res.write(event("content_block_delta", new JsonObject().put("type", "content_block_delta").put("index", 0)
                    .put("delta", new JsonObject().put("type", "thinking_delta").put("thinking", part))));
        }
        int half = SIGNATURE.length() / 2;
        for (String part : new String[]{SIGNATURE.substring(0, half), SIGNATURE.substring(half)}) {
            res.write(event("content_block_delta", new JsonObject().put("type", "content_block_delta").put("index", 0)
                    .put("delta", new JsonObject().put("type", "signature_delta").put("signature", part))));
        }
        res.write(event("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", 0)));
        streamTextBlock(res, 1, text);
        end(res, "end_turn");
    }

    /** A redacted_thinking block at index 0 (it comes whole in its start event), then text. */
    private static void streamRedacted(HttpServerResponse res, String text) {
        sse(res);
        res.write(event("message_start", messageStart()));
        res.write(event("content_block_start", new JsonObject().put("type", "content_block_start").put("index", 0)
                .put("content_block", new JsonObject().put("type", "redacted_thinking").put("data", REDACTED))));
        res.write(event("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", 0)));
        streamTextBlock(res, 1, text);
        end(res, "end_turn");
    }

    private static void streamTextBlock(HttpServerResponse res, int index, String text) {
        res.write(event("content_block_start", new JsonObject().put("type", "content_block_start").put("index", index)
                .put("content_block", new JsonObject().put("type", "text").put("text", ""))));
        for (String word : text.split("(?<= )")) {
            res.write(event("content_block_delta", textDelta(index, word)));
        }
        res.write(event("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", index)));
    }

    private static void streamTools(HttpServerResponse res) {
        sse(res);
        res.write(event("message_start", messageStart()));
        res.write(textBlockStart());
        res.write(event("content_block_delta", textDelta(0, "Let me check.")));
        res.write(event("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", 0)));
        res.write(event("content_block_start", new JsonObject().put("type", "content_block_start").put("index", 1)
                .put("content_block", new JsonObject().put("type", "tool_use").put("id", "toolu_01").put("name", "get_weather")
                        .put("input", new JsonObject()))));
        for (String part : new String[]{"{\"city\":", " \"Oslo\"}"}) {
            res.write(event("content_block_delta", new JsonObject().put("type", "content_block_delta").put("index", 1)
                    .put("delta", new JsonObject().put("type", "input_json_delta").put("partial_json", part))));
        }
        res.write(event("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", 1)));
        end(res, "tool_use");
    }

    private static void forcedTool(HttpServerResponse res, boolean stream, String name, String text) {
        JsonObject input = new JsonObject().put("answer", text);
        if (!stream) {
            res.end(message(new JsonArray().add(new JsonObject().put("type", "tool_use").put("id", "toolu_02").put("name", name)
                    .put("input", input)), "tool_use").encode());
            return;
        }
        sse(res);
        res.write(event("message_start", messageStart()));
        res.write(event("content_block_start", new JsonObject().put("type", "content_block_start").put("index", 0)
                .put("content_block", new JsonObject().put("type", "tool_use").put("id", "toolu_02").put("name", name)
                        .put("input", new JsonObject()))));
        String json = input.encode();
        for (String part : new String[]{"", json.substring(0, 10), json.substring(10)}) {
            res.write(event("content_block_delta", new JsonObject().put("type", "content_block_delta").put("index", 0)
                    .put("delta", new JsonObject().put("type", "input_json_delta").put("partial_json", part))));
        }
        res.write(event("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", 0)));
        end(res, "tool_use");
    }

    private static void end(HttpServerResponse res, String stopReason) {
        res.write(event("message_delta", new JsonObject().put("type", "message_delta")
                .put("delta", new JsonObject().put("stop_reason", stopReason).putNull("stop_sequence"))
                .put("usage", new JsonObject().put("output_tokens", 6))));
        res.end(event("message_stop", new JsonObject().put("type", "message_stop")));
    }

    private static String error(String type, String message) {
        return new JsonObject().put("type", "error").put("error", new JsonObject().put("type", type).put("message", message)).encode();
    }
}
