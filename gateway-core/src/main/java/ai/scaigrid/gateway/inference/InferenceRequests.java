package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Validation and normalisation of inference request bodies (chat, generate, embed). Every problem
 * is reported at once as VALIDATION_ERROR with {@code details: [{field, message}]}. Fields we do
 * not know are passed through to OpenAI-style upstreams untouched; OpenAI's well-known optional
 * parameters (logprobs, user, logit_bias ...) are passed through too, but their types are checked.
 */
public final class InferenceRequests {
    /** The embedding encodings a caller may ask for ({@code encoding_format}); upstreams are always asked for floats. */
    public static final String EMBEDDING_FLOAT = "float";
    public static final String EMBEDDING_BASE64 = "base64";
    /** The most choices one chat request may ask for ({@code n}), as OpenAI allows. */
    public static final int MAX_CHOICES = 128;
    static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
    private static final Set<String> TOOL_CHOICE_MODES = Set.of("none", "auto", "required");
    private static final Set<String> RESPONSE_FORMATS = Set.of("text", "json_object", "json_schema");
    /** OpenAI's rule for a response format's schema name. */
    private static final Pattern SCHEMA_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private InferenceRequests() {
    }

    /**
     * A validated request: the slug, the body for the provider (no model / stream) and its budget estimate.
     * {@code defaulted} names the body's fields that came from the model's {@code default_params} rather than
     * the caller: a provider that cannot honour two fields together lets such a field yield.
     */
    public record Parsed(String model, boolean stream, boolean includeUsage, ObjectNode body, int promptEstimate,
                         Integer maxTokens, java.util.Set<String> defaulted) {
        public Parsed(String model, boolean stream, boolean includeUsage, ObjectNode body, int promptEstimate, Integer maxTokens) {
            this(model, stream, includeUsage, body, promptEstimate, maxTokens, java.util.Set.of());
        }
    }

    private static final class Problems {
        final List<Map<String, String>> list = new ArrayList<>();

        void add(String field, String message) {
            list.add(Map.of("field", field, "message", message));
        }

        void throwIfAny() {
            if (!list.isEmpty()) {
                throw new ApiException(ErrorCode.VALIDATION_ERROR, list.get(0).get("message"), list);
            }
        }
    }

    public static Parsed chat(JsonNode raw) {
        ObjectNode body = object(raw);
        Problems p = new Problems();
        String model = model(body, p);
        JsonNode messages = body.get("messages");
        int chars = 0;
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            p.add("messages", "messages must be a non-empty array");
        } else {
            for (int i = 0; i < messages.size(); i++) {
                chars += message(messages.get(i), "messages[" + i + "]", p);
            }
        }
        common(body, p);
        chars += toolsAndFormat(body, p);
        p.throwIfAny();
        return finish(body, model, chars + 4 * messages.size());
    }

    /** Checks tools, tool_choice and response_format (chat and generate pass them on alike); returns the tools' size in characters. */
    private static int toolsAndFormat(ObjectNode body, Problems p) {
        int chars = 0;
        JsonNode tools = body.get("tools");
        if (tools != null && !tools.isNull()) {
            if (!tools.isArray()) {
                p.add("tools", "tools must be an array");
            } else {
                for (int i = 0; i < tools.size(); i++) {
                    JsonNode t = tools.get(i);
                    if (!t.isObject() || !"function".equals(t.path("type").asText())
                            || !t.path("function").path("name").isTextual() || t.path("function").path("name").asText().isBlank()) {
                        p.add("tools[" + i + "]", "each tool must be {\"type\":\"function\",\"function\":{\"name\":...}}");
                    } else {
                        cacheControl(t, "tools[" + i + "]", p);
                    }
                    chars += t.toString().length();
                }
            }
        }
        toolChoice(body.get("tool_choice"), tools, p);
        responseFormat(body.get("response_format"), p);
        return chars;
    }

    /**
     * {@code tool_choice} as OpenAI defines it. Providers act on it (a node's or Anthropic's forced tool),
     * so a value they cannot honour is refused here rather than silently ignored: {@code required} or a
     * named function needs tools, and the named function must be one of them.
     */
    private static void toolChoice(JsonNode choice, JsonNode tools, Problems p) {
        if (choice == null || choice.isNull()) {
            return;
        }
        boolean hasTools = tools != null && tools.isArray() && !tools.isEmpty();
        if (choice.isTextual()) {
            String mode = choice.asText();
            if (!TOOL_CHOICE_MODES.contains(mode)) {
                p.add("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":...}}");
            } else if (mode.equals("required") && !hasTools) {
                p.add("tool_choice", "tool_choice required needs tools");
            }
            return;
        }
        if (choice.isObject() && "allowed_tools".equals(choice.path("type").asText())) {
            if (!choice.path("allowed_tools").isObject()) {
                p.add("tool_choice.allowed_tools", "allowed_tools must be an object");
            }
            return;
        }
        JsonNode name = choice.path("function").path("name");
        if (!choice.isObject() || !"function".equals(choice.path("type").asText()) || !name.isTextual() || name.asText().isBlank()) {
            p.add("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":...}}");
        } else if (!hasTools) {
            p.add("tool_choice", "tool_choice names a function but no tools are given");
        } else {
            boolean known = false;
            for (JsonNode t : tools) {
                known |= name.asText().equals(t.path("function").path("name").asText());
            }
            if (!known) {
                p.add("tool_choice.function.name", "tool_choice names " + clip(name.asText()) + ", which is not in tools");
            }
        }
    }

    /**
     * {@code response_format}: {@code text}, {@code json_object}, or {@code json_schema} with a named
     * schema. Providers translate it (a node's JSON mode, Anthropic's forced tool), so a malformed one
     * is a 400 here, not prose the caller did not ask for.
     */
    private static void responseFormat(JsonNode format, Problems p) {
        if (format == null || format.isNull()) {
            return;
        }
        String type = format.path("type").asText("");
        if (!format.isObject() || !RESPONSE_FORMATS.contains(type)) {
            p.add("response_format", "response_format must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}");
            return;
        }
        if (!type.equals("json_schema")) {
            return;
        }
        JsonNode spec = format.get("json_schema");
        if (spec == null || !spec.isObject()) {
            p.add("response_format.json_schema", "json_schema must be an object with name and schema");
            return;
        }
        JsonNode name = spec.get("name");
        if (name == null || !name.isTextual() || !SCHEMA_NAME.matcher(name.asText()).matches()) {
            p.add("response_format.json_schema.name", "name must be 1 to 64 letters, digits, underscores or dashes");
        }
        JsonNode schema = spec.get("schema");
        if (schema != null && !schema.isNull() && !schema.isObject()) {
            p.add("response_format.json_schema.schema", "schema must be a JSON Schema object");
        }
        JsonNode strict = spec.get("strict");
        if (strict != null && !strict.isNull() && !strict.isBoolean()) {
            p.add("response_format.json_schema.strict", "strict must be true or false");
        }
    }

    private static String clip(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    /**
     * The prompt of a validated {@code generate} body that a text-completion endpoint can continue as it is: its
     * one user message, when no tools or structured response format need a chat; else null.
     */
    static String rawPrompt(ObjectNode generateBody) {
        JsonNode messages = generateBody.path("messages");
        JsonNode format = generateBody.path("response_format").path("type");
        boolean chatOnly = generateBody.path("tools").size() > 0 || (format.isTextual() && !"text".equals(format.asText()));
        return !chatOnly && messages.size() == 1 && messages.get(0).path("content").isTextual()
                ? messages.get(0).path("content").asText() : null;
    }

    /**
     * {@code /v1/inference/generate} and {@code /oai/v1/completions}: a raw prompt becomes one user message (see
     * {@link #rawPrompt}). The prompt is a string, or OpenAI's list holding one string. {@code logprobs} is the
     * completions API's count (0-5 alternatives per token), carried as chat's {@code logprobs: true} and
     * {@code top_logprobs}, so either kind of upstream can answer it.
     *
     * <p>What only a text-completion endpoint can answer (several prompts, token-id prompts, {@code echo} with
     * {@code logprobs}, as evaluation harnesses send them) keeps the prompt as sent in the body's {@code prompt}
     * ({@link #completionPrompt}) and {@code echo} for the upstream; such a request goes only to backends with a
     * native text-completion endpoint. The user message then holds the first prompt's text, for estimates.
     */
    public static Parsed generate(JsonNode raw) {
        ObjectNode body = object(raw);
        Problems p = new Problems();
        String model = model(body, p);
        JsonNode prompt = prompt(body);
        int promptChars = promptShape(prompt, p);
        boolean native_ = prompt != null && prompt.isArray();
        JsonNode logprobs = body.remove("logprobs");
        body.remove("top_logprobs");
        JsonNode echo = body.remove("echo"); // answered by the API layer (echoText), unless only the upstream can
        boolean echoing = echo != null && echo.isBoolean() && echo.asBoolean();
        if (echo != null && !echo.isNull() && !echo.isBoolean()) {
            p.add("echo", "echo must be true or false");
        }
        boolean withLogprobs = logprobs != null && !logprobs.isNull();
        native_ |= echoing && withLogprobs; // the prompt's own log probabilities: only the upstream has them
        if (withLogprobs) {
            if (!logprobs.isIntegralNumber() || !logprobs.canConvertToInt() || logprobs.asInt() < 0 || logprobs.asInt() > 5) {
                p.add("logprobs", "logprobs must be an integer from 0 to 5 (the alternatives to report per token)");
            } else {
                body.put("logprobs", true).put("top_logprobs", logprobs.asInt());
            }
        }
        common(body, p);
        int toolChars = toolsAndFormat(body, p);
        if (native_ && toolChars > 0) {
            p.add("prompt", "several prompts, token ids or echo with logprobs cannot be combined with tools or a response format");
        }
        if (native_ && prompt != null && prompt.isArray() && (long) prompt.size() * body.path("n").asInt(1) > MAX_CHOICES
                && !prompt.get(0).isIntegralNumber()) {
            p.add("prompt", "prompts times n must be at most " + MAX_CHOICES);
        }
        p.throwIfAny();
        ObjectNode chat = body.deepCopy();
        chat.remove("prompt");
        ArrayNode messages = chat.putArray("messages");
        messages.addObject().put("role", "user").put("content", prompt.isTextual() ? prompt.asText() : firstText(prompt));
        if (native_) {
            chat.set("prompt", prompt);
            if (echoing) {
                chat.put("echo", true);
            }
        }
        return finish(chat, model, promptChars + toolChars + 4);
    }

    /**
     * Checks a text completion's prompt: a non-empty string, or a list of them, a list of token ids, or a list of such
     * lists; returns its size in characters for estimates (a token id counts as a token, four characters).
     */
    private static int promptShape(JsonNode prompt, Problems p) {
        if (prompt != null && prompt.isTextual() && !prompt.asText().isEmpty()) {
            return prompt.asText().length();
        }
        String shape = "prompt must be a non-empty string, a list of them, a list of token ids, or a list of such lists";
        if (prompt == null || !prompt.isArray() || prompt.isEmpty()) {
            p.add("prompt", shape);
            return 0;
        }
        if (prompt.get(0).isIntegralNumber()) {
            return 4 * tokenIds(prompt, "prompt", p);
        }
        long chars = 0;
        for (int i = 0; i < prompt.size(); i++) {
            JsonNode item = prompt.get(i);
            if (item.isTextual() && !item.asText().isEmpty()) {
                chars += item.asText().length();
            } else if (item.isArray()) {
                chars += 4L * tokenIds(item, "prompt[" + i + "]", p);
            } else {
                p.add("prompt[" + i + "]", shape);
                return 0;
            }
        }
        return (int) Math.min(Integer.MAX_VALUE, chars);
    }

    /** A prompt list's first text (none for token ids), standing in as the user message. */
    private static String firstText(JsonNode prompt) {
        return prompt != null && prompt.isArray() && prompt.path(0).isTextual() ? prompt.get(0).asText() : "";
    }

    /**
     * The prompt of a validated {@code generate} body that only a native text-completion endpoint can answer, as
     * sent (several prompts, token ids, or a prompt to echo with its log probabilities); null for any other.
     */
    public static JsonNode completionPrompt(JsonNode generateBody) {
        JsonNode prompt = generateBody.get("prompt");
        return prompt == null || prompt.isNull() ? null : prompt;
    }

    /** A text completion's {@code prompt}: the string, also when OpenAI's list holds just it; else the field as sent. */
    private static JsonNode prompt(JsonNode body) {
        JsonNode prompt = body.get("prompt");
        return prompt != null && prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual() ? prompt.get(0) : prompt;
    }

    /**
     * The prompt a text completion with {@code echo: true} repeats before its text, else null (read before validation):
     * the gateway echoes a single prompt without logprobs for every backend; any other echo is the upstream's.
     */
    public static String echoText(JsonNode raw) {
        if (raw == null || !raw.path("echo").booleanValue() || raw.hasNonNull("logprobs")) {
            return null; // with logprobs the upstream echoes, with the prompt's own log probabilities
        }
        JsonNode prompt = prompt(raw);
        return prompt != null && prompt.isTextual() ? prompt.asText() : null;
    }

    public static Parsed embed(JsonNode raw) {
        ObjectNode body = object(raw);
        Problems p = new Problems();
        String model = model(body, p);
        JsonNode input = body.get("input");
        int chars = 0;
        if (input == null || input.isNull()) {
            p.add("input", "input is required (a string, an array of strings or an array of token ids)");
        } else if (input.isTextual()) {
            chars = input.asText().length();
            if (chars == 0) {
                p.add("input", "input must not be empty");
            }
        } else if (input.isArray() && !input.isEmpty() && input.get(0).isNumber()) {
            // one input as token ids (OpenAI accepts them; LangChain's OpenAIEmbeddings sends them by default)
            chars = 4 * tokenIds(input, "input", p);
        } else if (input.isArray()) {
            if (input.isEmpty() || input.size() > 2048) {
                p.add("input", "input must hold 1 to 2048 items");
            }
            for (int i = 0; i < input.size(); i++) {
                JsonNode item = input.get(i);
                if (item.isArray()) {
                    chars += 4 * tokenIds(item, "input[" + i + "]", p);
                } else if (!item.isTextual() || item.asText().isEmpty()) {
                    p.add("input[" + i + "]", "each input must be a non-empty string or a non-empty array of token ids");
                } else {
                    chars += item.asText().length();
                }
            }
        } else {
            p.add("input", "input must be a string, an array of strings or an array of token ids");
        }
        JsonNode dimensions = body.get("dimensions");
        if (dimensions != null && !dimensions.isNull() && (!dimensions.canConvertToInt() || !dimensions.isIntegralNumber()
                || dimensions.asInt() < 1 || dimensions.asInt() > 65536)) {
            p.add("dimensions", "dimensions must be a positive integer");
        }
        JsonNode format = body.get("encoding_format");
        if (format != null && !format.isNull() && !(format.isTextual()
                && (EMBEDDING_FLOAT.equals(format.asText()) || EMBEDDING_BASE64.equals(format.asText())))) {
            p.add("encoding_format", "encoding_format must be \"float\" or \"base64\"");
        }
        string(body, "user", p);
        p.throwIfAny();
        ObjectNode out = body.deepCopy();
        out.remove("model");
        return new Parsed(model, false, false, out, Math.max(1, chars / 4), null);
    }

    static final String IMAGE_URL = "url";
    static final String IMAGE_B64 = "b64_json";
    /** OpenAI's limits: DALL-E 3 takes 4,000 characters of prompt, gpt-image-1 32,000; n is 1-10. */
    static final int MAX_IMAGE_PROMPT = 32_000;
    static final int MAX_IMAGES = 10;
    private static final Pattern IMAGE_SIZE = Pattern.compile("auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4}");

    /**
     * {@code /v1/inference/images/generate} and {@code /oai/v1/images/generations}: OpenAI's image request. What
     * sizes, qualities and styles a model knows is its upstream's to say; the gateway checks the shapes, so a
     * typo is a 400 here and not a charge. Streamed partial images are not offered.
     */
    public static Parsed images(JsonNode raw) {
        ObjectNode body = object(raw);
        Problems p = new Problems();
        String model = model(body, p);
        JsonNode prompt = body.get("prompt");
        if (prompt == null || !prompt.isTextual() || prompt.asText().isBlank()) {
            p.add("prompt", "prompt must be a non-empty string");
        } else if (prompt.asText().length() > MAX_IMAGE_PROMPT) {
            p.add("prompt", "prompt must be at most " + MAX_IMAGE_PROMPT + " characters");
        }
        intRange(body, "n", 1, MAX_IMAGES, p);
        JsonNode size = body.get("size");
        if (size != null && !size.isNull() && !(size.isTextual() && IMAGE_SIZE.matcher(size.asText()).matches())) {
            p.add("size", "size must be \"auto\" or WIDTHxHEIGHT in pixels, such as \"1024x1024\"");
        }
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull()
                && !(format.isTextual() && (IMAGE_URL.equals(format.asText()) || IMAGE_B64.equals(format.asText())))) {
            p.add("response_format", "response_format must be \"url\" or \"b64_json\"");
        }
        for (String field : List.of("quality", "style", "output_format", "background", "moderation", "user")) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull() && (!v.isTextual() || v.asText().isEmpty() || v.asText().length() > 64)) {
                p.add(field, field + " must be a non-empty string of at most 64 characters");
            }
        }
        intRange(body, "output_compression", 0, 100, p);
        JsonNode stream = body.get("stream");
        if (stream != null && !stream.isNull() && !(stream.isBoolean() && !stream.asBoolean())) {
            p.add("stream", "streamed image generation is not supported: leave stream unset or false");
        }
        JsonNode partial = body.get("partial_images");
        if (partial != null && !partial.isNull() && !(partial.isIntegralNumber() && partial.asInt() == 0)) {
            p.add("partial_images", "partial images are only streamed, and streaming is not supported");
        }
        p.throwIfAny();
        ObjectNode out = body.deepCopy();
        out.remove("model");
        out.remove("stream");
        out.remove("partial_images");
        return new Parsed(model, false, false, out, Math.max(1, prompt.asText().length() / 4), null);
    }

    /**
     * OpenAI's moderation request: {@code input} a string, a list of strings, or a list of parts ({@code {type: text,
     * text}}, {@code {type: image_url, image_url: {url}}}, what omni-moderation takes); the model names the classifier.
     */
    public static Parsed moderation(JsonNode raw) {
        ObjectNode body = object(raw);
        Problems p = new Problems();
        String model = model(body, p);
        JsonNode input = body.get("input");
        long chars = 0;
        if (input != null && input.isTextual()) {
            chars = input.asText().length();
        } else if (input == null || !input.isArray() || input.isEmpty()) {
            p.add("input", "input must be a string, or a non-empty list of strings or of text and image_url parts");
        } else {
            boolean strings = input.get(0).isTextual();
            for (int i = 0; i < input.size(); i++) {
                JsonNode item = input.get(i);
                String field = "input[" + i + "]";
                if (strings) {
                    if (!item.isTextual()) {
                        p.add(field, "input must be all strings or all parts, not both");
                        break;
                    }
                    chars += item.asText().length();
                    continue;
                }
                String type = item.path("type").asText("");
                if ("text".equals(type) && item.path("text").isTextual()) {
                    chars += item.path("text").asText().length();
                } else if ("image_url".equals(type) && item.path("image_url").path("url").isTextual()
                        && !item.path("image_url").path("url").asText().isBlank()) {
                    chars += 4 * 85; // an image counts as OpenAI's low-detail tile
                } else {
                    p.add(field, "a part is {\"type\": \"text\", \"text\": ...} or "
                            + "{\"type\": \"image_url\", \"image_url\": {\"url\": ...}}");
                    break;
                }
            }
        }
        p.throwIfAny();
        ObjectNode out = body.deepCopy();
        out.remove("model");
        return new Parsed(model, false, false, out, (int) Math.max(1, Math.min(Integer.MAX_VALUE, chars / 4)), null);
    }

    static final Set<String> SPEECH_FORMATS = Set.of("mp3", "opus", "aac", "flac", "wav", "pcm");
    static final Set<String> TRANSCRIPTION_FORMATS = Set.of("json", "text", "srt", "verbose_json", "vtt");
    static final int MAX_SPEECH_INPUT = 4096;

    /**
     * {@code /v1/inference/audio/speech} and {@code /oai/v1/audio/speech}: OpenAI's text-to-speech request. The voice
     * is a name (which voices a model has is its upstream's to say) or OpenAI's {@code {"id": ...}} of a custom voice.
     */
    public static Parsed speech(JsonNode raw) {
        ObjectNode body = object(raw);
        Problems p = new Problems();
        String model = model(body, p);
        JsonNode input = body.get("input");
        if (input == null || !input.isTextual() || input.asText().isBlank()) {
            p.add("input", "input must be a non-empty string (the text to speak)");
        } else if (input.asText().length() > MAX_SPEECH_INPUT) {
            p.add("input", "input must be at most " + MAX_SPEECH_INPUT + " characters");
        }
        JsonNode voice = body.get("voice");
        boolean named = voice != null && voice.isTextual() && !voice.asText().isBlank() && voice.asText().length() <= 64;
        boolean custom = voice != null && voice.isObject() && voice.path("id").isTextual() && !voice.path("id").asText().isBlank();
        if (!named && !custom) {
            p.add("voice", "voice is required: a voice name such as \"alloy\", or {\"id\": ...} of a custom voice");
        }
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull() && !(format.isTextual() && SPEECH_FORMATS.contains(format.asText()))) {
            p.add("response_format", "response_format must be one of mp3, opus, aac, flac, wav, pcm");
        }
        range(body, "speed", 0.25, 4.0, p);
        JsonNode instructions = body.get("instructions");
        if (instructions != null && !instructions.isNull() && (!instructions.isTextual() || instructions.asText().length() > 4096)) {
            p.add("instructions", "instructions must be a string of at most 4096 characters");
        }
        JsonNode streamFormat = body.get("stream_format");
        if (streamFormat != null && !streamFormat.isNull()
                && !(streamFormat.isTextual() && ("audio".equals(streamFormat.asText()) || "sse".equals(streamFormat.asText())))) {
            p.add("stream_format", "stream_format must be \"audio\" (the audio as it is made) or \"sse\" (server-sent events)");
        }
        p.throwIfAny();
        ObjectNode out = body.deepCopy();
        out.remove("model");
        return new Parsed(model, false, false, out, Math.max(1, input.asText().length() / 4), null);
    }

    /** The form field a transcription request's upload stands in as, for validation: {@code {"filename", "bytes"}}. */
    static final String UPLOAD_FIELD = "file";

    /**
     * {@code /v1/inference/audio/transcriptions} and {@code /oai/v1/audio/transcriptions}: the fields of OpenAI's
     * multipart transcription request (all strings on the wire), with the upload described in {@link #UPLOAD_FIELD}.
     * The upstream gets them as they came, the upload aside, with {@code temperature} checked as a number.
     * {@code stream} ("true") asks for the transcript as server-sent events (gpt-4o-transcribe); a translation is
     * never streamed.
     */
    public static Parsed transcription(JsonNode raw, boolean translation) {
        ObjectNode body = object(raw);
        Problems p = new Problems();
        String model = model(body, p);
        JsonNode upload = body.remove(UPLOAD_FIELD);
        if (upload == null || !upload.path("bytes").canConvertToLong() || upload.path("bytes").asLong() <= 0) {
            p.add(UPLOAD_FIELD, "file is required: the audio to transcribe, as a multipart/form-data file part");
        }
        JsonNode format = body.get("response_format");
        if (format != null && !TRANSCRIPTION_FORMATS.contains(format.asText())) {
            p.add("response_format", "response_format must be one of json, text, srt, verbose_json, vtt");
        }
        JsonNode temperature = body.get("temperature");
        if (temperature != null) {
            double t;
            try {
                t = Double.parseDouble(temperature.asText());
            } catch (NumberFormatException e) {
                t = Double.NaN;
            }
            if (!(t >= 0 && t <= 1)) {
                p.add("temperature", "temperature must be a number from 0 to 1");
            }
        }
        JsonNode language = body.get("language");
        if (language != null && !language.asText().matches("[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?")) {
            p.add("language", "language must be an ISO-639 code such as \"en\"");
        }
        JsonNode stream = body.get("stream");
        boolean streamed = stream != null && "true".equals(stream.asText());
        if (stream != null && !streamed && !"false".equals(stream.asText())) {
            p.add("stream", "stream must be true or false");
        } else if (streamed && translation) {
            p.add("stream", "a translation is not streamed: leave stream unset or false");
        }
        body.fields().forEachRemaining(field -> {
            JsonNode v = field.getValue();
            int length = v.isArray() ? v.toString().length() : v.asText().length();
            if (length > 4096) {
                p.add(field.getKey(), field.getKey() + " must be at most 4096 characters");
            }
        });
        p.throwIfAny();
        ObjectNode out = body.deepCopy();
        out.remove("model");
        out.remove("stream");
        if (streamed) {
            out.put("stream", "true"); // a form field for the upstream
        }
        JsonNode prompt = out.get("prompt");
        return new Parsed(model, streamed, false, out, prompt == null ? 0 : prompt.asText().length() / 4, null);
    }

    static final int MAX_EDIT_IMAGES = 16;

    /**
     * {@code /v1/inference/images/edits} and {@code /oai/v1/images/edits}: the form fields of OpenAI's image edit (all
     * strings on the wire; numbers and flags are read as such), with the uploads described by the API layer in
     * {@code image} (a list of {@code {filename, bytes}}) and {@code mask}. The fields are checked as an image request's.
     */
    public static Parsed imageEdit(JsonNode raw) {
        ObjectNode body = object(raw).deepCopy();
        JsonNode images = body.remove("image");
        body.remove("mask");
        formIntegers(body, "n", "output_compression", "partial_images");
        JsonNode stream = body.get("stream");
        if (stream != null && stream.isTextual() && ("true".equals(stream.asText()) || "false".equals(stream.asText()))) {
            body.put("stream", Boolean.parseBoolean(stream.asText()));
        }
        if (images == null || !images.isArray() || images.isEmpty()) {
            throw ApiException.validation("image", "image is required: one or more image files (image, or image[] parts)");
        }
        if (images.size() > MAX_EDIT_IMAGES) {
            throw ApiException.validation("image", "at most " + MAX_EDIT_IMAGES + " images can be edited together");
        }
        return images(body);
    }

    /** Form fields that hold integers, read as such (a form sends every field as a string); anything else stays for validation. */
    private static void formIntegers(ObjectNode body, String... fields) {
        for (String field : fields) {
            JsonNode v = body.get(field);
            if (v != null && v.isTextual() && v.asText().matches("-?[0-9]{1,9}")) {
                body.put(field, Integer.parseInt(v.asText()));
            }
        }
    }

    /**
     * {@code /v1/inference/images/variations} and {@code /oai/v1/images/variations}: the form fields of OpenAI's image
     * variation (DALL-E 2: one square PNG, no prompt), with the upload described by the API layer in {@code image}
     * (a list of {@code {filename, bytes}}). {@code n} 1-10, {@code size}, {@code response_format} and {@code user}
     * are checked as an image request's; a prompt has no place here.
     */
    public static Parsed imageVariation(JsonNode raw) {
        ObjectNode body = object(raw).deepCopy();
        JsonNode images = body.remove("image");
        formIntegers(body, "n");
        if (images == null || !images.isArray() || images.isEmpty()) {
            throw ApiException.validation("image", "image is required: the image to make variations of (one image part)");
        }
        if (images.size() > 1) {
            throw ApiException.validation("image", "a variation is made of one image; send one image part");
        }
        if (body.has("prompt")) {
            throw ApiException.validation("prompt", "an image variation takes no prompt; use /images/edits to change an image by a prompt");
        }
        for (String field : List.of("quality", "style", "output_format", "background", "moderation", "output_compression",
                "partial_images", "stream")) {
            if (body.has(field)) {
                throw ApiException.validation(field, field + " is not a field of an image variation");
            }
        }
        // checked as an image request, with a stand-in prompt that is not sent
        Parsed checked = images(body.deepCopy().put("prompt", "variation"));
        ObjectNode out = checked.body();
        out.remove("prompt");
        return new Parsed(checked.model(), false, false, out, 0, null);
    }

    /** How many choices a validated chat body (or images an image request) asks for ({@code n}, 1 when absent). */
    public static int choices(JsonNode body) {
        JsonNode n = body == null ? null : body.get("n");
        int each = n == null || n.isNull() ? 1 : n.asInt();
        // a text completion of several prompts answers n choices for each (a list of token ids is one prompt)
        JsonNode prompt = body == null ? null : body.get("prompt");
        boolean several = prompt != null && prompt.isArray() && !prompt.isEmpty() && !prompt.get(0).isIntegralNumber();
        return several ? each * prompt.size() : each;
    }

    /** Validates one input given as token ids (integers 0..2^31-1); returns how many there are. */
    private static int tokenIds(JsonNode ids, String field, Problems p) {
        if (ids.isEmpty()) {
            p.add(field, "an input of token ids must not be empty");
            return 0;
        }
        for (JsonNode id : ids) {
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0) {
                p.add(field, "token ids must be non-negative integers");
                return 0;
            }
        }
        return ids.size();
    }

    private static Parsed finish(ObjectNode body, String model, int chars) {
        boolean stream = body.path("stream").asBoolean(false);
        boolean includeUsage = body.path("stream_options").path("include_usage").asBoolean(false);
        Integer maxTokens = null;
        if (body.hasNonNull("max_completion_tokens")) {
            maxTokens = body.get("max_completion_tokens").asInt();
        } else if (body.hasNonNull("max_tokens")) {
            maxTokens = body.get("max_tokens").asInt();
        }
        ObjectNode out = body.deepCopy();
        out.remove("model");
        out.remove("stream");
        out.remove("stream_options");
        return new Parsed(model, stream, includeUsage, out, Math.max(1, chars / 4), maxTokens);
    }

    private static ObjectNode object(JsonNode raw) {
        if (raw == null || !raw.isObject()) {
            throw new ApiException(ErrorCode.VALIDATION_ERROR, "The request body must be a JSON object",
                    List.of(Map.of("field", "body", "message", "The request body must be a JSON object")));
        }
        return (ObjectNode) raw;
    }

    private static String model(ObjectNode body, Problems p) {
        JsonNode model = body.get("model");
        if (model == null || !model.isTextual() || model.asText().isBlank()) {
            p.add("model", "model is required (a model slug such as openai/gpt-4o)");
            return null;
        }
        if (model.asText().length() > 256) {
            p.add("model", "model is too long");
        }
        return model.asText();
    }

    private static int message(JsonNode m, String field, Problems p) {
        if (!m.isObject()) {
            p.add(field, "each message must be an object with role and content");
            return 0;
        }
        JsonNode role = m.get("role");
        if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
            p.add(field + ".role", "role must be one of system, developer, user, assistant, tool");
            return 0;
        }
        JsonNode content = m.get("content");
        boolean hasToolCalls = m.path("tool_calls").isArray() && !m.path("tool_calls").isEmpty();
        int chars = 0;
        if (content == null || content.isNull()) {
            if (!("assistant".equals(role.asText()) && hasToolCalls)) {
                p.add(field + ".content", "content is required");
            }
        } else if (content.isTextual()) {
            chars += content.asText().length();
        } else if (content.isArray()) {
            for (int i = 0; i < content.size(); i++) {
                JsonNode part = content.get(i);
                if (!part.isObject() || !part.path("type").isTextual()) {
                    p.add(field + ".content", "content parts must be objects with a type");
                    break;
                }
                cacheControl(part, field + ".content[" + i + "]", p);
                chars += part.path("text").asText("").length();
            }
        } else {
            p.add(field + ".content", "content must be a string or an array of content parts");
        }
        if ("tool".equals(role.asText()) && !m.path("tool_call_id").isTextual()) {
            p.add(field + ".tool_call_id", "a tool message needs tool_call_id");
        }
        if (hasToolCalls) {
            chars += m.get("tool_calls").toString().length();
        }
        for (String name : List.of("reasoning_content", "reasoning")) {
            string(m, name, field + "." + name, p);
            chars += m.path(name).isTextual() ? m.get(name).asText().length() : 0;
        }
        chars += thinkingBlocks(m.get("thinking_blocks"), field + ".thinking_blocks", p);
        cacheControl(m, field, p);
        return chars;
    }

    /** The prompt-cache breakpoint types and lifetimes Anthropic (and Qwen's explicit cache) take. */
    private static final Set<String> CACHE_TTLS = Set.of("5m", "1h");

    /** Whether a validated request marks a prompt-cache breakpoint anywhere: on a message, a content part or a tool. */
    public static boolean marksCache(JsonNode body) {
        for (JsonNode m : body.path("messages")) {
            if (m.has("cache_control")) {
                return true;
            }
            for (JsonNode part : m.path("content")) {
                if (part.has("cache_control")) {
                    return true;
                }
            }
        }
        for (JsonNode t : body.path("tools")) {
            if (t.has("cache_control")) {
                return true;
            }
        }
        return false;
    }

    /**
     * A prompt-cache breakpoint on a message, content part or tool: {@code cache_control: {"type": "ephemeral"}},
     * optionally with {@code ttl} {@code 5m} or {@code 1h}. Backends that cache on such marks (Anthropic,
     * Qwen) get it; the hosted OpenAI-style APIs, which cache on their own, do not.
     */
    private static void cacheControl(JsonNode holder, String field, Problems p) {
        JsonNode cache = holder.get("cache_control");
        if (cache == null || cache.isNull()) {
            return;
        }
        JsonNode ttl = cache.path("ttl");
        if (!cache.isObject() || !"ephemeral".equals(cache.path("type").asText())
                || !(ttl.isMissingNode() || ttl.isNull() || (ttl.isTextual() && CACHE_TTLS.contains(ttl.asText())))) {
            p.add(field + ".cache_control", "cache_control must be {\"type\": \"ephemeral\"}, optionally with ttl 5m or 1h");
        }
    }

    /**
     * An assistant message's {@code thinking_blocks}: what an Anthropic backend's extended thinking
     * returned, sent back as received so the next turn can continue it (its signature is checked
     * upstream). Each is {@code {type: thinking, thinking, signature}} or {@code {type: redacted_thinking, data}};
     * other types pass, for block types added later.
     */
    private static int thinkingBlocks(JsonNode blocks, String field, Problems p) {
        if (blocks == null || blocks.isNull()) {
            return 0;
        }
        if (!blocks.isArray()) {
            p.add(field, "thinking_blocks must be an array");
            return 0;
        }
        int chars = 0;
        for (int i = 0; i < blocks.size(); i++) {
            JsonNode b = blocks.get(i);
            String type = b.path("type").asText("");
            boolean ok = b.path("type").isTextual() && !type.isEmpty() && switch (type) {
                case "thinking" -> b.path("thinking").isTextual() && b.path("signature").isTextual();
                case "redacted_thinking" -> b.path("data").isTextual();
                default -> true; // a block type added later: providers that do not know it leave it out
            };
            if (!ok) {
                p.add(field + "[" + i + "]", "a thinking block is an object with a type: {type: thinking, thinking, "
                        + "signature} or {type: redacted_thinking, data}, each a string");
                return chars;
            }
            chars += b.path("thinking").asText("").length() + b.path("data").asText("").length();
        }
        return chars;
    }

    private static void common(ObjectNode body, Problems p) {
        positiveInt(body, "max_tokens", p);
        positiveInt(body, "max_completion_tokens", p);
        range(body, "temperature", 0, 2, p);
        range(body, "top_p", 0, 1, p);
        range(body, "presence_penalty", -2, 2, p);
        range(body, "frequency_penalty", -2, 2, p);
        JsonNode stream = body.get("stream");
        if (stream != null && !stream.isNull() && !stream.isBoolean()) {
            p.add("stream", "stream must be true or false");
        }
        intRange(body, "n", 1, MAX_CHOICES, p);
        JsonNode seed = body.get("seed");
        if (seed != null && !seed.isNull() && !seed.isIntegralNumber()) {
            p.add("seed", "seed must be an integer");
        }
        JsonNode stop = body.get("stop");
        if (stop != null && !stop.isNull()) {
            boolean ok = stop.isTextual() || (stop.isArray() && stop.size() <= 4);
            if (ok && stop.isArray()) {
                for (JsonNode s : stop) {
                    ok &= s.isTextual();
                }
            }
            if (!ok) {
                p.add("stop", "stop must be a string or an array of up to 4 strings");
            }
        }
        JsonNode metadata = body.get("metadata");
        if (metadata != null && !metadata.isNull()) {
            // OpenAI's limits: it travels to upstreams and nodes with every call
            boolean ok = metadata.isObject() && metadata.size() <= 16;
            if (ok) {
                for (var it = metadata.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    ok &= e.getKey().length() <= 64 && e.getValue().isTextual() && e.getValue().asText().length() <= 512;
                }
            }
            if (!ok) {
                p.add("metadata", "metadata must be an object of up to 16 strings (keys up to 64 characters, values up to 512)");
            }
        }
        JsonNode streamOptions = body.get("stream_options");
        if (streamOptions != null && !streamOptions.isNull()) {
            if (!streamOptions.isObject()) {
                p.add("stream_options", "stream_options must be an object such as {\"include_usage\": true}");
            } else if (streamOptions.has("include_usage") && !streamOptions.get("include_usage").isBoolean()
                    && !streamOptions.get("include_usage").isNull()) {
                p.add("stream_options.include_usage", "include_usage must be true or false");
            }
        }
        // OpenAI parameters passed through to OpenAI-style upstreams: only their types are checked here, so a
        // wrong one is the same 400 whichever backend the model routes to (others ignore them)
        for (String field : List.of("logprobs", "parallel_tool_calls", "store")) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull() && !v.isBoolean()) {
                p.add(field, field + " must be true or false");
            }
        }
        for (String field : List.of("user", "reasoning_effort", "service_tier")) {
            string(body, field, p);
        }
        intRange(body, "top_logprobs", 0, 20, p);
        JsonNode logitBias = body.get("logit_bias");
        if (logitBias != null && !logitBias.isNull()) {
            boolean ok = logitBias.isObject();
            if (ok) {
                for (JsonNode v : logitBias) {
                    ok &= v.isNumber() && v.asDouble() >= -100 && v.asDouble() <= 100;
                }
            }
            if (!ok) {
                p.add("logit_bias", "logit_bias must map token ids to numbers from -100 to 100");
            }
        }
    }

    private static void positiveInt(ObjectNode body, String field, Problems p) {
        JsonNode v = body.get(field);
        if (v != null && !v.isNull() && (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 1)) {
            p.add(field, field + " must be a positive integer");
        }
    }

    private static void intRange(ObjectNode body, String field, int min, int max, Problems p) {
        JsonNode v = body.get(field);
        if (v != null && !v.isNull() && (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || v.asInt() > max)) {
            p.add(field, field + " must be an integer from " + min + " to " + max);
        }
    }

    private static void string(JsonNode body, String field, Problems p) {
        string(body, field, field, p);
    }

    /** {@code name} of {@code node}, reported as {@code field} (e.g. {@code messages[1].reasoning_content}). */
    private static void string(JsonNode node, String name, String field, Problems p) {
        JsonNode v = node.get(name);
        if (v != null && !v.isNull() && !v.isTextual()) {
            p.add(field, name + " must be a string");
        }
    }

    private static void range(ObjectNode body, String field, double min, double max, Problems p) {
        JsonNode v = body.get(field);
        // written so that NaN (a gRPC float can carry it; JSON cannot) fails too
        if (v != null && !v.isNull() && (!v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max))) {
            p.add(field, field + " must be a number from " + trim(min) + " to " + trim(max));
        }
    }

    private static String trim(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }

    static ObjectNode newObject() {
        return JsonNodeFactory.instance.objectNode();
    }
}
