package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.scaiinfer.Reasoning;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Anthropic's Messages API ({@code POST /anthropic/v1/messages}) over the chat pipeline, so that Anthropic's SDKs and
 * the tools built on them (Claude Code with {@code ANTHROPIC_BASE_URL}) reach every model of the catalogue. A request's
 * {@code system}, {@code messages} (text, images, text and PDF documents, {@code tool_use} and {@code tool_result}, signed
 * {@code thinking}),
 * custom tools, {@code tool_choice}, {@code thinking} and {@code output_config.format} become a chat request
 * ({@link #toChat}); the chat answer becomes a {@code message} ({@link #message}) and a chat stream Anthropic's event
 * stream ({@link Stream}). Server tools (web search, code execution, bash ...) and MCP servers are refused by name:
 * only Anthropic runs them.
 */
final class MessagesApi {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Fields that pass to the chat request as they are. */
    private static final List<String> SAME = List.of("model", "temperature", "top_p", "top_k");

    private MessagesApi() {
    }

    /** A new message id, {@code msg_} and 32 hex digits. */
    static String newId() {
        return "msg_" + ResponsesApi.hex();
    }

    // ------------------------------------------------------------------ the request

    /**
     * The chat request a Messages request stands for; a 400 naming the Messages field for what is malformed or has no
     * chat form. {@code counting}: for {@code count_tokens}, which takes no {@code max_tokens}.
     */
    static ObjectNode toChat(JsonNode raw, boolean counting) {
        if (raw == null || !raw.isObject()) {
            throw ApiException.validation("body", "The request body must be a JSON object");
        }
        ObjectNode chat = NODES.objectNode();
        for (String field : SAME) {
            if (raw.has(field)) {
                chat.set(field, raw.get(field));
            }
        }
        JsonNode maxTokens = raw.get("max_tokens");
        if (!counting && (maxTokens == null || !maxTokens.canConvertToInt() || !maxTokens.isIntegralNumber() || maxTokens.asInt() < 1)) {
            throw ApiException.validation("max_tokens", "max_tokens is required: a positive integer");
        }
        if (!counting) {
            chat.put("max_tokens", maxTokens.asInt());
        }
        JsonNode stream = raw.get("stream");
        if (stream != null && !stream.isNull() && !stream.isBoolean()) {
            throw ApiException.validation("stream", "stream must be true or false");
        }
        if (!counting && stream != null && stream.asBoolean()) {
            chat.put("stream", true);
            chat.putObject("stream_options").put("include_usage", true);
        }
        JsonNode stop = raw.get("stop_sequences");
        if (stop != null && !stop.isNull()) {
            if (!stop.isArray()) {
                throw ApiException.validation("stop_sequences", "stop_sequences must be an array of strings");
            }
            for (JsonNode s : stop) {
                if (!s.isTextual()) {
                    throw ApiException.validation("stop_sequences", "stop_sequences must be an array of strings");
                }
            }
            if (stop.size() > 4) {
                // chat's limit (OpenAI's), which every backend of the catalogue takes
                throw ApiException.validation("stop_sequences", "at most 4 stop_sequences are supported here");
            }
            if (!stop.isEmpty()) {
                chat.set("stop", stop);
            }
        }
        JsonNode user = raw.path("metadata").get("user_id");
        if (user != null && user.isTextual()) {
            chat.put("user", user.asText());
        }
        thinking(raw.get("thinking"), raw.path("output_config").get("effort"), chat);
        format(raw.path("output_config").has("format") ? raw.path("output_config").get("format") : raw.get("output_format"), chat);
        ArrayNode messages = chat.putArray("messages");
        system(raw.get("system"), messages);
        JsonNode given = raw.get("messages");
        if (given == null || !given.isArray() || given.isEmpty()) {
            throw ApiException.validation("messages", "messages must be a non-empty array");
        }
        for (int i = 0; i < given.size(); i++) {
            message(given.get(i), "messages[" + i + "]", messages);
        }
        tools(raw.get("tools"), raw.get("tool_choice"), chat);
        return chat;
    }

    /**
     * The request's remote MCP servers ({@code mcp_servers}, Anthropic's MCP connector), each narrowed by the
     * {@code mcp_toolset} tool naming it, if any ({@link HostedMcp#anthropicServer}); empty when there are none.
     */
    static List<HostedMcp.Server> mcpServers(JsonNode raw) {
        JsonNode given = raw.get("mcp_servers");
        Map<String, JsonNode> toolsets = new HashMap<>();
        JsonNode tools = raw.path("tools");
        for (int i = 0; tools.isArray() && i < tools.size(); i++) {
            if ("mcp_toolset".equals(tools.get(i).path("type").asText())) {
                toolsets.put(tools.get(i).path("mcp_server_name").asText(""), tools.get(i));
            }
        }
        List<HostedMcp.Server> servers = new java.util.ArrayList<>();
        if (given != null && !given.isNull()) {
            if (!given.isArray()) {
                throw ApiException.validation("mcp_servers", "mcp_servers must be an array");
            }
            if (given.size() > HostedMcp.MAX_SERVERS) {
                throw ApiException.validation("mcp_servers", "at most " + HostedMcp.MAX_SERVERS + " mcp_servers per request");
            }
            for (int i = 0; i < given.size(); i++) {
                String name = given.get(i).path("name").asText("");
                HostedMcp.Server server = HostedMcp.anthropicServer(given.get(i), "mcp_servers[" + i + "]", toolsets.remove(name));
                if (servers.stream().anyMatch(s -> s.label().equals(server.label()))) {
                    throw ApiException.validation("mcp_servers[" + i + "].name", "each MCP server needs its own name");
                }
                servers.add(server);
            }
        }
        if (!toolsets.isEmpty()) {
            String name = toolsets.keySet().iterator().next();
            throw ApiException.validation("tools", "an mcp_toolset names MCP server '" + clip(name) + "', which mcp_servers lacks");
        }
        return servers;
    }

    private static void system(JsonNode system, ArrayNode messages) {
        system(system, messages, "system");
    }

    /** {@code system} (a string or text blocks) as one chat system message, none when empty; {@code field} names it in refusals. */
    private static void system(JsonNode system, ArrayNode messages, String field) {
        if (system == null || system.isNull()) {
            return;
        }
        if (system.isTextual()) {
            if (!system.asText().isEmpty()) {
                messages.addObject().put("role", "system").put("content", system.asText());
            }
            return;
        }
        if (!system.isArray()) {
            throw ApiException.validation(field, "system must be a string or an array of text blocks");
        }
        ArrayNode parts = NODES.arrayNode();
        for (int i = 0; i < system.size(); i++) {
            JsonNode block = system.get(i);
            if (!"text".equals(block.path("type").asText()) || !block.path("text").isTextual()) {
                throw ApiException.validation(field + "[" + i + "]", "system blocks must be {\"type\": \"text\", \"text\": ...}");
            }
            parts.add(textPart(block));
        }
        boolean cached = false;
        for (JsonNode part : parts) {
            cached |= part.has("cache_control");
        }
        if (cached) {
            messages.addObject().put("role", "system").set("content", parts);
        } else if (!parts.isEmpty()) {
            List<String> texts = new java.util.ArrayList<>();
            parts.forEach(part -> texts.add(part.path("text").asText()));
            messages.addObject().put("role", "system").put("content", String.join("\n\n", texts));
        }
    }

    /**
     * One Messages message as chat messages: a user turn's {@code tool_result} blocks become {@code tool} messages (they
     * answer the assistant turn before it, so they come first), its other blocks one user message after them; an
     * assistant turn's text, {@code tool_use} and {@code thinking} blocks one assistant message.
     */
    private static void message(JsonNode m, String field, ArrayNode out) {
        if (!m.isObject()) {
            throw ApiException.validation(field, "each message must be an object with role and content");
        }
        String role = m.path("role").asText("");
        if (!role.equals("user") && !role.equals("assistant") && !role.equals("system")) {
            throw ApiException.validation(field + ".role", "role must be user, assistant or system");
        }
        if (role.equals("system")) {
            // instructions in the conversation (Claude Code sends its environment so): a chat system message there
            JsonNode content = m.get("content");
            ArrayNode held = NODES.arrayNode();
            system(content == null || content.isNull() ? NODES.textNode("") : content, held, field + ".content");
            out.addAll(held);
            return;
        }
        JsonNode content = m.get("content");
        if (content != null && content.isTextual()) {
            out.addObject().put("role", role).put("content", content.asText());
            return;
        }
        if (content == null || !content.isArray()) {
            throw ApiException.validation(field + ".content", "content must be a string or an array of content blocks");
        }
        if (role.equals("user")) {
            userBlocks(content, field + ".content", out);
        } else {
            assistantTurn(content, field + ".content", out);
        }
    }

    /**
     * An assistant turn as chat messages: one assistant message, or, when the gateway ran MCP calls in it
     * ({@code mcp_tool_use} then {@code mcp_tool_result} blocks), an assistant message up to each result, the result
     * as a tool message, and what follows as the next assistant message.
     */
    private static void assistantTurn(JsonNode content, String field, ArrayNode out) {
        ArrayNode segment = NODES.arrayNode();
        int from = 0;
        for (int i = 0; i < content.size(); i++) {
            JsonNode block = content.get(i);
            if (!"mcp_tool_result".equals(block.path("type").asText())) {
                segment.add(block);
                continue;
            }
            if (!segment.isEmpty()) {
                out.add(assistantBlocks(segment, field, from));
            }
            String at = field + "[" + i + "]";
            if (!block.path("tool_use_id").isTextual()) {
                throw ApiException.validation(at + ".tool_use_id", "an mcp_tool_result needs the tool_use_id it answers");
            }
            List<String> texts = new java.util.ArrayList<>();
            JsonNode result = block.get("content");
            if (result != null && result.isTextual()) {
                texts.add(result.asText());
            } else if (result != null && result.isArray()) {
                result.forEach(part -> texts.add(part.path("text").asText("")));
            }
            out.add(HostedMcp.toolMessage(block.get("tool_use_id").asText(),
                    (block.path("is_error").asBoolean(false) ? "Error: " : "") + String.join("\n", texts)));
            segment = NODES.arrayNode();
            from = i + 1;
        }
        if (!segment.isEmpty() || from == 0) {
            out.add(assistantBlocks(segment, field, from));
        }
    }

    private static void userBlocks(JsonNode content, String field, ArrayNode out) {
        ArrayNode parts = NODES.arrayNode();
        for (int i = 0; i < content.size(); i++) {
            JsonNode block = content.get(i);
            String at = field + "[" + i + "]";
            switch (block.path("type").asText("")) {
                case "text" -> parts.add(textPart(block, at));
                case "image" -> parts.add(imagePart(block, at));
                case "document" -> parts.add(documentPart(block, at));
                case "tool_result" -> {
                    ObjectNode tool = out.addObject().put("role", "tool");
                    JsonNode id = block.get("tool_use_id");
                    if (id == null || !id.isTextual() || id.asText().isBlank()) {
                        throw ApiException.validation(at + ".tool_use_id", "a tool_result needs the tool_use_id it answers");
                    }
                    tool.put("tool_call_id", id.asText());
                    // a chat tool message holds text: the result's images follow in the user message after it
                    List<String> texts = new java.util.ArrayList<>();
                    JsonNode result = block.get("content");
                    if (result != null && result.isTextual()) {
                        texts.add(result.asText());
                    } else if (result != null && result.isArray()) {
                        for (int j = 0; j < result.size(); j++) {
                            JsonNode part = result.get(j);
                            switch (part.path("type").asText("")) {
                                case "text" -> texts.add(textPart(part, at + ".content[" + j + "]").get("text").asText());
                                case "image" -> parts.add(imagePart(part, at + ".content[" + j + "]"));
                                case "document" -> parts.add(documentPart(part, at + ".content[" + j + "]"));
                                default -> throw unsupported(at + ".content[" + j + "].type", part);
                            }
                        }
                    } else if (result != null && !result.isNull()) {
                        throw ApiException.validation(at + ".content", "a tool_result's content must be a string or an array of blocks");
                    }
                    // chat has no error flag on a tool's answer: the model reads it in the text
                    String text = (block.path("is_error").asBoolean(false) ? "Error: " : "") + String.join("\n", texts);
                    if (block.has("cache_control")) {
                        tool.putArray("content").addObject().put("type", "text").put("text", text)
                                .set("cache_control", block.get("cache_control"));
                    } else {
                        tool.put("content", text); // a plain string: what servers without content parts take
                    }
                }
                default -> throw unsupported(at + ".type", block);
            }
        }
        if (parts.size() == 1 && "text".equals(parts.get(0).path("type").asText()) && !parts.get(0).has("cache_control")) {
            // one plain text block is a plain string: what servers without content parts (some local ones) take
            out.addObject().put("role", "user").set("content", parts.get(0).get("text"));
        } else if (!parts.isEmpty()) {
            out.addObject().put("role", "user").set("content", parts);
        }
    }

    /** Assistant blocks as one chat assistant message; {@code offset}: the first block's index in the turn, for errors. */
    private static ObjectNode assistantBlocks(JsonNode content, String field, int offset) {
        ObjectNode message = NODES.objectNode().put("role", "assistant");
        ArrayNode parts = NODES.arrayNode();
        boolean cached = false;
        ArrayNode calls = NODES.arrayNode();
        ArrayNode thinking = NODES.arrayNode();
        StringBuilder reasoning = new StringBuilder();
        for (int i = 0; i < content.size(); i++) {
            JsonNode block = content.get(i);
            String at = field + "[" + (i + offset) + "]";
            switch (block.path("type").asText("")) {
                case "text" -> {
                    parts.add(textPart(block, at));
                    cached |= block.has("cache_control");
                }
                case "tool_use", "mcp_tool_use" -> {
                    JsonNode id = block.get("id");
                    JsonNode name = block.get("name");
                    if (id == null || !id.isTextual() || name == null || !name.isTextual() || name.asText().isBlank()) {
                        throw ApiException.validation(at, "a tool_use block needs its id and name");
                    }
                    JsonNode input = block.get("input");
                    calls.addObject().put("id", id.asText()).put("type", "function").putObject("function")
                            .put("name", name.asText()).put("arguments", input == null || input.isNull() ? "{}" : input.toString());
                }
                case "thinking" -> {
                    if (!block.path("thinking").isTextual()) {
                        throw ApiException.validation(at + ".thinking", "a thinking block needs its thinking text");
                    }
                    reasoning.append(block.get("thinking").asText());
                    thinking.addObject().put("type", "thinking").put("thinking", block.get("thinking").asText())
                            .put("signature", block.path("signature").asText(""));
                }
                case "redacted_thinking" -> thinking.addObject().put("type", "redacted_thinking")
                        .put("data", block.path("data").asText(""));
                case "mcp_tool_listing" -> { } // a newer MCP beta's tool list, sent back as it came: nothing the model reads
                default -> throw unsupported(at + ".type", block);
            }
        }
        if (cached) {
            message.set("content", parts);
        } else {
            StringBuilder text = new StringBuilder();
            parts.forEach(p -> text.append(p.path("text").asText()));
            if (text.length() > 0 || calls.isEmpty()) {
                message.put("content", text.toString());
            } else {
                message.putNull("content");
            }
        }
        if (!calls.isEmpty()) {
            message.set("tool_calls", calls);
        }
        if (!thinking.isEmpty()) {
            message.set("thinking_blocks", thinking);
            if (reasoning.length() > 0) {
                message.put("reasoning_content", reasoning.toString());
            }
        }
        return message;
    }

    private static ObjectNode textPart(JsonNode block, String field) {
        if (!block.path("text").isTextual()) {
            throw ApiException.validation(field + ".text", "a text block needs its text");
        }
        return textPart(block);
    }

    private static ObjectNode textPart(JsonNode block) {
        ObjectNode part = NODES.objectNode().put("type", "text").put("text", block.path("text").asText());
        if (block.has("cache_control")) {
            part.set("cache_control", block.get("cache_control"));
        }
        return part;
    }

    /** An image block ({@code base64} data or a {@code url}) as a chat image part. */
    private static ObjectNode imagePart(JsonNode block, String field) {
        JsonNode source = block.path("source");
        String url = switch (source.path("type").asText("")) {
            case "base64" -> {
                if (!source.path("media_type").isTextual() || !source.path("data").isTextual()) {
                    throw ApiException.validation(field + ".source", "a base64 image source needs media_type and data");
                }
                yield "data:" + source.get("media_type").asText() + ";base64," + source.get("data").asText();
            }
            case "url" -> {
                if (!source.path("url").isTextual()) {
                    throw ApiException.validation(field + ".source.url", "a url image source needs its url");
                }
                yield source.get("url").asText();
            }
            default -> throw ApiException.validation(field + ".source.type", "an image source must be base64 or url");
        };
        ObjectNode part = NODES.objectNode().put("type", "image_url");
        part.putObject("image_url").put("url", url);
        if (block.has("cache_control")) {
            part.set("cache_control", block.get("cache_control"));
        }
        return part;
    }

    /**
     * A document block: plain text ({@code source.type: text}) as a text part, a base64 PDF as chat's {@code file} part
     * (what OpenAI-style backends read, and the Anthropic backend sends back as a document); a URL or a file id has no
     * chat form.
     */
    private static ObjectNode documentPart(JsonNode block, String field) {
        JsonNode source = block.path("source");
        String type = source.path("type").asText("");
        if (type.equals("text") && source.path("data").isTextual()) {
            ObjectNode part = NODES.objectNode().put("type", "text").put("text", source.get("data").asText());
            if (block.has("cache_control")) {
                part.set("cache_control", block.get("cache_control"));
            }
            return part;
        }
        if (type.equals("base64") && "application/pdf".equals(source.path("media_type").asText()) && source.path("data").isTextual()) {
            ObjectNode part = NODES.objectNode().put("type", "file");
            ObjectNode file = part.putObject("file").put("file_data", "data:application/pdf;base64," + source.get("data").asText());
            file.put("filename", block.path("title").isTextual() ? block.get("title").asText() : "document.pdf");
            if (block.has("cache_control")) {
                part.set("cache_control", block.get("cache_control"));
            }
            return part;
        }
        throw ApiException.validation(field + ".source", "documents must be plain text or a base64 PDF here");
    }

    private static ApiException unsupported(String field, JsonNode block) {
        String type = block.path("type").asText("");
        return ApiException.validation(field, type.isEmpty() ? "each content block needs a type"
                : "content blocks of type " + clip(type) + " are not supported here");
    }

    /** Custom tools as chat function tools; server tools are refused by name. {@code tool_choice} as chat's. */
    private static void tools(JsonNode tools, JsonNode choice, ObjectNode chat) {
        if (tools != null && !tools.isNull()) {
            if (!tools.isArray()) {
                throw ApiException.validation("tools", "tools must be an array");
            }
            ArrayNode out = NODES.arrayNode();
            for (int i = 0; i < tools.size(); i++) {
                JsonNode t = tools.get(i);
                String type = t.path("type").asText("custom");
                if (type.equals("mcp_toolset")) {
                    continue; // which tools of an MCP server are offered (mcpServers)
                }
                if (!type.equals("custom")) {
                    throw ApiException.validation("tools[" + i + "].type", "server tools (" + clip(type)
                            + ") are not supported here: only custom tools, which the client runs");
                }
                if (!t.path("name").isTextual() || t.path("name").asText().isBlank()) {
                    throw ApiException.validation("tools[" + i + "].name", "each tool needs a name");
                }
                JsonNode schema = t.get("input_schema");
                if (schema == null || !schema.isObject()) {
                    throw ApiException.validation("tools[" + i + "].input_schema", "each tool needs an input_schema object");
                }
                ObjectNode tool = out.addObject().put("type", "function");
                ObjectNode function = tool.putObject("function").put("name", t.get("name").asText());
                if (t.path("description").isTextual()) {
                    function.put("description", t.get("description").asText());
                }
                function.set("parameters", schema);
                if (t.has("cache_control")) {
                    tool.set("cache_control", t.get("cache_control"));
                }
            }
            if (!out.isEmpty()) {
                chat.set("tools", out);
            }
        }
        if (choice == null || choice.isNull()) {
            return;
        }
        String type = choice.path("type").asText("");
        switch (type) {
            case "auto" -> chat.put("tool_choice", "auto");
            case "any" -> chat.put("tool_choice", "required");
            case "none" -> chat.put("tool_choice", "none");
            case "tool" -> {
                if (!choice.path("name").isTextual()) {
                    throw ApiException.validation("tool_choice.name", "tool_choice of type tool needs the tool's name");
                }
                chat.putObject("tool_choice").put("type", "function").putObject("function").put("name", choice.get("name").asText());
            }
            default -> throw ApiException.validation("tool_choice.type", "tool_choice.type must be auto, any, tool or none");
        }
        if (choice.path("disable_parallel_tool_use").asBoolean(false) && !type.equals("none")) {
            chat.put("parallel_tool_calls", false);
        }
    }

    /**
     * {@code thinking} as chat's {@code reasoning_effort}: a budget below 2,048 tokens is {@code low}, below 4,096
     * {@code medium}, more {@code high} (the budgets the Anthropic backend uses for those efforts); adaptive thinking
     * takes {@code output_config.effort} as it is (an Anthropic backend passes it on; {@code xhigh} and {@code max} are
     * Anthropic's), else {@code medium}; disabled asks for none.
     */
    private static void thinking(JsonNode thinking, JsonNode effort, ObjectNode chat) {
        if (thinking == null || thinking.isNull()) {
            return;
        }
        switch (thinking.path("type").asText("")) {
            case "enabled" -> {
                JsonNode budget = thinking.get("budget_tokens");
                if (budget == null || !budget.isIntegralNumber() || budget.asLong() < 1) {
                    throw ApiException.validation("thinking.budget_tokens", "budget_tokens must be a positive integer");
                }
                long b = budget.asLong();
                chat.put("reasoning_effort", b < 2048 ? "low" : b < 4096 ? "medium" : "high");
            }
            case "adaptive" -> {
                String level = effort != null && effort.isTextual() ? effort.asText() : "medium";
                if (!Set.of("low", "medium", "high", "xhigh", "max").contains(level)) {
                    throw ApiException.validation("output_config.effort", "effort must be low, medium, high, xhigh or max");
                }
                chat.put("reasoning_effort", level);
            }
            case "disabled" -> {
                // no reasoning_effort: the model's default, which for an Anthropic backend is no thinking
            }
            default -> throw ApiException.validation("thinking.type", "thinking.type must be enabled, adaptive or disabled");
        }
    }

    /** Structured output ({@code output_config.format}, or the beta's {@code output_format}) as chat's {@code response_format}. */
    private static void format(JsonNode format, ObjectNode chat) {
        if (format == null || format.isNull()) {
            return;
        }
        if (!"json_schema".equals(format.path("type").asText()) || !format.path("schema").isObject()) {
            throw ApiException.validation("output_config.format", "format must be {\"type\": \"json_schema\", \"schema\": {...}}");
        }
        ObjectNode spec = chat.putObject("response_format").put("type", "json_schema").putObject("json_schema");
        spec.put("name", "output").put("strict", true).set("schema", format.get("schema"));
    }

    private static String clip(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    // ------------------------------------------------------------------ the answer

    /**
     * Anthropic's stop reason for a chat finish reason. A turn that ends with tool calls is {@code tool_use} also when
     * the backend said {@code stop} (some local servers do): agents loop on that reason.
     */
    /**
     * The stop sequence that ended a chat choice, where the backend tells it: vLLM's {@code stop_reason} (the matched
     * string; a stop token's id is a number), which the Anthropic provider fills as well; else null.
     */
    static String matchedStop(JsonNode choice) {
        JsonNode matched = choice.get("stop_reason");
        return matched != null && matched.isTextual() && "stop".equals(choice.path("finish_reason").asText()) ? matched.asText() : null;
    }

    static String stopReason(String finishReason, boolean usedTools) {
        return switch (finishReason == null ? "" : finishReason) {
            case "length" -> "max_tokens";
            case "tool_calls" -> "tool_use";
            case "content_filter" -> "refusal";
            default -> usedTools ? "tool_use" : "end_turn";
        };
    }

    /**
     * Chat usage in Anthropic's terms: {@code input_tokens} are the prompt's uncached tokens, beside what was read from
     * and written to the prompt cache.
     */
    static ObjectNode usage(JsonNode chatUsage) {
        long prompt = chatUsage.path("prompt_tokens").asLong(0);
        long read = chatUsage.path("prompt_tokens_details").path("cached_tokens").asLong(0);
        long written = chatUsage.path("cache_creation_input_tokens").asLong(0);
        ObjectNode out = NODES.objectNode();
        out.put("input_tokens", Math.max(0, prompt - read - written));
        out.put("cache_creation_input_tokens", written);
        out.put("cache_read_input_tokens", read);
        out.put("output_tokens", chatUsage.path("completion_tokens").asLong(0));
        return out;
    }

    /** A chat completion as a Messages {@code message}: thinking, text, then tool calls as {@code tool_use} blocks. */
    static ObjectNode message(JsonNode completion, String model) {
        JsonNode choice = completion.path("choices").path(0);
        JsonNode answer = choice.path("message");
        ObjectNode out = skeleton(model);
        ArrayNode content = out.putArray("content");
        JsonNode blocks = answer.path("thinking_blocks");
        if (blocks.isArray() && !blocks.isEmpty()) {
            blocks.forEach(b -> content.add(thinkingBlock(b)));
        } else {
            String reasoning = Reasoning.of(answer);
            if (!reasoning.isEmpty()) {
                content.addObject().put("type", "thinking").put("thinking", reasoning).put("signature", "");
            }
        }
        String text = answer.path("content").isTextual() ? answer.get("content").asText() : "";
        if (!text.isEmpty()) {
            content.addObject().put("type", "text").put("text", text);
        }
        for (JsonNode call : answer.path("tool_calls")) {
            JsonNode function = call.path("function");
            content.addObject().put("type", "tool_use").put("id", call.path("id").asText())
                    .put("name", function.path("name").asText()).set("input", input(function.path("arguments").asText("")));
        }
        out.put("stop_reason", stopReason(choice.path("finish_reason").asText(null), !answer.path("tool_calls").isEmpty()));
        String matched = matchedStop(choice);
        if (matched != null && "end_turn".equals(out.path("stop_reason").asText())) {
            out.put("stop_reason", "stop_sequence").put("stop_sequence", matched);
        }
        out.set("usage", usage(completion.path("usage")));
        return out;
    }

    private static ObjectNode skeleton(String model) {
        ObjectNode out = NODES.objectNode().put("id", newId()).put("type", "message").put("role", "assistant").put("model", model);
        out.putArray("content");
        out.putNull("stop_reason");
        out.putNull("stop_sequence");
        return out;
    }

    private static ObjectNode thinkingBlock(JsonNode b) {
        return "redacted_thinking".equals(b.path("type").asText())
                ? NODES.objectNode().put("type", "redacted_thinking").put("data", b.path("data").asText())
                : NODES.objectNode().put("type", "thinking").put("thinking", b.path("thinking").asText())
                .put("signature", b.path("signature").asText(""));
    }

    /** A tool call's arguments as the {@code input} object; what is not a JSON object is kept whole under {@code arguments}. */
    private static JsonNode input(String arguments) {
        if (arguments.isBlank()) {
            return NODES.objectNode();
        }
        try {
            JsonNode parsed = JSON.readTree(arguments);
            if (parsed != null && parsed.isObject()) {
                return parsed;
            }
        } catch (Exception notJson) {
            // below
        }
        return NODES.objectNode().put("arguments", arguments);
    }

    /**
     * Anthropic's error shape, {@code {"type":"error","error":{"type","message"},"request_id"}}, its type by status:
     * {@code invalid_request_error}, {@code authentication_error}, {@code billing_error}, {@code permission_error},
     * {@code not_found_error}, {@code request_too_large}, {@code rate_limit_error}, {@code overloaded_error} (503),
     * {@code timeout_error} (504), else {@code api_error}. The ScaiGrid code rides along as {@code error.code}.
     */
    static ObjectNode error(ApiException e, String requestId) {
        ObjectNode out = NODES.objectNode().put("type", "error");
        ObjectNode error = out.putObject("error");
        error.put("type", errorType(e));
        error.put("message", e.getMessage());
        error.put("code", e.errorCode().name());
        if (requestId != null) {
            out.put("request_id", requestId);
        }
        return out;
    }

    static String errorType(ApiException e) {
        if (e.errorCode() == ErrorCode.BUDGET_EXCEEDED || e.errorCode() == ErrorCode.QUOTA_EXCEEDED) {
            return "billing_error";
        }
        return errorType(e.httpStatus());
    }

    /** Anthropic's error type for an HTTP status. */
    static String errorType(int status) {
        return switch (status) {
            case 401 -> "authentication_error";
            case 402 -> "billing_error";
            case 403 -> "permission_error";
            case 404 -> "not_found_error";
            case 413 -> "request_too_large";
            case 429 -> "rate_limit_error";
            case 503, 529 -> "overloaded_error";
            case 504 -> "timeout_error";
            default -> status >= 500 ? "api_error" : "invalid_request_error";
        };
    }

    // ------------------------------------------------------------------ streaming

    /**
     * Turns a chat chunk stream into Anthropic's events: {@code message_start} and a {@code ping}, then each content
     * block opened ({@code content_block_start}), filled ({@code text_delta}, {@code thinking_delta} and the block's
     * {@code signature_delta}, {@code input_json_delta}) and closed ({@code content_block_stop}), then
     * {@code message_delta} with the stop reason and the usage, and {@code message_stop}. A failure after the first
     * event ends the stream with an {@code error} event.
     */
    static final class Stream {
        private static final com.fasterxml.jackson.databind.ObjectReader STRICT =
                JSON.reader().with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        private final String model;
        private final int inputEstimate;
        private final java.util.function.BiConsumer<String, ObjectNode> emit;
        private boolean started;
        private int index = -1;
        private String openType;
        private String finishReason;
        /** The stop sequence that ended the answer, when the backend said which ({@link #matchedStop}); else null. */
        private String stopSequence;
        private JsonNode usage;
        /** The chat tool calls in the order they began, and the latest by its chat index. */
        private final List<Call> calls = new java.util.ArrayList<>();
        private final Map<Integer, Call> byIndex = new HashMap<>();
        /** The call whose {@code tool_use} block is open, or null. */
        private Call openCall;
        private boolean usedTools;
        /** Text that came while a call's arguments were unfinished: it follows that call's block. */
        private final StringBuilder heldText = new StringBuilder();

        /**
         * One chat tool call. Anthropic's blocks do not interleave, chat's calls may (parallel calls, or text with a
         * call's continuation): a call streams live while its block is open; the others wait, whole, until it is done.
         */
        private static final class Call {
            String id = "";
            String name = "";
            final StringBuilder unsent = new StringBuilder();
            final StringBuilder arguments = new StringBuilder();
            boolean opened;
            boolean done;

            /** The arguments are one whole JSON value: nothing more can belong to them. */
            boolean complete() {
                try {
                    return arguments.length() > 0 && STRICT.readTree(arguments.toString()) != null;
                } catch (Exception unfinished) {
                    return false;
                }
            }
        }

        /** The run of a request with MCP servers ({@link HostedMcp}), or null. */
        private final HostedMcp.Run hosted;

        /**
         * {@code inputEstimate}: the prompt's estimated tokens, for {@code message_start} (the real count comes at the
         * end); {@code hosted}: the request's MCP run, or null.
         */
        Stream(String model, int inputEstimate, HostedMcp.Run hosted, java.util.function.BiConsumer<String, ObjectNode> emit) {
            this.model = model;
            this.inputEstimate = inputEstimate;
            this.hosted = hosted;
            this.emit = emit;
        }

        private void event(String type, ObjectNode body) {
            ObjectNode e = NODES.objectNode().put("type", type);
            body.fields().forEachRemaining(f -> e.set(f.getKey(), f.getValue()));
            emit.accept(type, e);
        }

        private void start() {
            if (started) {
                return;
            }
            started = true;
            ObjectNode message = skeleton(model);
            message.putObject("usage").put("input_tokens", inputEstimate).put("cache_creation_input_tokens", 0)
                    .put("cache_read_input_tokens", 0).put("output_tokens", 0);
            event("message_start", NODES.objectNode().set("message", message));
            event("ping", NODES.objectNode());
        }

        void onChunk(JsonNode chunk) {
            start();
            if (chunk.has(HostedMcp.CONTROL)) {
                hosted(chunk);
                return;
            }
            if (chunk.hasNonNull("usage")) {
                usage = chunk.get("usage");
            }
            JsonNode choice = chunk.path("choices").path(0);
            if (choice.isMissingNode()) {
                return;
            }
            JsonNode delta = choice.path("delta");
            String thought = Reasoning.of(delta);
            if (!thought.isEmpty()) {
                if (!"thinking".equals(openType)) {
                    open("thinking", NODES.objectNode().put("type", "thinking").put("thinking", "").put("signature", ""));
                }
                delta("thinking_delta", "thinking", thought);
            }
            for (JsonNode block : delta.path("thinking_blocks")) {
                if ("redacted_thinking".equals(block.path("type").asText())) {
                    open("redacted_thinking", thinkingBlock(block));
                    close();
                    continue;
                }
                // a signed block closes the thinking streamed so far (or comes whole); an unsigned one is a fragment
                if (!"thinking".equals(openType)) {
                    open("thinking", NODES.objectNode().put("type", "thinking").put("thinking", "").put("signature", ""));
                    delta("thinking_delta", "thinking", block.path("thinking").asText());
                }
                if (!block.path("signature").asText("").isEmpty()) {
                    delta("signature_delta", "signature", block.get("signature").asText());
                    close();
                }
            }
            String content = delta.path("content").asText("");
            if (!content.isEmpty()) {
                text(content);
            }
            for (JsonNode fragment : delta.path("tool_calls")) {
                toolCall(fragment);
            }
            if (choice.hasNonNull("finish_reason")) {
                finishReason = choice.get("finish_reason").asText();
                stopSequence = matchedStop(choice);
            }
        }

        private void text(String content) {
            if (openCall != null) {
                if (!openCall.complete()) {
                    heldText.append(content);
                    return;
                }
                close();
                pump();
                if (openCall != null) { // a waiting call opened and is unfinished
                    heldText.append(content);
                    return;
                }
            }
            if (!"text".equals(openType)) {
                open("text", NODES.objectNode().put("type", "text").put("text", ""));
            }
            delta("text_delta", "text", content);
        }

        private void toolCall(JsonNode fragment) {
            int at = fragment.path("index").asInt(0);
            String id = fragment.path("id").asText("");
            Call call = byIndex.get(at);
            if (call == null || (!id.isEmpty() && !call.id.isEmpty() && !id.equals(call.id))) {
                // a new call (a backend that numbers every call 0 starts each with its id)
                call = new Call();
                calls.add(call);
                byIndex.put(at, call);
            }
            if (call.done) {
                return; // more of a call whose block has closed: nothing can carry it any more
            }
            JsonNode function = fragment.path("function");
            if (!call.opened) {
                call.id = id.isEmpty() ? call.id : id;
                call.name = function.path("name").asText("").isEmpty() ? call.name : function.get("name").asText();
            }
            String args = function.path("arguments").asText("");
            call.unsent.append(args);
            call.arguments.append(args);
            pump();
        }

        /** Sends what the open call has; once it is whole and another call or held text waits, closes it and opens the next. */
        private void pump() {
            while (true) {
                if (openCall != null) {
                    Call open = openCall;
                    if (open.unsent.length() > 0) {
                        delta("input_json_delta", "partial_json", open.unsent.toString());
                        open.unsent.setLength(0);
                    }
                    if (!open.complete() || (!waiting() && heldText.length() == 0)) {
                        return;
                    }
                    close();
                }
                Call next = nextWaiting();
                if (next == null) {
                    flushHeldText();
                    return;
                }
                openToolUse(next);
            }
        }

        private boolean waiting() {
            return nextWaiting() != null;
        }

        private Call nextWaiting() {
            for (Call call : calls) {
                if (!call.opened && !call.name.isEmpty()) {
                    return call;
                }
            }
            return null;
        }

        private void openToolUse(Call call) {
            HostedMcp.Tool tool = hosted == null ? null : hosted.tool(call.name);
            if (tool != null) {
                // a call the gateway makes: Anthropic's connector block, which does not end the turn
                ObjectNode use = NODES.objectNode().put("type", "mcp_tool_use").put("id", call.id).put("name", tool.tool().name())
                        .put("server_name", tool.session().server.label());
                use.putObject("input");
                open("mcp_tool_use", use);
            } else {
                ObjectNode use = NODES.objectNode().put("type", "tool_use").put("id", call.id).put("name", call.name);
                use.putObject("input");
                open("tool_use", use);
                usedTools = true;
            }
            call.opened = true;
            openCall = call;
        }

        /** A step of the MCP run: a call's result as an {@code mcp_tool_result} block, or the next model call. */
        private void hosted(JsonNode control) {
            switch (control.path(HostedMcp.CONTROL).asText()) {
                case "result" -> {
                    flushCalls();
                    boolean failed = control.hasNonNull("error");
                    ObjectNode result = NODES.objectNode().put("type", "mcp_tool_result")
                            .put("tool_use_id", control.path("call_id").asText()).put("is_error", failed);
                    result.putArray("content").addObject().put("type", "text")
                            .put("text", failed ? control.path("error").asText() : control.path("output").asText(""));
                    open("mcp_tool_result", result);
                    close();
                }
                case "answered" -> flushCalls();
                case "round" -> {
                    flushCalls();
                    calls.clear();
                    byIndex.clear();
                    finishReason = null;
                    stopSequence = null;
                }
                default -> { } // a tool list: Anthropic's connector shows none
            }
        }

        /** Closes the open block and sends the calls still waiting, whole, then text held back behind them. */
        private void flushCalls() {
            while (true) {
                if (openCall != null) {
                    pump();
                    close();
                }
                Call next = nextWaiting();
                if (next == null) {
                    break;
                }
                openToolUse(next);
            }
            flushHeldText();
            close();
        }

        private void flushHeldText() {
            if (heldText.length() > 0) {
                String held = heldText.toString();
                heldText.setLength(0);
                text(held);
            }
        }

        private void open(String type, ObjectNode block) {
            close();
            index++;
            openType = type;
            event("content_block_start", NODES.objectNode().put("index", index).set("content_block", block));
        }

        /** A delta of the open block: {@code type} first, then {@code field}: {@code value}. */
        private void delta(String type, String field, String value) {
            ObjectNode delta = NODES.objectNode().put("type", type).put(field, value);
            event("content_block_delta", NODES.objectNode().put("index", index).set("delta", delta));
        }

        private void close() {
            if (openType != null) {
                event("content_block_stop", NODES.objectNode().put("index", index));
                openType = null;
            }
            if (openCall != null) {
                openCall.done = true;
                openCall = null;
            }
        }

        /**
         * The stream ended well: the open block closed, the calls still waiting sent whole, then {@code message_delta}
         * with the stop reason and usage, and {@code message_stop}.
         */
        void finish() {
            start();
            flushCalls();
            ObjectNode delta = NODES.objectNode();
            String reason = stopReason(finishReason, usedTools);
            if (stopSequence != null && "end_turn".equals(reason)) {
                delta.putObject("delta").put("stop_reason", "stop_sequence").put("stop_sequence", stopSequence);
            } else {
                delta.putObject("delta").put("stop_reason", reason).putNull("stop_sequence");
            }
            delta.set("usage", usage(usage == null ? NODES.objectNode() : usage));
            event("message_delta", delta);
            event("message_stop", NODES.objectNode());
        }

        /** The stream broke after it began: an {@code error} event ends it (as at Anthropic, with no {@code message_stop}). */
        void onFailure(ApiException e, String requestId) {
            ObjectNode error = error(e, requestId);
            error.remove("type");
            event("error", error);
        }
    }

    /**
     * A {@code message} built from its stream's events, as Anthropic's SDKs accumulate one: the answer of a request
     * that was run as a stream (one with MCP servers) but not asked to be streamed.
     */
    static final class Accumulator implements java.util.function.BiConsumer<String, ObjectNode> {
        private ObjectNode message;
        private final StringBuilder json = new StringBuilder();

        @Override
        public void accept(String type, ObjectNode event) {
            switch (type) {
                case "message_start" -> message = ((ObjectNode) event.get("message")).deepCopy();
                case "content_block_start" -> {
                    ((ArrayNode) message.get("content")).add(event.get("content_block").deepCopy());
                    json.setLength(0);
                }
                case "content_block_delta" -> {
                    ObjectNode block = (ObjectNode) message.get("content").get(event.path("index").asInt());
                    JsonNode delta = event.path("delta");
                    switch (delta.path("type").asText()) {
                        case "text_delta" -> block.put("text", block.path("text").asText() + delta.path("text").asText());
                        case "thinking_delta" -> block.put("thinking", block.path("thinking").asText() + delta.path("thinking").asText());
                        case "signature_delta" -> block.put("signature", delta.path("signature").asText());
                        case "input_json_delta" -> json.append(delta.path("partial_json").asText());
                        default -> { }
                    }
                }
                case "content_block_stop" -> {
                    ObjectNode block = (ObjectNode) message.get("content").get(event.path("index").asInt());
                    if (block.has("input") && json.length() > 0) {
                        block.set("input", input(json.toString()));
                    }
                    json.setLength(0);
                }
                case "message_delta" -> {
                    message.set("stop_reason", event.path("delta").path("stop_reason"));
                    message.set("stop_sequence", event.path("delta").path("stop_sequence"));
                    message.set("usage", event.get("usage"));
                }
                default -> { }
            }
        }

        ObjectNode message() {
            return message;
        }
    }

    /** Anthropic's list object: {@code data}, {@code has_more}, and the first and last item's {@code id} (null when empty). */
    static ObjectNode list(List<? extends JsonNode> items, boolean more) {
        ObjectNode out = NODES.objectNode();
        ArrayNode data = out.putArray("data");
        items.forEach(data::add);
        out.put("has_more", more);
        out.put("first_id", items.isEmpty() ? null : items.get(0).path("id").asText());
        out.put("last_id", items.isEmpty() ? null : items.get(items.size() - 1).path("id").asText());
        return out;
    }

    /** Which of a list's entries Anthropic's {@code after_id}/{@code before_id}/{@code limit} paging yields. */
    static <T> List<T> page(List<T> all, java.util.function.Function<T, String> id, String afterId, String beforeId, int limit) {
        int from = 0;
        int to = all.size();
        if (afterId != null) {
            for (int i = 0; i < all.size(); i++) {
                if (id.apply(all.get(i)).equals(afterId)) {
                    from = i + 1;
                }
            }
        }
        if (beforeId != null) {
            for (int i = 0; i < all.size(); i++) {
                if (id.apply(all.get(i)).equals(beforeId)) {
                    to = i;
                }
            }
            from = Math.max(from, to - limit);
        }
        return all.subList(Math.min(from, to), Math.min(to, Math.min(from, to) + limit));
    }
}
