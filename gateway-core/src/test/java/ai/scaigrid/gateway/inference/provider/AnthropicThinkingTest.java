package ai.scaigrid.gateway.inference.provider;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Extended thinking in AnthropicProvider's translation, where the HTTP tests (HostedProvidersTest) do not
 * reach: thinking interleaved with tool use in a stream, a thinking block that starts with text, an answer
 * with only redacted thinking, an assistant turn of thinking and tool calls only.
 */
class AnthropicThinkingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static AnthropicProvider provider() {
        AnthropicProvider provider = new AnthropicProvider();
        provider.mapper = JSON;
        return provider;
    }

    private static ObjectNode json(String text) {
        try {
            return (ObjectNode) JSON.readTree(text.replace('\'', '"'));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<JsonNode> deltas(String... events) {
        AnthropicProvider.StreamTranslator translator = provider().new StreamTranslator("test/claude");
        List<ObjectNode> chunks = new ArrayList<>();
        for (String event : events) {
            byte[] data = event.replace('\'', '"').getBytes(StandardCharsets.UTF_8);
            translator.onEvent(null, data, data.length, chunks::add);
        }
        return chunks.stream().map(c -> c.path("choices").path(0).path("delta")).toList();
    }

    /** Interleaved thinking (Claude 4 between tool calls): a thinking block after a tool_use block, started with text. */
    @Test
    void thinkingBetweenToolCallsStreamsInItsPlace() {
        List<JsonNode> deltas = deltas(
                "{'type':'message_start','message':{'id':'msg_1','usage':{'input_tokens':3,'output_tokens':1}}}",
                "{'type':'content_block_start','index':0,'content_block':{'type':'tool_use','id':'toolu_1','name':'f','input':{}}}",
                "{'type':'content_block_delta','index':0,'delta':{'type':'input_json_delta','partial_json':'{}'}}",
                "{'type':'content_block_stop','index':0}",
                "{'type':'content_block_start','index':1,'content_block':{'type':'thinking','thinking':'Now ','signature':''}}",
                "{'type':'content_block_delta','index':1,'delta':{'type':'thinking_delta','thinking':'g.'}}",
                "{'type':'content_block_delta','index':1,'delta':{'type':'signature_delta','signature':'s2'}}",
                "{'type':'content_block_stop','index':1}",
                "{'type':'content_block_start','index':2,'content_block':{'type':'tool_use','id':'toolu_2','name':'g','input':{}}}",
                "{'type':'content_block_stop','index':2}");
        assertThat(deltas.get(0).path("role").asText()).isEqualTo("assistant");
        assertThat(deltas.get(0).path("tool_calls").path(0).path("index").asInt()).isZero();
        assertThat(deltas.get(2)).isEqualTo(json("{'reasoning_content':'Now '}"));
        assertThat(deltas.get(3)).isEqualTo(json("{'reasoning_content':'g.'}"));
        assertThat(deltas.get(4)).isEqualTo(json("{'thinking_blocks':[{'type':'thinking','thinking':'Now g.','signature':'s2'}]}"));
        assertThat(deltas.get(5).path("tool_calls").path(0).path("index").asInt()).as("tool call indices count tool calls only")
                .isEqualTo(1);
        assertThat(deltas).hasSize(6);
    }

    @Test
    void onlyRedactedThinkingGivesThinkingBlocksWithoutReasoningContent() {
        ObjectNode completion = AnthropicProvider.completion(json("{'id':'msg_1','content':["
                + "{'type':'redacted_thinking','data':'opaque'},"
                + "{'type':'tool_use','id':'toolu_1','name':'f','input':{'a':1}}],'stop_reason':'tool_use'}"), "test/claude");
        JsonNode message = completion.path("choices").path(0).path("message");
        assertThat(message.has("reasoning_content")).isFalse();
        assertThat(message.get("thinking_blocks")).isEqualTo(json("{'b':[{'type':'redacted_thinking','data':'opaque'}]}").get("b"));
        assertThat(message.path("tool_calls").path(0).path("function").path("arguments").asText()).isEqualTo("{\"a\":1}");
        assertThat(message.get("content").isNull()).isTrue();
    }

    @Test
    void anAssistantTurnOfThinkingAndToolCallsOnlyKeepsThinkingFirst() {
        ObjectNode body = json("{'messages':[{'role':'user','content':'q'},"
                + "{'role':'assistant','content':null,'reasoning_content':'r',"
                + "'thinking_blocks':[{'type':'thinking','thinking':'t','signature':'s'},{'type':'text','text':'x'}],"
                + "'tool_calls':[{'id':'c1','type':'function','function':{'name':'f','arguments':'{}'}}]},"
                + "{'role':'tool','tool_call_id':'c1','content':'ok'}],"
                + "'reasoning_effort':'low','tools':[{'type':'function','function':{'name':'f'}}]}");
        BackendTarget backend = new BackendTarget("b1", "b", "anthropic", "claude-x", JSON.createObjectNode(), Map.of(), 0, 100);
        ProviderCall call = new ProviderCall("req-1", null, null, null, "test/claude", body, 0, 2000);
        ObjectNode sent = provider().messagesRequest(backend, call, false);
        assertThat(sent.get("thinking")).isEqualTo(json("{'type':'adaptive'}"));
        assertThat(sent.get("output_config")).isEqualTo(json("{'effort':'low'}"));
        assertThat(sent.path("messages").path(1).get("content")).isEqualTo(json("{'c':[{'type':'thinking','thinking':'t','signature':'s'},"
                + "{'type':'tool_use','id':'c1','name':'f','input':{}}]}").get("c"));
    }
}
