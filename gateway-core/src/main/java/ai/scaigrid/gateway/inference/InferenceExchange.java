package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.scaiinfer.Reasoning;
import ai.scaigrid.commons.security.Caller;
import com.fasterxml.jackson.databind.JsonNode;
import ai.scaigrid.gateway.inference.provider.BackendTarget;

/** One inference request on its way through the pipeline: who, what, where it went, what it cost. */
public final class InferenceExchange {
    public final Caller caller;
    public final String requestId;
    /** native | oai | grpc */
    public final String api;
    /**
     * chat | generate | embed | images | image_edits | image_variations | speech | transcriptions | translations | responses
     * | moderations
     */
    public final String endpoint;
    /** The request as sent, replaced once during admission by the request with the model's defaults applied. */
    public InferenceRequests.Parsed request;
    public final long startedNanos = System.nanoTime();
    /** When the API layer received the request (before authentication); the exchange's start unless set. */
    volatile long arrivedNanos = startedNanos;
    public final long deadlineNanos;

    ModelRoutes.Route route;
    Limits.Reservation reservation;
    Limits.RateState rate;
    volatile BackendTarget backend;
    volatile long firstTokenNanos;
    volatile int promptTokens = -1;
    volatile int completionTokens = -1;
    volatile long completionChars;
    /** Of {@link #completionChars}, the reasoning model's thinking. */
    volatile long reasoningChars;
    /** The upstream's {@code completion_tokens_details.reasoning_tokens} (0 when it reports none) with its usage. */
    volatile int reasoningTokens;
    /** Of the prompt, what the upstream read from its prompt cache ({@code prompt_tokens_details.cached_tokens}). */
    volatile int cachedTokens;
    /** Of the prompt, what the upstream wrote to its prompt cache ({@code cache_creation_input_tokens}); of that, to its 1-hour cache. */
    volatile int cacheWriteTokens;
    volatile int cacheWrite1hTokens;
    /** Images an image request produced. */
    volatile int images;
    /** Seconds of audio taken in (a transcription: the upstream's duration), for the price per minute. */
    volatile java.math.BigDecimal audioSeconds;
    /** An image edit's files by field name (image, image[], mask), set by the API layer once the request was admitted. */
    volatile java.util.List<java.util.Map.Entry<String, ai.scaigrid.gateway.inference.provider.Upload>> files;
    /** A transcription's audio, set by the API layer once the request was admitted. */
    volatile ai.scaigrid.gateway.inference.provider.Upload upload;
    /** For a text completion with {@code echo}: the prompt, which leads each choice's text; else null. */
    volatile String echo;
    /** A Responses API request, checked (its chat translation is {@link #request}); null for other APIs. */
    volatile ResponsesApi.Turn responses;
    /** The run of a request with remote MCP servers among its tools ({@link HostedMcp}); else null. */
    volatile HostedMcp.Run hosted;
    volatile boolean finished;
    volatile boolean dispatchRecorded;
    volatile boolean relayRecorded;

    InferenceExchange(Caller caller, String requestId, String api, String endpoint, InferenceRequests.Parsed request,
                      long deadlineNanos) {
        this.caller = caller;
        this.requestId = requestId;
        this.api = api;
        this.endpoint = endpoint;
        this.request = request;
        this.deadlineNanos = deadlineNanos;
    }

    public ModelRoutes.Route route() {
        return route;
    }

    /** Sets when the request reached the gateway, for the overhead metric (the API layer knows it, the pipeline does not). */
    public InferenceExchange arrivedAt(long nanos) {
        arrivedNanos = nanos;
        return this;
    }

    public Limits.RateState rate() {
        return rate;
    }

    /** Prompt tokens as reported by the upstream, else our estimate. */
    public int promptTokens() {
        return promptTokens >= 0 ? promptTokens : request.promptEstimate();
    }

    /** Completion tokens as reported by the upstream, else counted (about four characters per token). */
    public int completionTokens() {
        return completionTokens >= 0 ? completionTokens : (int) ((completionChars + 3) / 4);
    }

    /** The counted share of thinking in {@link #completionTokens()} (only meaningful when the upstream reported no usage). */
    int countedReasoningTokens() {
        return (int) Math.min((reasoningChars + 3) / 4, completionTokens());
    }

    /**
     * Of {@link #completionTokens()}, the thinking, as the caller's usage says it: the upstream's figure where it
     * reported usage (0 when it gives no split, as Anthropic), else the gateway's own count.
     */
    public int reasoningTokens() {
        return upstreamReportedUsage() ? reasoningTokens : reasoningChars > 0 ? countedReasoningTokens() : 0;
    }

    /**
     * The upstream's own usage (OpenAI's shape; the last report wins): prompt and completion tokens, of them the
     * thinking ({@code completion_tokens_details.reasoning_tokens}) and what was read from the prompt cache
     * ({@code prompt_tokens_details.cached_tokens}, Anthropic's cache reads translated) or written to it
     * ({@code cache_creation_input_tokens}, of them {@code cache_creation.ephemeral_1h_input_tokens} to the 1-hour cache:
     * Anthropic's names).
     */
    void takeUsage(JsonNode usage) {
        promptTokens = usage.path("prompt_tokens").asInt();
        completionTokens = usage.path("completion_tokens").asInt();
        reasoningTokens = Reasoning.tokens(usage);
        cachedTokens = count(usage.path("prompt_tokens_details").path("cached_tokens"));
        cacheWriteTokens = count(usage.path("cache_creation_input_tokens"));
        cacheWrite1hTokens = count(usage.path("cache_creation").path("ephemeral_1h_input_tokens"));
    }

    /**
     * Takes a usage in the newer OpenAI names, {@code input_tokens} / {@code output_tokens} (gpt-image-1,
     * gpt-4o-transcribe, gpt-4o-mini-tts); false, and nothing taken, when it does not give both.
     */
    boolean takeInputOutputTokens(JsonNode usage) {
        if (usage == null || !usage.path("input_tokens").canConvertToInt() || !usage.path("output_tokens").canConvertToInt()) {
            return false;
        }
        promptTokens = Math.max(0, usage.path("input_tokens").asInt());
        completionTokens = Math.max(0, usage.path("output_tokens").asInt());
        return true;
    }

    private static int count(JsonNode n) {
        return n.canConvertToInt() && n.asInt() > 0 ? n.asInt() : 0;
    }

    public boolean upstreamReportedUsage() {
        return completionTokens >= 0;
    }
}
