package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a frontend model adds to every request for it (reference §2.4: "system-prompt rewriting"
 * between the budget check and the dispatcher): its {@code default_params} fill the sampling fields a
 * request leaves out (the caller's own values win), and its {@code system_prompt_template} becomes the
 * first system message of a chat, before the caller's messages. The template may use {@code {{model}}}
 * (the slug) and {@code {{date}}} (today, UTC). A request for a model with neither is passed on as it is.
 */
public final class ModelDefaults {
    /** What a request is about rather than how to sample it: never taken from a model's defaults. */
    static final Set<String> NOT_DEFAULTABLE = Set.of("model", "messages", "prompt", "input", "stream", "stream_options",
            "tools", "tool_choice", "user", "metadata");

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private ModelDefaults() {
    }

    /** The request with the model's defaults and template applied, validated again; the request itself if none apply. */
    static InferenceRequests.Parsed apply(InferenceRequests.Parsed request, ModelRoutes.Route route, String endpoint) {
        ObjectNode defaults = route.defaultParams();
        String template = "chat".equals(endpoint) || "responses".equals(endpoint) ? route.systemPromptTemplate() : null;
        if ((defaults == null || defaults.isEmpty()) && template == null) {
            return request;
        }
        ObjectNode body = request.body().deepCopy();
        boolean changed = false;
        Set<String> defaulted = new java.util.HashSet<>();
        if (defaults != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = defaults.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode given = body.get(e.getKey());
                if (!NOT_DEFAULTABLE.contains(e.getKey()) && (given == null || given.isNull())) {
                    body.set(e.getKey(), e.getValue().deepCopy());
                    defaulted.add(e.getKey());
                    changed = true;
                }
            }
        }
        if (template != null && body.get("messages") instanceof ArrayNode messages) {
            messages.insert(0, JsonNodeFactory.instance.objectNode().put("role", "system").put("content", render(template, route.slug())));
            changed = true;
        }
        if (!changed) {
            return request;
        }
        // the parsed body is already in chat form without model and stream fields: check it as such
        ObjectNode check = body.deepCopy().put("model", request.model());
        InferenceRequests.Parsed again;
        try {
            again = "embed".equals(endpoint) ? InferenceRequests.embed(check) : InferenceRequests.chat(check);
        } catch (ApiException e) {
            // the caller's request was valid on its own: the model's configuration is what is wrong
            throw new ApiException(ErrorCode.MODEL_UNAVAILABLE, "This model's default parameters are invalid; ask an administrator to fix them");
        }
        return new InferenceRequests.Parsed(request.model(), request.stream(), request.includeUsage(), again.body(),
                again.promptEstimate(), again.maxTokens(), Set.copyOf(defaulted));
    }

    static String render(String template, String slug) {
        return template.replace("{{model}}", slug).replace("{{date}}", LocalDate.now(ZoneOffset.UTC).toString());
    }

    /**
     * Checks a model's {@code default_params} when they are written, as request fields of a minimal chat:
     * a 400 naming {@code default_params.<field>} instead of failing every later request for the model.
     */
    public static void validate(Map<String, Object> defaultParams) {
        if (defaultParams == null || defaultParams.isEmpty()) {
            return;
        }
        ObjectNode probe = JsonNodeFactory.instance.objectNode().put("model", "probe/model");
        probe.putArray("messages").addObject().put("role", "user").put("content", "probe");
        List<Map<String, String>> problems = new ArrayList<>();
        for (Map.Entry<String, Object> e : defaultParams.entrySet()) {
            if (NOT_DEFAULTABLE.contains(e.getKey())) {
                problems.add(Map.of("field", "default_params." + e.getKey(), "message", e.getKey() + " cannot have a default"));
            } else {
                probe.set(e.getKey(), JSON.valueToTree(e.getValue()));
            }
        }
        try {
            InferenceRequests.chat(probe);
        } catch (ApiException e) {
            if (e.details() instanceof List<?> list) {
                for (Object d : list) {
                    if (d instanceof Map<?, ?> m) {
                        problems.add(Map.of("field", "default_params." + m.get("field"), "message", String.valueOf(m.get("message"))));
                    }
                }
            } else {
                problems.add(Map.of("field", "default_params", "message", e.getMessage()));
            }
        }
        if (!problems.isEmpty()) {
            throw new ApiException(ErrorCode.VALIDATION_ERROR, "default_params are not valid request fields", problems);
        }
    }

}
