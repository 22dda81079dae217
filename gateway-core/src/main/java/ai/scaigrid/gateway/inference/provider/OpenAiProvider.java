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
    public Multi<ObjectNode> streamChat(BackendTarget backend, ProviderCall call) {
        ObjectNode body = requestBody(backend, call, true);
        return http.stream(backend, call, () -> options(backend, "/chat/completions"), body, new ChunkRelay(call));
    }

    /**
     * Hosted APIs that refuse (or would misread) a reasoning model's thinking on an assistant message in
     * the history: OpenAI and Azure answer 400 "Additional properties are not allowed", Mistral refuses
     * unknown fields. A conversation that went through a reasoning model, on another backend, carries it.
     */
    static final Set<String> NO_REASONING_IN_HISTORY = Set.of("openai", "azure", "mistral", "google");

    static final String MAX_COMPLETION_TOKENS = "max_completion_tokens";

    /**
     * Which name the output cap goes under unless {@code connection_config.max_tokens_field} says
     * ({@code max_completion_tokens}, {@code max_tokens} or {@code as_sent}): OpenAI's own API gets
     * {@code max_completion_tokens}; every other server gets the field the caller sent.
     */
    public static String defaultMaxTokensField(BackendTarget backend) {
        String base = backend.config("base_url", DEFAULT_BASE_URLS.get(backend.providerType()));
        return "openai".equals(backend.providerType()) && base != null && base.startsWith("https://api.openai.com/")
                ? MAX_COMPLETION_TOKENS : "as_sent";
    }

    private ObjectNode requestBody(BackendTarget backend, ProviderCall call, boolean stream) {
        ObjectNode body = call.body().deepCopy();
        body.put("model", backend.modelName());
        boolean dropReasoning = NO_REASONING_IN_HISTORY.contains(backend.providerType());
        for (JsonNode message : body.path("messages")) {
            if (message instanceof ObjectNode m) {
                // Anthropic's signed thinking (AnthropicProvider) means nothing to an OpenAI-style server; the plain
                // reasoning_content stays for self-hosted servers (custom: vLLM, llama.cpp, DeepSeek), which read it
                m.remove("thinking_blocks");
                if (dropReasoning) {
                    m.remove("reasoning_content");
                    m.remove("reasoning");
                }
            }
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
        return body;
    }

    /** The request to {@code path} ({@code /chat/completions}, {@code /embeddings}, {@code /models}) on the backend's endpoint. */
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

    /** OpenAI's chunks pass through as they are, with the model renamed to the slug the caller used. */
    private final class ChunkRelay implements UpstreamHttp.SseTranslator {
        private final ProviderCall call;

        ChunkRelay(ProviderCall call) {
            this.call = call;
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
                emit.accept(chunk);
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
