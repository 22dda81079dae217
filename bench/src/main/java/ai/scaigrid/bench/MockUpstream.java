package ai.scaigrid.bench;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;

import java.util.concurrent.TimeUnit;

/**
 * A fast OpenAI-style upstream: answers /v1/chat/completions at once with a fixed completion, or a
 * fixed stream of ten chunks plus a usage chunk. It stands in for the model so that what is measured
 * is the gateway's own cost.
 */
public final class MockUpstream {
    static final Buffer COMPLETION = Buffer.buffer("""
            {"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"mock",\
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},\
            "finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}""");
    static final Buffer STREAM;

    static {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            sb.append("data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,")
                    .append("\"model\":\"mock\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok").append(i)
                    .append(" \"},\"finish_reason\":null}]}\n\n");
        }
        sb.append("data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,")
                .append("\"model\":\"mock\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        sb.append("data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,")
                .append("\"model\":\"mock\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":10,")
                .append("\"total_tokens\":22}}\n\ndata: [DONE]\n\n");
        STREAM = Buffer.buffer(sb.toString());
    }

    private final HttpServer server;

    public MockUpstream(Vertx vertx, int port) throws Exception {
        server = vertx.createHttpServer(new HttpServerOptions().setTcpNoDelay(true)).requestHandler(req ->
                req.body().onSuccess(body -> {
                    boolean stream = body.toString().contains("\"stream\":true");
                    if (stream) {
                        req.response().putHeader("content-type", "text/event-stream").end(STREAM);
                    } else {
                        req.response().putHeader("content-type", "application/json").end(COMPLETION);
                    }
                })).listen(port, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    public int port() {
        return server.actualPort();
    }
}
