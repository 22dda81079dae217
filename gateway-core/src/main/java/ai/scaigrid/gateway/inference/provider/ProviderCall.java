package ai.scaigrid.gateway.inference.provider;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One call on a backend. {@code body} is the validated OpenAI-style request body (messages or input,
 * sampling parameters, tools ...) without {@code model} and {@code stream}: the provider sets those
 * for its upstream. {@code frontendSlug} is the model name callers see in responses.
 *
 * @param deadlineNanos   absolute {@link System#nanoTime()} deadline of the caller, or 0 for none
 * @param maxOutputTokens the most output the gateway reserved for (the request's {@code max_tokens}, else the
 *                        model's {@code max_output_tokens}, else the gateway's default), for upstreams that
 *                        need a cap when the request names none; 0 when unknown
 * @param defaulted       the body's fields that came from the model's defaults, not the caller: where a
 *                        backend cannot honour two fields together, such a field yields to the caller's
 * @param rawPrompt       for a raw text completion ({@code generate} without tools or a response format): the
 *                        prompt, which a backend with a text-completion endpoint continues as it is (the body
 *                        still carries it as one user message, for backends that only chat); else null
 * @param completionPrompt for a text completion only a native text-completion endpoint can answer (several prompts,
 *                        token ids, echo with logprobs): the prompt as the caller sent it; else null
 */
public record ProviderCall(String requestId, String tenantId, String partnerId, String userId, String frontendSlug,
                           ObjectNode body, long deadlineNanos, int maxOutputTokens, java.util.Set<String> defaulted,
                           String rawPrompt, com.fasterxml.jackson.databind.JsonNode completionPrompt) {

    public ProviderCall(String requestId, String tenantId, String partnerId, String userId, String frontendSlug,
                        ObjectNode body, long deadlineNanos, int maxOutputTokens, java.util.Set<String> defaulted, String rawPrompt) {
        this(requestId, tenantId, partnerId, userId, frontendSlug, body, deadlineNanos, maxOutputTokens, defaulted, rawPrompt, null);
    }

    public ProviderCall(String requestId, String tenantId, String partnerId, String userId, String frontendSlug,
                        ObjectNode body, long deadlineNanos, int maxOutputTokens, java.util.Set<String> defaulted) {
        this(requestId, tenantId, partnerId, userId, frontendSlug, body, deadlineNanos, maxOutputTokens, defaulted, null);
    }

    public ProviderCall(String requestId, String tenantId, String partnerId, String userId, String frontendSlug,
                        ObjectNode body, long deadlineNanos, int maxOutputTokens) {
        this(requestId, tenantId, partnerId, userId, frontendSlug, body, deadlineNanos, maxOutputTokens, java.util.Set.of());
    }

    public ProviderCall(String requestId, String tenantId, String partnerId, String userId, String frontendSlug,
                        ObjectNode body, long deadlineNanos) {
        this(requestId, tenantId, partnerId, userId, frontendSlug, body, deadlineNanos, 0);
    }
}
