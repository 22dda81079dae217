package ai.scaigrid.nodeagent.backend;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A stand-in for a local OpenAI-compatible server (llama-server, vLLM, Ollama): a real HTTP server on a
 * free port that answers {@code /v1/chat/completions} with SSE the way those servers do (content
 * deltas, a finish_reason event, then a usage-only event and {@code [DONE]}). Behaviour by model name:
 * {@code llama-ok}, {@code llama-tools}, {@code llama-slow} (one event every 50 ms, 200 of them),
 * {@code llama-bad} (HTTP 400), {@code llama-down} (HTTP 500), {@code llama-broken} (ends mid-stream), {@code vllm-cached}
 * (as llama-ok, with 8 of the prompt tokens read from vLLM's prefix cache).
 */
public final class SseUpstream implements AutoCloseable {
    private final Vertx vertx = Vertx.vertx();
    private final HttpServer server;
    public final AtomicReference<JsonObject> lastBody = new AtomicReference<>();
    public final AtomicReference<String> lastAuthorization = new AtomicReference<>();
    /** Streams whose client went away before the end (cancellation reached the upstream). */
    public final AtomicInteger abandonedStreams = new AtomicInteger();

    public SseUpstream() {
        server = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
            JsonObject json = body.length() == 0 ? new JsonObject() : body.toJsonObject();
            lastBody.set(json);
            lastAuthorization.set(req.getHeader("authorization"));
            handle(req, json);
        }));
        try {
            server.listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.actualPort() + "/v1";
    }

    private void handle(HttpServerRequest req, JsonObject body) {
        String model = body.getString("model", "");
        if (req.path().equals("/v1/embeddings")) {
            JsonArray data = new JsonArray();
            JsonArray input = body.getJsonArray("input", new JsonArray());
            for (int i = 0; i < input.size(); i++) {
                data.add(new JsonObject().put("object", "embedding").put("index", i)
                        .put("embedding", new JsonArray().add(0.5).add(-0.25).add(i)));
            }
            req.response().putHeader("content-type", "application/json").end(new JsonObject().put("object", "list")
                    .put("data", data).put("model", model).put("usage", new JsonObject().put("prompt_tokens", 7).put("total_tokens", 7)).encode());
            return;
        }
        switch (model) {
            case "llama-bad" -> req.response().setStatusCode(400).putHeader("content-type", "application/json")
                    .end("{\"error\":{\"message\":\"context length exceeded\",\"type\":\"invalid_request_error\"}}");
            case "llama-down" -> req.response().setStatusCode(500).end("internal upstream trace at Foo.java:12");
            default -> stream(req, model, req.path().endsWith("/completions") && !req.path().endsWith("/chat/completions"),
                    body.containsKey("logprobs") && !Boolean.FALSE.equals(body.getValue("logprobs")));
        }
    }

    /**
     * Streams the model's answer; {@code logprobs} asked, each text delta carries its tokens' log probabilities as
     * llama-server sends them (chat's {@code content} list, or the completions' parallel lists).
     */
    private void stream(HttpServerRequest req, String model, boolean completions, boolean logprobs) {
        var res = req.response().setChunked(true).putHeader("content-type", "text/event-stream");
        res.closeHandler(v -> {
            if (!res.ended()) {
                abandonedStreams.incrementAndGet();
            }
        });
        String id = "chatcmpl-up1";
        if (completions) {
            JsonObject first = new JsonObject().put("index", 0).put("text", "Once upon").putNull("finish_reason");
            if (logprobs) {
                first.put("logprobs", new JsonObject().put("tokens", new JsonArray().add("Once").add(" upon"))
                        .put("token_logprobs", new JsonArray().add(-1.5).add(-0.25))
                        .put("top_logprobs", new JsonArray().add(new JsonObject().put("Once", -1.5).put("One", -2.0))
                                .add(new JsonObject().put(" upon", -0.25)))
                        .put("text_offset", new JsonArray().add(0).add(4)));
            }
            event(res, new JsonObject().put("id", "cmpl-1").put("object", "text_completion").put("created", 1700000000)
                    .put("choices", new JsonArray().add(first)));
            event(res, new JsonObject().put("id", "cmpl-1").put("choices", new JsonArray().add(new JsonObject().put("index", 0)
                    .put("text", " a time").put("finish_reason", "length"))));
            event(res, new JsonObject().put("id", "cmpl-1").put("choices", new JsonArray())
                    .put("usage", new JsonObject().put("prompt_tokens", 3).put("completion_tokens", 4).put("total_tokens", 7)));
            res.end("data: [DONE]\n\n");
            return;
        }
        switch (model) {
            case "llama-tools" -> {
                event(res, chunk(id, new JsonObject().put("role", "assistant").put("tool_calls", new JsonArray().add(new JsonObject()
                        .put("index", 0).put("id", "call_abc").put("type", "function")
                        .put("function", new JsonObject().put("name", "get_weather").put("arguments", "")))), null));
                event(res, chunk(id, new JsonObject().put("tool_calls", new JsonArray().add(new JsonObject().put("index", 0)
                        .put("function", new JsonObject().put("arguments", "{\"city\":")))), null));
                event(res, chunk(id, new JsonObject().put("tool_calls", new JsonArray().add(new JsonObject().put("index", 0)
                        .put("function", new JsonObject().put("arguments", "\"Paris\"}")))), null));
                event(res, chunk(id, new JsonObject(), "tool_calls"));
                res.end("data: [DONE]\n\n");
            }
            case "llama-slow" -> {
                event(res, chunk(id, new JsonObject().put("role", "assistant").put("content", ""), null));
                int[] sent = {0};
                vertx.setPeriodic(50, t -> {
                    if (res.closed() || res.ended()) {
                        vertx.cancelTimer(t);
                        return;
                    }
                    if (sent[0]++ < 200) {
                        event(res, chunk(id, new JsonObject().put("content", " w" + sent[0]), null));
                    } else {
                        vertx.cancelTimer(t);
                        event(res, chunk(id, new JsonObject(), "stop"));
                        res.end("data: [DONE]\n\n");
                    }
                });
            }
            case "llama-think", "ollama-think" -> {
                // a reasoning model: llama-server and vLLM put the thinking in reasoning_content (content null),
                // Ollama and newer vLLM in reasoning
                String field = model.equals("llama-think") ? "reasoning_content" : "reasoning";
                event(res, chunk(id, new JsonObject().put("role", "assistant").putNull("content").put(field, "The user"), null));
                event(res, chunk(id, new JsonObject().putNull("content").put(field, " greets me."), null));
                event(res, chunk(id, new JsonObject().put("content", "Hello!"), null));
                event(res, chunk(id, new JsonObject().put(field, ""), "stop"));
                event(res, new JsonObject().put("id", id).put("choices", new JsonArray())
                        .put("usage", new JsonObject().put("prompt_tokens", 9).put("completion_tokens", 6).put("total_tokens", 15)
                                .put("completion_tokens_details", new JsonObject().put("reasoning_tokens", 4))));
                res.end("data: [DONE]\n\n");
            }
            case "llama-broken" -> {
                event(res, chunk(id, new JsonObject().put("role", "assistant").put("content", "Half"), null));
                vertx.setTimer(50, t -> req.connection().close());
            }
            default -> {
                // the shape llama-server and vLLM send: role first, content deltas, finish, then usage alone
                event(res, chunk(id, new JsonObject().put("role", "assistant").put("content", ""), null));
                JsonObject hello = chunk(id, new JsonObject().put("content", "Hello"), null);
                JsonObject world = chunk(id, new JsonObject().put("content", " world"), null);
                if (logprobs) {
                    hello.getJsonArray("choices").getJsonObject(0).put("logprobs", new JsonObject().put("content", new JsonArray()
                            .add(new JsonObject().put("token", "Hello").put("logprob", -0.5).put("bytes", new JsonArray().add(72).add(101)
                                            .add(108).add(108).add(111))
                                    .put("top_logprobs", new JsonArray().add(new JsonObject().put("token", "Hello").put("logprob", -0.5))
                                            .add(new JsonObject().put("token", "Hi").put("logprob", -1.25))))));
                    world.getJsonArray("choices").getJsonObject(0).put("logprobs", new JsonObject().put("content", new JsonArray()
                            .add(new JsonObject().put("token", " world").put("logprob", -0.125).put("top_logprobs", new JsonArray()))));
                }
                event(res, hello);
                res.write(": keep-alive comment\n\n");
                event(res, world);
                event(res, chunk(id, new JsonObject(), "stop"));
                event(res, new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", 1700000000)
                        .put("choices", new JsonArray())
                        .put("usage", new JsonObject().put("prompt_tokens", 9).put("completion_tokens", 2).put("total_tokens", 11)
                                .put("prompt_tokens_details", "vllm-cached".equals(model) ? new JsonObject().put("cached_tokens", 8) : null)));
                res.end("data: [DONE]\n\n");
            }
        }
    }

    private static JsonObject chunk(String id, JsonObject delta, String finish) {
        JsonObject choice = new JsonObject().put("index", 0).put("delta", delta);
        if (finish == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finish);
        }
        return new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", 1700000000)
                .put("model", "upstream").put("choices", new JsonArray().add(choice));
    }

    private static void event(io.vertx.core.http.HttpServerResponse res, JsonObject json) {
        res.write("data: " + json.encode() + "\n\n");
    }

    @Override
    public void close() {
        vertx.close();
    }
}
