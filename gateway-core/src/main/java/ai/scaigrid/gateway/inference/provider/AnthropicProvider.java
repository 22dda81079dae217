package ai.scaigrid.gateway.inference.provider;

import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.core.http.RequestOptions;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Anthropic's Messages API ({@code POST <base_url>/messages}), translated both ways so that the
 * dispatcher and every caller keep seeing OpenAI's shapes: system and developer messages become
 * {@code system}; tool definitions, tool calls and tool results become {@code tools},
 * {@code tool_use} and {@code tool_result} blocks; image parts become image blocks; the answer's text
 * and tool calls, stop reason and usage come back as a {@code chat.completion} (or its chunks,
 * event by event, while Anthropic streams).
 *
 * <p>{@code connection_config}: {@code base_url} (default {@value #DEFAULT_BASE_URL}), secret
 * {@code api_key} (sent as {@code x-api-key}), {@code anthropic_version} (default
 * {@value #DEFAULT_VERSION}), secret {@code headers} (e.g. {@code anthropic-beta}) and the timeouts
 * read by {@link UpstreamHttp}. Anthropic requires an output cap: a request without {@code max_tokens}
 * gets the one the gateway reserved for (the model's {@code max_output_tokens}, else the gateway's default).
 *
 * <p>Extended thinking, in the shapes LiteLLM, DeepSeek and vLLM use: {@code reasoning_effort}
 * {@code minimal}/{@code low}, {@code medium}, {@code high}, {@code xhigh}, {@code max} becomes adaptive thinking at
 * that effort (Claude 4.6 and later), or with connection_config {@code thinking: budget} (earlier
 * models) a fixed budget of 1024, 2048, 4096, 8192, 16384 tokens ({@code none}: no thinking; other values are
 * refused). What Anthropic refuses with thinking is refused up front as VALIDATION_ERROR naming the
 * field: {@code max_tokens} not above a fixed budget, a {@code temperature} other than 1, {@code top_p}
 * below 0.95, {@code top_k}, a forced {@code tool_choice}, {@code response_format} (its answer tool is
 * forced) and a final assistant message
 * (a prefill). The answer's thinking comes back as {@code message.reasoning_content} (the thinking text)
 * and {@code message.thinking_blocks} (every thinking and redacted_thinking block, signature included);
 * streamed, as {@code delta.reasoning_content} chunks and, when a block ends, one chunk with
 * {@code delta.thinking_blocks}. An assistant message's {@code thinking_blocks} go back to Anthropic
 * first in its turn, unchanged, which a tool-use loop with thinking needs; {@code reasoning_content}
 * alone is not sent (Anthropic takes no thinking without its signature).
 *
 * <p>OpenAI parameters without an Anthropic counterpart ({@code presence_penalty},
 * {@code frequency_penalty}, {@code seed}, {@code logprobs}) are not sent. Anthropic has no
 * embeddings API.
 */
@ApplicationScoped
public class AnthropicProvider implements Provider {
    static final String DEFAULT_BASE_URL = "https://api.anthropic.com/v1";
    static final String DEFAULT_VERSION = "2023-06-01";
    static final long DEFAULT_MAX_TOKENS = 4096;

    /**
     * The tool that carries a {@code response_format} answer (see {@code answerTool}): a name no caller's
     * tool is likely to have, since a tool_use block with it is read as the answer, not as a tool call.
     */
    static final String ANSWER_TOOL = "scaigrid_response_format";
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    @Inject
    UpstreamHttp http;

    @Inject
    ObjectMapper mapper;

    @Override
    public String type() {
        return "anthropic";
    }

    @Override
    public boolean listsModels(String providerType) {
        return true;
    }

    /** {@code GET <base_url>/models}: its list has OpenAI's {@code data[].id} shape (up to 1,000 models, one page). */
    @Override
    public Uni<JsonNode> listModels(BackendTarget provider, java.time.Duration timeout) {
        return modelPages(provider, timeout, null, mapper.createArrayNode(), 0)
                .map(all -> mapper.createObjectNode().<ObjectNode>set("data", all));
    }

    /** Anthropic pages its model list ({@code has_more}, {@code last_id} → {@code after_id}); at most 20 pages are read. */
    private Uni<com.fasterxml.jackson.databind.node.ArrayNode> modelPages(BackendTarget provider, java.time.Duration timeout,
                                                                         String afterId, com.fasterxml.jackson.databind.node.ArrayNode all,
                                                                         int pages) {
        String path = "/models?limit=1000" + (afterId == null ? "" : "&after_id=" + URLEncoder.encode(afterId, StandardCharsets.UTF_8));
        return http.getJson(() -> options(provider, path), timeout).flatMap(page -> {
            page.path("data").forEach(all::add);
            String last = page.path("last_id").asText(null);
            if (page.path("has_more").asBoolean(false) && last != null && !last.equals(afterId) && pages < 19) {
                return modelPages(provider, timeout, last, all, pages + 1);
            }
            return Uni.createFrom().item(all);
        });
    }

    @Override
    public Uni<ObjectNode> chat(BackendTarget backend, ProviderCall call) {
        return Uni.createFrom().deferred(() -> {
            ObjectNode body = messagesRequest(backend, call, false);
            return http.exchange(backend, call, () -> options(backend, "/messages"), body)
                    .map(json -> completion(json, call.frontendSlug()));
        });
    }

    @Override
    public Multi<ObjectNode> streamChat(BackendTarget backend, ProviderCall call) {
        return Multi.createFrom().deferred(() -> {
            ObjectNode body = messagesRequest(backend, call, true);
            return http.stream(backend, call, () -> options(backend, "/messages"), body, new StreamTranslator(call.frontendSlug()));
        });
    }

    @Override
    public Uni<ObjectNode> embed(BackendTarget backend, ProviderCall call) {
        return Uni.createFrom().failure(new UpstreamFailure(ErrorCode.BACKEND_ERROR,
                "Anthropic backends offer no embeddings; link an embeddings backend of another type to this model", false, null, null));
    }

    private RequestOptions options(BackendTarget backend, String path) {
        String base = backend.config("base_url", DEFAULT_BASE_URL);
        RequestOptions options = http.post(backend, UpstreamHttp.stripSlash(base) + path)
                .putHeader("anthropic-version", backend.config("anthropic_version", DEFAULT_VERSION));
        String key = backend.secret("api_key");
        if (key != null && !key.isBlank()) {
            options.putHeader("x-api-key", key);
        }
        return options;
    }

    // ------------------------------------------------------------------ request: OpenAI -> Anthropic

    /**
     * The Messages API request for an OpenAI-style chat body. A request Anthropic could not take as
     * meant (a part type it has no block for, tool-call arguments that are not a JSON object) fails as
     * VALIDATION_ERROR, which neither fails over nor counts against the backend.
     */
    ObjectNode messagesRequest(BackendTarget backend, ProviderCall call, boolean stream) {
        JsonNode in = call.body();
        ObjectNode out = NODES.objectNode();
        out.put("model", backend.modelName());
        // Anthropic requires a cap: the request's, else what the gateway reserved for (the model's cap)
        long maxTokens = in.hasNonNull("max_completion_tokens") ? in.get("max_completion_tokens").asLong()
                : in.hasNonNull("max_tokens") ? in.get("max_tokens").asLong()
                : call.maxOutputTokens() > 0 ? call.maxOutputTokens() : DEFAULT_MAX_TOKENS;
        out.put("max_tokens", maxTokens);
        boolean budgetMode = "budget".equals(backend.config("thinking", "adaptive"));
        JsonNode source = in.path("messages");
        int lastTurn = -1; // the last message that is not a system message: an assistant one there is a prefill
        for (int i = 0; i < source.size(); i++) {
            String role = source.get(i).path("role").asText();
            if (!role.equals("system") && !role.equals("developer")) {
                lastTurn = i;
            }
        }
        boolean prefill = lastTurn >= 0 && "assistant".equals(source.get(lastTurn).path("role").asText());
        Set<String> yielded = new HashSet<>(); // the model's defaults left out so that thinking can run
        // with the interleaved-thinking beta a budget spans the whole turn and may exceed max_tokens
        boolean interleaved = UpstreamHttp.extraHeaders(backend).entrySet().stream().anyMatch(h ->
                h.getKey().equalsIgnoreCase("anthropic-beta") && h.getValue().contains("interleaved-thinking"));
        String effort = thinkingEffort(in, budgetMode && !interleaved, maxTokens, prefill ? lastTurn : -1, call.defaulted(), yielded);
        if (effort != null && budgetMode) {
            out.putObject("thinking").put("type", "enabled").put("budget_tokens", BUDGETS.get(effort));
        } else if (effort != null) {
            out.putObject("thinking").put("type", "adaptive");
            out.putObject("output_config").put("effort", effort);
        }

        List<ArrayNode> system = new java.util.ArrayList<>(); // each system message's blocks
        ArrayNode messages = NODES.arrayNode();
        for (int i = 0; i < source.size(); i++) {
            JsonNode m = source.get(i);
            String role = m.path("role").asText();
            switch (role) {
                case "system", "developer" -> system.add(markLast(textBlocks(m.get("content"), "messages[" + i + "].content"), m));
                case "user" -> append(messages, "user", markLast(userBlocks(m.get("content"), "messages[" + i + "].content"), m));
                case "assistant" -> append(messages, "assistant", markLast(assistantBlocks(m, i), m));
                case "tool" -> {
                    ObjectNode result = NODES.objectNode().put("type", "tool_result")
                            .put("tool_use_id", m.path("tool_call_id").asText());
                    result.put("content", text(m.get("content"), "messages[" + i + "].content"));
                    // a breakpoint on a part of the result marks the whole result, the block Anthropic caches
                    m.path("content").forEach(part -> markCache(result, part));
                    append(messages, "user", markLast(NODES.arrayNode().add(result), m));
                }
                default -> throw invalid("messages[" + i + "].role", "role " + role + " cannot be sent to an Anthropic backend");
            }
        }
        ArrayNode systemBlocks = NODES.arrayNode();
        system.forEach(systemBlocks::addAll);
        boolean marked = false;
        for (JsonNode block : systemBlocks) {
            marked |= block.has("cache_control");
        }
        if (marked) {
            out.set("system", systemBlocks); // a prompt-cache breakpoint needs the blocks
        } else if (!systemBlocks.isEmpty()) {
            // one string: each message's parts joined, the messages a paragraph apart
            StringBuilder text = new StringBuilder();
            for (ArrayNode blocks : system) {
                if (!blocks.isEmpty()) {
                    text.append(text.length() > 0 ? "\n\n" : "").append(joined(blocks));
                }
            }
            out.put("system", text.toString());
        }
        out.set("messages", messages);

        JsonNode temperature = in.get("temperature");
        if (!yielded.contains("temperature") && temperature != null && temperature.isNumber() && temperature.asDouble() > 1) {
            // OpenAI's scale goes to 2, Anthropic's to 1; rescaling would silently change what was asked for
            throw invalid("temperature", "an Anthropic backend takes a temperature from 0 to 1");
        }
        for (String field : List.of("temperature", "top_p", "top_k")) {
            if (!yielded.contains(field)) {
                copyNumber(in, out, field);
            }
        }
        JsonNode stop = in.get("stop");
        if (stop != null && stop.isTextual()) {
            out.putArray("stop_sequences").add(stop.asText());
        } else if (stop != null && stop.isArray() && !stop.isEmpty()) {
            out.set("stop_sequences", stop.deepCopy());
        }
        JsonNode tools = in.get("tools");
        if (tools != null && tools.isArray() && !tools.isEmpty()) {
            ArrayNode translated = out.putArray("tools");
            for (JsonNode t : tools) {
                JsonNode f = t.path("function");
                ObjectNode tool = translated.addObject().put("name", f.path("name").asText());
                if (f.path("description").isTextual()) {
                    tool.put("description", f.get("description").asText());
                }
                JsonNode parameters = f.get("parameters");
                tool.set("input_schema", parameters != null && parameters.isObject() ? parameters.deepCopy()
                        : NODES.objectNode().put("type", "object").set("properties", NODES.objectNode()));
                markCache(tool, t);
            }
        }
        ObjectNode answerTool = yielded.contains("response_format") ? null : answerTool(in.get("response_format"), out.has("tools"));
        if (answerTool != null) {
            out.putArray("tools").add(answerTool);
            out.putObject("tool_choice").put("type", "tool").put("name", ANSWER_TOOL);
        }
        ObjectNode toolChoice = answerTool != null ? null : toolChoice(in.get("tool_choice"));
        if (answerTool == null && in.path("parallel_tool_calls").isBoolean() && !in.get("parallel_tool_calls").asBoolean()
                && out.has("tools")) {
            if (toolChoice == null) {
                toolChoice = NODES.objectNode().put("type", "auto");
            }
            if (!"none".equals(toolChoice.path("type").asText())) {
                toolChoice.put("disable_parallel_tool_use", true);
            }
        }
        if (toolChoice != null) {
            out.set("tool_choice", toolChoice);
        }
        if (in.path("user").isTextual()) {
            out.putObject("metadata").put("user_id", in.get("user").asText());
        }
        if (stream) {
            out.put("stream", true);
        }
        return out;
    }

    /** Adaptive thinking's effort for each OpenAI {@code reasoning_effort} that turns thinking on. */
    static final Map<String, String> EFFORTS = Map.of("minimal", "low", "low", "low", "medium", "medium",
            "high", "high", "xhigh", "xhigh", "max", "max");
    /** The fixed thinking budget for each effort (connection_config {@code thinking: budget}); 1024 is Anthropic's minimum. */
    private static final Map<String, Integer> BUDGETS = Map.of("low", 1024, "medium", 2048, "high", 4096, "xhigh", 8192,
            "max", 16384);

    /**
     * The thinking effort ({@code low}, {@code medium}, {@code high}, {@code xhigh}, {@code max}) for
     * {@code reasoning_effort}, or null for no thinking (none given, or {@code none}). Claude 4.6 and
     * later think adaptively at that effort; earlier models need a fixed budget (connection_config
     * {@code thinking: budget}; the budgets follow LiteLLM's mapping), which must stay below
     * {@code max_tokens} ({@code budgetBelowMaxTokens}; not with the interleaved-thinking beta, where a budget
     * spans the whole assistant turn). Anthropic refuses thinking with a temperature other than 1, {@code top_k},
     * {@code top_p} below 0.95, forced tool use, {@code response_format} (its answer tool is forced) and a
     * prefilled answer ({@code prefillAt}, the final assistant message's index, or -1).
     *
     * <p>Where such a field and the thinking clash, what the caller asked for wins over the model's
     * {@code default_params} ({@code defaulted}): a defaulted field yields (added to {@code yielded}, to be
     * left out), a defaulted {@code reasoning_effort} yields to the caller's own field (no thinking). A clash
     * of two of the caller's own fields is refused here, naming the field, so that the caller gets a precise
     * 400 instead of the upstream's.
     */
    private static String thinkingEffort(JsonNode in, boolean budgetBelowMaxTokens, long maxTokens, int prefillAt, Set<String> defaulted,
                                         Set<String> yielded) {
        JsonNode effortNode = in.get("reasoning_effort");
        if (effortNode == null || effortNode.isNull() || "none".equals(effortNode.asText())) {
            return null;
        }
        String effort = effortNode.asText();
        String level = EFFORTS.get(effort);
        if (level == null) {
            throw invalid("reasoning_effort",
                    "an Anthropic backend takes reasoning_effort none, minimal, low, medium, high, xhigh or max");
        }
        String with = " with reasoning_effort " + effort + " (extended thinking)";
        Map<String, String> clashes = new LinkedHashMap<>(); // field -> why it cannot go with thinking
        if (budgetBelowMaxTokens && maxTokens <= BUDGETS.get(level)) {
            clashes.put("max_tokens", "reasoning_effort " + effort + " needs max_tokens above " + BUDGETS.get(level)
                    + " on this Anthropic backend (its thinking budget is part of the output)");
        }
        JsonNode temperature = in.get("temperature");
        if (temperature != null && temperature.isNumber() && temperature.asDouble() != 1) {
            clashes.put("temperature", "an Anthropic backend takes no temperature other than 1" + with);
        }
        JsonNode topP = in.get("top_p");
        if (topP != null && topP.isNumber() && topP.asDouble() < 0.95) {
            clashes.put("top_p", "an Anthropic backend takes top_p only from 0.95 to 1" + with);
        }
        JsonNode topK = in.get("top_k");
        if (topK != null && !topK.isNull()) {
            clashes.put("top_k", "an Anthropic backend takes no top_k" + with);
        }
        String choice = in.path("tool_choice").path("function").path("name").isTextual() ? "a named function"
                : "required".equals(in.path("tool_choice").asText()) ? "required" : null;
        if (choice != null) {
            clashes.put("tool_choice", "an Anthropic backend cannot force a tool (tool_choice " + choice + ")" + with
                    + "; use auto or none");
        }
        String format = in.path("response_format").path("type").asText("");
        if (format.equals("json_schema") || format.equals("json_object")) {
            // the answer tool forces tool_choice (see answerTool)
            clashes.put("response_format", "an Anthropic backend cannot combine response_format " + format + with);
        }
        if (prefillAt >= 0) {
            clashes.put("messages[" + prefillAt + "].role", "an Anthropic backend cannot continue a final "
                    + "assistant message with reasoning_effort (extended thinking); end with a user or tool message");
        }
        // the model's sampling defaults can be left out; its max_tokens (the cap) and the conversation cannot
        Set<String> yieldable = Set.of("temperature", "top_p", "top_k", "response_format");
        for (Map.Entry<String, String> clash : clashes.entrySet()) {
            if (!(yieldable.contains(clash.getKey()) && defaulted.contains(clash.getKey()))) {
                if (defaulted.contains("reasoning_effort")) {
                    return null; // the caller's own field wins over the model's default thinking
                }
                throw invalid(clash.getKey(), clash.getValue());
            }
        }
        yielded.addAll(clashes.keySet());
        return level;
    }

    /**
     * OpenAI's {@code response_format} ({@code json_schema} or {@code json_object}) has no Messages API
     * field; the way Anthropic documents for JSON output is one tool whose input schema is the wanted
     * shape, forced with {@code tool_choice}. Its input comes back as the answer's text (see
     * {@link #ANSWER_TOOL}). Combined with the caller's own tools that would no longer be a choice, so it is
     * refused, as is a schema whose top level is not an object (tool inputs are objects).
     */
    private static ObjectNode answerTool(JsonNode format, boolean hasTools) {
        String type = format == null ? "" : format.path("type").asText("");
        if (!type.equals("json_schema") && !type.equals("json_object")) {
            return null;
        }
        if (hasTools) {
            throw invalid("response_format", "an Anthropic backend cannot combine response_format " + type + " with tools");
        }
        JsonNode schema = type.equals("json_schema") ? format.path("json_schema").get("schema") : null;
        if (schema == null || schema.isNull()) { // null passes validation as "no schema", as it does for OpenAI-style backends
            schema = NODES.objectNode().put("type", "object");
        } else if (!schema.isObject() || (schema.has("type") && !"object".equals(schema.path("type").asText()))) {
            throw invalid("response_format.json_schema.schema", "an Anthropic backend needs a schema whose top level is an object");
        }
        String description = format.path("json_schema").path("description").asText("");
        return NODES.objectNode().put("name", ANSWER_TOOL)
                .put("description", description.isEmpty() ? "Give the answer as JSON in this shape." : description)
                .set("input_schema", schema.deepCopy());
    }

    /** A tool_use block's input as JSON text ({@code {}} when it has none). */
    private static String inputJson(JsonNode toolUse) {
        return toolUse.path("input").isMissingNode() ? "{}" : toolUse.get("input").toString();
    }

    private static ObjectNode toolChoice(JsonNode choice) {
        if (choice == null || choice.isNull()) {
            return null;
        }
        if (choice.isTextual()) {
            return switch (choice.asText()) {
                case "none" -> NODES.objectNode().put("type", "none");
                case "required" -> NODES.objectNode().put("type", "any");
                default -> NODES.objectNode().put("type", "auto");
            };
        }
        String name = choice.path("function").path("name").asText(null);
        return name == null ? null : NODES.objectNode().put("type", "tool").put("name", name);
    }

    /** Consecutive messages of one role become one: Anthropic's turns alternate, and tool results travel in a user turn. */
    private static void append(ArrayNode messages, String role, ArrayNode blocks) {
        if (blocks.isEmpty()) {
            return;
        }
        JsonNode last = messages.isEmpty() ? null : messages.get(messages.size() - 1);
        if (last != null && role.equals(last.path("role").asText())) {
            ((ArrayNode) last.get("content")).addAll(blocks);
            return;
        }
        messages.addObject().put("role", role).set("content", blocks);
    }

    private ArrayNode userBlocks(JsonNode content, String field) {
        if (content == null || !content.isArray()) {
            return textBlocks(content, field);
        }
        ArrayNode blocks = NODES.arrayNode();
        for (int i = 0; i < content.size(); i++) {
            JsonNode part = content.get(i);
            String type = part.path("type").asText();
            if ("text".equals(type)) {
                addText(blocks, part.path("text").asText(), part);
            } else if ("image_url".equals(type)) {
                JsonNode image = part.path("image_url");
                String url = image.isTextual() ? image.asText() : image.path("url").asText("");
                blocks.add(markCache(imageBlock(url, field + "[" + i + "]"), part));
            } else if ("file".equals(type) && part.path("file").path("file_data").asText("").startsWith(PDF_DATA)) {
                // a PDF as OpenAI's file part carries it: Anthropic reads it as a document
                ObjectNode document = NODES.objectNode().put("type", "document");
                document.putObject("source").put("type", "base64").put("media_type", "application/pdf")
                        .put("data", part.path("file").path("file_data").asText().substring(PDF_DATA.length()));
                blocks.add(markCache(document, part));
            } else {
                throw invalid(field + "[" + i + "].type", "content parts of type " + type
                        + " cannot be sent to an Anthropic backend (text, image_url and a base64 PDF file can)");
            }
        }
        return blocks;
    }

    private static final String PDF_DATA = "data:application/pdf;base64,";

    /** A data URL becomes an inline base64 image; anything else is fetched by Anthropic from its URL. */
    private static ObjectNode imageBlock(String url, String field) {
        ObjectNode block = NODES.objectNode().put("type", "image");
        if (url.startsWith("data:")) {
            int comma = url.indexOf(',');
            String meta = comma < 0 ? "" : url.substring(5, comma);
            if (comma < 0 || !meta.endsWith(";base64")) {
                throw invalid(field + ".image_url", "an image data URL must be base64, e.g. data:image/png;base64,...");
            }
            block.putObject("source").put("type", "base64").put("media_type", meta.substring(0, meta.length() - 7))
                    .put("data", url.substring(comma + 1));
        } else if (url.startsWith("http://") || url.startsWith("https://")) {
            block.putObject("source").put("type", "url").put("url", url);
        } else {
            throw invalid(field + ".image_url", "image_url must be an http(s) or data URL");
        }
        return block;
    }

    private ArrayNode assistantBlocks(JsonNode m, int index) {
        ArrayNode blocks = NODES.arrayNode();
        // thinking blocks of an earlier answer go first and unchanged: Anthropic checks their signatures,
        // and needs them to continue a tool-use loop with thinking. reasoning_content alone has no signature.
        JsonNode thinking = m.get("thinking_blocks");
        if (thinking != null && thinking.isArray()) {
            for (JsonNode b : thinking) {
                switch (b.path("type").asText()) {
                    case "thinking" -> blocks.add(thinkingBlock(b.path("thinking").asText(), b.path("signature").asText()));
                    case "redacted_thinking" -> blocks.add(redactedBlock(b.path("data").asText()));
                    default -> {
                        // not a thinking block: left out
                    }
                }
            }
        }
        JsonNode content = m.get("content");
        if (content != null && !content.isNull()) {
            blocks.addAll(textBlocks(content, "messages[" + index + "].content"));
        }
        JsonNode calls = m.path("tool_calls");
        for (int i = 0; i < calls.size(); i++) {
            JsonNode call = calls.get(i);
            JsonNode function = call.path("function");
            JsonNode input;
            String arguments = function.path("arguments").asText("");
            try {
                input = arguments.isBlank() ? NODES.objectNode() : mapper.readTree(arguments);
            } catch (Exception e) {
                input = null;
            }
            if (input == null || !input.isObject()) {
                throw invalid("messages[" + index + "].tool_calls[" + i + "].function.arguments",
                        "tool call arguments must be a JSON object for an Anthropic backend");
            }
            blocks.addObject().put("type", "tool_use").put("id", call.path("id").asText())
                    .put("name", function.path("name").asText()).set("input", input);
        }
        return blocks;
    }

    /** A string content or an array of text parts as text blocks (empty ones left out), each part's cache breakpoint kept. */
    private static ArrayNode textBlocks(JsonNode content, String field) {
        ArrayNode blocks = NODES.arrayNode();
        if (content == null || content.isNull()) {
            return blocks;
        }
        if (content.isTextual()) {
            addText(blocks, content.asText(), NODES.objectNode());
            return blocks;
        }
        for (int i = 0; i < content.size(); i++) {
            JsonNode part = content.get(i);
            if (!"text".equals(part.path("type").asText())) {
                throw invalid(field + "[" + i + "].type", "only text parts can be sent here to an Anthropic backend");
            }
            addText(blocks, part.path("text").asText(), part);
        }
        return blocks;
    }

    /** A text block with the part's cache breakpoint; none for empty text, which Anthropic refuses. */
    private static void addText(ArrayNode blocks, String text, JsonNode part) {
        if (!text.isEmpty()) {
            markCache(blocks.addObject().put("type", "text").put("text", text), part);
        }
    }

    /** The block with the holder's (message's, part's, tool's) prompt-cache breakpoint, if it has one. */
    private static ObjectNode markCache(ObjectNode block, JsonNode holder) {
        JsonNode cache = holder.get("cache_control");
        if (cache != null && cache.isObject()) {
            block.set("cache_control", cache.deepCopy());
        }
        return block;
    }

    /** A message-level breakpoint marks the message's last block: the cached prefix ends with the message. */
    private static ArrayNode markLast(ArrayNode blocks, JsonNode message) {
        if (!blocks.isEmpty()) {
            markCache((ObjectNode) blocks.get(blocks.size() - 1), message);
        }
        return blocks;
    }

    /** The text of a string content or of an array of text parts. */
    private static String text(JsonNode content, String field) {
        if (content == null || content.isNull()) {
            return "";
        }
        if (content.isTextual()) {
            return content.asText();
        }
        return joined(textBlocks(content, field));
    }

    /** The texts of text blocks, one after the other. */
    private static String joined(JsonNode blocks) {
        StringBuilder text = new StringBuilder();
        blocks.forEach(block -> text.append(block.path("text").asText()));
        return text.toString();
    }

    private static void copyNumber(JsonNode in, ObjectNode out, String field) {
        JsonNode value = in.get(field);
        if (value != null && value.isNumber()) {
            out.set(field, value);
        }
    }

    private static UpstreamFailure invalid(String field, String message) {
        return UpstreamFailure.invalid(field, message);
    }

    // ------------------------------------------------------------------ answer: Anthropic -> OpenAI

    /** A Messages API answer as a {@code chat.completion}. */
    static ObjectNode completion(JsonNode message, String slug) {
        if (!(message instanceof ObjectNode) || !message.path("content").isArray()) {
            throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream reply could not be parsed", true, null, null);
        }
        StringBuilder text = new StringBuilder();
        StringBuilder reasoning = null; // set by the first thinking block
        ArrayNode thinkingBlocks = NODES.arrayNode();
        ArrayNode toolCalls = NODES.arrayNode();
        boolean answered = false; // the response_format answer came as the input of ANSWER_TOOL
        for (JsonNode block : message.get("content")) {
            switch (block.path("type").asText()) {
                case "text" -> text.append(block.path("text").asText());
                case "tool_use" -> {
                    if (ANSWER_TOOL.equals(block.path("name").asText())) {
                        text.append(inputJson(block));
                        answered = true;
                    } else {
                        toolCalls.addObject().put("id", block.path("id").asText()).put("type", "function")
                                .putObject("function").put("name", block.path("name").asText())
                                .put("arguments", inputJson(block));
                    }
                }
                case "thinking" -> {
                    reasoning = reasoning == null ? new StringBuilder() : reasoning;
                    reasoning.append(block.path("thinking").asText());
                    thinkingBlocks.add(thinkingBlock(block.path("thinking").asText(), block.path("signature").asText()));
                }
                case "redacted_thinking" -> thinkingBlocks.add(redactedBlock(block.path("data").asText()));
                default -> {
                    // server-side tool blocks have no chat.completion counterpart
                }
            }
        }
        ObjectNode out = NODES.objectNode();
        out.put("id", message.path("id").asText("msg"));
        out.put("object", "chat.completion");
        out.put("created", System.currentTimeMillis() / 1000);
        out.put("model", slug);
        ObjectNode choice = out.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode reply = choice.putObject("message");
        reply.put("role", "assistant");
        if (text.length() > 0 || toolCalls.isEmpty()) {
            reply.put("content", text.toString());
        } else {
            reply.putNull("content");
        }
        if (reasoning != null) {
            reply.put("reasoning_content", reasoning.toString());
        }
        if (!toolCalls.isEmpty()) {
            reply.set("tool_calls", toolCalls);
        }
        if (!thinkingBlocks.isEmpty()) {
            // to be sent back on the assistant message (see assistantBlocks)
            reply.set("thinking_blocks", thinkingBlocks);
        }
        choice.put("finish_reason", answerFinish(finishReason(message.path("stop_reason").asText(null)), answered));
        matchedStop(choice, message);
        JsonNode usage = message.path("usage");
        if (usage.has("output_tokens")) {
            out.set("usage", withCache(usage(promptTokens(usage), usage.path("output_tokens").asLong()), usage));
        }
        return out;
    }

    private static ObjectNode thinkingBlock(String thinking, String signature) {
        return NODES.objectNode().put("type", "thinking").put("thinking", thinking).put("signature", signature);
    }

    private static ObjectNode redactedBlock(String data) {
        return NODES.objectNode().put("type", "redacted_thinking").put("data", data);
    }

    static String finishReason(String stopReason) {
        if (stopReason == null) {
            return "stop";
        }
        return switch (stopReason) {
            case "max_tokens", "model_context_window_exceeded" -> "length";
            case "tool_use" -> "tool_calls";
            case "refusal" -> "content_filter";
            default -> "stop"; // end_turn, stop_sequence, pause_turn
        };
    }

    /** A forced answer tool stops with {@code tool_use}; to the caller it is a finished answer. */
    private static String answerFinish(String finishReason, boolean answered) {
        return answered && "tool_calls".equals(finishReason) ? "stop" : finishReason;
    }

    /** Anthropic counts cached prompt tokens apart; the caller's prompt is all of them. */
    private static long promptTokens(JsonNode usage) {
        return usage.path("input_tokens").asLong() + usage.path("cache_creation_input_tokens").asLong()
                + usage.path("cache_read_input_tokens").asLong();
    }

    private static ObjectNode usage(long prompt, long completion) {
        return NODES.objectNode().put("prompt_tokens", prompt).put("completion_tokens", completion)
                .put("total_tokens", prompt + completion);
    }

    /**
     * The prompt cache's share, where Anthropic reports it: read from the cache as OpenAI reports it
     * ({@code prompt_tokens_details.cached_tokens}), written to it as Anthropic names it
     * ({@code cache_creation_input_tokens}, which OpenAI has no field for, with its split by lifetime,
     * {@code cache_creation.ephemeral_5m_input_tokens} and {@code ephemeral_1h_input_tokens}, which are priced
     * apart). All of them are part of {@code prompt_tokens}.
     */
    private static ObjectNode withCache(ObjectNode usage, JsonNode anthropicUsage) {
        if (anthropicUsage == null) {
            return usage;
        }
        if (anthropicUsage.has("cache_read_input_tokens")) {
            usage.putObject("prompt_tokens_details").put("cached_tokens", anthropicUsage.path("cache_read_input_tokens").asLong());
        }
        if (anthropicUsage.has("cache_creation_input_tokens")) {
            usage.put("cache_creation_input_tokens", anthropicUsage.path("cache_creation_input_tokens").asLong());
            JsonNode split = anthropicUsage.path("cache_creation");
            if (split.isObject()) {
                ObjectNode byLifetime = usage.putObject("cache_creation");
                for (String field : List.of("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")) {
                    if (split.path(field).canConvertToLong()) {
                        byLifetime.put(field, split.path(field).asLong());
                    }
                }
            }
        }
        return usage;
    }

    /**
     * Anthropic's stream events as {@code chat.completion.chunk}s: text, thinking
     * ({@code reasoning_content}) and tool-input deltas as they come, each finished thinking block as
     * one {@code thinking_blocks} chunk; the first chunk carries the role; the stop reason becomes a
     * chunk with {@code finish_reason}, followed by one with the usage. Nothing is emitted before the
     * first content, thinking included (so the first-token timeout and failover cover the wait for it).
     */
    /** Which stop sequence ended the answer, as vLLM tells it: the choice's {@code stop_reason} (chat has no field of its own). */
    static void matchedStop(ObjectNode choice, JsonNode stopped) {
        if ("stop_sequence".equals(stopped.path("stop_reason").asText()) && stopped.path("stop_sequence").isTextual()) {
            choice.put("stop_reason", stopped.get("stop_sequence").asText());
        }
    }

    final class StreamTranslator implements UpstreamHttp.SseTranslator {
        private final String slug;
        private final long created = System.currentTimeMillis() / 1000;
        private String id = "msg";
        private long promptTokens;
        private long completionTokens;
        private boolean roleSent;
        private int nextToolIndex;
        /** Anthropic's content block index → the OpenAI tool call index of a tool_use block. */
        private final Map<Integer, Integer> toolIndexByBlock = new HashMap<>();
        /** The content block of the response_format answer tool, whose input is streamed as text; -1 while none. */
        private int answerBlock = -1;
        /** Open thinking blocks by content block index: their text so far and their signature so far. */
        private final Map<Integer, StringBuilder[]> thinkingByBlock = new HashMap<>();
        /** The usage that reported the prompt cache (message_start's, or message_delta's where it repeats it). */
        private JsonNode cacheUsage = NODES.objectNode();

        StreamTranslator(String slug) {
            this.slug = slug;
        }

        @Override
        public boolean requiresEndEvent() {
            return true; // every Messages stream ends with message_stop; without it the answer was cut short
        }

        @Override
        public boolean onEvent(String event, byte[] data, int size, Consumer<ObjectNode> emit) {
            JsonNode json;
            try {
                json = mapper.readTree(data, 0, size);
            } catch (Exception e) {
                throw new UpstreamFailure(ErrorCode.UPSTREAM_SHAPE_MISMATCH, "The upstream sent an unreadable event", true, null, e);
            }
            String type = json.path("type").asText(event == null ? "" : event);
            switch (type) {
                case "message_start" -> {
                    JsonNode message = json.path("message");
                    id = message.path("id").asText(id);
                    promptTokens = promptTokens(message.path("usage"));
                    cacheUsage = message.path("usage");
                    completionTokens = message.path("usage").path("output_tokens").asLong();
                }
                case "content_block_start" -> {
                    JsonNode block = json.path("content_block");
                    if ("tool_use".equals(block.path("type").asText()) && ANSWER_TOOL.equals(block.path("name").asText())) {
                        answerBlock = json.path("index").asInt();
                    } else if ("tool_use".equals(block.path("type").asText())) {
                        int toolIndex = nextToolIndex++;
                        toolIndexByBlock.put(json.path("index").asInt(), toolIndex);
                        ObjectNode delta = NODES.objectNode();
                        ObjectNode call = delta.putArray("tool_calls").addObject();
                        call.put("index", toolIndex).put("id", block.path("id").asText()).put("type", "function")
                                .putObject("function").put("name", block.path("name").asText()).put("arguments", "");
                        emit.accept(chunk(delta, null));
                    } else if ("text".equals(block.path("type").asText()) && !block.path("text").asText("").isEmpty()) {
                        emit.accept(chunk(NODES.objectNode().put("content", block.get("text").asText()), null));
                    } else if ("thinking".equals(block.path("type").asText())) {
                        String start = block.path("thinking").asText("");
                        thinkingByBlock.put(json.path("index").asInt(),
                                new StringBuilder[]{new StringBuilder(start), new StringBuilder(block.path("signature").asText(""))});
                        if (!start.isEmpty()) {
                            emit.accept(chunk(NODES.objectNode().put("reasoning_content", start), null));
                        }
                    } else if ("redacted_thinking".equals(block.path("type").asText())) {
                        emit.accept(chunk(thinkingBlocks(redactedBlock(block.path("data").asText())), null));
                    }
                }
                case "content_block_delta" -> {
                    JsonNode delta = json.path("delta");
                    switch (delta.path("type").asText()) {
                        case "text_delta" -> emit.accept(chunk(NODES.objectNode().put("content", delta.path("text").asText()), null));
                        case "input_json_delta" -> {
                            Integer toolIndex = toolIndexByBlock.get(json.path("index").asInt());
                            if (json.path("index").asInt() == answerBlock && !delta.path("partial_json").asText().isEmpty()) {
                                emit.accept(chunk(NODES.objectNode().put("content", delta.path("partial_json").asText()), null));
                            } else if (toolIndex != null) {
                                ObjectNode out = NODES.objectNode();
                                out.putArray("tool_calls").addObject().put("index", toolIndex)
                                        .putObject("function").put("arguments", delta.path("partial_json").asText());
                                emit.accept(chunk(out, null));
                            }
                        }
                        case "thinking_delta" -> {
                            StringBuilder[] open = thinkingByBlock.get(json.path("index").asInt());
                            String thinking = delta.path("thinking").asText("");
                            if (open != null) {
                                open[0].append(thinking);
                            }
                            if (!thinking.isEmpty()) {
                                emit.accept(chunk(NODES.objectNode().put("reasoning_content", thinking), null));
                            }
                        }
                        case "signature_delta" -> {
                            StringBuilder[] open = thinkingByBlock.get(json.path("index").asInt());
                            if (open != null) {
                                open[1].append(delta.path("signature").asText(""));
                            }
                        }
                        default -> {
                            // citations and event types added later
                        }
                    }
                }
                case "message_delta" -> {
                    JsonNode usage = json.path("usage");
                    if (usage.has("output_tokens")) {
                        completionTokens = usage.get("output_tokens").asLong();
                    }
                    if (usage.has("input_tokens")) {
                        promptTokens = Math.max(promptTokens, promptTokens(usage));
                    }
                    if (usage.has("cache_read_input_tokens") || usage.has("cache_creation_input_tokens")) {
                        cacheUsage = usage;
                    }
                    ObjectNode finishing = chunk(NODES.objectNode(),
                            answerFinish(finishReason(json.path("delta").path("stop_reason").asText(null)), answerBlock >= 0));
                    matchedStop((ObjectNode) finishing.path("choices").get(0), json.path("delta"));
                    emit.accept(finishing);
                    ObjectNode last = header();
                    last.putArray("choices");
                    last.set("usage", withCache(usage(promptTokens, completionTokens), cacheUsage));
                    emit.accept(last);
                }
                case "content_block_stop" -> {
                    // a finished thinking block, whole and signed, for the caller to send back with its next turn
                    StringBuilder[] done = thinkingByBlock.remove(json.path("index").asInt());
                    if (done != null) {
                        emit.accept(chunk(thinkingBlocks(thinkingBlock(done[0].toString(), done[1].toString())), null));
                    }
                }
                case "message_stop" -> {
                    return true;
                }
                case "error" -> throw streamError(json.path("error"));
                default -> {
                    // ping, and event types added later
                }
            }
            return false;
        }

        /** A chunk's fields before its choices: this message's id and start time, the slug the caller used. */
        private ObjectNode header() {
            return NODES.objectNode().put("id", id).put("object", "chat.completion.chunk").put("created", created).put("model", slug);
        }

        private ObjectNode thinkingBlocks(ObjectNode block) {
            ObjectNode delta = NODES.objectNode();
            delta.putArray("thinking_blocks").add(block);
            return delta;
        }

        private ObjectNode chunk(ObjectNode delta, String finishReason) {
            if (!roleSent) {
                roleSent = true;
                ObjectNode withRole = NODES.objectNode().put("role", "assistant");
                withRole.setAll(delta);
                delta = withRole;
            }
            ObjectNode chunk = header();
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("index", 0);
            choice.set("delta", delta);
            if (finishReason == null) {
                choice.putNull("finish_reason");
            } else {
                choice.put("finish_reason", finishReason);
            }
            return chunk;
        }
    }

    /** An {@code error} event: Anthropic's error type decides the class; its message is not shown. */
    private static UpstreamFailure streamError(JsonNode error) {
        return switch (error.path("type").asText()) {
            case "rate_limit_error" -> new UpstreamFailure(ErrorCode.BACKEND_RATE_LIMITED, "The upstream is rate limiting requests",
                    true, null, null);
            case "invalid_request_error" -> new UpstreamFailure(ErrorCode.VALIDATION_ERROR, "The upstream rejected the request",
                    false, null, null);
            default -> new UpstreamFailure(ErrorCode.BACKEND_ERROR, "The upstream reported an error during generation", true, null, null);
        };
    }
}
