package ai.scaigrid.commons.scaiinfer;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.Tool;
import ai.scaigrid.proto.scaiinfer.v1.ToolCall;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A {@code scaiinfer.v1.InferenceRequest} as the body of an OpenAI chat completion: the one translation
 * both sides of a ScaiInfer call need (the gateway turning a gRPC client's request into its pipeline's
 * JSON, a node turning the gateway's request into a call to a local OpenAI-compatible server).
 */
public final class OpenAiChatBodies {
    private OpenAiChatBodies() {
    }

    /**
     * The request's own fields: {@code messages} (tool calls included), {@code prompt}, the sampling
     * settings, {@code stop}, {@code seed}, {@code reasoning_effort}, {@code logprobs} (with {@code top_logprobs}),
     * {@code tools}, {@code tool_choice} and
     * {@code response_format}; an assistant message's {@code reasoning_content} goes along (templates of
     * reasoning models that continue a tool-use loop read it, the others ignore it), and so do its
     * {@code thinking_blocks} (for the gateway's Anthropic backends; a node drops them).
     * Not {@code model}, {@code stream}, {@code user} or {@code metadata}: what those should be depends
     * on who sends the body. A parameter schema that is not JSON is {@code 400 VALIDATION_ERROR} naming
     * the proto field.
     */
    public static ObjectNode of(InferenceRequest r, ObjectMapper mapper) {
        ObjectNode body = mapper.createObjectNode();
        if (r.getMessagesCount() > 0) {
            ArrayNode messages = body.putArray("messages");
            for (ChatMessage m : r.getMessagesList()) {
                ObjectNode node = messages.addObject().put("role", m.getRole());
                if (!m.getContent().isEmpty() || m.getToolCallsCount() == 0) {
                    node.put("content", m.getContent());
                } else {
                    node.putNull("content");
                }
                if (!m.getName().isEmpty()) {
                    node.put("name", m.getName());
                }
                if (!m.getToolCallId().isEmpty()) {
                    node.put("tool_call_id", m.getToolCallId());
                }
                if (!m.getReasoningContent().isEmpty()) {
                    node.put("reasoning_content", m.getReasoningContent());
                }
                if (m.getThinkingBlocksCount() > 0) {
                    ArrayNode blocks = node.putArray("thinking_blocks");
                    m.getThinkingBlocksList().forEach(b -> blocks.add(ThinkingBlocks.toJson(b, mapper)));
                }
                if (m.getToolCallsCount() > 0) {
                    ArrayNode calls = node.putArray("tool_calls");
                    for (ToolCall c : m.getToolCallsList()) {
                        calls.addObject().put("id", c.getId()).put("type", c.getType().isEmpty() ? "function" : c.getType())
                                .putObject("function").put("name", c.getFunction().getName())
                                .put("arguments", c.getFunction().getArguments());
                    }
                }
            }
        }
        if (r.hasPrompt()) {
            body.put("prompt", r.getPrompt());
        }
        if (r.hasMaxTokens()) {
            body.put("max_tokens", r.getMaxTokens());
        }
        if (r.hasTemperature()) {
            body.put("temperature", r.getTemperature());
        }
        if (r.hasTopP()) {
            body.put("top_p", r.getTopP());
        }
        if (r.hasPresencePenalty()) {
            body.put("presence_penalty", r.getPresencePenalty());
        }
        if (r.hasFrequencyPenalty()) {
            body.put("frequency_penalty", r.getFrequencyPenalty());
        }
        if (r.hasSeed()) {
            body.put("seed", r.getSeed());
        }
        if (r.getStopCount() > 0) {
            ArrayNode stop = body.putArray("stop");
            r.getStopList().forEach(stop::add);
        }
        if (r.hasReasoningEffort()) {
            body.put("reasoning_effort", r.getReasoningEffort());
        }
        if (r.getLogprobs()) {
            body.put("logprobs", true);
            if (r.getTopLogprobs() > 0) {
                body.put("top_logprobs", r.getTopLogprobs());
            }
        }
        if (r.getToolsCount() > 0) {
            ArrayNode tools = body.putArray("tools");
            for (Tool t : r.getToolsList()) {
                ObjectNode fn = tools.addObject().put("type", t.getType().isEmpty() ? "function" : t.getType()).putObject("function");
                fn.put("name", t.getFunction().getName());
                if (!t.getFunction().getDescription().isEmpty()) {
                    fn.put("description", t.getFunction().getDescription());
                }
                if (!t.getFunction().getParametersJson().isEmpty()) {
                    fn.set("parameters", parse(mapper, "tools.function.parameters_json", t.getFunction().getParametersJson()));
                }
                if (t.getFunction().getStrict()) {
                    fn.put("strict", true);
                }
            }
        }
        if (r.hasToolChoice() && !r.getToolChoice().getMode().isEmpty()) {
            if ("function".equals(r.getToolChoice().getMode())) {
                body.putObject("tool_choice").put("type", "function").putObject("function")
                        .put("name", r.getToolChoice().getFunctionName());
            } else {
                body.put("tool_choice", r.getToolChoice().getMode());
            }
        }
        if (r.hasResponseFormat() && !r.getResponseFormat().getType().isEmpty()) {
            ObjectNode format = body.putObject("response_format").put("type", r.getResponseFormat().getType());
            if ("json_schema".equals(r.getResponseFormat().getType())) {
                ObjectNode schema = format.putObject("json_schema");
                schema.put("name", r.getResponseFormat().getSchemaName().isEmpty() ? "response" : r.getResponseFormat().getSchemaName());
                schema.set("schema", parse(mapper, "response_format.json_schema", r.getResponseFormat().getJsonSchema()));
            }
        }
        return body;
    }

    private static JsonNode parse(ObjectMapper mapper, String field, String json) {
        try {
            return mapper.readTree(json);
        } catch (Exception e) {
            throw ApiException.validation(field, field + " is not valid JSON");
        }
    }
}
