package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.scaiinfer.Reasoning;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * OpenAI's Responses API ({@code POST /oai/v1/responses}) over the chat pipeline: a request's {@code input} items,
 * {@code instructions}, function tools and {@code text.format} become a chat request ({@link Turn}); the chat answer
 * becomes a {@code response} object with {@code message}, {@code function_call} and {@code reasoning} output items,
 * and a chat stream becomes the Responses event stream ({@link Stream}). Responses are stored unless
 * {@code store: false} ({@link StoredResponses}), so {@code previous_response_id} continues a conversation: the
 * chat messages of every earlier turn come before the new input, thinking blocks (Anthropic's signed reasoning)
 * included. A reasoning item's {@code encrypted_content} ({@code include: ["reasoning.encrypted_content"]}) carries
 * those blocks for callers that do not store: base64 of the blocks as the backend signed them, not encrypted here.
 * A response may be made in a conversation ({@link Conversations}) or run in the background
 * ({@link BackgroundResponses}). Remote MCP servers among the tools are run by the gateway ({@link HostedMcp}).
 * Stored prompts and item references are refused by name, as are the other hosted tools (web search, file search,
 * computer use ...), which only OpenAI runs.
 */
final class ResponsesApi {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();
    private static final Set<String> ROLES = Set.of("user", "assistant", "system", "developer");
    /** Fields that pass to the chat request as they are. */
    private static final List<String> SAME = List.of("model", "temperature", "top_p", "parallel_tool_calls", "user", "stream",
            "seed", "stop", "presence_penalty", "frequency_penalty", "top_logprobs");
    static final String ENCRYPTED_REASONING = "reasoning.encrypted_content";

    private ResponsesApi() {
    }

    /** A new response id, {@code resp_} and 32 hex digits (its items are named after it). */
    static String newId() {
        return "resp_" + hex();
    }

    static String hex() {
        return java.util.UUID.randomUUID().toString().replace("-", "");
    }

    /**
     * One Responses request, checked: the chat request it stands for (less the earlier turns, which {@link #chat}
     * puts in), this turn's input as items (with ids, for {@code input_items}) and as chat messages (what a later
     * turn replays), and what is asked of the answer.
     */
    static final class Turn {
        final ObjectNode request;
        final String id = newId();
        final String previousId;
        /** The conversation this response is made in ({@code conversation}), or null. */
        final String conversationId;
        final boolean store;
        /** Runs apart from the request ({@code background}): answered queued at once, fetched when done. */
        final boolean background;
        /** Streamed ({@code stream}); in the background, its events are kept for {@code GET /responses/{id}?stream=true}. */
        final boolean stream;
        final boolean encryptedReasoning;
        final ArrayNode inputItems = NODES.arrayNode();
        final ArrayNode inputMessages = NODES.arrayNode();
        /** The remote MCP servers among the tools ({@link HostedMcp}); empty when there are none. */
        final List<HostedMcp.Server> mcpServers;
        /** The {@code mcp_approval_response} items of this request's input. */
        final List<Approval> approvals = new java.util.ArrayList<>();
        /** {@code max_tool_calls}: how many MCP calls the response may make; null when not given. */
        final Integer maxToolCalls;
        /** The hosted run of a request with MCP servers, once {@link HostedMcp#prepare} has opened it; else null. */
        HostedMcp.Run hosted;
        /** {@code tool_choice} naming an MCP server (and tool), or null. */
        McpChoice mcpChoice;
        private final ObjectNode chat = NODES.objectNode();
        private final String instructions;

        /** Checks a request; a 400 naming the Responses field for what has no chat form. */
        Turn(JsonNode raw) {
            if (raw == null || !raw.isObject()) {
                throw ApiException.validation("body", "The request body must be a JSON object");
            }
            request = (ObjectNode) raw;
            JsonNode previous = request.get("previous_response_id");
            if (previous != null && !previous.isNull() && (!previous.isTextual() || previous.asText().isBlank())) {
                throw ApiException.validation("previous_response_id", "previous_response_id must be a response id");
            }
            previousId = previous == null || previous.isNull() ? null : previous.asText();
            conversationId = conversation(request.get("conversation"));
            if (conversationId != null && previousId != null) {
                throw ApiException.validation("conversation", "conversation and previous_response_id cannot both be given");
            }
            refuse(request, "prompt", "stored prompts are not supported: send instructions and input");
            JsonNode storeField = request.get("store");
            if (storeField != null && !storeField.isNull() && !storeField.isBoolean()) {
                throw ApiException.validation("store", "store must be true or false");
            }
            store = storeField == null || storeField.isNull() || storeField.asBoolean();
            JsonNode backgroundField = request.get("background");
            if (backgroundField != null && !backgroundField.isNull() && !backgroundField.isBoolean()) {
                throw ApiException.validation("background", "background must be true or false");
            }
            background = backgroundField != null && backgroundField.asBoolean();
            if (background && !store) {
                throw ApiException.validation("store", "a background response must be stored: it is fetched with GET /responses/{id}");
            }
            stream = request.path("stream").asBoolean(false);
            encryptedReasoning = includes(request.get("include"));
            for (String field : SAME) {
                if (request.has(field)) {
                    chat.set(field, request.get(field));
                }
            }
            if (stream) {
                chat.putObject("stream_options").put("include_usage", true);
            }
            if (request.hasNonNull("max_output_tokens")) {
                chat.set("max_tokens", request.get("max_output_tokens"));
            }
            JsonNode effort = request.path("reasoning").path("effort");
            if (effort.isTextual()) {
                chat.put("reasoning_effort", effort.asText());
            }
            JsonNode given = request.get("instructions");
            if (given != null && !given.isNull() && !given.isTextual()) {
                throw ApiException.validation("instructions", "instructions must be a string");
            }
            instructions = given == null || given.isNull() ? null : given.asText();
            input(request.get("input"), "input", inputMessages, inputItems);
            mcpServers = tools(request, chat);
            JsonNode choice = request.path("tool_choice");
            if ("mcp".equals(choice.path("type").asText())) {
                String label = choice.path("server_label").asText("");
                if (mcpServers.stream().noneMatch(s -> s.label().equals(label))) {
                    throw ApiException.validation("tool_choice.server_label", "tool_choice names MCP server '" + label
                            + "', which is not among the request's tools");
                }
                mcpChoice = new McpChoice(label, choice.path("name").isTextual() ? choice.path("name").asText() : null);
            }
            JsonNode input = request.get("input");
            for (int i = 0; input.isArray() && i < input.size(); i++) {
                JsonNode item = input.get(i);
                if ("mcp_approval_response".equals(item.path("type").asText())) {
                    approvals.add(new Approval("input[" + i + "]", item.path("approval_request_id").asText(),
                            item.path("approve").asBoolean(), item.path("reason").isTextual() ? item.path("reason").asText() : null));
                }
            }
            if (!approvals.isEmpty() && mcpServers.isEmpty()) {
                throw ApiException.validation("tools", "an mcp_approval_response needs its MCP server among the request's tools");
            }
            JsonNode maxCalls = request.get("max_tool_calls");
            if (maxCalls != null && !maxCalls.isNull() && (!maxCalls.canConvertToInt() || !maxCalls.isIntegralNumber()
                    || maxCalls.asInt() < 1)) {
                throw ApiException.validation("max_tool_calls", "max_tool_calls must be a positive integer");
            }
            maxToolCalls = maxCalls == null || maxCalls.isNull() ? null : maxCalls.asInt();
            if (background && !mcpServers.isEmpty()) {
                throw ApiException.validation("background", "a response with MCP tools cannot run in the background here");
            }
            format(request.path("text").get("format"), chat);
        }

        /**
         * The chat request: this request's instructions (an earlier turn's do not carry over, as at OpenAI), the
         * earlier turns' messages ({@code history}, oldest first), then this turn's input.
         */
        ObjectNode chat(List<JsonNode> history) {
            ObjectNode out = chat.deepCopy();
            ArrayNode messages = out.putArray("messages");
            if (instructions != null) {
                messages.addObject().put("role", "system").put("content", instructions);
            }
            history.forEach(messages::add);
            messages.addAll(inputMessages);
            return out;
        }

        /** This request's input items as its conversation keeps them (reasoning with its signed thinking). */
        ArrayNode keptInput() {
            return withSealedThinking(request.get("input"), inputItems);
        }

        /** The item id suffix of this response's output items. */
        String suffix() {
            return id.substring(5);
        }
    }

    /** {@code tool_choice} of type {@code mcp}: the server, and the tool (null: any of its tools). */
    record McpChoice(String label, String name) {
    }

    /** An {@code mcp_approval_response} input item ({@code field} names it in errors). */
    record Approval(String field, String requestId, boolean approve, String reason) {
    }

    /** {@code conversation}: its id, as a string or as {@code {"id": ...}}; null when not given. */
    private static String conversation(JsonNode given) {
        if (given == null || given.isNull()) {
            return null;
        }
        JsonNode id = given.isObject() ? given.get("id") : given;
        if (id == null || !id.isTextual() || id.asText().isBlank()) {
            throw ApiException.validation("conversation", "conversation must be a conversation id, or an object with its id");
        }
        return id.asText();
    }

    /**
     * Items for a conversation ({@code field}, e.g. {@code items}): checked as a request's input is, each as listed
     * (with an id), a reasoning item keeping the signed thinking of its {@code encrypted_content}.
     */
    static ArrayNode conversationItems(JsonNode given, String field) {
        ArrayNode items = NODES.arrayNode();
        input(given, field, NODES.arrayNode(), items);
        return withSealedThinking(given, items);
    }

    /** {@code items} as listed from {@code given}, one for one, with each reasoning item's {@code encrypted_content} put back. */
    private static ArrayNode withSealedThinking(JsonNode given, ArrayNode items) {
        ArrayNode out = items.deepCopy();
        for (int i = 0; i < out.size() && given.isArray(); i++) {
            JsonNode sealed = given.get(i).get("encrypted_content");
            if (sealed != null && sealed.isTextual() && "reasoning".equals(out.get(i).path("type").asText())) {
                ((ObjectNode) out.get(i)).set("encrypted_content", sealed);
            }
        }
        return out;
    }

    /** A conversation's stored items, oldest first, as the chat messages that replay it. */
    static ArrayNode messagesOf(JsonNode items) {
        ArrayNode messages = NODES.arrayNode();
        if (items != null && items.isArray() && !items.isEmpty()) {
            input(items, "conversation", messages, NODES.arrayNode());
        }
        return messages;
    }

    /**
     * A finished response's output items as its conversation keeps them: the backend's signed thinking
     * ({@code answer}'s {@code thinking_blocks}) sealed into the reasoning item, so that later turns send it back.
     */
    static ArrayNode keptOutput(JsonNode output, JsonNode answer) {
        ArrayNode kept = NODES.arrayNode();
        JsonNode blocks = answer == null || !answer.isObject() ? null : answer.get("thinking_blocks");
        for (JsonNode item : output) {
            ObjectNode copy = item.deepCopy();
            if ("reasoning".equals(copy.path("type").asText()) && blocks != null && blocks.isArray() && !blocks.isEmpty()) {
                copy.put("encrypted_content", seal(blocks));
            }
            kept.add(copy);
        }
        return kept;
    }

    private static boolean includes(JsonNode include) {
        if (include == null || include.isNull()) {
            return false;
        }
        if (!include.isArray()) {
            throw ApiException.validation("include", "include must be a list");
        }
        boolean encrypted = false;
        for (JsonNode value : include) {
            if (!value.isTextual()) {
                throw ApiException.validation("include", "include must be a list of strings");
            }
            encrypted |= ENCRYPTED_REASONING.equals(value.asText()); // others name hosted-tool outputs, which never occur here
        }
        return encrypted;
    }

    private static void refuse(ObjectNode r, String field, String message) {
        if (r.hasNonNull(field)) {
            throw ApiException.validation(field, message);
        }
    }

    /** {@code input} (named {@code name} in errors) as chat messages and as items with ids (a string is one user message). */
    private static void input(JsonNode input, String name, ArrayNode messages, ArrayNode items) {
        if (input == null || input.isNull()) {
            throw ApiException.validation(name, name + " is required: a string, or a list of input items");
        }
        if (input.isTextual()) {
            messages.addObject().put("role", "user").put("content", input.asText());
            ObjectNode item = items.addObject().put("id", "msg_" + hex()).put("type", "message").put("role", "user");
            item.putArray("content").addObject().put("type", "input_text").put("text", input.asText());
            item.put("status", "completed");
            return;
        }
        if (!input.isArray() || input.isEmpty()) {
            throw ApiException.validation(name, name + " must be a string or a non-empty list of input items");
        }
        ObjectNode toolCaller = null; // the assistant message the function calls in a row belong to
        ArrayNode thinking = null; // the blocks of a reasoning item, for the assistant message that follows it
        for (int i = 0; i < input.size(); i++) {
            JsonNode item = input.get(i);
            String field = name + "[" + i + "]";
            if (!item.isObject()) {
                throw ApiException.validation(field, "an input item must be an object");
            }
            String type = item.path("type").asText(item.has("role") ? "message" : "");
            switch (type) {
                case "message" -> {
                    String role = item.path("role").asText("");
                    if (!ROLES.contains(role)) {
                        throw ApiException.validation(field + ".role", "role must be one of user, assistant, system, developer");
                    }
                    ObjectNode m = messages.addObject().put("role", role);
                    m.set("content", content(item.get("content"), role, field + ".content"));
                    toolCaller = "assistant".equals(role) ? m : null;
                    if (toolCaller != null && thinking != null) {
                        m.set("thinking_blocks", thinking);
                    }
                    thinking = null;
                    items.add(listed(item, "msg_", (ObjectNode) m));
                }
                case "function_call" -> {
                    if (!item.path("call_id").isTextual() || !item.path("name").isTextual()) {
                        throw ApiException.validation(field, "a function_call item needs call_id and name");
                    }
                    if (toolCaller == null) {
                        toolCaller = messages.addObject().put("role", "assistant");
                        toolCaller.putNull("content");
                        if (thinking != null) {
                            toolCaller.set("thinking_blocks", thinking);
                            thinking = null;
                        }
                    }
                    ArrayNode calls = toolCaller.has("tool_calls") ? (ArrayNode) toolCaller.get("tool_calls")
                            : toolCaller.putArray("tool_calls");
                    ObjectNode call = calls.addObject().put("id", item.path("call_id").asText()).put("type", "function");
                    call.putObject("function").put("name", item.path("name").asText())
                            .put("arguments", item.path("arguments").asText("{}"));
                    items.add(listed(item, "fc_", null));
                }
                case "function_call_output" -> {
                    if (!item.path("call_id").isTextual()) {
                        throw ApiException.validation(field + ".call_id", "a function_call_output item needs the call_id it answers");
                    }
                    JsonNode output = item.get("output");
                    String text = output == null ? "" : output.isTextual() ? output.asText() : textOf(output, field + ".output");
                    messages.addObject().put("role", "tool").put("tool_call_id", item.path("call_id").asText()).put("content", text);
                    toolCaller = null;
                    items.add(listed(item, "fco_", null));
                }
                case "reasoning" -> {
                    // a previous turn's reasoning: its text cannot go back to a chat backend, but the signed blocks in
                    // its encrypted_content (when the caller asked for them) go with the assistant message after it
                    JsonNode sealed = item.get("encrypted_content");
                    thinking = sealed == null || sealed.isNull() ? null : unseal(sealed, field + ".encrypted_content");
                    ObjectNode listed = listed(item, "rs_", null);
                    listed.remove("encrypted_content");
                    items.add(listed);
                }
                case "mcp_call" -> {
                    // a call the gateway made in an earlier turn: the model's call and its result
                    if (!item.path("name").isTextual() || !item.path("server_label").isTextual()) {
                        throw ApiException.validation(field, "an mcp_call item needs server_label and name");
                    }
                    String callId = item.path("id").isTextual() ? item.path("id").asText() : "mcp_" + hex();
                    ObjectNode asked = messages.addObject().put("role", "assistant");
                    asked.putNull("content");
                    if (thinking != null) {
                        asked.set("thinking_blocks", thinking);
                        thinking = null;
                    }
                    asked.putArray("tool_calls").addObject().put("id", callId).put("type", "function").putObject("function")
                            .put("name", item.path("name").asText()).put("arguments", item.path("arguments").asText("{}"));
                    JsonNode error = item.get("error");
                    messages.add(HostedMcp.toolMessage(callId, error != null && error.isTextual() ? "Error: " + error.asText()
                            : item.path("output").asText("")));
                    toolCaller = null;
                    items.add(listed(item, "mcp_", null));
                }
                case "mcp_list_tools", "mcp_approval_request" -> {
                    // a tool list, or a call waiting for approval: nothing the model is told (an approval answers it)
                    if (!item.path("server_label").isTextual()) {
                        throw ApiException.validation(field + ".server_label", "an " + type + " item needs its server_label");
                    }
                    items.add(listed(item, "mcp_list_tools".equals(type) ? "mcpl_" : "mcpr_", null));
                }
                case "mcp_approval_response" -> {
                    if (!item.path("approval_request_id").isTextual() || !item.path("approve").isBoolean()) {
                        throw ApiException.validation(field,
                                "an mcp_approval_response needs approval_request_id and approve (true or false)");
                    }
                    items.add(listed(item, "mcpa_", null));
                }
                default -> throw ApiException.validation(field + ".type", "input items of type " + (type.isEmpty() ? "(none)" : type)
                        + " are not supported (message, function_call, function_call_output, reasoning and the mcp items are)");
            }
        }
    }

    /** An input item as {@code input_items} lists it: with an id, a message's content as parts. */
    private static ObjectNode listed(JsonNode item, String prefix, ObjectNode message) {
        ObjectNode out = NODES.objectNode();
        out.put("id", item.path("id").isTextual() ? item.path("id").asText() : prefix + hex());
        out.put("type", item.path("type").asText("message"));
        item.fields().forEachRemaining(f -> {
            if (!"id".equals(f.getKey()) && !"type".equals(f.getKey())) {
                out.set(f.getKey(), f.getValue());
            }
        });
        if (message != null && item.path("content").isTextual()) {
            String partType = "assistant".equals(message.path("role").asText()) ? "output_text" : "input_text";
            out.putArray("content").addObject().put("type", partType).put("text", item.path("content").asText());
        }
        if (!out.has("status") && !"function_call_output".equals(out.path("type").asText())) {
            out.put("status", "completed");
        }
        return out;
    }

    /** Thinking blocks as a reasoning item's {@code encrypted_content} carries them: base64 of their JSON. */
    static String seal(JsonNode thinkingBlocks) {
        return java.util.Base64.getEncoder().encodeToString(thinkingBlocks.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private static ArrayNode unseal(JsonNode sealed, String field) {
        try {
            JsonNode blocks = JSON.readTree(java.util.Base64.getDecoder().decode(sealed.asText()));
            if (sealed.isTextual() && blocks != null && blocks.isArray()) {
                boolean objects = true;
                for (JsonNode b : blocks) {
                    objects &= b.isObject();
                }
                if (objects) {
                    return (ArrayNode) blocks;
                }
            }
        } catch (Exception e) {
            // below
        }
        throw ApiException.validation(field, "encrypted_content is not one this gateway issued: send it back as it came");
    }

    /** A message's content as chat takes it: a string, or parts ({@code input_text}, {@code output_text}, {@code input_image}). */
    private static JsonNode content(JsonNode content, String role, String field) {
        if (content == null || content.isNull()) {
            throw ApiException.validation(field, "content is required");
        }
        if (content.isTextual()) {
            return content;
        }
        if (!content.isArray()) {
            throw ApiException.validation(field, "content must be a string or a list of content parts");
        }
        ArrayNode parts = NODES.arrayNode();
        boolean textOnly = true;
        for (int i = 0; i < content.size(); i++) {
            JsonNode part = content.get(i);
            String type = part.path("type").asText("");
            switch (type) {
                case "input_text", "output_text", "text" -> parts.addObject().put("type", "text").put("text", part.path("text").asText(""));
                case "refusal" -> parts.addObject().put("type", "text").put("text", part.path("refusal").asText(""));
                case "input_image" -> {
                    if (!part.path("image_url").isTextual()) {
                        throw ApiException.validation(field + "[" + i + "].image_url",
                                "an input_image needs image_url (file_id is not supported)");
                    }
                    ObjectNode image = parts.addObject().put("type", "image_url").putObject("image_url")
                            .put("url", part.path("image_url").asText());
                    if (part.path("detail").isTextual()) {
                        image.put("detail", part.path("detail").asText());
                    }
                    textOnly = false;
                }
                default -> throw ApiException.validation(field + "[" + i + "].type", "content parts of type " + type
                        + " are not supported (input_text, output_text, input_image are)");
            }
        }
        if (textOnly || "assistant".equals(role)) {
            StringBuilder text = new StringBuilder();
            parts.forEach(p -> text.append(p.path("text").asText("")));
            return NODES.textNode(text.toString());
        }
        return parts;
    }

    private static String textOf(JsonNode parts, String field) {
        if (!parts.isArray()) {
            throw ApiException.validation(field, "output must be a string or a list of input_text parts");
        }
        StringBuilder text = new StringBuilder();
        parts.forEach(p -> text.append(p.path("text").asText("")));
        return text.toString();
    }

    /** The request's function tools as chat's; its remote MCP servers are returned ({@link HostedMcp}). */
    private static List<HostedMcp.Server> tools(ObjectNode r, ObjectNode chat) {
        JsonNode tools = r.get("tools");
        List<HostedMcp.Server> servers = new java.util.ArrayList<>();
        if (tools != null && !tools.isNull()) {
            if (!tools.isArray()) {
                throw ApiException.validation("tools", "tools must be a list");
            }
            ArrayNode out = chat.putArray("tools");
            for (int i = 0; i < tools.size(); i++) {
                JsonNode t = tools.get(i);
                if ("mcp".equals(t.path("type").asText())) {
                    HostedMcp.Server server = HostedMcp.server(t, "tools[" + i + "]");
                    if (servers.stream().anyMatch(s -> s.label().equals(server.label()))) {
                        throw ApiException.validation("tools[" + i + "].server_label",
                                "server_label must differ from one mcp tool to the next");
                    }
                    servers.add(server);
                    if (servers.size() > HostedMcp.MAX_SERVERS) {
                        throw ApiException.validation("tools[" + i + "]", "at most " + HostedMcp.MAX_SERVERS + " mcp tools per request");
                    }
                    continue;
                }
                if (!"function".equals(t.path("type").asText())) {
                    throw ApiException.validation("tools[" + i + "].type", "only function and mcp tools are supported here (the hosted "
                            + t.path("type").asText("") + " tool runs at OpenAI only)");
                }
                ObjectNode function = out.addObject().put("type", "function").putObject("function");
                for (String f : List.of("name", "description", "parameters", "strict")) {
                    if (t.has(f) && !t.get(f).isNull()) {
                        function.set(f, t.get(f));
                    }
                }
            }
        }
        JsonNode choice = r.get("tool_choice");
        if (choice != null && !choice.isNull()) {
            if (choice.isTextual()) {
                chat.set("tool_choice", choice);
            } else if ("function".equals(choice.path("type").asText()) && choice.path("name").isTextual()) {
                chat.putObject("tool_choice").put("type", "function").putObject("function").put("name", choice.path("name").asText());
            } else if ("mcp".equals(choice.path("type").asText())) {
                // chosen once the server's tools are listed (HostedMcp)
            } else {
                throw ApiException.validation("tool_choice",
                        "tool_choice must be auto, none, required, {\"type\": \"function\", \"name\": ...} or {\"type\": \"mcp\", ...}");
            }
        }
        if (chat.path("tools").isEmpty()) {
            chat.remove("tools"); // only MCP servers: their tools are added once listed
        }
        return servers;
    }

    private static void format(JsonNode format, ObjectNode chat) {
        if (format == null || format.isNull()) {
            return;
        }
        switch (format.path("type").asText("")) {
            case "text" -> { }
            case "json_object" -> chat.putObject("response_format").put("type", "json_object");
            case "json_schema" -> {
                ObjectNode schema = chat.putObject("response_format").put("type", "json_schema").putObject("json_schema");
                for (String f : List.of("name", "description", "schema", "strict")) {
                    if (format.has(f) && !format.get(f).isNull()) {
                        schema.set(f, format.get(f));
                    }
                }
            }
            default -> throw ApiException.validation("text.format.type", "text.format.type must be text, json_object or json_schema");
        }
    }

    // ------------------------------------------------------------------ answers

    /** The {@code response} object of a finished chat completion (its first choice). */
    static ObjectNode fromChat(Turn turn, ObjectNode completion) {
        ObjectNode response = skeleton(turn, completion.path("created").asLong(System.currentTimeMillis() / 1000),
                completion.path("model").asText());
        JsonNode choice = completion.path("choices").path(0);
        JsonNode message = choice.path("message");
        String status = itemStatus(choice.path("finish_reason").asText(""));
        ArrayNode output = response.putArray("output");
        String thought = Reasoning.of(message);
        JsonNode blocks = message.path("thinking_blocks");
        if (!thought.isEmpty() || !blocks.isEmpty()) {
            ObjectNode reasoning = reasoningItem("rs_" + turn.suffix(), thought.isEmpty() ? null : thought);
            if (turn.encryptedReasoning && !blocks.isEmpty()) {
                reasoning.put("encrypted_content", seal(blocks));
            }
            output.add(reasoning);
        }
        String text = message.path("content").asText("");
        if (!text.isEmpty() || !message.has("tool_calls")) {
            output.add(messageItem("msg_" + turn.suffix(), text, status));
        }
        int n = 0;
        for (JsonNode call : message.path("tool_calls")) {
            output.add(functionCallItem("fc_" + turn.suffix() + "_" + n++, call.path("id").asText(),
                    call.path("function").path("name").asText(), call.path("function").path("arguments").asText(""), status));
        }
        finish(response, choice.path("finish_reason").asText(""), completion.get("usage"));
        return response;
    }

    /** An output item cut by the output cap or a content filter is incomplete, as the response is. */
    private static String itemStatus(String finishReason) {
        return "length".equals(finishReason) || "content_filter".equals(finishReason) ? "incomplete" : "completed";
    }

    /**
     * The assistant's turn as a chat message, for a later turn to replay: its text, its function calls and the
     * backend's signed thinking blocks (reasoning text alone is not sent back: no backend takes it unsigned).
     */
    static ObjectNode answerMessage(JsonNode output, JsonNode thinkingBlocks) {
        ObjectNode m = NODES.objectNode().put("role", "assistant");
        StringBuilder text = new StringBuilder();
        ArrayNode calls = NODES.arrayNode();
        for (JsonNode item : output) {
            switch (item.path("type").asText()) {
                case "message" -> item.path("content").forEach(part -> text.append(part.path("text").asText("")));
                case "function_call" -> calls.addObject().put("id", item.path("call_id").asText()).put("type", "function")
                        .putObject("function").put("name", item.path("name").asText()).put("arguments", item.path("arguments").asText(""));
                default -> { }
            }
        }
        if (text.length() > 0 || calls.isEmpty()) {
            m.put("content", text.toString());
        } else {
            m.putNull("content");
        }
        if (!calls.isEmpty()) {
            m.set("tool_calls", calls);
        }
        if (thinkingBlocks != null && thinkingBlocks.isArray() && !thinkingBlocks.isEmpty()) {
            m.set("thinking_blocks", thinkingBlocks);
        }
        return m;
    }

    /**
     * The request's tools as the response echoes (and stores) them: an MCP server's credentials left out
     * ({@code authorization}; {@code headers}, whose values may be keys, by name only).
     */
    private static ArrayNode echoedTools(JsonNode tools) {
        ArrayNode out = NODES.arrayNode();
        for (JsonNode t : tools) {
            ObjectNode copy = t.deepCopy();
            if ("mcp".equals(t.path("type").asText())) {
                copy.remove("authorization");
                if (t.path("headers").isObject()) {
                    ObjectNode names = copy.putObject("headers");
                    t.get("headers").fieldNames().forEachRemaining(name -> names.put(name, "[redacted]"));
                }
            }
            out.add(copy);
        }
        return out;
    }

    /** A response's fields before its output: what was asked, as OpenAI echoes it. */
    static ObjectNode skeleton(Turn turn, long createdAt, String model) {
        JsonNode request = turn.request;
        ObjectNode r = NODES.objectNode();
        r.put("id", turn.id).put("object", "response").put("created_at", createdAt).put("status", "in_progress");
        r.putNull("error");
        r.putNull("incomplete_details");
        r.set("instructions", request.path("instructions").isTextual() ? request.get("instructions") : NODES.nullNode());
        r.set("max_output_tokens", request.hasNonNull("max_output_tokens") ? request.get("max_output_tokens") : NODES.nullNode());
        r.put("model", model);
        r.putArray("output");
        r.put("parallel_tool_calls", request.path("parallel_tool_calls").asBoolean(true));
        r.put("previous_response_id", turn.previousId);
        if (turn.conversationId != null) {
            r.putObject("conversation").put("id", turn.conversationId);
        }
        ObjectNode reasoning = r.putObject("reasoning");
        JsonNode effort = request.path("reasoning").path("effort");
        reasoning.set("effort", effort.isTextual() ? effort : NODES.nullNode());
        reasoning.putNull("summary");
        r.put("store", turn.store);
        r.put("background", turn.background);
        r.set("temperature", request.hasNonNull("temperature") ? request.get("temperature") : NODES.numberNode(1.0));
        ObjectNode text = r.putObject("text");
        text.set("format", request.path("text").path("format").isObject() ? request.path("text").get("format")
                : NODES.objectNode().put("type", "text"));
        r.set("tool_choice", request.has("tool_choice") ? request.get("tool_choice") : NODES.textNode("auto"));
        r.set("tools", request.path("tools").isArray() ? echoedTools(request.get("tools")) : NODES.arrayNode());
        r.set("top_p", request.hasNonNull("top_p") ? request.get("top_p") : NODES.numberNode(1.0));
        r.put("truncation", "disabled");
        r.putNull("usage");
        r.set("user", request.path("user").isTextual() ? request.get("user") : NODES.nullNode());
        r.set("metadata", request.path("metadata").isObject() ? request.get("metadata") : NODES.objectNode());
        return r;
    }

    /** Completed, or incomplete when the output cap ended it; usage in the Responses names. */
    static void finish(ObjectNode response, String finishReason, JsonNode chatUsage) {
        if ("length".equals(finishReason)) {
            response.put("status", "incomplete");
            response.putObject("incomplete_details").put("reason", "max_output_tokens");
        } else if ("content_filter".equals(finishReason)) {
            response.put("status", "incomplete");
            response.putObject("incomplete_details").put("reason", "content_filter");
        } else {
            response.put("status", "completed");
        }
        if (chatUsage != null && chatUsage.isObject()) {
            ObjectNode usage = response.putObject("usage");
            int in = chatUsage.path("prompt_tokens").asInt();
            int out = chatUsage.path("completion_tokens").asInt();
            usage.put("input_tokens", in);
            usage.putObject("input_tokens_details")
                    .put("cached_tokens", chatUsage.path("prompt_tokens_details").path("cached_tokens").asInt());
            usage.put("output_tokens", out);
            usage.putObject("output_tokens_details").put("reasoning_tokens", Reasoning.tokens(chatUsage));
            usage.put("total_tokens", in + out);
        }
    }

    static ObjectNode messageItem(String id, String text, String status) {
        ObjectNode item = NODES.objectNode().put("type", "message").put("id", id).put("status", status).put("role", "assistant");
        ArrayNode content = item.putArray("content");
        if (text != null) {
            content.add(textPart(text));
        }
        return item;
    }

    static ObjectNode textPart(String text) {
        ObjectNode part = NODES.objectNode().put("type", "output_text").put("text", text);
        part.putArray("annotations");
        return part;
    }

    static ObjectNode functionCallItem(String id, String callId, String name, String arguments, String status) {
        return NODES.objectNode().put("type", "function_call").put("id", id).put("call_id", callId).put("name", name)
                .put("arguments", arguments).put("status", status);
    }

    static ObjectNode reasoningItem(String id, String summary) {
        ObjectNode item = NODES.objectNode().put("type", "reasoning").put("id", id);
        ArrayNode parts = item.putArray("summary");
        if (summary != null) {
            parts.addObject().put("type", "summary_text").put("text", summary);
        }
        return item;
    }

    /**
     * The code of a failed response's {@code error}, from OpenAI's list for it: {@code server_error} for the gateway's
     * and the backends' failures, else the request error's own OpenAI code ({@code openAiError}), else
     * {@code invalid_prompt}. The same whether the response was streamed, waited for or run in the background.
     */
    static String errorCode(ApiException e, JsonNode openAiError) {
        JsonNode given = openAiError.path("error").path("code");
        return e.httpStatus() >= 500 ? "server_error" : given.isTextual() ? given.asText() : "invalid_prompt";
    }

    // ------------------------------------------------------------------ streaming

    /**
     * Turns a chat chunk stream into the Responses events: {@code response.created}, {@code response.in_progress}, each
     * output item opened ({@code response.output_item.added}), filled ({@code response.output_text.delta},
     * {@code response.function_call_arguments.delta}, {@code response.reasoning_summary_text.delta}) and closed, then
     * {@code response.completed} with the whole response ({@link #finish}, then {@link #completed} once it is stored);
     * a failure after the first event ends the stream with {@code response.failed} and an {@code error} event. Every
     * event carries its {@code sequence_number}.
     */
    static final class Stream {
        private final Turn turn;
        private final String suffix;
        private final java.util.function.BiConsumer<String, ObjectNode> emit;
        private ObjectNode response;
        private final ArrayNode output = NODES.arrayNode();
        /** The backend's signed thinking blocks, as they arrive. */
        private final ArrayNode thinkingBlocks = NODES.arrayNode();
        private int sequence;
        private String finishReason = "";
        private JsonNode usage;
        // the item being written (index into output), and what it has so far
        private int open = -1;
        private String openType;
        private boolean summaryOpen;
        private final StringBuilder text = new StringBuilder();
        /** Chat tool-call index → output index of its function_call item. */
        private final Map<Integer, Integer> calls = new java.util.HashMap<>();
        /** Chat tool-call index → how the hosted run handles it (MCP servers only). */
        private final Map<Integer, HostedMcp.Kind> kinds = new java.util.HashMap<>();
        /** MCP calls whose arguments are done and whose result is yet to come: call id → output index. */
        private final Map<String, Integer> pendingCalls = new java.util.HashMap<>();
        /** Which model call of a hosted run the chunks are of (0: the first); it tells items of later calls apart. */
        private int round;

        Stream(Turn turn, java.util.function.BiConsumer<String, ObjectNode> emit) {
            this.turn = turn;
            this.suffix = turn.suffix();
            this.emit = emit;
        }

        private void event(String type, ObjectNode body) {
            ObjectNode e = NODES.objectNode().put("type", type).put("sequence_number", sequence++);
            body.fields().forEachRemaining(f -> e.set(f.getKey(), f.getValue()));
            emit.accept(type, e);
        }

        /**
         * Opens the stream before the first chunk: {@code response.created} (as {@code queued}) and
         * {@code response.in_progress} go out at once, so that a background response's client has its id
         * while the model has yet to answer.
         */
        void begin(long createdAt, String model) {
            open(createdAt, model, "queued");
        }

        /** The response's first two events: {@code response.created} as {@code createdStatus}, then in progress. */
        private void open(long createdAt, String model, String createdStatus) {
            response = skeleton(turn, createdAt, model);
            event("response.created", NODES.objectNode().set("response", response.deepCopy().put("status", createdStatus)));
            event("response.in_progress", NODES.objectNode().set("response", response.deepCopy()));
        }

        /** An item id of this response: {@code prefix}, the response's suffix, and the model call's number after the first. */
        private String itemId(String prefix) {
            return prefix + suffix + (round == 0 ? "" : "_" + round);
        }

        void onChunk(ObjectNode chunk) {
            if (response == null) {
                open(chunk.path("created").asLong(System.currentTimeMillis() / 1000), chunk.path("model").asText(), "in_progress");
            }
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
            JsonNode blocks = delta.path("thinking_blocks");
            if ((!thought.isEmpty() || !blocks.isEmpty()) && !"reasoning".equals(openType)) {
                openItem("reasoning", reasoningItem(itemId("rs_"), null));
            }
            if (!thought.isEmpty()) {
                if (!summaryOpen) {
                    summaryOpen = true;
                    event("response.reasoning_summary_part.added", at().put("summary_index", 0)
                            .set("part", NODES.objectNode().put("type", "summary_text").put("text", "")));
                }
                text.append(thought);
                event("response.reasoning_summary_text.delta", at().put("summary_index", 0).put("delta", thought));
            }
            blocks.forEach(thinkingBlocks::add);
            String content = delta.path("content").asText("");
            if (!content.isEmpty()) {
                if (!"message".equals(openType)) {
                    openItem("message", messageItem(itemId("msg_"), null, "in_progress"));
                    event("response.content_part.added", at().put("content_index", 0).set("part", textPart("")));
                }
                text.append(content);
                event("response.output_text.delta", at().put("content_index", 0).put("delta", content));
            }
            for (JsonNode call : delta.path("tool_calls")) {
                int index = call.path("index").asInt();
                Integer at = calls.get(index);
                if (at == null || at != open) {
                    openCall(index, call);
                }
                String args = call.path("function").path("arguments").asText("");
                if (!args.isEmpty()) {
                    text.append(args);
                    switch (openType) {
                        case "mcp_call" -> event("response.mcp_call_arguments.delta", at().put("delta", args));
                        case "mcp_approval_request" -> { } // sent whole, with the item
                        default -> event("response.function_call_arguments.delta", at().put("delta", args));
                    }
                }
            }
            if (choice.hasNonNull("finish_reason")) {
                finishReason = choice.get("finish_reason").asText();
            }
        }

        /**
         * The item of a tool call: a {@code function_call} for the client, or, for a tool of one of the request's MCP
         * servers, an {@code mcp_call} (made by the gateway once its arguments are done) or an
         * {@code mcp_approval_request}.
         */
        private void openCall(int index, JsonNode call) {
            String name = call.path("function").path("name").asText("");
            HostedMcp.Kind kind = kinds.computeIfAbsent(index, i -> turn.hosted == null ? HostedMcp.Kind.CLIENT : turn.hosted.kind(name));
            String callId = call.path("id").asText("");
            String id = itemId("") + "_" + index;
            if (kind == HostedMcp.Kind.CLIENT) {
                openItem("function_call", functionCallItem("fc_" + id, callId, name, "", "in_progress"));
            } else {
                HostedMcp.Tool tool = turn.hosted.tool(name);
                if (kind == HostedMcp.Kind.CALL) {
                    openItem("mcp_call", HostedMcp.mcpCallItem("mcp_" + id, tool.session().server.label(), tool.tool().name(), ""));
                    pendingCalls.put(callId, open);
                } else {
                    openItem("mcp_approval_request", NODES.objectNode().put("id", "mcpr_" + id).put("type", "mcp_approval_request")
                            .put("server_label", tool.session().server.label()).put("name", tool.tool().name()).put("arguments", ""));
                }
            }
            calls.put(index, open);
        }

        /** A step of a hosted run ({@link HostedMcp}): an item made whole, an MCP call's result, or the next model call. */
        private void hosted(ObjectNode control) {
            switch (control.path(HostedMcp.CONTROL).asText()) {
                case "item" -> {
                    closeItem("completed");
                    ObjectNode item = ((ObjectNode) control.get("item")).deepCopy();
                    output.add(item);
                    int index = output.size() - 1;
                    ObjectNode added = item.deepCopy();
                    if ("mcp_list_tools".equals(item.path("type").asText())) {
                        added.putArray("tools");
                        event("response.output_item.added", NODES.objectNode().put("output_index", index).set("item", added));
                        event("response.mcp_list_tools.in_progress", at(index));
                        event("response.mcp_list_tools.completed", at(index));
                    } else {
                        added.putNull("output");
                        added.putNull("error");
                        added.put("status", "in_progress");
                        event("response.output_item.added", NODES.objectNode().put("output_index", index).set("item", added));
                        event("response.mcp_call.in_progress", at(index));
                        event("response.mcp_call." + item.path("status").asText(), at(index));
                    }
                    event("response.output_item.done", NODES.objectNode().put("output_index", index).set("item", item.deepCopy()));
                }
                case "result" -> {
                    closeItem("completed");
                    Integer index = pendingCalls.remove(control.path("call_id").asText());
                    if (index == null) {
                        return;
                    }
                    ObjectNode item = (ObjectNode) output.get(index);
                    for (String field : List.of("output", "error", "status")) { // as HostedMcp.Outcome puts them
                        item.set(field, control.get(field));
                    }
                    event("response.mcp_call." + control.path("status").asText(), at(index));
                    event("response.output_item.done", NODES.objectNode().put("output_index", index).set("item", item.deepCopy()));
                }
                case "answered" -> closeItem(itemStatus(finishReason));
                case "round" -> {
                    closeItem("completed");
                    calls.clear();
                    kinds.clear();
                    finishReason = "";
                    round++;
                }
                default -> { }
            }
        }

        /** The open item's coordinates, for its events. */
        private ObjectNode at() {
            return at(open);
        }

        /** An output item's coordinates, for its events. */
        private ObjectNode at(int index) {
            return NODES.objectNode().put("item_id", output.get(index).path("id").asText()).put("output_index", index);
        }

        private void openItem(String type, ObjectNode item) {
            closeItem("completed");
            output.add(item);
            open = output.size() - 1;
            openType = type;
            summaryOpen = false;
            text.setLength(0);
            event("response.output_item.added", NODES.objectNode().put("output_index", open).set("item", item.deepCopy()));
        }

        private void closeItem(String status) {
            if (open < 0) {
                return;
            }
            ObjectNode item = (ObjectNode) output.get(open);
            String done = text.toString();
            switch (openType) {
                case "message" -> {
                    event("response.output_text.done", at().put("content_index", 0).put("text", done));
                    event("response.content_part.done", at().put("content_index", 0).set("part", textPart(done)));
                    ((ArrayNode) item.get("content")).add(textPart(done));
                    item.put("status", status);
                }
                case "function_call" -> {
                    event("response.function_call_arguments.done", at().put("arguments", done));
                    item.put("arguments", done).put("status", status);
                }
                case "mcp_call" -> {
                    // its arguments are done; the item is, once the gateway has made the call (hosted "result")
                    event("response.mcp_call_arguments.done", at().put("arguments", done));
                    item.put("arguments", done);
                    event("response.mcp_call.in_progress", at());
                    open = -1;
                    openType = null;
                    return;
                }
                case "mcp_approval_request" -> item.put("arguments", done);
                default -> {
                    if (summaryOpen) {
                        event("response.reasoning_summary_text.done", at().put("summary_index", 0).put("text", done));
                        ObjectNode part = NODES.objectNode().put("type", "summary_text").put("text", done);
                        event("response.reasoning_summary_part.done", at().put("summary_index", 0).set("part", part));
                        ((ArrayNode) item.get("summary")).add(part);
                    }
                    if (turn.encryptedReasoning && !thinkingBlocks.isEmpty()) {
                        item.put("encrypted_content", seal(thinkingBlocks));
                    }
                }
            }
            event("response.output_item.done", NODES.objectNode().put("output_index", open).set("item", item.deepCopy()));
            open = -1;
            openType = null;
        }

        /** Closes the open item and returns the finished response, before {@code response.completed} ({@link #completed}). */
        ObjectNode finish() {
            if (response == null) {
                onChunk(NODES.objectNode());
            }
            closeItem(itemStatus(finishReason));
            response.set("output", output);
            ResponsesApi.finish(response, finishReason, usage);
            return response;
        }

        /**
         * The assistant's turn as a chat message, for a later turn ({@link #answerMessage}); for a hosted run, every
         * message it added (the model's calls, their results, its answer).
         */
        JsonNode answer() {
            return turn.hosted != null ? turn.hosted.produced : answerMessage(output, thinkingBlocks);
        }

        /**
         * The last event, with the response as stored ({@code stored} false: it could not be, whatever was asked):
         * {@code response.completed}, or {@code response.incomplete} when the output cap cut it, as at OpenAI.
         */
        void completed(boolean stored) {
            if (!stored) {
                response.put("store", false);
            }
            event("incomplete".equals(response.path("status").asText()) ? "response.incomplete" : "response.completed",
                    NODES.objectNode().set("response", response));
        }

        /** Ends a broken stream with {@code response.failed} and an {@code error} event; the failed response, or null before any event. */
        ObjectNode onFailure(ApiException e, ObjectNode openAiError) {
            if (response == null) {
                return null;
            }
            if (open >= 0) {
                // what the open item had when the stream broke, marked incomplete (no .done events: it is not done)
                ObjectNode item = (ObjectNode) output.get(open);
                switch (openType) {
                    case "message" -> ((ArrayNode) item.get("content")).add(textPart(text.toString()));
                    case "function_call", "mcp_call", "mcp_approval_request" -> item.put("arguments", text.toString());
                    default -> {
                        if (summaryOpen) {
                            ((ArrayNode) item.get("summary")).addObject().put("type", "summary_text").put("text", text.toString());
                        }
                    }
                }
                if (item.has("status")) {
                    item.put("status", "incomplete");
                }
            }
            response.put("status", "failed");
            response.set("output", output);
            response.putObject("error").put("code", errorCode(e, openAiError)).put("message", e.getMessage());
            event("response.failed", NODES.objectNode().set("response", response));
            ObjectNode error = NODES.objectNode();
            for (Iterator<Map.Entry<String, JsonNode>> it = openAiError.path("error").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (!"type".equals(f.getKey())) { // the event's type is "error"; OpenAI's error type is not carried here
                    error.set(f.getKey(), f.getValue());
                }
            }
            event("error", error);
            return response;
        }
    }
}
