package ai.scaigrid.gateway.inference.provider;

import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.core.http.RequestOptions;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Every upstream that speaks OpenAI's protocol: {@code openai} (OpenAI itself, vLLM, llama.cpp's
 * llama-server, Ollama), {@code custom} (any such endpoint), and the hosted APIs that offer it:
 * {@code mistral}, {@code qwen} (DashScope's compatible mode), {@code google} (Gemini's OpenAI
 * endpoint) and {@code azure} (Azure OpenAI deployments).
 *
 * <p>{@code connection_config}: {@code base_url} (up to and including {@code /v1}; for the hosted
 * types it defaults to their public endpoint, see {@link #DEFAULT_BASE_URLS}; for {@code azure} it is
 * the resource's endpoint, e.g. {@code https://my-resource.openai.azure.com}), secret {@code api_key}
 * (a bearer token; Azure's {@code api-key} header), secret {@code headers}, {@code max_tokens_field}
 * ({@code max_completion_tokens} sends the output cap under that name, as OpenAI's reasoning models need;
 * the default for OpenAI's own endpoint, see {@link #defaultMaxTokensField}), the timeouts read by
 * {@link UpstreamHttp}, and for {@code azure} {@code deployment} (default: the backend's model name)
 * and {@code api_version} (default {@value #AZURE_API_VERSION}). {@code stream_usage} (true/false)
 * overrides whether a stream asks for a final usage chunk ({@code stream_options.include_usage}):
 * Mistral refuses unknown fields and reports usage in its last chunk anyway, so it is off there;
 * when an upstream sends no usage the dispatcher counts the tokens itself.
 */
@ApplicationScoped
public class OpenAiProvider implements Provider {

    /** Where the hosted OpenAI-protocol APIs answer when a backend names no base_url. */
    static final Map<String, String> DEFAULT_BASE_URLS = Map.of(
            "openai", "https://api.openai.com/v1",
            "mistral", "https://api.mistral.ai/v1",
            "qwen", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            "google", "https://generativelanguage.googleapis.com/v1beta/openai");

    static final String AZURE_API_VERSION = "2024-10-21";

    @Inject
    UpstreamHttp http;

    @Inject
    com.fasterxml.jackson.databind.ObjectMapper mapper;

    @Override
    public String type() {
        return "openai";
    }

    @Override
    public java.util.Set<String> types() {
        return java.util.Set.of("openai", "custom", "mistral", "qwen", "google", "azure");
    }

    /**
     * {@code GET <base_url>/models} with the backend's credentials: the upstream's model list, for
     * provider discovery. Azure's data plane cannot list a resource's deployments, so it is not offered there.
     */
    @Override
    public boolean listsModels(String providerType) {
        return !"azure".equals(providerType);
    }

    @Override
    public Uni<JsonNode> listModels(BackendTarget provider, java.time.Duration timeout) {
        return http.getJson(() -> options(provider, "/models"), timeout);
    }

    @Override
    public Uni<ObjectNode> chat(BackendTarget backend, ProviderCall call) {
        if (textCompletion(backend, call)) {
            ObjectNode body = completionBody(backend, call, false);
            return http.exchange(backend, call, () -> options(backend, "/completions"), body)
                    .map(json -> {
                        if (!(json instanceof ObjectNode node) || !node.path("choices").isArray()) {
                            throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
                        }
                        return asChatCompletion(node, call.frontendSlug());
                    })
                    // only a single text prompt can fall back to chat
                    .onFailure(f -> call.completionPrompt() == null && noTextCompletions(f))
                    .recoverWithUni(() -> chatCompletion(backend, call));
        }
        return chatCompletion(backend, call);
    }

    private Uni<ObjectNode> chatCompletion(BackendTarget backend, ProviderCall call) {
        ObjectNode body = requestBody(backend, call, false);
        return http.exchange(backend, call, () -> options(backend, "/chat/completions"), body).map(json -> {
            if (!(json instanceof ObjectNode node) || !node.has("choices")) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
            }
            node.put("model", call.frontendSlug());
            return node;
        });
    }

    @Override
    public boolean answersSeveralChoices() {
        return true;
    }

    @Override
    public Uni<ObjectNode> embed(BackendTarget backend, ProviderCall call) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        // floats from every upstream (not all OpenAI-compatible servers encode base64); the pipeline encodes
        body.remove("encoding_format");
        return http.exchange(backend, call, () -> options(backend, "/embeddings"), body).map(json -> {
            if (!(json instanceof ObjectNode node) || !node.path("data").isArray()) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
            }
            node.put("model", call.frontendSlug());
            return node;
        });
    }

    @Override
    public boolean generatesImages() {
        return true;
    }

    @Override
    public Uni<ObjectNode> generateImages(BackendTarget backend, ProviderCall call) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        return http.exchange(backend, call, () -> options(backend, "/images/generations"), body).map(OpenAiProvider::imagesAnswer);
    }

    @Override
    public boolean moderates() {
        return true;
    }

    /** {@code POST /moderations}: OpenAI's moderation object, checked (a result per input, each with its flag). */
    @Override
    public Uni<ObjectNode> moderate(BackendTarget backend, ProviderCall call) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        return http.exchange(backend, call, () -> options(backend, "/moderations"), body).map(json -> {
            boolean ok = json instanceof ObjectNode node && node.path("results").isArray() && !node.path("results").isEmpty();
            for (JsonNode result : json.path("results")) {
                ok &= result.path("flagged").isBoolean() && result.path("categories").isObject();
            }
            if (!ok) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
            }
            ObjectNode node = (ObjectNode) json;
            node.put("model", call.frontendSlug());
            return node;
        });
    }

    /** OpenAI's images response, checked: every image a URL or base64. */
    private static ObjectNode imagesAnswer(JsonNode json) {
        if (!(json instanceof ObjectNode node) || !node.path("data").isArray()) {
            throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
        }
        for (JsonNode image : node.path("data")) {
            if (!image.isObject() || !(image.path("url").isTextual() || image.path("b64_json").isTextual())) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
            }
        }
        return node;
    }

    @Override
    public boolean servesAudio() {
        return true;
    }

    @Override
    public Uni<UpstreamHttp.RawAnswer> synthesizeSpeech(BackendTarget backend, ProviderCall call) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        // relayed as it arrives: a voice client starts playing before the upstream has finished speaking
        return http.exchangeStreamed(backend, call, () -> options(backend, "/audio/speech").putHeader("accept", "*/*"),
                io.vertx.core.buffer.Buffer.buffer(http.serialize(body)));
    }

    @Override
    public Uni<UpstreamHttp.RawAnswer> transcribe(BackendTarget backend, ProviderCall call, Upload audio, boolean translate) {
        String path = translate ? "/audio/translations" : "/audio/transcriptions";
        if ("true".equals(call.body().path("stream").asText())) {
            // server-sent events (transcript.text.delta ... transcript.text.done), relayed as they arrive
            String boundary = "scaigrid-" + java.util.UUID.randomUUID();
            io.vertx.core.buffer.Buffer form = form(backend, call, boundary, List.of(Map.entry("file", audio)));
            return http.exchangeStreamed(backend, call, () -> options(backend, path)
                    .putHeader("content-type", "multipart/form-data; boundary=" + boundary).putHeader("accept", "text/event-stream"), form);
        }
        // the answer may be text (response_format text, srt, vtt)
        return postForm(backend, call, path, List.of(Map.entry("file", audio)), "application/json, text/plain, */*");
    }

    @Override
    public Uni<ObjectNode> editImages(BackendTarget backend, ProviderCall call, List<Map.Entry<String, Upload>> files) {
        return postForm(backend, call, "/images/edits", files, null).map(answer -> imagesAnswer(http.parse(answer)));
    }

    @Override
    public Uni<ObjectNode> imageVariations(BackendTarget backend, ProviderCall call, List<Map.Entry<String, Upload>> files) {
        return postForm(backend, call, "/images/variations", files, null).map(answer -> imagesAnswer(http.parse(answer)));
    }

    /** A multipart POST of {@link #form} to {@code path}, with {@code accept} when given; the whole answer as it came. */
    private Uni<UpstreamHttp.RawAnswer> postForm(BackendTarget backend, ProviderCall call, String path,
                                                 List<Map.Entry<String, Upload>> files, String accept) {
        String boundary = "scaigrid-" + java.util.UUID.randomUUID();
        io.vertx.core.buffer.Buffer form = form(backend, call, boundary, files);
        return http.exchangeRaw(backend, call, () -> {
            RequestOptions options = options(backend, path).putHeader("content-type", "multipart/form-data; boundary=" + boundary);
            return accept == null ? options : options.putHeader("accept", accept);
        }, form);
    }

    /** A multipart form: the backend's model, the call's fields (a list as repeated {@code name[]} parts), then the files. */
    private static io.vertx.core.buffer.Buffer form(BackendTarget backend, ProviderCall call, String boundary,
                                                   List<Map.Entry<String, Upload>> files) {
        io.vertx.core.buffer.Buffer form = io.vertx.core.buffer.Buffer.buffer();
        formField(form, boundary, "model", backend.modelName());
        call.body().fields().forEachRemaining(field -> {
            if (field.getValue().isArray()) {
                // OpenAI's list fields (timestamp_granularities[], include[]) are repeated parts
                field.getValue().forEach(item -> formField(form, boundary, field.getKey() + "[]", item.asText()));
            } else {
                formField(form, boundary, field.getKey(), field.getValue().asText());
            }
        });
        for (Map.Entry<String, Upload> file : files) {
            Upload upload = file.getValue();
            form.appendString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + quoted(file.getKey())
                    + "\"; filename=\"" + quoted(upload.filename()) + "\"\r\nContent-Type: "
                    + upload.contentType().replaceAll("[\\r\\n]", "") + "\r\n\r\n");
            form.appendBuffer(upload.bytes()).appendString("\r\n");
        }
        return form.appendString("--" + boundary + "--\r\n");
    }

    private static void formField(io.vertx.core.buffer.Buffer form, String boundary, String name, String value) {
        form.appendString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + quoted(name) + "\"\r\n\r\n")
                .appendString(value).appendString("\r\n");
    }

    /** A form-data name or filename: quotes and line breaks cannot end the header early. */
    private static String quoted(String s) {
        return s.replaceAll("[\"\\r\\n\\\\]", "_");
    }

    @Override
    public Multi<ObjectNode> streamChat(BackendTarget backend, ProviderCall call) {
        if (textCompletion(backend, call)) {
            // an upstream without the endpoint answers with an error status, before any chunk: then the chat
            return http.stream(backend, call, () -> options(backend, "/completions"), completionBody(backend, call, true),
                            new ChunkRelay(call, true))
                    .onFailure(f -> call.completionPrompt() == null && noTextCompletions(f))
                    .recoverWithMulti(() -> streamChatCompletion(backend, call));
        }
        return streamChatCompletion(backend, call);
    }

    private Multi<ObjectNode> streamChatCompletion(BackendTarget backend, ProviderCall call) {
        ObjectNode body = requestBody(backend, call, true);
        return http.stream(backend, call, () -> options(backend, "/chat/completions"), body, new ChunkRelay(call, false));
    }

    // ------------------------------------------------------------------ raw text completion (generate)

    /**
     * Whether a raw text completion goes to the upstream's {@code /completions}, which continues the prompt as
     * it is (no chat template): {@code connection_config.completions} {@code native} or {@code chat}. By
     * default native for self-hosted servers (vLLM, llama.cpp, Ollama and the like: {@code custom}, and
     * {@code openai} away from api.openai.com), chat for hosted APIs whose current models only chat.
     */
    static boolean textCompletion(BackendTarget backend, ProviderCall call) {
        return (call.rawPrompt() != null || call.completionPrompt() != null) && nativeCompletions(backend);
    }

    /** The backend's {@code completions} mode is native (see {@link #textCompletion}). */
    private static boolean nativeCompletions(BackendTarget backend) {
        String type = backend.providerType();
        boolean selfHosted = "custom".equals(type) || ("openai".equals(type) && !openAiItself(backend));
        return "native".equals(backend.config("completions", selfHosted ? "native" : "chat"));
    }

    @Override
    public boolean completesTextNatively(BackendTarget backend) {
        return nativeCompletions(backend);
    }

    /** Whether an {@code openai} backend calls OpenAI's own API (its default endpoint) rather than a compatible server. */
    private static boolean openAiItself(BackendTarget backend) {
        String base = backend.config("base_url", DEFAULT_BASE_URLS.get(backend.providerType()));
        return "openai".equals(backend.providerType()) && base != null && base.startsWith("https://api.openai.com/");
    }

    /** The upstream has no text completions (for this model): 404 or 405, as OpenAI answers for its chat models. */
    private static boolean noTextCompletions(Throwable failure) {
        return failure instanceof UpstreamFailure f && f.httpStatus() != null && (f.httpStatus() == 404 || f.httpStatus() == 405);
    }

    /** The {@code /completions} request: the prompt and the sampling fields that API takes; the cap as max_tokens. */
    private ObjectNode completionBody(BackendTarget backend, ProviderCall call, boolean stream) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        JsonNode cap = body.hasNonNull(MAX_COMPLETION_TOKENS) ? body.get(MAX_COMPLETION_TOKENS) : body.get("max_tokens");
        // logprobs: chat's flag and count are one count here, the alternatives per token
        boolean logprobs = body.path("logprobs").asBoolean(false);
        int alternatives = body.path("top_logprobs").asInt(0);
        for (String field : List.of("messages", "tools", "tool_choice", "parallel_tool_calls", "response_format",
                "reasoning_effort", MAX_COMPLETION_TOKENS, "max_tokens", "logprobs", "top_logprobs")) {
            body.remove(field);
        }
        if (call.completionPrompt() != null) {
            body.set("prompt", call.completionPrompt()); // and echo, when asked, stays
        } else {
            body.put("prompt", call.rawPrompt());
        }
        if (logprobs) {
            body.put("logprobs", alternatives);
        }
        if (cap != null && !cap.isNull()) {
            body.set("max_tokens", cap);
        }
        streamFields(backend, body, stream);
        return body;
    }

    /** A {@code text_completion} answer as the {@code chat.completion} every provider hands the dispatcher. */
    static ObjectNode asChatCompletion(ObjectNode completion, String slug) {
        completion.put("object", "chat.completion");
        completion.put("model", slug);
        for (JsonNode choice : completion.path("choices")) {
            if (choice instanceof ObjectNode c) {
                // logprobs stay in the completions API's shape, which the text completion answer keeps
                JsonNode text = c.remove("text");
                c.putObject("message").put("role", "assistant").put("content", text == null || text.isNull() ? "" : text.asText());
            }
        }
        return completion;
    }

    /** A streamed {@code text_completion} chunk as a {@code chat.completion.chunk}. */
    static ObjectNode asChatChunk(ObjectNode chunk) {
        chunk.put("object", "chat.completion.chunk");
        for (JsonNode choice : chunk.path("choices")) {
            if (choice instanceof ObjectNode c) {
                JsonNode text = c.remove("text");
                ObjectNode delta = c.putObject("delta");
                if (text != null && !text.isNull()) {
                    delta.put("content", text.asText());
                }
            }
        }
        return chunk;
    }

    /**
     * Hosted APIs that refuse (or would misread) fields other backends read on a message: a reasoning model's
     * thinking in the history, and prompt-cache breakpoints ({@code cache_control}, for Anthropic and Qwen;
     * these APIs cache on their own). OpenAI and Azure answer 400 "Additional properties are not allowed",
     * Mistral refuses unknown fields. A conversation that went through another backend carries them.
     */
    static final Set<String> STRICT_MESSAGE_FIELDS = Set.of("openai", "azure", "mistral", "google");

    static final String MAX_COMPLETION_TOKENS = "max_completion_tokens";

    /**
     * Which name the output cap goes under unless {@code connection_config.max_tokens_field} says
     * ({@code max_completion_tokens}, {@code max_tokens} or {@code as_sent}): OpenAI's own API gets
     * {@code max_completion_tokens}; every other server gets the field the caller sent.
     */
    public static String defaultMaxTokensField(BackendTarget backend) {
        return openAiItself(backend) ? MAX_COMPLETION_TOKENS : "as_sent";
    }

    private ObjectNode requestBody(BackendTarget backend, ProviderCall call, boolean stream) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        boolean strict = STRICT_MESSAGE_FIELDS.contains(backend.providerType());
        for (JsonNode message : body.path("messages")) {
            if (message instanceof ObjectNode m) {
                // Anthropic's signed thinking (AnthropicProvider) means nothing to an OpenAI-style server; the plain
                // reasoning_content stays for self-hosted servers (custom: vLLM, llama.cpp, DeepSeek), which read it
                m.remove("thinking_blocks");
                if (strict) {
                    m.remove("reasoning_content");
                    m.remove("reasoning");
                    m.remove("cache_control");
                    m.path("content").forEach(part -> {
                        if (part instanceof ObjectNode p) {
                            p.remove("cache_control");
                        }
                    });
                }
            }
        }
        if (strict) {
            body.path("tools").forEach(tool -> {
                if (tool instanceof ObjectNode t) {
                    t.remove("cache_control");
                }
            });
        }
        String capField = backend.config("max_tokens_field", defaultMaxTokensField(backend));
        if (MAX_COMPLETION_TOKENS.equals(capField) || "max_tokens".equals(capField)) {
            // OpenAI's reasoning models (o-series, gpt-5) refuse max_tokens, which it deprecated for
            // max_completion_tokens (both at once are refused too); servers that only know max_tokens would
            // ignore the new name and run uncapped. The gateway already took the cap from either (new name first).
            String other = MAX_COMPLETION_TOKENS.equals(capField) ? "max_tokens" : MAX_COMPLETION_TOKENS;
            JsonNode cap = body.hasNonNull(MAX_COMPLETION_TOKENS) ? body.get(MAX_COMPLETION_TOKENS) : body.get("max_tokens");
            body.remove(other);
            if (cap != null && !cap.isNull()) {
                body.set(capField, cap);
            }
        }
        streamFields(backend, body, stream);
        return body;
    }

    private static void streamFields(BackendTarget backend, ObjectNode body, boolean stream) {
        if (stream) {
            body.put("stream", true);
            // ask for a final usage chunk; upstreams that ignore it are counted by the dispatcher
            boolean askForUsage = Boolean.parseBoolean(backend.config("stream_usage", String.valueOf(!"mistral".equals(backend.providerType()))));
            if (askForUsage) {
                body.putObject("stream_options").put("include_usage", true);
            } else {
                body.remove("stream_options");
            }
        } else {
            body.remove("stream");
            body.remove("stream_options");
        }
    }

    /**
     * The request to {@code path} ({@code /chat/completions}, {@code /embeddings}, {@code /images/generations},
     * {@code /models}) on the backend's endpoint.
     */
    RequestOptions options(BackendTarget backend, String path) {
        String type = backend.providerType();
        String base = backend.config("base_url", DEFAULT_BASE_URLS.get(type));
        if (base == null || base.isBlank()) {
            throw new UpstreamFailure(ErrorCode.BACKEND_ERROR, "azure".equals(type)
                    ? "The backend has no base_url configured (the Azure OpenAI resource's endpoint)"
                    : "The backend has no base_url configured", true, null, null);
        }
        String key = backend.secret("api_key");
        if ("azure".equals(type)) {
            String deployment = backend.config("deployment", backend.modelName());
            String url = UpstreamHttp.stripSlash(base) + "/openai/"
                    + "deployments/" + urlSegment(deployment) + path
                    + "?api-version=" + urlSegment(backend.config("api_version", AZURE_API_VERSION));
            RequestOptions options = http.post(backend, url);
            if (key != null && !key.isBlank()) {
                options.putHeader("api-key", key);
            }
            return options;
        }
        RequestOptions options = http.post(backend, UpstreamHttp.stripSlash(base) + path);
        if (key != null && !key.isBlank()) {
            options.putHeader("authorization", "Bearer " + key);
        }
        return options;
    }

    private static String urlSegment(String value) {
        return java.net.URLEncoder.encode(value == null ? "" : value, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);

    /**
     * OpenAI's chunks pass through as they are, with the model renamed to the slug the caller used; a text
     * completion's chunks become chat chunks ({@link #asChatChunk}).
     */
    private final class ChunkRelay implements UpstreamHttp.SseTranslator {
        private final ProviderCall call;
        private final boolean textCompletion;

        ChunkRelay(ProviderCall call, boolean textCompletion) {
            this.call = call;
            this.textCompletion = textCompletion;
        }

        @Override
        public boolean onEvent(String event, byte[] data, int size, java.util.function.Consumer<ObjectNode> emit) {
            if (isDone(data, size)) {
                return true;
            }
            JsonNode json;
            try {
                json = mapper.readTree(data, 0, size);
            } catch (Exception e) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream sent an unreadable event", true, null, e);
            }
            if ("error".equals(event) || json.has("error")) {
                throw new UpstreamFailure(ErrorCode.BACKEND_ERROR, "The upstream reported an error during generation", true, null, null);
            }
            if (json instanceof ObjectNode chunk) {
                chunk.put("model", call.frontendSlug());
                emit.accept(textCompletion ? asChatChunk(chunk) : chunk);
            }
            return false;
        }

    }

    /** The event's data is the stream's end marker, [DONE]. */
    private static boolean isDone(byte[] data, int size) {
        int from = 0;
        int to = size;
        while (from < to && data[from] <= ' ') {
            from++;
        }
        while (to > from && data[to - 1] <= ' ') {
            to--;
        }
        return Arrays.equals(data, from, to, DONE, 0, DONE.length);
    }
}
