package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.api.ErrorEnvelope;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.commons.security.AuthFailureLimiter;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.CallerResolver;
import ai.scaigrid.commons.vertx.Contexts;
import ai.scaigrid.gateway.catalog.CatalogModels.FrontendModel;
import ai.scaigrid.gateway.catalog.CatalogService;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.Cancellable;
import io.smallrye.mutiny.subscription.MultiSubscriber;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import ai.scaigrid.gateway.inference.provider.Upload;
import ai.scaigrid.gateway.inference.provider.UpstreamFailure;
import ai.scaigrid.gateway.inference.provider.UpstreamHttp;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;
import org.jboss.logging.MDC;
import java.util.concurrent.Flow.Subscription;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The HTTP inference surface, on Vert.x routes so that streaming is written exactly as specified
 * (SSE frames, headers only once the first token arrived so failover stays invisible, flow control,
 * client disconnect cancelling the upstream at once):
 * <ul>
 *   <li>native: {@code POST /v1/inference/chat|generate|embed|images/generate|images/edits|images/variations|audio/speech|
 *   audio/transcriptions|audio/translations} — enveloped JSON (speech: the audio), or SSE with
 *   {@code event: error} and a final {@code data: [DONE]};</li>
 *   <li>OpenAI-compatible: {@code POST /oai/v1/chat/completions}, {@code /completions}, {@code /embeddings},
 *   {@code /images/generations}, {@code /images/edits}, {@code /images/variations}, {@code /audio/speech}, {@code /audio/transcriptions},
 *   {@code /audio/translations}, {@code /responses} ({@link ResponsesApi}), {@code GET /oai/v1/models},
 *   {@code GET /oai/v1/models/{id}} — OpenAI's own shapes and error format, so the official SDKs work unchanged
 *   (files and batches: {@link OaiBatchRoutes}).</li>
 * </ul>
 */
@ApplicationScoped
public class InferenceRoutes {
    private static final Logger LOG = Logger.getLogger(InferenceRoutes.class);
    private static final Buffer DONE = Buffer.buffer("data: [DONE]\n\n");

    /** The inference doors, each with its own request and error shapes. */
    public enum Api {
        NATIVE("native"), OAI("oai"), ANTHROPIC("anthropic");

        /** How usage records and metrics name the door. */
        final String tag;

        Api(String tag) {
            this.tag = tag;
        }

        /** The door a request path belongs to. */
        public static Api of(String path) {
            return path == null ? NATIVE : path.startsWith("/oai/") ? OAI : path.startsWith("/anthropic/") ? ANTHROPIC : NATIVE;
        }
    }

    @Inject
    InferencePipeline pipeline;

    @Inject
    GatewayOverhead overhead;

    @Inject
    CallerResolver resolver;

    @Inject
    AuthFailureLimiter authLimiter;

    @Inject
    CatalogService catalog;

    @Inject
    Limits limits;

    @Inject
    ModelRoutes routes;

    @Inject
    ObjectMapper mapper;

    @Inject
    StoredResponses storedResponses;

    @Inject
    BackgroundResponses background;

    @Inject
    HostedMcp hostedMcp;

    @Inject
    ResponseEvents responseEvents;

    @ConfigProperty(name = "scaigrid.inference.max-body-size", defaultValue = "16777216")
    long maxBody;

    /** The largest audio file a transcription takes (OpenAI's limit: 25 MB). */
    @ConfigProperty(name = "scaigrid.inference.max-audio-size", defaultValue = "26214400")
    long maxAudio;

    /** The most an image edit's images and mask may weigh together. */
    @ConfigProperty(name = "scaigrid.inference.max-image-upload-size", defaultValue = "26214400")
    long maxImageUpload;

    /**
     * A stream that wrote nothing for this long gets an SSE comment ({@code : keep-alive}), so that a
     * proxy or load balancer with an idle timeout (nginx, cloud load balancers: often 60 s) does not cut
     * it while a model thinks before its first token or between tokens. Clients ignore comments. 0 turns
     * it off.
     */
    @ConfigProperty(name = "scaigrid.inference.sse-keep-alive", defaultValue = "15s")
    java.time.Duration sseKeepAlive;

    @Inject
    io.vertx.core.Vertx vertx;

    static final Buffer KEEP_ALIVE = Buffer.buffer(": keep-alive\n\n");

    /** The head of every event stream this gateway sends: status 200, chunked, and not buffered by a proxy on the way. */
    static void eventStreamHead(HttpServerResponse response) {
        response.setStatusCode(200)
                .putHeader("Content-Type", "text/event-stream; charset=utf-8")
                .putHeader("Cache-Control", "no-cache")
                .putHeader("X-Accel-Buffering", "no")
                .setChunked(true);
    }

    /** One named server-sent event: {@code event: <type>} and its JSON as the data line. */
    static Buffer appendEvent(Buffer out, String type, byte[] json) {
        return out.appendString("event: ").appendString(type).appendString("\ndata: ").appendBytes(json).appendString("\n\n");
    }

    /** The keep-alive interval of streams started from now on (tests shorten it). */
    void sseKeepAlive(java.time.Duration every) {
        this.sseKeepAlive = every;
    }

    /** The keep-alive interval of streams (0 or null: none). */
    java.time.Duration sseKeepAlive() {
        return sseKeepAlive;
    }

    @ConfigProperty(name = "quarkus.http.limits.max-body-size")
    java.util.Optional<io.quarkus.runtime.configuration.MemorySize> serverBodyLimit;

    void register(@Observes Router router) {
        serverBodyLimit.ifPresent(limit -> {
            if (limit.asLongValue() < Math.max(maxBody, maxAudio + 65536)) {
                LOG.warnf("quarkus.http.limits.max-body-size (%d bytes) is below scaigrid.inference.max-body-size (%d) or "
                        + "max-audio-size (%d) plus a form's overhead: larger requests get the server's bare 413",
                        limit.asLongValue(), maxBody, maxAudio);
            }
        });
        BodyHandler body = BodyHandler.create(false).setBodyLimit(maxBody);
        post(router, "/v1/inference/chat", Api.NATIVE, body, rc -> inference(rc, Api.NATIVE, "chat"));
        post(router, "/v1/inference/generate", Api.NATIVE, body, rc -> inference(rc, Api.NATIVE, "generate"));
        post(router, "/v1/inference/embed", Api.NATIVE, body, rc -> inference(rc, Api.NATIVE, "embed"));
        post(router, "/v1/inference/images/generate", Api.NATIVE, body, rc -> inference(rc, Api.NATIVE, "images"));
        post(router, "/v1/inference/images/edits", Api.NATIVE, null, rc -> imageUpload(rc, Api.NATIVE, "image_edits"));
        post(router, "/v1/inference/images/variations", Api.NATIVE, null, rc -> imageUpload(rc, Api.NATIVE, "image_variations"));
        post(router, "/v1/inference/audio/speech", Api.NATIVE, body, rc -> inference(rc, Api.NATIVE, "speech"));
        post(router, "/v1/inference/audio/transcriptions", Api.NATIVE, null, rc -> transcription(rc, Api.NATIVE, "transcriptions"));
        post(router, "/v1/inference/audio/translations", Api.NATIVE, null, rc -> transcription(rc, Api.NATIVE, "translations"));
        post(router, "/v1/inference/moderate", Api.NATIVE, body, rc -> inference(rc, Api.NATIVE, "moderations"));
        post(router, "/oai/v1/chat/completions", Api.OAI, body, rc -> inference(rc, Api.OAI, "chat"));
        post(router, "/oai/v1/completions", Api.OAI, body, rc -> inference(rc, Api.OAI, "generate"));
        post(router, "/oai/v1/embeddings", Api.OAI, body, rc -> inference(rc, Api.OAI, "embed"));
        post(router, "/oai/v1/images/generations", Api.OAI, body, rc -> inference(rc, Api.OAI, "images"));
        post(router, "/oai/v1/images/edits", Api.OAI, null, rc -> imageUpload(rc, Api.OAI, "image_edits"));
        post(router, "/oai/v1/images/variations", Api.OAI, null, rc -> imageUpload(rc, Api.OAI, "image_variations"));
        post(router, "/oai/v1/audio/speech", Api.OAI, body, rc -> inference(rc, Api.OAI, "speech"));
        post(router, "/oai/v1/audio/transcriptions", Api.OAI, null, rc -> transcription(rc, Api.OAI, "transcriptions"));
        post(router, "/oai/v1/audio/translations", Api.OAI, null, rc -> transcription(rc, Api.OAI, "translations"));
        post(router, "/oai/v1/moderations", Api.OAI, body, rc -> inference(rc, Api.OAI, "moderations"));
        post(router, "/oai/v1/responses", Api.OAI, body, this::responses);
        post(router, "/oai/v1/responses/input_tokens", Api.OAI, body, this::responseInputTokens);
        router.get("/oai/v1/models").handler(this::oaiModels);
        router.getWithRegex("/oai/v1/models/(?<id>.+)").handler(this::oaiModel);
        post(router, "/anthropic/v1/messages", Api.ANTHROPIC, body, this::messages);
        post(router, "/anthropic/v1/messages/count_tokens", Api.ANTHROPIC, body, this::countTokens);
        router.get("/anthropic/v1/models").handler(this::anthropicModels);
        router.getWithRegex("/anthropic/v1/models/(?<id>.+)").handler(this::anthropicModel);
    }

    /**
     * A POST route of an inference API: the JSON body handler ({@code body}; null for a multipart route, which reads
     * its own body), then {@code handler}; the body handler's refusals in the API's error shape.
     */
    private void post(Router router, String path, Api api, BodyHandler body, io.vertx.core.Handler<RoutingContext> handler) {
        io.vertx.ext.web.Route route = router.post(path);
        if (body != null) {
            route.handler(body);
        }
        route.handler(handler).failureHandler(rc -> routeFailure(rc, api));
    }

    /**
     * Failures before our handler runs, above all the body handler refusing a body over the limit (413), in
     * the API's own error format instead of the HTTP server's bare status page.
     */
    void routeFailure(RoutingContext rc, Api api) {
        String requestId = begin(rc);
        ApiException e = switch (rc.statusCode()) {
            case 413 -> new ApiException(ErrorCode.PAYLOAD_TOO_LARGE, "The request body is larger than " + maxBody + " bytes",
                    java.util.Map.of("max_bytes", maxBody));
            case 400 -> ApiException.validation("body", "The request body could not be read");
            default -> rc.failure() != null ? InferencePipeline.toApiException(rc.failure()) : new ApiException(ErrorCode.INTERNAL_ERROR);
        };
        fail(rc, api, requestId, e);
    }

    /** The largest JSON request body taken ({@code scaigrid.inference.max-body-size}). */
    long maxBody() {
        return maxBody;
    }

    // ------------------------------------------------------------------ request handling

    private void inference(RoutingContext rc, Api api, String endpoint) {
        long arrived = System.nanoTime();
        io.vertx.core.Context requestContext = io.vertx.core.Vertx.currentContext();
        String requestId = begin(rc);
        authenticate(rc, requestId).subscribe().with(caller -> guard(rc, api, requestId, null, () -> {
            if (caller == null) {
                return; // already answered
            }
            JsonNode body;
            try {
                Buffer raw = rc.body().buffer();
                if (raw == null || raw.length() == 0) {
                    throw ApiException.validation("body", "The request body must be a JSON object");
                }
                body = mapper.readTree(raw.getBytes());
            } catch (ApiException e) {
                fail(rc, api, requestId, e);
                return;
            } catch (Exception e) {
                fail(rc, api, requestId, ApiException.validation("body", "The request body is not valid JSON"));
                return;
            }
            admitAndDispatch(rc, api, endpoint, caller, requestId, body, null, null, null, arrived, requestContext);
        }), failure -> fail(rc, api, requestId, InferencePipeline.toApiException(failure)));
    }

    /**
     * OpenAI's Responses API: the request checked and translated to chat ({@link ResponsesApi.Turn}), after the
     * earlier turns of the conversation it continues ({@code previous_response_id}, {@link StoredResponses}); the answer
     * framed back and stored.
     */
    private void responses(RoutingContext rc) {
        long arrived = System.nanoTime();
        io.vertx.core.Context requestContext = io.vertx.core.Vertx.currentContext();
        String requestId = begin(rc);
        authenticate(rc, requestId).subscribe().with(caller -> guard(rc, Api.OAI, requestId, null, () -> {
            if (caller == null) {
                return;
            }
            ResponsesApi.Turn turn;
            try {
                Buffer raw = rc.body().buffer();
                JsonNode original;
                try {
                    original = raw == null || raw.length() == 0 ? null : mapper.readTree(raw.getBytes());
                } catch (Exception e) {
                    throw ApiException.validation("body", "The request body is not valid JSON");
                }
                turn = new ResponsesApi.Turn(original);
            } catch (ApiException e) {
                fail(rc, Api.OAI, requestId, e);
                return;
            }
            storedResponses.chat(caller, turn)
                    .flatMap(chat -> turn.mcpServers.isEmpty() ? Uni.createFrom().item(chat) : hostedMcp.prepare(caller, turn, chat))
                    .subscribe().with(chat -> guard(rc, Api.OAI, requestId, null, () ->
                            admitAndDispatch(rc, Api.OAI, "responses", caller, requestId, chat, null, null, turn, arrived, requestContext)),
                    failure -> fail(rc, Api.OAI, requestId, InferencePipeline.toApiException(failure)));
        }), failure -> fail(rc, Api.OAI, requestId, InferencePipeline.toApiException(failure)));
    }

    /**
     * OpenAI's input token count ({@code POST /responses/input_tokens}): the request checked as a response would be,
     * with the earlier turns it continues, and its prompt's tokens estimated as for {@link #countTokens}; a model, when
     * named, must be one the caller may use. No backend is called.
     */
    private void responseInputTokens(RoutingContext rc) {
        answered(rc, Api.OAI, caller -> {
            caller.require(ai.scaigrid.commons.security.Permissions.MODELS_USE);
            ResponsesApi.Turn turn = new ResponsesApi.Turn(jsonBody(rc));
            return storedResponses.chat(caller, turn).flatMap(chat -> {
                boolean named = chat.hasNonNull("model");
                if (!named) {
                    chat.put("model", "unnamed"); // the count needs none; the check of the rest does
                }
                InferenceRequests.Parsed parsed = InferenceRequests.chat(chat);
                ObjectNode out = mapper.createObjectNode().put("object", "response.input_tokens")
                        .put("input_tokens", parsed.promptEstimate());
                return named ? routes.resolve(caller, parsed.model()).map(route -> out) : Uni.createFrom().item(out);
            });
        });
    }

    /** Anthropic's Messages API: the request translated to chat ({@link MessagesApi#toChat}), the answer framed back. */
    private void messages(RoutingContext rc) {
        long arrived = System.nanoTime();
        io.vertx.core.Context requestContext = io.vertx.core.Vertx.currentContext();
        String requestId = begin(rc);
        authenticate(rc, requestId).subscribe().with(caller -> guard(rc, Api.ANTHROPIC, requestId, null, () -> {
            if (caller == null) {
                return;
            }
            ObjectNode chat;
            List<HostedMcp.Server> servers;
            try {
                JsonNode body = jsonBody(rc);
                chat = MessagesApi.toChat(body, false);
                servers = MessagesApi.mcpServers(body);
            } catch (ApiException e) {
                fail(rc, Api.ANTHROPIC, requestId, e);
                return;
            }
            if (servers.isEmpty()) {
                admitAndDispatch(rc, Api.ANTHROPIC, "chat", caller, requestId, chat, null, null, null, arrived, requestContext);
                return;
            }
            // the MCP connector: the servers' tools listed before the request is admitted (HostedMcp)
            hostedMcp.start(servers, chat, null).subscribe().with(run -> guard(rc, Api.ANTHROPIC, requestId, null, () ->
                    admitAndDispatch(rc, Api.ANTHROPIC, "chat", caller, requestId, chat, null, null, null, run, arrived, requestContext)),
                    failure -> fail(rc, Api.ANTHROPIC, requestId, InferencePipeline.toApiException(failure)));
        }), failure -> fail(rc, Api.ANTHROPIC, requestId, InferencePipeline.toApiException(failure)));
    }

    /**
     * Anthropic's {@code count_tokens}: the request checked as a message would be, for a model the caller may use, and
     * its prompt's tokens estimated as the gateway estimates every prompt for its limits (about four characters a
     * token; images and documents uncounted): no backend is called.
     */
    private void countTokens(RoutingContext rc) {
        answered(rc, Api.ANTHROPIC, caller -> {
            caller.require(ai.scaigrid.commons.security.Permissions.MODELS_USE);
            InferenceRequests.Parsed parsed = InferenceRequests.chat(MessagesApi.toChat(jsonBody(rc), true));
            return routes.resolve(caller, parsed.model())
                    .map(route -> mapper.createObjectNode().put("input_tokens", parsed.promptEstimate()));
        });
    }

    /** The request's JSON body; a 400 naming {@code body} when there is none or it does not parse. */
    JsonNode jsonBody(RoutingContext rc) {
        Buffer raw = rc.body().buffer();
        if (raw == null || raw.length() == 0) {
            throw ApiException.validation("body", "The request body must be a JSON object");
        }
        try {
            return mapper.readTree(raw.getBytes());
        } catch (Exception e) {
            throw ApiException.validation("body", "The request body is not valid JSON");
        }
    }

    private void admitAndDispatch(RoutingContext rc, Api api, String endpoint, Caller caller, String requestId, JsonNode body,
                                  Upload upload, List<java.util.Map.Entry<String, Upload>> files, ResponsesApi.Turn responses,
                                  long arrived, io.vertx.core.Context requestContext) {
        admitAndDispatch(rc, api, endpoint, caller, requestId, body, upload, files, responses,
                responses == null ? null : responses.hosted, arrived, requestContext);
    }

    /** {@code hosted}: the request's MCP run ({@link HostedMcp}), or null. */
    private void admitAndDispatch(RoutingContext rc, Api api, String endpoint, Caller caller, String requestId, JsonNode body,
                                  Upload upload, List<java.util.Map.Entry<String, Upload>> files, ResponsesApi.Turn responses,
                                  HostedMcp.Run hosted, long arrived, io.vertx.core.Context requestContext) {
        Uni<InferenceExchange> admitted;
        String echo = "generate".equals(endpoint) ? InferenceRequests.echoText(body) : null; // validation consumes the field
        // a request with MCP servers has its sessions open: they end with the request, whatever ends it
        if (hosted != null) {
            rc.addEndHandler(v -> hosted.close());
        }
        try {
            admitted = pipeline.admit(caller, requestId, api.tag, endpoint, body, 0);
        } catch (RuntimeException e) {
            fail(rc, api, requestId, InferencePipeline.toApiException(e));
            return;
        }
        admitted.subscribe().with(ex -> guard(rc, api, requestId, ex, () -> {
            ex.upload = upload;
            ex.files = files;
            ex.echo = echo;
            ex.responses = responses;
            ex.hosted = hosted;
            dispatch(rc, api, ex.arrivedAt(arrived), requestContext);
        }), failure -> fail(rc, api, requestId, InferencePipeline.toApiException(failure)));
    }

    /**
     * A transcription or translation (to English): OpenAI's multipart form ({@link #readForm}), then authenticated and admitted like any
     * request, with the form fields as the body and the upload described in its {@code file} field.
     */
    private void transcription(RoutingContext rc, Api api, String endpoint) {
        long arrived = System.nanoTime();
        io.vertx.core.Context requestContext = io.vertx.core.Vertx.currentContext();
        String requestId = begin(rc);
        authenticatedUpload(rc, api, requestId, authenticate(rc, requestId), caller ->
                readForm(rc, api, requestId, maxAudio, "audio file", (body, upload) -> {
                    if (upload != null) {
                        ObjectNode described = body.putObject(InferenceRequests.UPLOAD_FIELD).put("filename", upload.filename())
                                .put("bytes", upload.bytes().length());
                        java.math.BigDecimal seconds = AudioDuration.ofUpload(upload.bytes());
                        if (seconds != null) {
                            described.put("seconds", seconds); // the upload's length is known before the call: for its budget hold
                        }
                    }
                    admitAndDispatch(rc, api, endpoint, caller, requestId, body, upload, null, null, arrived, requestContext);
                }));
    }

    /**
     * An upload is read only once its sender is known: the request waits (paused) while {@code caller} resolves, so
     * nobody unauthenticated makes the gateway take in megabytes. A refused request's body is drained and dropped.
     */
    void authenticatedUpload(RoutingContext rc, Api api, String requestId, Uni<Caller> caller,
                             java.util.function.Consumer<Caller> then) {
        rc.request().pause();
        caller.subscribe().with(c -> {
            if (c == null) {
                rc.request().resume(); // already answered
                return;
            }
            guard(rc, api, requestId, null, () -> then.accept(c));
            rc.request().resume(); // a no-op once the body is being read; if it was refused, it is drained
        }, failure -> {
            fail(rc, api, requestId, InferencePipeline.toApiException(failure));
            rc.request().resume();
        });
    }

    /**
     * An image edit or variation: OpenAI's multipart form, read once the caller is known. An edit takes images as
     * {@code image} or {@code image[]} parts and an optional {@code mask}; a variation ({@code image_variations},
     * DALL-E 2) one {@code image} part (every one is counted, so that a second is refused by name). The uploads are
     * described in the body's {@code image} and {@code mask} fields for validation and passed on to the backend by
     * their field names.
     */
    private void imageUpload(RoutingContext rc, Api api, String endpoint) {
        long arrived = System.nanoTime();
        io.vertx.core.Context requestContext = io.vertx.core.Vertx.currentContext();
        String requestId = begin(rc);
        boolean edit = "image_edits".equals(endpoint);
        java.util.Set<String> fileFields = edit ? java.util.Set.of("image", "image[]", "mask") : java.util.Set.of("image");
        authenticatedUpload(rc, api, requestId, authenticate(rc, requestId), caller ->
                readParts(rc, api, requestId, maxImageUpload, edit ? "images" : "image", fileFields, (body, parts) -> {
                    ArrayNode described = body.putArray("image");
                    if (edit) {
                        body.remove("mask");
                    }
                    List<java.util.Map.Entry<String, Upload>> files = new ArrayList<>();
                    for (FilePart part : parts) {
                        if ("mask".equals(part.field())) {
                            if (!body.has("mask")) {
                                body.putObject("mask").put("filename", part.upload().filename())
                                        .put("bytes", part.upload().bytes().length());
                                files.add(java.util.Map.entry("mask", part.upload()));
                            }
                        } else {
                            described.addObject().put("filename", part.upload().filename()).put("bytes", part.upload().bytes().length());
                            files.add(java.util.Map.entry(part.field(), part.upload()));
                        }
                    }
                    admitAndDispatch(rc, api, endpoint, caller, requestId, body, null, files, null, arrived, requestContext);
                }));
    }

    /**
     * Reads a {@code multipart/form-data} request with one file part, {@code file} ({@link #readParts}); hands the
     * form fields and the upload (null without one) to {@code then}.
     */
    void readForm(RoutingContext rc, Api api, String requestId, long maxFile, String what,
                  java.util.function.BiConsumer<ObjectNode, Upload> then) {
        readParts(rc, api, requestId, maxFile, what, java.util.Set.of(InferenceRequests.UPLOAD_FIELD), (body, parts) ->
                then.accept(body, parts.isEmpty() ? null : parts.get(0).upload()));
    }

    /** A file part of a multipart request: its field name ({@code image[]} as sent) and the upload. */
    record FilePart(String field, Upload upload) {
    }

    private static final int MAX_FILE_PARTS = 16;

    /**
     * Reads a {@code multipart/form-data} request into memory, up to {@code maxTotal} bytes plus a form's overhead
     * (over it: 413 naming {@code what}), and decodes it whole ({@link MultipartForm}): the file parts named in
     * {@code fileFields} (at most 16; others are dropped, and together at most {@code maxTotal} bytes) and the form
     * fields (a {@code name[]} field as a list) go to {@code then}. Anything else is a 400 in the API's error shape.
     */
    void readParts(RoutingContext rc, Api api, String requestId, long maxTotal, String what, java.util.Set<String> fileFields,
                   java.util.function.BiConsumer<ObjectNode, List<FilePart>> then) {
        HttpServerRequest req = rc.request();
        String type = req.getHeader("content-type");
        if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("multipart/form-data") || req.isEnded()) {
            fail(rc, api, requestId, ApiException.validation("body",
                    "The request body must be multipart/form-data, with the " + what + " as its file part"));
            return;
        }
        long limit = maxTotal + FORM_OVERHEAD;
        Buffer raw = Buffer.buffer();
        AtomicBoolean tooLarge = new AtomicBoolean();
        AtomicBoolean failed = new AtomicBoolean();
        ApiException overLimit = new ApiException(ErrorCode.PAYLOAD_TOO_LARGE, "The " + what + " is larger than " + maxTotal + " bytes",
                java.util.Map.of("max_bytes", maxTotal));
        req.handler(chunk -> {
            if (!tooLarge.get() && raw.length() + chunk.length() > limit) {
                tooLarge.set(true); // the rest is drained and dropped
            } else if (!tooLarge.get()) {
                raw.appendBuffer(chunk);
            }
        });
        req.exceptionHandler(e -> {
            if (failed.compareAndSet(false, true)) {
                fail(rc, api, requestId, ApiException.validation("body", "The multipart request body could not be read"));
            }
        });
        req.endHandler(v -> guard(rc, api, requestId, null, () -> {
            if (failed.getAndSet(true)) {
                return;
            }
            if (tooLarge.get()) {
                fail(rc, api, requestId, overLimit);
                return;
            }
            MultipartForm.Parts form;
            try {
                form = MultipartForm.decode(raw, type);
            } catch (IllegalArgumentException e) {
                fail(rc, api, requestId, ApiException.validation("body", "The multipart request body could not be read"));
                return;
            }
            List<FilePart> parts = new ArrayList<>();
            long total = 0;
            for (MultipartForm.File f : form.files()) {
                if (!fileFields.contains(f.name()) || parts.size() >= MAX_FILE_PARTS) {
                    continue;
                }
                total += f.bytes().length();
                parts.add(new FilePart(f.name(), new Upload(f.filename() == null || f.filename().isBlank() ? "file" : f.filename(),
                        f.contentType() == null || f.contentType().isBlank() ? "application/octet-stream" : f.contentType(), f.bytes())));
            }
            if (total > maxTotal) {
                fail(rc, api, requestId, overLimit);
                return;
            }
            ObjectNode body = mapper.createObjectNode();
            for (MultipartForm.Field field : form.fields()) {
                String name = field.name();
                if (name.endsWith("[]")) {
                    String list = name.substring(0, name.length() - 2);
                    (body.get(list) instanceof ArrayNode a ? a : body.putArray(list)).add(field.value());
                } else {
                    body.put(name, field.value());
                }
            }
            then.accept(body, parts);
        }));
        req.resume();
    }

    /** What a multipart form may carry besides its files: boundaries, part headers and fields. */
    private static final long FORM_OVERHEAD = 65536;

    private void dispatch(RoutingContext rc, Api api, InferenceExchange ex, io.vertx.core.Context requestContext) {
        if (rc.response().closed()) {
            pipeline.cancelled(ex);
            return;
        }
        if (InferencePipeline.audio(ex.endpoint)) {
            Uni<UpstreamHttp.RawAnswer> answer = "speech".equals(ex.endpoint) ? pipeline.synthesizeSpeech(ex) : pipeline.transcribe(ex);
            Cancellable c = answer.subscribe().with(a -> guard(rc, api, ex.requestId, ex, () -> audioAnswer(rc, api, ex, a)),
                    failure -> fail(rc, api, ex.requestId, InferencePipeline.toApiException(failure)));
            cancelOnClose(rc, () -> {
                c.cancel();
                pipeline.cancelled(ex);
            });
            return;
        }
        if ("embed".equals(ex.endpoint) || "moderations".equals(ex.endpoint) || InferencePipeline.images(ex.endpoint)) {
            Uni<ObjectNode> answer = "embed".equals(ex.endpoint) ? pipeline.embed(ex)
                    : "moderations".equals(ex.endpoint) ? pipeline.moderate(ex) : pipeline.generateImages(ex);
            Cancellable c = answer.subscribe().with(
                    result -> guard(rc, api, ex.requestId, ex, () -> json(rc, ex, 200, api == Api.OAI ? result : envelope(result))),
                    failure -> fail(rc, api, ex.requestId, InferencePipeline.toApiException(failure)));
            cancelOnClose(rc, () -> {
                c.cancel();
                pipeline.cancelled(ex);
            });
            return;
        }
        if (ex.request.stream() && ex.responses != null && ex.responses.background) {
            // runs apart from this request, which follows its events: the client going away does not stop it
            background.startStreamed(ex).subscribe().with(id -> Contexts.runOn(requestContext, () -> guard(rc, api, ex.requestId,
                            null, () -> responseEvents.follow(rc, requestContext, id, -1, response -> rateHeaders(response, ex)))),
                    failure -> fail(rc, api, ex.requestId, InferencePipeline.toApiException(failure)));
            return;
        }
        if (ex.hosted != null && !ex.hosted.clientStreams) {
            hostedAnswer(rc, api, ex);
            return;
        }
        if (ex.request.stream()) {
            Multi<ObjectNode> chunks;
            try {
                chunks = ex.hosted != null ? hostedMcp.stream(ex) : pipeline.stream(ex);
            } catch (RuntimeException e) {
                fail(rc, api, ex.requestId, InferencePipeline.toApiException(e));
                return;
            }
            chunks.subscribe().withSubscriber(new SseWriter(rc, api, ex, requestContext));
            return;
        }
        if (ex.responses != null && ex.responses.background) {
            // runs apart from this request: answered queued once stored; the client going away does not stop it
            background.start(ex).subscribe().with(queued -> guard(rc, api, ex.requestId, null, () -> json(rc, ex, 200, queued)),
                    failure -> fail(rc, api, ex.requestId, InferencePipeline.toApiException(failure)));
            return;
        }
        Uni<ObjectNode> result;
        try {
            result = pipeline.complete(ex);
        } catch (RuntimeException e) {
            fail(rc, api, ex.requestId, InferencePipeline.toApiException(e));
            return;
        }
        // the answer is framed inside the chain: a framing that throws fails the request instead of leaving it unanswered
        Uni<ObjectNode> framed = result.flatMap(completion -> ex.responses != null
                ? storedResponses.respond(ex.caller, ex.responses, completion)
                : Uni.createFrom().item(() -> {
                    if (api == Api.ANTHROPIC) {
                        return MessagesApi.message(completion, ex.request.model());
                    }
                    ObjectNode out = "generate".equals(ex.endpoint) ? toTextCompletion(completion, ex.echo) : completion;
                    return api == Api.OAI ? out : envelope(out);
                }));
        Cancellable c = framed.subscribe().with(out -> guard(rc, api, ex.requestId, ex, () -> json(rc, ex, 200, out)),
                failure -> fail(rc, api, ex.requestId, InferencePipeline.toApiException(failure)));
        cancelOnClose(rc, () -> {
            c.cancel();
            pipeline.cancelled(ex);
        });
    }

    /**
     * A request with MCP servers, not streamed: the run's model calls are streamed from the upstream
     * ({@link HostedMcp#stream}) and framed as a stream would be; a response is stored and sent whole, a Messages
     * answer is the message its events build.
     */
    private void hostedAnswer(RoutingContext rc, Api api, InferenceExchange ex) {
        Uni<ObjectNode> answer;
        if (api == Api.ANTHROPIC) {
            MessagesApi.Accumulator message = new MessagesApi.Accumulator();
            MessagesApi.Stream framing = new MessagesApi.Stream(ex.request.model(), ex.request.promptEstimate(), ex.hosted, message);
            answer = hostedMcp.stream(ex).onItem().invoke(framing::onChunk).collect().last().map(last -> {
                framing.finish();
                return message.message();
            });
        } else {
            ResponsesApi.Stream framing = new ResponsesApi.Stream(ex.responses, (type, event) -> { });
            answer = hostedMcp.stream(ex).onItem().invoke(framing::onChunk).collect().last()
                    .flatMap(last -> storedResponses.keep(ex.caller, ex.responses, framing.finish(), framing.answer()));
        }
        Cancellable c = answer.subscribe().with(out -> guard(rc, api, ex.requestId, ex, () -> json(rc, ex, 200, out)),
                failure -> fail(rc, api, ex.requestId, InferencePipeline.toApiException(failure)));
        cancelOnClose(rc, c::cancel);
    }


    /**
     * Runs {@code step}, a callback in a request's asynchronous chain. Mutiny and Vert.x drop what such a callback
     * throws (an {@link Error} too), and the request would wait unanswered until its client gave up; here the request
     * is {@linkplain #abandon abandoned} instead.
     */
    void guard(RoutingContext rc, Api api, String requestId, InferenceExchange ex, Runnable step) {
        try {
            step.run();
        } catch (Throwable t) {
            abandon(rc, api, requestId, ex, t);
        }
    }

    /**
     * A request whose handling broke: if admitted ({@code ex}; else null), it is recorded as failed and its
     * reservation released. The client gets a 500 in the API's shape or, once its answer has begun, a reset
     * connection: a cut answer must not look complete.
     */
    private void abandon(RoutingContext rc, Api api, String requestId, InferenceExchange ex, Throwable t) {
        try {
            if (ex != null) {
                pipeline.failed(ex, t);
            }
        } finally {
            HttpServerResponse response = rc.response();
            if (response.ended() || response.closed()) {
                LOG.errorf(t, "request %s: its handling failed after it was answered", requestId);
            } else if (response.headWritten()) {
                LOG.errorf(t, "request %s: its handling failed during its answer; the connection is reset", requestId);
                response.reset();
            } else {
                fail(rc, api, requestId, InferencePipeline.toApiException(t));
            }
        }
    }

    private void cancelOnClose(RoutingContext rc, Runnable onClose) {
        rc.response().closeHandler(v -> {
            if (!rc.response().ended()) {
                onClose.run();
            }
        });
    }

    /** Request id (accepted or generated), bound to logs and echoed in the response header. */
    String begin(RoutingContext rc) {
        String requestId = RequestIds.acceptOrGenerate(rc.request().getHeader(RequestIds.HTTP_HEADER));
        RequestIds.bind(requestId);
        rc.response().putHeader(RequestIds.HTTP_HEADER, requestId);
        if (Api.of(rc.request().path()) == Api.ANTHROPIC) {
            rc.response().putHeader("request-id", requestId); // where Anthropic's SDKs read it
        }
        return requestId;
    }

    /** The caller, or null after answering 401/429 in the API's own error format. */
    Uni<Caller> authenticate(RoutingContext rc, String requestId) {
        Api api = Api.of(rc.request().path());
        String source = rc.request().remoteAddress() == null ? "unknown" : rc.request().remoteAddress().hostAddress();
        if (authLimiter.isBlocked(source)) {
            fail(rc, api, requestId, new ApiException(ErrorCode.RATE_LIMITED, "Too many failed authentication attempts", null,
                    authLimiter.retryAfterSeconds(source), null));
            return Uni.createFrom().nullItem();
        }
        String header = rc.request().getHeader("Authorization");
        String apiKey = api == Api.ANTHROPIC ? rc.request().getHeader("x-api-key") : null;
        if ((header == null || header.isBlank()) && apiKey != null && !apiKey.isBlank()) {
            header = "Bearer " + apiKey; // Anthropic's SDKs send their key as x-api-key
        }
        if (header == null || header.isBlank()) {
            fail(rc, api, requestId, new ApiException(ErrorCode.AUTH_TOKEN_MISSING));
            return Uni.createFrom().nullItem();
        }
        if (!header.regionMatches(true, 0, "Bearer ", 0, 7) || header.length() <= 7) {
            authLimiter.recordFailure(source);
            fail(rc, api, requestId, new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
            return Uni.createFrom().nullItem();
        }
        return resolver.resolve(header.substring(7).trim(), CallerResolver.Channel.REST)
                .onFailure().recoverWithUni(failure -> {
                    ApiException e = failure instanceof ApiException a ? a
                            : new ApiException(ErrorCode.SERVICE_UNAVAILABLE, "Authentication is temporarily unavailable");
                    if (e.httpStatus() == 401) {
                        authLimiter.recordFailure(source);
                        e = new ApiException(ErrorCode.AUTH_TOKEN_INVALID);
                    }
                    fail(rc, api, requestId, e);
                    return Uni.createFrom().nullItem();
                })
                .invoke(caller -> {
                    if (caller != null) {
                        MDC.put("tenant_id", caller.tenantId());
                    }
                });
    }

    // ------------------------------------------------------------------ OpenAI models

    /**
     * An OpenAI-door read or management call (files, batches, stored responses): authenticates (counted against the
     * caller's request limits), requires models:use, answers 200 with what {@code handler} yields, or its failure in
     * OpenAI's error shape.
     */
    void authorizedJson(RoutingContext rc, java.util.function.Function<Caller, Uni<? extends JsonNode>> handler) {
        String requestId = begin(rc);
        authenticateListing(rc, requestId).flatMap(caller -> {
            if (caller == null) {
                return Uni.createFrom().<JsonNode>nullItem(); // already answered
            }
            caller.require(ai.scaigrid.commons.security.Permissions.MODELS_USE);
            return handler.apply(caller).map(JsonNode.class::cast);
        }).subscribe().with(out -> guard(rc, Api.OAI, requestId, null, () -> {
            if (out != null) {
                json(rc, null, 200, out);
            }
        }), failure -> fail(rc, Api.OAI, requestId, InferencePipeline.toApiException(failure)));
    }

    /**
     * Like {@link #authorizedJson}, for an answer that is a stream: {@code handler} checks the request (its failure is
     * answered as an error) and yields what starts the stream, run on the request's context.
     */
    void authorizedStream(RoutingContext rc,
                          java.util.function.BiFunction<Caller, io.vertx.core.Context, Uni<Runnable>> handler) {
        String requestId = begin(rc);
        io.vertx.core.Context context = io.vertx.core.Vertx.currentContext();
        authenticateListing(rc, requestId).flatMap(caller -> {
            if (caller == null) {
                return Uni.createFrom().<Runnable>nullItem(); // already answered
            }
            caller.require(ai.scaigrid.commons.security.Permissions.MODELS_USE);
            return handler.apply(caller, context);
        }).subscribe().with(start -> {
            if (start != null) {
                context.runOnContext(v -> guard(rc, Api.OAI, requestId, null, start));
            }
        }, failure -> fail(rc, Api.OAI, requestId, InferencePipeline.toApiException(failure)));
    }

    /**
     * Authenticates a model listing and counts it against the caller's request limits (as every REST
     * request is; a full token window does not refuse it), with the rate headers on the response.
     */
    Uni<Caller> authenticateListing(RoutingContext rc, String requestId) {
        return authenticate(rc, requestId).flatMap(caller -> caller == null
                ? Uni.createFrom().item(caller)
                : limits.admitRequest(caller).map(rate -> {
                    rate.headers().forEach(rc.response()::putHeader);
                    doorRateHeaders(rate, Api.of(rc.request().path()).tag).forEach(rc.response()::putHeader);
                    return caller;
                }));
    }

    /**
     * A read answered with what {@code handler} yields for the authenticated caller (counted against its request
     * limits), or its failure in {@code api}'s error shape: one chain per request, subscribed once, so whatever throws
     * on the way is answered by fail(), never dropped.
     */
    void answered(RoutingContext rc, Api api, java.util.function.Function<Caller, Uni<ObjectNode>> handler) {
        String requestId = begin(rc);
        authenticateListing(rc, requestId)
                .flatMap(caller -> caller == null ? Uni.createFrom().<ObjectNode>nullItem() : handler.apply(caller)) // null: answered
                .subscribe().with(out -> guard(rc, api, requestId, null, () -> {
                    if (out != null) {
                        json(rc, null, 200, out);
                    }
                }), failure -> fail(rc, api, requestId, InferencePipeline.toApiException(failure)));
    }

    /** Every model the caller may list, for a models listing. */
    private Uni<List<FrontendModel>> listable(Caller caller) {
        if (!caller.has(ai.scaigrid.commons.security.Permissions.MODELS_LIST)
                && !caller.has(ai.scaigrid.commons.security.Permissions.MODELS_USE)) {
            throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Missing permission models:list");
        }
        return allVisible(caller, null, new ArrayList<>(), 0);
    }

    /** The model the path's {@code id} names, if the caller may see it. */
    private Uni<FrontendModel> namedModel(RoutingContext rc, Caller caller) {
        String id = rc.pathParam("id");
        try {
            id = java.net.URLDecoder.decode(id, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException notEncoded) {
            // a stray '%' is part of the id as given: no such model, not a server error
        }
        return catalog.getVisible(caller, id).flatMap(m -> caller.modelGroupIds().isEmpty()
                ? Uni.createFrom().item(m)
                // group-restricted keys see only their groups' models: route resolution knows the groups
                : routes.resolve(caller, m.slug()).map(route -> m));
    }

    private void oaiModels(RoutingContext rc) {
        answered(rc, Api.OAI, caller -> listable(caller).map(models -> {
            ObjectNode out = mapper.createObjectNode().put("object", "list");
            ArrayNode data = out.putArray("data");
            models.forEach(m -> data.add(oaiModel(m)));
            return out;
        }));
    }

    private Uni<List<FrontendModel>> allVisible(Caller caller, String cursor, List<FrontendModel> acc, int pages) {
        return catalog.listVisible(caller, null, "active", 200, cursor).flatMap(page -> {
            acc.addAll(page.items());
            if (page.nextCursor() == null || pages >= 50) {
                return Uni.createFrom().item(acc);
            }
            return allVisible(caller, page.nextCursor(), acc, pages + 1);
        });
    }

    private void oaiModel(RoutingContext rc) {
        answered(rc, Api.OAI, caller -> namedModel(rc, caller).map(this::oaiModel));
    }

    /**
     * Anthropic's model list: {@code data}, {@code has_more}, {@code first_id}, {@code last_id}, paged by
     * {@code after_id}, {@code before_id} and {@code limit}.
     */
    private void anthropicModels(RoutingContext rc) {
        answered(rc, Api.ANTHROPIC, caller -> {
            String limitParam = rc.request().getParam("limit");
            int limit = 20;
            if (limitParam != null) {
                try {
                    limit = Integer.parseInt(limitParam);
                } catch (NumberFormatException e) {
                    limit = -1;
                }
                if (limit < 1 || limit > 1000) {
                    throw ApiException.validation("limit", "limit must be an integer from 1 to 1000");
                }
            }
            int pageSize = limit;
            String afterId = rc.request().getParam("after_id");
            String beforeId = rc.request().getParam("before_id");
            return listable(caller).map(models -> {
                List<FrontendModel> page = MessagesApi.page(models, FrontendModel::slug, afterId, beforeId, pageSize);
                int last = page.isEmpty() ? -1 : models.indexOf(page.get(page.size() - 1));
                int first = page.isEmpty() ? -1 : models.indexOf(page.get(0));
                return MessagesApi.list(page.stream().map(this::anthropicModel).toList(),
                        beforeId != null ? first > 0 : last >= 0 && last < models.size() - 1);
            });
        });
    }

    private void anthropicModel(RoutingContext rc) {
        answered(rc, Api.ANTHROPIC, caller -> namedModel(rc, caller).map(this::anthropicModel));
    }

    private ObjectNode anthropicModel(FrontendModel m) {
        ObjectNode node = mapper.createObjectNode().put("type", "model").put("id", m.slug()).put("display_name", m.displayName());
        node.put("created_at", (m.createdAt() == null ? java.time.Instant.EPOCH : m.createdAt().toInstant()).toString());
        return node;
    }

    private ObjectNode oaiModel(FrontendModel m) {
        ObjectNode node = mapper.createObjectNode();
        node.put("id", m.slug());
        node.put("object", "model");
        node.put("created", m.createdAt() == null ? 0 : m.createdAt().toEpochSecond());
        node.put("owned_by", m.slug().contains("/") ? m.slug().substring(0, m.slug().indexOf('/')) : "scaigrid");
        node.put("display_name", m.displayName());
        node.put("modality", m.modality());
        if (m.contextWindow() != null) {
            node.put("context_window", m.contextWindow());
        }
        if (m.maxOutputTokens() != null) {
            node.put("max_output_tokens", m.maxOutputTokens());
        }
        if (m.avatarUrl() != null) {
            node.put("avatar_url", m.avatarUrl());
        }
        return node;
    }

    // ------------------------------------------------------------------ writing responses

    /**
     * Speech is the upstream's audio on both doors. A transcription is the upstream's answer as it came on the
     * OpenAI door; on the native door it is enveloped: its JSON, or a text format (text, srt, vtt) as {@code text}.
     */
    private void audioAnswer(RoutingContext rc, Api api, InferenceExchange ex, UpstreamHttp.RawAnswer answer) {
        String type = answer.contentType();
        if (!"speech".equals(ex.endpoint) && api == Api.NATIVE && answer.stream() == null) {
            ObjectNode data;
            try {
                data = answer.isJson() ? (ObjectNode) mapper.readTree(answer.body().getBytes()) : mapper.createObjectNode()
                        .put("text", answer.body().toString(StandardCharsets.UTF_8));
            } catch (Exception e) {
                fail(rc, api, ex.requestId, new ApiException(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed"));
                return;
            }
            json(rc, ex, 200, envelope(data));
            return;
        }
        HttpServerResponse response = rc.response();
        if (response.ended() || response.closed()) {
            if (answer.stream() != null) {
                answer.stream().request().reset(); // nobody to relay it to
                pipeline.cancelled(ex);
            }
            return;
        }
        rateHeaders(response, ex);
        if (type == null || type.isBlank()) {
            type = "speech".equals(ex.endpoint) ? SPEECH_TYPES.getOrDefault(ex.request.body().path("response_format").asText("mp3"),
                    "application/octet-stream") : "text/plain; charset=utf-8";
        }
        response.setStatusCode(200).putHeader("Content-Type", type);
        if (answer.stream() == null) {
            response.end(answer.body());
            overhead.relayed(ex);
            return;
        }
        relay(response, answer.stream(), ex);
    }

    /**
     * Relays an upstream body as it arrives (chunked, with backpressure); the usage of a streamed transcript, or of
     * speech as events, is read from its events on the way ({@link RelayedEvents}). The request is recorded when the
     * relay ends: whole, broken off by the upstream (then the client's connection is reset, so a cut answer never
     * looks complete), or abandoned by the client (then the upstream request is reset).
     */
    private void relay(HttpServerResponse response, io.vertx.core.http.HttpClientResponse upstream, InferenceExchange ex) {
        // speech is raw audio, unless asked as events (stream_format "sse"), whose last one carries its usage
        String type = upstream.getHeader("content-type");
        boolean eventStream = type != null && type.toLowerCase(java.util.Locale.ROOT).startsWith("text/event-stream");
        RelayedEvents events = "speech".equals(ex.endpoint) && !eventStream ? null : new RelayedEvents(ex);
        AtomicBoolean over = new AtomicBoolean();
        response.setChunked(true);
        response.closeHandler(v -> {
            if (!response.ended() && over.compareAndSet(false, true)) {
                upstream.request().reset();
                pipeline.cancelled(ex);
            }
        });
        upstream.exceptionHandler(t -> {
            if (over.compareAndSet(false, true)) {
                LOG.warnf("request %s: the upstream broke off its answer: %s", ex.requestId, t.toString());
                pipeline.relayEnded(ex, new UpstreamFailure(ErrorCode.BACKEND_ERROR, "The upstream broke off its answer", true, null, t));
                response.reset();
            }
        });
        upstream.handler(chunk -> {
            if (events != null) {
                events.feed(chunk);
            }
            response.write(chunk);
            if (response.writeQueueFull()) {
                upstream.pause();
                response.drainHandler(v -> upstream.resume());
            }
        });
        upstream.endHandler(v -> {
            if (over.compareAndSet(false, true)) {
                response.end();
                pipeline.relayEnded(ex, null);
            }
        });
        upstream.resume();
        overhead.relayed(ex);
    }

    private static final java.util.Map<String, String> SPEECH_TYPES = java.util.Map.of("mp3", "audio/mpeg", "opus", "audio/ogg",
            "aac", "audio/aac", "flac", "audio/flac", "wav", "audio/wav", "pcm", "audio/pcm");

    private ObjectNode envelope(ObjectNode data) {
        ObjectNode out = mapper.createObjectNode().put("status", "ok");
        out.set("data", data);
        return out;
    }

    void json(RoutingContext rc, InferenceExchange ex, int status, JsonNode body) {
        HttpServerResponse response = rc.response();
        if (response.ended() || response.closed()) {
            return;
        }
        if (ex != null) {
            rateHeaders(response, ex);
        }
        try {
            response.setStatusCode(status).putHeader("Content-Type", "application/json")
                    .end(Buffer.buffer(mapper.writeValueAsBytes(body)));
            if (ex != null) {
                overhead.relayed(ex);
            }
        } catch (Exception e) {
            LOG.errorf(e, "writing a response failed");
            response.setStatusCode(500).end();
        }
    }

    private static void rateHeaders(HttpServerResponse response, InferenceExchange ex) {
        Limits.RateState rate = ex.rate();
        if (rate != null) {
            rate.headers().forEach(response::putHeader);
            doorRateHeaders(rate, ex.api).forEach(response::putHeader);
        }
    }

    /** The rate figures under the names of the door a request came by ({@link Api#tag}): OpenAI's, Anthropic's, else none. */
    private static java.util.Map<String, String> doorRateHeaders(Limits.RateState rate, String door) {
        return switch (door) {
            case "oai" -> rate.openAiHeaders(System.currentTimeMillis() / 1000);
            case "anthropic" -> rate.anthropicHeaders();
            default -> java.util.Map.of();
        };
    }

    /** An error before any byte of the answer: the right status, in the API's own error format. */
    void fail(RoutingContext rc, Api api, String requestId, ApiException e) {
        if (e.httpStatus() >= 500 && !rc.response().ended() && !rc.response().closed()) {
            // an internal error's cause goes to the log only (the client gets the sanitised message)
            LOG.warnf(e.errorCode() == ErrorCode.INTERNAL_ERROR ? e.getCause() : null, "request %s failed: %s %s", requestId, e.errorCode(),
                    e.getMessage());
        }
        writeError(rc, api, requestId, e);
    }

    /**
     * Writes an error response in the standard envelope, or in OpenAI's shape ({@code openAi}: the
     * {@code /oai/v1} paths), with the error's headers; nothing when the response is already ended or gone.
     * Also the gateway's drain gate writes its refusals with this.
     */
    public void writeError(RoutingContext rc, Api api, String requestId, ApiException e) {
        HttpServerResponse response = rc.response();
        if (response.ended() || response.closed()) {
            return;
        }
        boolean openAi = api == Api.OAI;
        e.responseHeaders().forEach(response::putHeader);
        if (e.errorCode() == ErrorCode.QUOTA_EXCEEDED || e.errorCode() == ErrorCode.BUDGET_EXCEEDED) {
            // the SDKs retry a 429 unless told not to; an exhausted quota or budget does not come back in seconds
            response.putHeader("x-should-retry", "false");
        }
        if (api != Api.NATIVE && e.errorCode() == ErrorCode.RATE_LIMITED && e.retryAfterSeconds() != null) {
            // the door's own names too: the limit that refused (requests or tokens), nothing left, free again in/at
            String unit = limitUnit(e);
            String limit = response.headers().get("X-Scaigrid-Ratelimit-Limit");
            String prefix = openAi ? "x-ratelimit-" : "anthropic-ratelimit-" + unit + "-";
            String suffix = openAi ? "-" + unit : "";
            if (limit != null) {
                response.putHeader(prefix + "limit" + suffix, limit);
            }
            response.putHeader(prefix + "remaining" + suffix, "0");
            response.putHeader(prefix + "reset" + suffix, openAi ? Limits.openAiDuration(e.retryAfterSeconds())
                    : java.time.Instant.ofEpochSecond(System.currentTimeMillis() / 1000 + e.retryAfterSeconds()).toString());
        }
        Object body = openAi ? oaiError(e) : api == Api.ANTHROPIC ? MessagesApi.error(e, requestId) : ErrorEnvelope.of(e, requestId);
        try {
            response.setStatusCode(e.httpStatus()).putHeader("Content-Type", "application/json")
                    .end(Buffer.buffer(mapper.writeValueAsBytes(body)));
        } catch (Exception ex) {
            response.setStatusCode(500).end();
        }
    }

    /** Which OpenAI rate limit a refusal is in its vocabulary: {@code tokens} for tokens per minute, else {@code requests}. */
    private static String limitUnit(ApiException e) {
        return e.details() instanceof java.util.Map<?, ?> d && "tokens_per_minute".equals(d.get("unit")) ? "tokens" : "requests";
    }

    /**
     * OpenAI's error shape, {"error":{"message","type","param","code"}}, in OpenAI's own vocabulary: client
     * errors are {@code invalid_request_error} (a bad key is code {@code invalid_api_key}, an unknown model
     * {@code model_not_found}), a rate limit {@code requests}/{@code tokens} with code
     * {@code rate_limit_exceeded}, an exhausted budget or quota {@code insufficient_quota}, and 5xx
     * {@code server_error}; other codes are the ScaiGrid code in lower case.
     */
    ObjectNode oaiError(ApiException e) {
        ObjectNode out = mapper.createObjectNode();
        ObjectNode error = out.putObject("error");
        error.put("message", e.getMessage());
        ErrorCode code = e.errorCode();
        String type;
        String oaiCode;
        switch (code) {
            case AUTH_TOKEN_MISSING, AUTH_TOKEN_INVALID, SERVICE_TOKEN_INVALID -> {
                type = "invalid_request_error";
                oaiCode = "invalid_api_key";
            }
            case MODEL_NOT_FOUND -> {
                type = "invalid_request_error";
                oaiCode = "model_not_found";
            }
            case RATE_LIMITED, BACKEND_RATE_LIMITED -> {
                type = limitUnit(e);
                oaiCode = "rate_limit_exceeded";
            }
            case BUDGET_EXCEEDED, QUOTA_EXCEEDED -> {
                type = "insufficient_quota";
                oaiCode = "insufficient_quota";
            }
            default -> {
                type = e.httpStatus() >= 500 ? "server_error" : "invalid_request_error";
                oaiCode = code.name().toLowerCase(java.util.Locale.ROOT);
            }
        }
        error.put("type", type);
        Object details = e.details();
        if (details instanceof List<?> list && !list.isEmpty() && list.get(0) instanceof java.util.Map<?, ?> first) {
            error.put("param", String.valueOf(first.get("field")));
        } else {
            error.putNull("param");
        }
        error.put("code", oaiCode);
        return out;
    }

    /** A text completion is named as OpenAI names one ({@code cmpl-...}), also when a chat model answered it. */
    static String textCompletionId(String id) {
        return id.startsWith("chatcmpl-") ? "cmpl-" + id.substring("chatcmpl-".length()) : id;
    }

    /** A chat answer as a text completion; {@code echo} (the prompt, or null) leads each choice's text. */
    ObjectNode toTextCompletion(ObjectNode chat, String echo) {
        ObjectNode out = mapper.createObjectNode();
        out.put("id", textCompletionId(chat.path("id").asText()));
        out.put("object", "text_completion");
        out.put("created", chat.path("created").asLong(System.currentTimeMillis() / 1000));
        out.put("model", chat.path("model").asText());
        ArrayNode choices = out.putArray("choices");
        for (JsonNode c : chat.path("choices")) {
            ObjectNode choice = choices.addObject();
            choice.put("index", c.path("index").asInt());
            choice.put("text", (echo == null ? "" : echo) + c.path("message").path("content").asText(""));
            choice.set("logprobs", TextLogprobs.of(c.get("logprobs"), new long[1]));
            choice.set("finish_reason", c.get("finish_reason"));
        }
        out.set("usage", chat.get("usage"));
        return out;
    }

    // ------------------------------------------------------------------ SSE

    /**
     * Writes chunks as SSE with flow control (one chunk requested at a time, more once the socket
     * drains). Headers go out with the first chunk, so errors before it keep their HTTP status;
     * after it, an error is an event and the stream still ends with [DONE]. A stream silent for the
     * keep-alive interval gets a {@code : keep-alive} comment (and its headers, if still unsent). A
     * client that goes away cancels the subscription, which cancels the upstream call.
     */
    private final class SseWriter implements MultiSubscriber<ObjectNode> {
        private final RoutingContext rc;
        private final Api api;
        private final InferenceExchange ex;
        private final AtomicBoolean headersSent = new AtomicBoolean();
        private volatile Subscription subscription;
        private volatile boolean closed;
        /** The request's event-loop context: every write to the client happens there, in order. */
        private final io.vertx.core.Context context;
        // Frames not yet written (guarded by this): chunks that arrive within one task of the upstream
        // (an SSE read often carries several events) leave as one write, one HTTP chunk and one syscall.
        private Buffer pending;
        private boolean flushScheduled;
        private boolean endPending;
        /** When something last went to the client (headers or a frame), for the keep-alive. */
        private volatile long lastWriteNanos = System.nanoTime();
        private volatile long keepAliveTimer = -1;
        /** The stream ended (completion or failure): no keep-alive may follow. */
        private volatile boolean finished;
        /** For a Responses API stream: its event framing, which writes into {@link #events}; else null. */
        private final ResponsesApi.Stream responses;
        /** For an Anthropic Messages stream: its event framing, which writes into {@link #events}; else null. */
        private final MessagesApi.Stream messages;
        private Buffer events;

        SseWriter(RoutingContext rc, Api api, InferenceExchange ex, io.vertx.core.Context context) {
            this.rc = rc;
            this.api = api;
            this.ex = ex;
            this.context = context;
            this.responses = ex.responses == null ? null : new ResponsesApi.Stream(ex.responses, this::namedEvent);
            this.messages = api != Api.ANTHROPIC ? null
                    : new MessagesApi.Stream(ex.request.model(), ex.request.promptEstimate(), ex.hosted, this::namedEvent);
        }

        /** One Responses or Messages event as SSE, {@code event: <type>} and its data, collected into {@link #events}. */
        private void namedEvent(String type, ObjectNode event) {
            try {
                if (events == null) {
                    events = Buffer.buffer(512);
                }
                appendEvent(events, type, mapper.writeValueAsBytes(event));
            } catch (Exception e) {
                LOG.errorf(e, "writing a response event failed");
            }
        }

        private Buffer takeEvents() {
            Buffer out = events == null ? Buffer.buffer() : events;
            events = null;
            return out;
        }

        private void onContext(Runnable task) {
            if (context == null) {
                guarded(task);
            } else {
                context.runOnContext(v -> guarded(task));
            }
        }

        /** Runs a step of the stream; one that throws breaks it ({@link #broken}). */
        private void guarded(Runnable step) {
            try {
                step.run();
            } catch (Throwable t) {
                broken(t);
            }
        }

        private final AtomicBoolean broke = new AtomicBoolean();

        /**
         * A step of this stream threw: the request is recorded as failed (before the upstream is cancelled, which
         * would record it as cancelled) and answered with a 500, or, once the stream has begun, its connection reset.
         */
        private void broken(Throwable t) {
            if (!broke.compareAndSet(false, true)) {
                return;
            }
            finished = true;
            closed = true; // whatever still arrives is dropped
            stopKeepAlive();
            try {
                pipeline.failed(ex, t);
            } finally {
                Subscription s = subscription;
                if (s != null) {
                    s.cancel();
                }
                abandon(rc, api, ex.requestId, ex, t);
            }
        }

        /**
         * Queues a frame; it is written at the end of the current task on the request's context. The
         * {@code last} frame ends the response with whatever is queued before it: when the stream's last
         * chunks and its end come in one upstream read, that is one write and one syscall, not two.
         */
        private void enqueue(Buffer frame, boolean last) {
            boolean schedule;
            synchronized (this) {
                if (endPending) {
                    return; // the response's last frame is queued: nothing may follow it (a keep-alive tick in flight)
                }
                if (pending == null) {
                    pending = Buffer.buffer(Math.max(256, frame.length() * 4));
                }
                pending.appendBuffer(frame);
                endPending |= last;
                schedule = !flushScheduled;
                flushScheduled = true;
            }
            if (schedule) {
                onContext(this::flush);
            }
        }

        private void flush() {
            Buffer out;
            boolean end;
            synchronized (this) {
                out = pending;
                end = endPending;
                pending = null;
                flushScheduled = false;
            }
            HttpServerResponse response = rc.response();
            if (response.closed() || response.ended()) {
                return;
            }
            if (end) {
                response.end(out);
            } else if (out != null && out.length() > 0) {
                response.write(out);
            }
            lastWriteNanos = System.nanoTime();
            overhead.relayed(ex);
        }

        /** Starts the keep-alive clock (one Vert.x timer per stream, cancelled when it ends). */
        private void startKeepAlive() {
            long every = sseKeepAlive == null ? 0 : sseKeepAlive.toMillis();
            if (every <= 0) {
                return;
            }
            keepAliveTimer = owner().setPeriodic(every, id -> onContext(() -> keepAlive(every)));
        }

        private void keepAlive(long everyMillis) {
            HttpServerResponse response = rc.response();
            if (closed || finished || response.closed() || response.ended()) {
                stopKeepAlive();
                return;
            }
            if (System.nanoTime() - lastWriteNanos < everyMillis * 1_000_000L) {
                return;
            }
            // the status is committed now (200): an error after this point is an error event, as after a token
            sendHeaders(response);
            enqueue(KEEP_ALIVE, false);
        }

        private void stopKeepAlive() {
            long id = keepAliveTimer;
            if (id >= 0) {
                keepAliveTimer = -1;
                owner().cancelTimer(id);
            }
        }

        private io.vertx.core.Vertx owner() {
            return context == null ? vertx : context.owner();
        }

        /** Writes what is queued plus {@code last} and ends the response, after every earlier frame. */
        private void endWith(Buffer last) {
            enqueue(last, true);
        }

        @Override
        public void onSubscribe(Subscription s) {
            subscription = s;
            rc.response().closeHandler(v -> {
                stopKeepAlive();
                if (!rc.response().ended()) {
                    closed = true;
                    s.cancel();
                }
            });
            startKeepAlive();
            s.request(1);
        }

        @Override
        public void onItem(ObjectNode chunk) {
            try {
                relayItem(chunk); // not through guarded(): no allocation per chunk
            } catch (Throwable t) {
                broken(t);
            }
        }

        private void relayItem(ObjectNode chunk) {
            HttpServerResponse response = rc.response();
            if (closed || response.closed()) {
                subscription.cancel();
                return;
            }
            sendHeaders(response);
            if (responses != null || messages != null) {
                if (responses != null) {
                    responses.onChunk(chunk);
                } else {
                    messages.onChunk(chunk);
                }
                Buffer frames = takeEvents();
                if (frames.length() > 0) {
                    enqueue(frames, false);
                }
            } else {
                enqueueChunk(chunk);
            }
            if (response.writeQueueFull()) {
                response.drainHandler(v -> subscription.request(1));
            } else {
                subscription.request(1);
            }
        }

        /** A chat or text-completion chunk as this API frames it, as one SSE data frame. */
        private void enqueueChunk(ObjectNode chunk) {
            ObjectNode out = frame(chunk);
            if (out != null) {
                try {
                    Buffer frame = Buffer.buffer(out.size() * 48 + 16);
                    frame.appendString("data: ").appendBytes(mapper.writeValueAsBytes(out)).appendString("\n\n");
                    enqueue(frame, false);
                } catch (Exception e) {
                    LOG.errorf(e, "writing a stream chunk failed");
                }
            }
        }

        /** The chunk as this API frames it, or null to skip it. */
        private ObjectNode frame(ObjectNode chunk) {
            boolean usageOnly = chunk.path("choices").isEmpty() && chunk.has("usage");
            if (api == Api.OAI) {
                if (usageOnly && !ex.request.includeUsage()) {
                    return null; // OpenAI sends the usage chunk only when asked for it
                }
                if (!ex.request.includeUsage()) {
                    chunk.remove("usage");
                }
            }
            return "generate".equals(ex.endpoint) ? textChunk(chunk) : chunk;
        }

        /** The choices whose text already began (with the echoed prompt, when asked). */
        private final java.util.Set<Integer> echoed = new java.util.HashSet<>();

        /** Each choice's generated characters so far, for the offsets of its log probabilities. */
        private final java.util.Map<Integer, long[]> textOffsets = new java.util.HashMap<>();

        /** A chunk of a text completion: OpenAI streams them as {@code text_completion}; the native API names them apart. */
        private ObjectNode textChunk(ObjectNode chunk) {
            ObjectNode out = mapper.createObjectNode();
            out.put("id", textCompletionId(chunk.path("id").asText()));
            out.put("object", api == Api.OAI ? "text_completion" : "text_completion.chunk");
            out.put("created", chunk.path("created").asLong());
            out.put("model", chunk.path("model").asText());
            ArrayNode choices = out.putArray("choices");
            for (JsonNode c : chunk.path("choices")) {
                ObjectNode choice = choices.addObject();
                int index = c.path("index").asInt();
                choice.put("index", index);
                String text = c.path("delta").path("content").asText("");
                // echo: the prompt leads the first chunk of each choice
                choice.put("text", ex.echo != null && echoed.add(index) ? ex.echo + text : text);
                choice.set("logprobs", TextLogprobs.of(c.get("logprobs"), textOffsets.computeIfAbsent(index, i -> new long[1])));
                choice.set("finish_reason", c.get("finish_reason"));
            }
            if (chunk.has("usage")) {
                out.set("usage", chunk.get("usage"));
            }
            return out;
        }

        private void sendHeaders(HttpServerResponse response) {
            if (headersSent.compareAndSet(false, true)) {
                rateHeaders(response, ex);
                eventStreamHead(response);
            }
        }

        @Override
        public void onFailure(Throwable failure) {
            finished = true;
            stopKeepAlive();
            // decided on the request's context, where keep-alive ticks run: a tick cannot commit the SSE headers
            // between the check below and an error answer with its own status
            onContext(() -> failStream(failure));
        }

        private void failStream(Throwable failure) {
            ApiException e = InferencePipeline.toApiException(failure);
            HttpServerResponse response = rc.response();
            if (closed || response.closed()) {
                return;
            }
            if (!headersSent.get()) {
                fail(rc, api, ex.requestId, e);
                return;
            }
            if (messages != null) {
                messages.onFailure(e, ex.requestId);
                endWith(takeEvents());
                return;
            }
            if (responses != null) {
                ObjectNode failed = responses.onFailure(e, oaiError(e));
                endWith(takeEvents());
                if (failed != null) {
                    storedResponses.save(ex.caller, ex.responses, failed, null).subscribe().with(stored -> { });
                }
                return;
            }
            try {
                Buffer frame = Buffer.buffer();
                if (api == Api.OAI) {
                    frame.appendString("data: ").appendBytes(mapper.writeValueAsBytes(oaiError(e))).appendString("\n\n");
                } else {
                    ObjectNode error = mapper.createObjectNode().put("code", e.errorCode().name()).put("message", e.getMessage())
                            .put("request_id", ex.requestId);
                    frame.appendString("event: error\ndata: ").appendBytes(mapper.writeValueAsBytes(error)).appendString("\n\n");
                }
                endWith(frame.appendBuffer(DONE));
            } catch (Exception ignored) {
                // nothing more can be told to this client
                endWith(DONE);
            }
        }

        @Override
        public void onCompletion() {
            guarded(this::complete);
        }

        private void complete() {
            finished = true;
            stopKeepAlive();
            HttpServerResponse response = rc.response();
            if (closed || response.closed()) {
                return;
            }
            sendHeaders(response);
            if (messages != null) {
                messages.finish();
                endWith(takeEvents());
                return;
            }
            if (responses != null) {
                // the closing item events now; response.completed once the response is stored, so that a client may
                // continue from it (previous_response_id) as soon as it has it
                ObjectNode done = responses.finish();
                enqueue(takeEvents(), false);
                storedResponses.save(ex.caller, ex.responses, done, responses.answer()).subscribe().with(stored -> onContext(() -> {
                    responses.completed(stored);
                    endWith(takeEvents());
                }));
                return;
            }
            endWith(DONE);
        }
    }
}
