package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * What a chat request may carry besides messages: the optional OpenAI parameters that providers act on
 * (tool_choice, response_format, stream_options) or pass through (logprobs, user, logit_bias ...). A
 * malformed one is a 400 naming the field, whatever backend the model routes to; what the official SDKs
 * and common frameworks send passes.
 */
class InferenceRequestsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}]";

    private static ObjectNode chat(String extraFields) throws Exception {
        return (ObjectNode) JSON.readTree("{\"model\":\"m/x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
                + (extraFields.isEmpty() ? "" : "," + extraFields) + "}");
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "\"tool_choice\":\"auto\"",
            "\"tool_choice\":\"none\"",
            "\"tools\":" + TOOLS + ",\"tool_choice\":\"required\"",
            "\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}",
            "\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\",\"tools\":[]}}",
            "\"tools\":" + TOOLS + ",\"parallel_tool_calls\":false",
            "\"response_format\":{\"type\":\"text\"}",
            "\"response_format\":{\"type\":\"json_object\"}",
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"reply-1_x\",\"strict\":true,"
                    + "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}}}",
            "\"stream\":true,\"stream_options\":{\"include_usage\":true}",
            "\"stream_options\":null,\"response_format\":null,\"tool_choice\":null,\"user\":null",
            "\"logprobs\":true,\"top_logprobs\":5",
            "\"logit_bias\":{\"50256\":-100,\"15\":2.5}",
            "\"user\":\"user-123\",\"store\":false,\"reasoning_effort\":\"low\",\"service_tier\":\"auto\"",
            "\"metadata\":{\"trace\":\"abc\",\"team\":\"search\"}",
            // a reasoning model's answer sent back as received: its thinking, and Anthropic's thinking blocks
            "\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\","
                    + "\"reasoning_content\":\"Add them.\",\"reasoning\":null,\"thinking_blocks\":[{\"type\":\"thinking\","
                    + "\"thinking\":\"Add them.\",\"signature\":\"EqQB\"},{\"type\":\"redacted_thinking\",\"data\":\"EmwK\"},{\"type\":\"later_kind\"}]},"
                    + "{\"role\":\"user\",\"content\":\"and 3+3?\"}]",
    })
    void whatClientsSendPasses(String fields) throws Exception {
        InferenceRequests.Parsed parsed = InferenceRequests.chat(chat(fields));
        assertThat(parsed.model()).isEqualTo("m/x");
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
            "\"tool_choice\":\"always\"                                                   | tool_choice",
            "\"tool_choice\":5                                                            | tool_choice",
            "\"tool_choice\":{}                                                           | tool_choice",
            "\"tool_choice\":\"required\"                                                 | tool_choice",
            "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}} | tool_choice",
            "\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"other\"}} | tool_choice.function.name",
            "\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{}} | tool_choice",
            "\"tools\":" + TOOLS + ",\"tool_choice\":{\"type\":\"allowed_tools\"}         | tool_choice.allowed_tools",
            "\"response_format\":\"json\"                                                 | response_format",
            "\"response_format\":true                                                     | response_format",
            "\"response_format\":{}                                                       | response_format",
            "\"response_format\":{\"type\":\"xml\"}                                       | response_format",
            "\"response_format\":{\"type\":\"json_schema\"}                               | response_format.json_schema",
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":\"{}\"}        | response_format.json_schema",
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}} | response_format.json_schema.name",
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"has space\"}} | response_format.json_schema.name",
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"r\",\"schema\":5}} | response_format.json_schema.schema",
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"r\",\"strict\":\"yes\"}} | response_format.json_schema.strict",
            "\"stream_options\":true                                                      | stream_options",
            "\"stream_options\":{\"include_usage\":\"yes\"}                               | stream_options.include_usage",
            "\"logprobs\":1                                                               | logprobs",
            "\"parallel_tool_calls\":\"no\"                                               | parallel_tool_calls",
            "\"store\":[]                                                                 | store",
            "\"user\":42                                                                  | user",
            "\"reasoning_effort\":{}                                                      | reasoning_effort",
            "\"service_tier\":true                                                        | service_tier",
            "\"top_logprobs\":21                                                          | top_logprobs",
            "\"top_logprobs\":1.5                                                         | top_logprobs",
            "\"logit_bias\":[1]                                                           | logit_bias",
            "\"logit_bias\":{\"1\":101}                                                   | logit_bias",
            "\"logit_bias\":{\"1\":\"x\"}                                                 | logit_bias",
            "\"metadata\":{\"a\":1}                                                        | metadata",
            "\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"reasoning_content\":5}] | messages[0].reasoning_content",
            "\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"reasoning\":{}}] | messages[0].reasoning",
            "\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"thinking_blocks\":{}}] | messages[0].thinking_blocks",
            "\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"t\"}]}] | messages[0].thinking_blocks[0]",
            "\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"thinking_blocks\":[{\"type\":\"redacted_thinking\",\"data\":\"d\"},\"x\"]}] | messages[0].thinking_blocks[1]",
            "\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"thinking_blocks\":[{\"thinking\":\"t\",\"signature\":\"s\"}]}] | messages[0].thinking_blocks[0]",
            "\"messages\":[{\"role\":\"assistant\",\"content\":\"x\",\"thinking_blocks\":[{\"type\":\"\",\"thinking\":\"t\"}]}] | messages[0].thinking_blocks[0]",
            "\"metadata\":{\"a\":\"%s\"}                                                   | metadata",
            "\"metadata\":{\"k1\":\"v\",\"k2\":\"v\",\"k3\":\"v\",\"k4\":\"v\",\"k5\":\"v\",\"k6\":\"v\",\"k7\":\"v\",\"k8\":\"v\",\"k9\":\"v\",\"k10\":\"v\",\"k11\":\"v\",\"k12\":\"v\",\"k13\":\"v\",\"k14\":\"v\",\"k15\":\"v\",\"k16\":\"v\",\"k17\":\"v\"} | metadata",
    })
    void malformedOptionalParametersAreRefusedByName(String fields, String field) throws Exception {
        String body = fields.trim().replace("%s", "x".repeat(513));
        ApiException e = catchThrowableOfType(ApiException.class, () -> InferenceRequests.chat(chat(body)));
        assertRefusedOn(e, fields, field.trim());
    }

    /** A 400 VALIDATION_ERROR whose first detail names {@code field}. */
    private static void assertRefusedOn(ApiException e, String request, String field) {
        assertThat(e).as("refused: %s", request).isNotNull();
        assertThat(e.errorCode()).isEqualTo(ErrorCode.VALIDATION_ERROR);
        assertThat(e.details()).isInstanceOfSatisfying(List.class, details -> assertThat(details.get(0))
                .isInstanceOfSatisfying(Map.class, d -> assertThat(d.get("field")).isEqualTo(field)));
    }

    /** generate passes tools, tool_choice and response_format on like chat, so they are checked alike; embeddings check user. */
    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
            "generate | \"tools\":true                    | tools",
            "generate | \"response_format\":\"json\"      | response_format",
            "generate | \"tool_choice\":\"required\"      | tool_choice",
            "embed    | \"user\":42                       | user",
    })
    void generateAndEmbedCheckWhatTheyPassOn(String endpoint, String fields, String field) throws Exception {
        String body = endpoint.trim().equals("generate")
                ? "{\"model\":\"m/x\",\"prompt\":\"hi\"," + fields.trim() + "}"
                : "{\"model\":\"m/x\",\"input\":\"hi\"," + fields.trim() + "}";
        JsonNode raw = JSON.readTree(body);
        ApiException e = catchThrowableOfType(ApiException.class,
                () -> { if (endpoint.trim().equals("generate")) InferenceRequests.generate(raw); else InferenceRequests.embed(raw); });
        assertRefusedOn(e, body, field.trim());
        JsonNode ok = JSON.readTree(endpoint.trim().equals("generate")
                ? "{\"model\":\"m/x\",\"prompt\":\"hi\",\"response_format\":{\"type\":\"json_object\"}}"
                : "{\"model\":\"m/x\",\"input\":\"hi\",\"user\":\"u-1\"}");
        assertThat(endpoint.trim().equals("generate") ? InferenceRequests.generate(ok).model() : InferenceRequests.embed(ok).model())
                .isEqualTo("m/x");
    }

    /** A gRPC request's float can be NaN (JSON cannot carry one): it must fail the range check, not pass it. */
    @ParameterizedTest
    @ValueSource(strings = {"temperature", "top_p", "presence_penalty", "frequency_penalty"})
    void notANumberIsOutOfEveryRange(String field) throws Exception {
        ObjectNode body = chat("");
        body.put(field, Double.NaN);
        ApiException e = catchThrowableOfType(ApiException.class, () -> InferenceRequests.chat(body));
        assertThat(e).isNotNull();
        assertThat(e.errorCode()).isEqualTo(ErrorCode.VALIDATION_ERROR);
    }

    /** The OpenAI layer's parse of a streamed request keeps include_usage; the provider body carries neither stream field. */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void streamOptionsAreReadAndStripped(boolean includeUsage) throws Exception {
        InferenceRequests.Parsed parsed = InferenceRequests.chat(chat("\"stream\":true,\"stream_options\":{\"include_usage\":" + includeUsage + "}"));
        assertThat(parsed.stream()).isTrue();
        assertThat(parsed.includeUsage()).isEqualTo(includeUsage);
        JsonNode body = parsed.body();
        assertThat(body.has("stream")).isFalse();
        assertThat(body.has("stream_options")).isFalse();
    }

    /** The budget reserves a marked prompt at the cache-write price: every place a breakpoint may sit counts, nothing else. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]|false",
            "\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"cache_control\":{\"type\":\"ephemeral\"}}]|true",
            "\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"p\",\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}]},"
                    + "{\"role\":\"user\",\"content\":\"hi\"}]|true",
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"},\"cache_control\":{\"type\":\"ephemeral\"}}]|true",
            "\"metadata\":{\"cache_control\":\"not a breakpoint\"}|false",
    })
    void marksCacheFindsEveryBreakpoint(String fields, boolean marked) throws Exception {
        ObjectNode body = (ObjectNode) JSON.readTree("{\"model\":\"m/x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + fields + "}");
        InferenceRequests.chat(body);
        assertThat(InferenceRequests.marksCache(body)).isEqualTo(marked);
    }
}
