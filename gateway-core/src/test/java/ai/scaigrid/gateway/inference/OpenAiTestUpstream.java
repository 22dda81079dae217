package ai.scaigrid.gateway.inference;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A local OpenAI-style upstream (a system we do not own) whose behaviour is chosen by the model
 * name the gateway sends: {@code echo}, {@code nousage}, {@code tools}, {@code fail500},
 * {@code drop} (connection reset before any answer), {@code midfail} (two chunks, then the
 * connection dies), {@code slow} (a chunk every 50 ms for 10 s; {@code slow1s} for 1 s), {@code hang} (never answers),
 * {@code badrequest}, {@code ratelimited}, {@code flaky} (fails while {@link #flakyFailing} is set), {@code cut} (the echo,
 * ended by the output cap: finish_reason length),
 * and {@code embed} on /embeddings; on /images/generations {@code draw} (DALL-E's shape: a URL or base64 per image, no
 * usage), {@code draw-tokens} (gpt-image-1's: base64 and token usage), {@code fail500} and {@code drop}; on
 * /audio/speech {@code speak} (bytes naming the format and the input); on /audio/transcriptions (multipart)
 * {@code hear} (whisper's shape: the transcript is what the uploaded bytes say) and {@code hear-tokens} (token usage);
 * on /audio/translations the same, the transcript beginning "heard in English: ".
 * Counts calls and records stream cancellations.
 */
public final class OpenAiTestUpstream {
    private static OpenAiTestUpstream instance;

    public final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    public final AtomicInteger cancelledStreams = new AtomicInteger();
    public final AtomicBoolean flakyFailing = new AtomicBoolean(true);
    public final CopyOnWriteArrayList<JsonObject> requests = new CopyOnWriteArrayList<>();
    private final Vertx vertx = Vertx.vertx();
    private final HttpServer server;

    private OpenAiTestUpstream() throws Exception {
        server = vertx.createHttpServer().requestHandler(this::handle).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    public static synchronized OpenAiTestUpstream get() {
        if (instance == null) {
            try {
                instance = new OpenAiTestUpstream();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        return instance;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.actualPort() + "/v1";
    }

    /** {@code GET /v1/models}: OpenAI's list; 401 without a key or with {@code wrong-key}. */
    private void listModels(HttpServerRequest req) {
        String auth = req.getHeader("authorization");
        requests.add(new JsonObject().put("_path", req.path()).put("_auth", auth));
        if (auth == null || auth.equals("Bearer wrong-key")) {
            req.response().setStatusCode(401).end(new JsonObject().put("error", new JsonObject()
                    .put("message", "Incorrect API key provided: wrong-key (internal ref 0xdeadbeef)")).encode());
            return;
        }
        io.vertx.core.json.JsonArray data = new io.vertx.core.json.JsonArray();
        for (String id : new String[]{"echo", "slow", "embed"}) {
            data.add(new JsonObject().put("id", id).put("object", "model").put("owned_by", "test-upstream"));
        }
        req.response().putHeader("content-type", "application/json")
                .end(new JsonObject().put("object", "list").put("data", data).encode());
    }

    /** The last recorded request whose body mentions {@code text}. */
    /** Every request that mentioned {@code text}, oldest first. */
    public List<JsonObject> allSentContaining(String text) {
        return requests.stream().filter(r -> r.encode().contains(text)).toList();
    }

    public JsonObject sentContaining(String text) {
        for (int i = requests.size() - 1; i >= 0; i--) {
            if (requests.get(i).encode().contains(text)) {
                return requests.get(i);
            }
        }
        throw new AssertionError("no request to the OpenAI-style test upstream mentioned " + text);
    }

    public int calls(String model) {
        return calls.computeIfAbsent(model, k -> new AtomicInteger()).get();
    }

    private void handle(HttpServerRequest req) {
        if (req.method() == io.vertx.core.http.HttpMethod.GET && req.path().endsWith("/models")) {
            listModels(req);
            return;
        }
        if (req.path().endsWith("/images/edits") || req.path().endsWith("/images/variations")) {
            editImages(req);
            return;
        }
        if (req.path().endsWith("/audio/transcriptions") || req.path().endsWith("/audio/translations")) {
            transcribe(req);
            return;
        }
        req.body().onSuccess(buf -> {
            JsonObject body = buf.length() == 0 ? new JsonObject() : buf.toJsonObject();
            requests.add(body.put("_path", req.path()).put("_auth", req.getHeader("authorization"))
                    .put("_x_api_key", req.getHeader("x-api-key")).put("_query", req.query())
                    .put("_api_key_header", req.getHeader("api-key")));
            String model = body.getString("model", "");
            calls.computeIfAbsent(model, k -> new AtomicInteger()).incrementAndGet();
            HttpServerResponse res = req.response();
            if (req.path().endsWith("/embeddings")) {
                embed(body, res);
                return;
            }
            if (req.path().endsWith("/moderations")) {
                moderate(body, res, model);
                return;
            }
            if (req.path().endsWith("/audio/speech")) {
                if ("speak-stream".equals(model) || "speak-break".equals(model)) {
                    // the first part at once; the rest when the test opens the gate (or, speak-break, the connection dies)
                    res.setChunked(true).putHeader("content-type", "audio/mpeg").write(SPEECH_PART_1);
                    if ("speak-break".equals(model)) {
                        vertx.setTimer(50, t -> req.connection().close());
                    } else {
                        speechGate.get().thenRun(() -> vertx.runOnContext(v -> res.end(SPEECH_PART_2)));
                    }
                } else if ("speak".equals(model) && "sse".equals(body.getString("stream_format"))) {
                    // gpt-4o-mini-tts's events: the audio in base64 pieces, then its usage
                    String format = body.getString("response_format", "mp3");
                    byte[] audio = speechBytes(format, body.getString("input")).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    res.setChunked(true).putHeader("content-type", "text/event-stream");
                    for (int i = 0; i < audio.length; i += 8) {
                        String piece = java.util.Base64.getEncoder().encodeToString(java.util.Arrays.copyOfRange(audio, i,
                                Math.min(audio.length, i + 8)));
                        res.write("data: " + new JsonObject().put("type", "speech.audio.delta").put("audio", piece).encode() + "\n\n");
                    }
                    res.end("data: " + new JsonObject().put("type", "speech.audio.done").put("usage", new JsonObject()
                            .put("input_tokens", 11).put("output_tokens", 42).put("total_tokens", 53)).encode() + "\n\n");
                } else if ("speak".equals(model)) {
                    String format = body.getString("response_format", "mp3");
                    res.putHeader("content-type", "mp3".equals(format) ? "audio/mpeg" : "audio/" + format)
                            .end(speechBytes(format, body.getString("input")));
                } else {
                    res.setStatusCode(500).end(new JsonObject().put("error", new JsonObject()
                            .put("message", "kaboom: SELECT secret FROM internal_table at db.py:12")).encode());
                }
                return;
            }
            if (req.path().endsWith("/images/generations")) {
                images(req, body, res, model);
                return;
            }
            boolean stream = body.getBoolean("stream", false);
            if (req.path().endsWith("/completions") && !req.path().endsWith("/chat/completions")) {
                textComplete(body, res, stream, model);
                return;
            }
            switch (model) {
                case "fail500" -> res.setStatusCode(500).end(new JsonObject().put("error", new JsonObject()
                        .put("message", "kaboom: SELECT secret FROM internal_table at db.py:12")).encode());
                case "drop" -> req.connection().close();
                case "hang" -> { }
                case "badrequest" -> res.setStatusCode(400).end(new JsonObject().put("error", new JsonObject()
                        .put("message", "This model's maximum context length is 10 tokens")).encode());
                case "ratelimited" -> res.setStatusCode(429).putHeader("retry-after", "7").end("{}");
                case "flaky" -> {
                    if (flakyFailing.get()) {
                        res.setStatusCode(503).end("{}");
                    } else {
                        complete(body, res, stream, true, false);
                    }
                }
                case "midfail" -> {
                    res.setChunked(true).putHeader("content-type", "text/event-stream");
                    res.write(chunk("Hello", null));
                    res.write(chunk(" wor", null));
                    vertx.setTimer(20, t -> req.connection().close());
                }
                case "slow", "slow1s" -> {
                    res.setChunked(true).putHeader("content-type", "text/event-stream");
                    int ticks = "slow".equals(model) ? 200 : 20;
                    AtomicInteger n = new AtomicInteger();
                    AtomicBoolean ended = new AtomicBoolean();
                    long timer = vertx.setPeriodic(50, id -> {
                        if (ended.get()) {
                            vertx.cancelTimer(id);
                            return;
                        }
                        if (n.incrementAndGet() > ticks) {
                            vertx.cancelTimer(id);
                            ended.set(true);
                            res.end("data: [DONE]\n\n");
                            return;
                        }
                        res.write(chunk("tick ", null));
                    });
                    res.closeHandler(v -> {
                        if (!ended.getAndSet(true)) {
                            vertx.cancelTimer(timer);
                            cancelledStreams.incrementAndGet();
                        }
                    });
                }
                case "wire" -> {
                    // SSE as servers really send it: CRLF line ends, a comment, a named event, one JSON
                    // event split over two data lines (joined by a newline), split TCP writes, and a
                    // padded end marker
                    res.setChunked(true).putHeader("content-type", "text/event-stream");
                    String first = chunk("Hel", null).replace("\n", "\r\n");
                    res.write(": keep-alive\r\n\r\n");
                    res.write(first.substring(0, 10));
                    res.write(first.substring(10));
                    String second = chunk("lo ü", null).trim().substring("data: ".length());
                    int cut = second.indexOf("\"choices\"");
                    res.write("event: message\r\ndata: " + second.substring(0, cut) + "\r\ndata:" + second.substring(cut)
                            + "\r\n\r\n");
                    res.write(chunk(null, "stop"));
                    res.end("data:  [DONE] \r\n\r\n");
                }
                case "late" -> vertx.setTimer(900, t -> complete(body, res, stream, true, false)); // thinks first
                case "nousage" -> complete(body, res, stream, false, false);
                case "think" -> think(body, res, stream);
                case "tools" -> complete(body, res, stream, true, true);
                case "agent" -> agent(body, res, stream);
                case "stops" -> stops(body, res, stream);
                case "cached", "cut" -> complete(body, res, stream, true, false);
                default -> complete(body, res, stream, true, false);
            }
        });
    }

    /**
     * A model that uses the tools it is given: "call NAME {json}" in the last user message (several joined by ";") makes
     * it call them, each call's arguments streamed in two pieces; once the last messages are tool results, it answers
     * "tool said: " and their contents joined by " | ". Anything else is echoed.
     */
    private void agent(JsonObject body, HttpServerResponse res, boolean stream) {
        JsonArray messages = body.getJsonArray("messages", new JsonArray());
        String text = null;
        JsonArray calls = new JsonArray();
        if (!messages.isEmpty() && "tool".equals(messages.getJsonObject(messages.size() - 1).getString("role"))) {
            java.util.LinkedList<String> results = new java.util.LinkedList<>();
            for (int i = messages.size() - 1; i >= 0 && "tool".equals(messages.getJsonObject(i).getString("role")); i--) {
                results.addFirst(String.valueOf(messages.getJsonObject(i).getValue("content")));
            }
            text = "tool said: " + String.join(" | ", results);
        } else {
            String user = lastUserText(body);
            for (String part : user.split(";")) {
                part = part.trim();
                if (part.startsWith("call ") && !"none".equals(body.getValue("tool_choice"))) {
                    String rest = part.substring(5);
                    int space = rest.indexOf(' ');
                    String name = space < 0 ? rest : rest.substring(0, space);
                    calls.add(new JsonObject().put("id", "call_" + java.util.UUID.randomUUID().toString().substring(0, 8))
                            .put("type", "function").put("function", new JsonObject().put("name", name)
                                    .put("arguments", space < 0 ? "{}" : rest.substring(space + 1))));
                }
            }
            if (calls.isEmpty()) {
                text = "echo: " + user;
            }
        }
        String finish = calls.isEmpty() ? "stop" : "tool_calls";
        if (!stream) {
            JsonObject message = new JsonObject().put("role", "assistant").put("content", text);
            if (!calls.isEmpty()) {
                message.put("tool_calls", calls);
            }
            res.putHeader("content-type", "application/json").end(new JsonObject().put("id", "chatcmpl-agent")
                    .put("object", "chat.completion").put("created", 1700000000).put("model", "agent")
                    .put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("message", message)
                            .put("finish_reason", finish)))
                    .put("usage", usage(body, 1)).encode());
            return;
        }
        res.setChunked(true).putHeader("content-type", "text/event-stream");
        if (text != null) {
            for (String word : text.split("(?<= )")) {
                res.write(chunk(word, null));
            }
        }
        for (int i = 0; i < calls.size(); i++) {
            JsonObject call = calls.getJsonObject(i);
            String args = call.getJsonObject("function").getString("arguments");
            int half = args.length() / 2;
            JsonObject first = call.copy().put("index", i);
            first.getJsonObject("function").put("arguments", args.substring(0, half));
            JsonObject second = new JsonObject().put("index", i).put("function", new JsonObject().put("arguments", args.substring(half)));
            for (JsonObject piece : List.of(first, second)) {
                res.write("data: " + new JsonObject().put("id", "chatcmpl-agent").put("object", "chat.completion.chunk")
                        .put("created", 1700000000).put("model", "agent").put("choices", new JsonArray().add(new JsonObject()
                                .put("index", 0).put("delta", new JsonObject().put("tool_calls", new JsonArray().add(piece)))
                                .putNull("finish_reason"))).encode() + "\n\n");
            }
        }
        res.write(chunk(null, finish));
        if (body.getJsonObject("stream_options", new JsonObject()).getBoolean("include_usage", false)) {
            res.write("data: " + new JsonObject().put("id", "chatcmpl-agent").put("object", "chat.completion.chunk")
                    .put("created", 1700000000).put("model", "agent").put("choices", new JsonArray())
                    .put("usage", usage(body, 1)).encode() + "\n\n");
        }
        res.end("data: [DONE]\n\n");
    }

    /** vLLM's way with {@code stop}: the echo ends before the first stop string in it, named by the choice's {@code stop_reason}. */
    private void stops(JsonObject body, HttpServerResponse res, boolean stream) {
        String text = "echo: " + lastUserText(body);
        Object stop = body.getValue("stop");
        List<?> stops = stop instanceof JsonArray a ? a.getList() : stop == null ? List.of() : List.of(stop);
        String matched = null;
        int cut = -1;
        for (Object s : stops) {
            int at = text.indexOf((String) s);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
                matched = (String) s;
            }
        }
        text = cut < 0 ? text : text.substring(0, cut);
        JsonObject choice = new JsonObject().put("index", 0).put("finish_reason", "stop").put("stop_reason", matched);
        if (!stream) {
            res.putHeader("content-type", "application/json").end(new JsonObject().put("id", "chatcmpl-stops")
                    .put("object", "chat.completion").put("created", 1700000000).put("model", "stops")
                    .put("choices", new JsonArray().add(choice.put("message", new JsonObject().put("role", "assistant")
                            .put("content", text)))).put("usage", usage(body, 1)).encode());
            return;
        }
        res.setChunked(true).putHeader("content-type", "text/event-stream");
        res.write(chunk(text, null));
        res.write("data: " + new JsonObject().put("id", "chatcmpl-stops").put("object", "chat.completion.chunk")
                .put("created", 1700000000).put("model", "stops").put("choices", new JsonArray().add(choice.put("delta", new JsonObject())))
                .put("usage", usage(body, 1)).encode() + "\n\n");
        res.end("data: [DONE]\n\n");
    }

    private static String lastUserText(JsonObject body) {
        JsonArray messages = body.getJsonArray("messages", new JsonArray());
        for (int i = messages.size() - 1; i >= 0; i--) {
            JsonObject m = messages.getJsonObject(i);
            if ("user".equals(m.getString("role"))) {
                return String.valueOf(m.getValue("content"));
            }
        }
        return "";
    }

    private void complete(JsonObject body, HttpServerResponse res, boolean stream, boolean usage, boolean tools) {
        String text = "echo: " + lastUserText(body);
        int n = body.getInteger("n", 1);
        String finish = tools ? "tool_calls" : "cut".equals(body.getString("model")) ? "length" : "stop";
        JsonObject toolCall = new JsonObject().put("id", "call_1").put("type", "function")
                .put("function", new JsonObject().put("name", "get_weather").put("arguments", "{\"city\":\"Oslo\"}"));
        if (!stream) {
            JsonObject message = new JsonObject().put("role", "assistant").put("content", tools ? null : text);
            if (tools) {
                message.put("tool_calls", new JsonArray().add(toolCall));
            }
            JsonArray choices = new JsonArray();
            for (int i = 0; i < n; i++) { // n choices, as OpenAI answers "n"
                JsonObject choice = new JsonObject().put("index", i).put("message", message.copy())
                        .put("finish_reason", finish);
                if (body.getBoolean("logprobs", false) && !tools) {
                    choice.put("logprobs", chatLogprobs(text.split("(?<= )"), body.getInteger("top_logprobs", 0)));
                }
                choices.add(choice);
            }
            JsonObject out = new JsonObject().put("id", "chatcmpl-up1").put("object", "chat.completion")
                    .put("created", 1700000000).put("model", body.getString("model")).put("choices", choices);
            if (usage) {
                out.put("usage", usage(body, n));
            }
            res.putHeader("content-type", "application/json").end(out.encode());
            return;
        }
        res.setChunked(true).putHeader("content-type", "text/event-stream");
        if (tools) {
            JsonObject delta = new JsonObject().put("role", "assistant").put("tool_calls",
                    new JsonArray().add(toolCall.copy().put("index", 0)));
            res.write("data: " + new JsonObject().put("id", "chatcmpl-up1").put("object", "chat.completion.chunk")
                    .put("created", 1700000000).put("model", body.getString("model"))
                    .put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("delta", delta)
                            .putNull("finish_reason"))).encode() + "\n\n");
            res.write(chunk(null, "tool_calls"));
        } else {
            for (int i = 0; i < n; i++) {
                for (String word : text.split("(?<= )")) {
                    if (body.getBoolean("logprobs", false)) {
                        JsonObject c = new JsonObject(chunk(i, word, null).substring("data: ".length()).trim());
                        c.getJsonArray("choices").getJsonObject(0)
                                .put("logprobs", chatLogprobs(new String[]{word}, body.getInteger("top_logprobs", 0)));
                        res.write("data: " + c.encode() + "\n\n");
                        continue;
                    }
                    res.write(chunk(i, word, null));
                }
                res.write(chunk(i, null, finish));
            }
        }
        boolean wantsUsage = body.getJsonObject("stream_options", new JsonObject()).getBoolean("include_usage", false);
        if (usage && wantsUsage) {
            res.write("data: " + new JsonObject().put("id", "chatcmpl-up1").put("object", "chat.completion.chunk")
                    .put("created", 1700000000).put("model", body.getString("model")).put("choices", new JsonArray())
                    .put("usage", usage(body, n))
                    .encode() + "\n\n");
        }
        res.end("data: [DONE]\n\n");
    }

    /** 7 prompt tokens and 3 per choice; model {@code cached} read 5 of the prompt from its prompt cache. */
    private static JsonObject usage(JsonObject body, int n) {
        JsonObject usage = new JsonObject().put("prompt_tokens", 7).put("completion_tokens", 3 * n).put("total_tokens", 7 + 3 * n);
        if ("cached".equals(body.getString("model"))) {
            usage.put("prompt_tokens_details", new JsonObject().put("cached_tokens", 5));
        }
        return usage;
    }

    /** A reasoning model that reports no usage: {@link #THOUGHT} as Ollama's {@code reasoning}, then the echo. */
    private void think(JsonObject body, HttpServerResponse res, boolean stream) {
        String text = "echo: " + lastUserText(body);
        if (!stream) {
            JsonObject message = new JsonObject().put("role", "assistant").put("content", text).put("reasoning", THOUGHT);
            res.putHeader("content-type", "application/json").end(new JsonObject().put("id", "chatcmpl-up1").put("object", "chat.completion")
                    .put("created", 1700000000).put("model", body.getString("model")).put("choices", new JsonArray()
                            .add(new JsonObject().put("index", 0).put("message", message).put("finish_reason", "stop"))).encode());
            return;
        }
        res.setChunked(true).putHeader("content-type", "text/event-stream");
        for (String word : THOUGHT.split("(?<= )")) {
            res.write("data: " + new JsonObject().put("id", "chatcmpl-up1").put("object", "chat.completion.chunk")
                    .put("created", 1700000000).put("model", body.getString("model"))
                    .put("choices", new JsonArray().add(new JsonObject().put("index", 0)
                            .put("delta", new JsonObject().put("reasoning", word)).putNull("finish_reason"))).encode() + "\n\n");
        }
        res.write(chunk(text, null));
        res.end(chunk(null, "stop") + "data: [DONE]\n\n");
    }

    /**
     * OpenAI's legacy text completions, as vLLM, llama.cpp and Ollama serve them: the prompt continued as it is
     * ({@link #CONTINUATION}), words as chunks. The {@code chatonly} model answers 404 as OpenAI does for its chat
     * models; {@code fail500} fails.
     */
    private void textComplete(JsonObject body, HttpServerResponse res, boolean stream, String model) {
        if ("chatonly".equals(model)) {
            res.setStatusCode(404).putHeader("content-type", "application/json").end(new JsonObject().put("error", new JsonObject()
                    .put("message", "This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?")
                    .put("type", "invalid_request_error")).encode());
            return;
        }
        if ("fail500".equals(model)) {
            res.setStatusCode(500).end("{}");
            return;
        }
        // as vLLM: a choice per prompt (a string, or token ids read as "t<id> "), the prompt first with echo
        java.util.List<String> prompts = new java.util.ArrayList<>();
        Object prompt = body.getValue("prompt");
        if (prompt instanceof JsonArray a && !a.isEmpty() && a.getValue(0) instanceof Number) {
            prompts.add(tokenText(a));
        } else if (prompt instanceof JsonArray a) {
            a.forEach(p -> prompts.add(p instanceof JsonArray ids ? tokenText(ids) : String.valueOf(p)));
        } else {
            prompts.add(String.valueOf(prompt));
        }
        boolean echo = body.getBoolean("echo", false);
        int k = prompts.size();
        JsonObject usage = new JsonObject().put("prompt_tokens", 5 * k).put("completion_tokens", 4 * k).put("total_tokens", 9 * k);
        if (!stream) {
            JsonArray choices = new JsonArray();
            for (int i = 0; i < k; i++) {
                String text = (echo ? prompts.get(i) : "") + CONTINUATION;
                choices.add(new JsonObject().put("text", text).put("index", i)
                        .put("logprobs", textLogprobs(text.split("(?<= )"), body.getValue("logprobs"), 0))
                        .put("finish_reason", "length"));
            }
            res.putHeader("content-type", "application/json").end(new JsonObject().put("id", "cmpl-up1").put("object", "text_completion")
                    .put("created", 1700000000).put("model", model).put("choices", choices).put("usage", usage).encode());
            return;
        }
        res.setChunked(true).putHeader("content-type", "text/event-stream");
        for (int c = 0; c < k; c++) {
            java.util.List<String> words = new java.util.ArrayList<>();
            if (echo) {
                words.add(prompts.get(c)); // vLLM streams the echoed prompt as the first chunk
            }
            words.addAll(java.util.List.of(CONTINUATION.split("(?<= )")));
            int offset = 0;
            for (int i = 0; i < words.size(); i++) {
                JsonObject choice = new JsonObject().put("text", words.get(i)).put("index", c)
                        .put("logprobs", textLogprobs(new String[]{words.get(i)}, body.getValue("logprobs"), offset));
                offset += words.get(i).length();
                if (i == words.size() - 1) {
                    choice.put("finish_reason", "length");
                } else {
                    choice.putNull("finish_reason");
                }
                res.write("data: " + new JsonObject().put("id", "cmpl-up1").put("object", "text_completion").put("created", 1700000000)
                        .put("model", model).put("choices", new JsonArray().add(choice)).encode() + "\n\n");
            }
        }
        if (body.getJsonObject("stream_options", new JsonObject()).getBoolean("include_usage", false)) {
            res.write("data: " + new JsonObject().put("id", "cmpl-up1").put("object", "text_completion").put("created", 1700000000)
                    .put("model", model).put("choices", new JsonArray()).put("usage", usage).encode() + "\n\n");
        }
        res.end("data: [DONE]\n\n");
    }

    /** Token ids as this upstream's text: {@code t<id> } each. */
    private static String tokenText(JsonArray ids) {
        StringBuilder text = new StringBuilder();
        ids.forEach(id -> text.append('t').append(id).append(' '));
        return text.toString();
    }

    /** Every token's log probability here; its k-th alternative ({@code alt<k>}) has -1 - k. */
    public static final double LOGPROB = -0.25;

    /** Chat's logprobs for these tokens, with {@code top} alternatives each. */
    private static JsonObject chatLogprobs(String[] tokens, int top) {
        JsonArray content = new JsonArray();
        for (String token : tokens) {
            JsonArray alternatives = new JsonArray();
            for (int k = 0; k < top; k++) {
                alternatives.add(new JsonObject().put("token", "alt" + k).put("logprob", -1.0 - k));
            }
            content.add(new JsonObject().put("token", token).put("logprob", LOGPROB).putNull("bytes").put("top_logprobs", alternatives));
        }
        return new JsonObject().put("content", content).putNull("refusal");
    }

    /** The completions API's logprobs (its {@code logprobs} a count of alternatives), or null when not asked for. */
    private static JsonObject textLogprobs(String[] tokens, Object asked, int offset) {
        if (!(asked instanceof Number count)) {
            return null;
        }
        JsonArray tokenList = new JsonArray(), logprobs = new JsonArray(), top = new JsonArray(), offsets = new JsonArray();
        for (String token : tokens) {
            tokenList.add(token);
            logprobs.add(LOGPROB);
            JsonObject alternatives = new JsonObject();
            for (int k = 0; k < count.intValue(); k++) {
                alternatives.put("alt" + k, -1.0 - k);
            }
            top.add(alternatives);
            offsets.add(offset);
            offset += token.length();
        }
        return new JsonObject().put("tokens", tokenList).put("token_logprobs", logprobs).put("top_logprobs", top)
                .put("text_offset", offsets);
    }

    /** What a text completion adds to any prompt (4 tokens). */
    public static final String CONTINUATION = " Paris, of course.";

    /** What the {@code think} model thinks before its answer (31 characters: 8 counted tokens). */
    public static final String THOUGHT = "The user wants an echo of this.";

    private static String chunk(String content, String finish) {
        return chunk(0, content, finish);
    }

    private static String chunk(int index, String content, String finish) {
        JsonObject delta = new JsonObject();
        if (content != null) {
            delta.put("content", content);
        }
        JsonObject choice = new JsonObject().put("index", index).put("delta", delta);
        if (finish == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finish);
        }
        return "data: " + new JsonObject().put("id", "chatcmpl-up1").put("object", "chat.completion.chunk")
                .put("created", 1700000000).put("model", "upstream-name").put("choices", new JsonArray().add(choice)).encode()
                + "\n\n";
    }

    private void embed(JsonObject body, HttpServerResponse res) {
        Object input = body.getValue("input");
        // a string, an array of strings or of token-id arrays (one vector each), or one array of token ids
        int n = input instanceof JsonArray a && !a.isEmpty() && !(a.getValue(0) instanceof Number) ? a.size() : 1;
        if (body.containsKey("encoding_format") && !"float".equals(body.getValue("encoding_format"))) {
            // like the OpenAI-compatible servers that only speak floats (llama.cpp, Ollama)
            res.setStatusCode(400).end(new JsonObject().put("error", new JsonObject().put("message", "encoding_format not supported")).encode());
            return;
        }
        JsonArray data = new JsonArray();
        for (int i = 0; i < n; i++) {
            data.add(new JsonObject().put("object", "embedding").put("index", i).put("embedding", new JsonArray().add(0.1 * (i + 1)).add(0.2).add(0.3)));
        }
        res.putHeader("content-type", "application/json").end(new JsonObject().put("object", "list").put("data", data)
                .put("model", body.getString("model")).put("usage", new JsonObject().put("prompt_tokens", 4 * n).put("total_tokens", 4 * n))
                .encode());
    }

    /** What one {@code draw} image decodes to: the prompt and the image's index, so a test can tell the images apart. */
    public static String imageBytes(String prompt, int index) {
        return "PNG " + index + ": " + prompt;
    }

    public static final int IMAGE_OUTPUT_TOKENS = 272;

    private void images(HttpServerRequest req, JsonObject body, HttpServerResponse res, String model) {
        switch (model) {
            case "fail500" -> {
                res.setStatusCode(500).end(new JsonObject().put("error", new JsonObject()
                        .put("message", "kaboom: SELECT secret FROM internal_table at db.py:12")).encode());
                return;
            }
            case "drop" -> {
                req.connection().close();
                return;
            }
            case "draw", "draw-tokens" -> { }
            default -> {
                res.setStatusCode(404).end(new JsonObject().put("error", new JsonObject()
                        .put("message", "The model " + model + " does not exist")).encode());
                return;
            }
        }
        String prompt = body.getString("prompt", "");
        int n = body.getInteger("n", 1);
        boolean tokens = "draw-tokens".equals(model);
        boolean b64 = tokens || "b64_json".equals(body.getString("response_format"));
        JsonArray data = new JsonArray();
        for (int i = 0; i < n; i++) {
            JsonObject image = b64
                    ? new JsonObject().put("b64_json", java.util.Base64.getEncoder().encodeToString(
                            imageBytes(prompt, i).getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                    : new JsonObject().put("url", "https://images.example/" + i + ".png");
            if (!tokens) {
                image.put("revised_prompt", "A careful drawing of " + prompt);
            }
            data.add(image);
        }
        JsonObject out = new JsonObject().put("created", 1700000000).put("data", data);
        if (tokens) {
            int in = prompt.split("\\s+").length;
            out.put("usage", new JsonObject().put("input_tokens", in).put("output_tokens", IMAGE_OUTPUT_TOKENS * n)
                    .put("total_tokens", in + IMAGE_OUTPUT_TOKENS * n)
                    .put("input_tokens_details", new JsonObject().put("text_tokens", in).put("image_tokens", 0)));
        }
        res.putHeader("content-type", "application/json").end(out.encode());
    }

    /**
     * {@code moderate} on /moderations: a result per input (a string, a list of strings, or parts, whose texts are
     * judged together), flagged for violence when the text mentions "kill"; images are noted, never flagged.
     */
    private static void moderate(JsonObject body, HttpServerResponse res, String model) {
        if ("fail500".equals(model)) {
            res.setStatusCode(500).end("{}");
            return;
        }
        if (!"moderate".equals(model)) {
            res.setStatusCode(404).end(new JsonObject().put("error", new JsonObject().put("message", "no such model")).encode());
            return;
        }
        Object input = body.getValue("input");
        java.util.List<String> texts = new java.util.ArrayList<>();
        boolean image = false;
        if (input instanceof String s) {
            texts.add(s);
        } else if (input instanceof JsonArray a && a.size() > 0 && a.getValue(0) instanceof String) {
            a.forEach(v -> texts.add((String) v));
        } else if (input instanceof JsonArray a) {
            StringBuilder joined = new StringBuilder();
            for (Object part : a) {
                JsonObject p = (JsonObject) part;
                joined.append(p.getString("text", ""));
                image |= "image_url".equals(p.getString("type"));
            }
            texts.add(joined.toString());
        }
        JsonArray results = new JsonArray();
        for (String text : texts) {
            boolean violent = text.contains("kill");
            results.add(new JsonObject().put("flagged", violent)
                    .put("categories", new JsonObject().put("violence", violent).put("harassment", false))
                    .put("category_scores", new JsonObject().put("violence", violent ? 0.97 : 0.01).put("harassment", 0.001))
                    .put("category_applied_input_types", new JsonObject().put("violence", image ? new JsonArray().add("text").add("image")
                            : new JsonArray().add("text")).put("harassment", new JsonArray().add("text"))));
        }
        res.putHeader("content-type", "application/json")
                .end(new JsonObject().put("id", "modr-1").put("model", model).put("results", results).encode());
    }

    public static final String SPEECH_PART_1 = "AUDIO-PART-1 ";
    public static final String SPEECH_PART_2 = "AUDIO-PART-2";
    /** Opened by a test to let {@code speak-stream} finish its answer; replace it for the next one. */
    public final java.util.concurrent.atomic.AtomicReference<java.util.concurrent.CompletableFuture<Void>> speechGate =
            new java.util.concurrent.atomic.AtomicReference<>(new java.util.concurrent.CompletableFuture<>());

    /** The audio {@code speak} answers: the format and the input, so a test can tell what was asked. */
    public static String speechBytes(String format, String input) {
        return "AUDIO/" + format + ": " + input;
    }

    /** A multipart transcription request: fields recorded like a JSON body's, the file's bytes read back as its "speech". */
    /**
     * gpt-4o-transcribe's stream: a {@code transcript.text.delta} per word, 20 ms apart, then {@code transcript.text.done}
     * (with token usage when {@code tokens}); a transcript saying "break off" loses its connection after the first word.
     */
    private void streamTranscript(HttpServerResponse res, String text, boolean tokens) {
        res.setChunked(true).putHeader("content-type", "text/event-stream");
        String[] words = text.split("(?<= )");
        AtomicInteger next = new AtomicInteger();
        vertx.setPeriodic(20, id -> {
            int i = next.getAndIncrement();
            if (i == 1 && text.contains("break off")) {
                vertx.cancelTimer(id);
                res.reset();
                return;
            }
            if (i < words.length) {
                res.write("data: " + new JsonObject().put("type", "transcript.text.delta").put("delta", words[i]).encode() + "\n\n");
                return;
            }
            vertx.cancelTimer(id);
            JsonObject done = new JsonObject().put("type", "transcript.text.done").put("text", text);
            if (tokens) {
                done.put("usage", new JsonObject().put("type", "tokens").put("input_tokens", 40).put("output_tokens", 7)
                        .put("total_tokens", 47));
            }
            res.end("data: " + done.encode() + "\n\n");
        });
    }

    private void transcribe(HttpServerRequest req) {
        // decoded whole, as the gateway decodes forms (MultipartForm), not by Netty's streaming decoder
        req.body().onSuccess(raw -> {
            MultipartForm.Parts form = MultipartForm.decode(raw, req.getHeader("content-type"));
            io.vertx.core.buffer.Buffer audio = io.vertx.core.buffer.Buffer.buffer();
            String[] file = new String[2];
            form.files().stream().filter(f -> "file".equals(f.name())).findFirst().ifPresent(f -> {
                file[0] = f.filename();
                file[1] = f.contentType();
                audio.appendBuffer(f.bytes());
            });
            JsonObject body = new JsonObject();
            form.fields().forEach(f -> body.put(f.name(), f.value()));
            requests.add(body.copy().put("_path", req.path()).put("_auth", req.getHeader("authorization"))
                    .put("_filename", file[0]).put("_file_type", file[1]).put("_file_bytes", audio.length())
                    .put("_content_type", req.getHeader("content-type")));
            String model = body.getString("model", "");
            calls.computeIfAbsent(model, k -> new AtomicInteger()).incrementAndGet();
            HttpServerResponse res = req.response();
            if (!"hear".equals(model) && !"hear-tokens".equals(model)) {
                res.setStatusCode(404).end(new JsonObject().put("error", new JsonObject().put("message", "no such model")).encode());
                return;
            }
            String text = (req.path().endsWith("/translations") ? "heard in English: " : "heard: ")
                    + audio.toString(java.nio.charset.StandardCharsets.UTF_8);
            if ("true".equals(body.getString("stream"))) {
                streamTranscript(res, text, "hear-tokens".equals(model));
                return;
            }
            String format = body.getString("response_format", "json");
            switch (format) {
                case "text" -> res.putHeader("content-type", "text/plain; charset=utf-8").end(text);
                case "srt" -> res.putHeader("content-type", "text/plain; charset=utf-8").end("1\n00:00:00,000 --> 00:00:01,000\n" + text + "\n");
                default -> {
                    JsonObject out = new JsonObject().put("text", text);
                    if ("verbose_json".equals(format)) {
                        out.put("language", body.getString("language", "english")).put("duration", 1.5);
                    }
                    if ("hear-tokens".equals(model)) {
                        out.put("usage", new JsonObject().put("type", "tokens").put("input_tokens", 30).put("output_tokens", 6)
                                .put("total_tokens", 36));
                    }
                    res.putHeader("content-type", "application/json").end(out.encode());
                }
            }
        });
    }

    /** What an edit by {@code draw} decodes to: how many images (and under which field) and whether a mask came. */
    public static String editBytes(String prompt, int images, String field, boolean mask) {
        return "EDITED " + images + " " + field + (mask ? " with mask" : "") + ": " + prompt;
    }

    /** A multipart image edit: {@code draw} answers base64 of {@link #editBytes}; any other model 404. */
    private void editImages(HttpServerRequest req) {
        req.body().onSuccess(raw -> {
            MultipartForm.Parts form = MultipartForm.decode(raw, req.getHeader("content-type"));
            java.util.List<String> fields = new java.util.ArrayList<>();
            form.files().forEach(f -> fields.add(f.name()));
            JsonObject body = new JsonObject();
            form.fields().forEach(f -> body.put(f.name(), f.value()));
            requests.add(body.copy().put("_path", req.path()).put("_auth", req.getHeader("authorization"))
                    .put("_files", new JsonArray(fields)));
            String model = body.getString("model", "");
            calls.computeIfAbsent(model, k -> new AtomicInteger()).incrementAndGet();
            if (!"draw".equals(model)) {
                req.response().setStatusCode(404)
                        .end(new JsonObject().put("error", new JsonObject().put("message", "no such model")).encode());
                return;
            }
            if (req.path().endsWith("/variations")) {
                // DALL-E 2's variations: base64 of "VARIATION <i> OF <the image's bytes>"
                String image = form.files().stream().filter(f -> "image".equals(f.name())).findFirst()
                        .map(f -> f.bytes().toString(java.nio.charset.StandardCharsets.UTF_8)).orElse("none");
                JsonArray varied = new JsonArray();
                for (int i = 0; i < Integer.parseInt(body.getString("n", "1")); i++) {
                    varied.add(new JsonObject().put("b64_json", java.util.Base64.getEncoder().encodeToString(
                            ("VARIATION " + i + " OF " + image).getBytes(java.nio.charset.StandardCharsets.UTF_8))));
                }
                req.response().putHeader("content-type", "application/json")
                        .end(new JsonObject().put("created", 1700000000).put("data", varied).encode());
                return;
            }
            long images = fields.stream().filter(f -> f.startsWith("image")).count();
            String field = fields.stream().filter(f -> f.startsWith("image")).findFirst().orElse("none");
            int n = Integer.parseInt(body.getString("n", "1"));
            JsonArray data = new JsonArray();
            for (int i = 0; i < n; i++) {
                data.add(new JsonObject().put("b64_json", java.util.Base64.getEncoder().encodeToString(
                        editBytes(body.getString("prompt", ""), (int) images, field, fields.contains("mask"))
                                .getBytes(java.nio.charset.StandardCharsets.UTF_8))));
            }
            req.response().putHeader("content-type", "application/json")
                    .end(new JsonObject().put("created", 1700000000).put("data", data).encode());
        });
    }
}
