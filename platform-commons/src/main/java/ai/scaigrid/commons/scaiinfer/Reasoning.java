package ai.scaigrid.commons.scaiinfer;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A reasoning model's thinking in OpenAI-style JSON. ScaiGrid's own name for it is
 * {@code reasoning_content} (DeepSeek's, llama.cpp's and vLLM's); Ollama, OpenRouter and newer vLLM
 * call it {@code reasoning}, and an {@code openai} backend relays whichever its upstream sends, so
 * readers accept both.
 */
public final class Reasoning {
    private Reasoning() {
    }

    /** The reasoning text of a message or a delta; empty when there is none. */
    public static String of(JsonNode messageOrDelta) {
        JsonNode r = messageOrDelta.get("reasoning_content");
        if (r == null || !r.isTextual()) {
            r = messageOrDelta.get("reasoning");
        }
        return r != null && r.isTextual() ? r.asText() : "";
    }

    /** Of an OpenAI-style {@code usage}, the completion tokens spent thinking ({@code completion_tokens_details.reasoning_tokens}); 0 when not reported. */
    public static int tokens(JsonNode usage) {
        return usage.path("completion_tokens_details").path("reasoning_tokens").asInt(0);
    }
}
