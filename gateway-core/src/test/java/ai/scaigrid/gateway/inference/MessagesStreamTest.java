package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Messages event stream from chat chunks as backends send them: Anthropic's content blocks never interleave, so
 * parallel tool calls whose chunks do, text that comes with a call's continuation, and calls all numbered 0 still
 * become whole, separate blocks, as the SDK's accumulator needs them.
 */
class MessagesStreamTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The blocks the SDK would assemble: index → type, id, name, and the text or the concatenated input JSON. */
    private record Block(String type, String id, String name, StringBuilder body) {
    }

    private final List<ObjectNode> events = new ArrayList<>();
    private final MessagesApi.Stream stream = new MessagesApi.Stream("m", 5, null, (type, event) -> events.add(event));

    private static ObjectNode chunk(String json) throws Exception {
        return (ObjectNode) JSON.readTree("{\"choices\":[" + json + "]}");
    }

    private static String call(int index, String id, String name, String args) {
        String function = (name == null ? "" : "\"name\":\"" + name + "\",") + "\"arguments\":" + JSON.valueToTree(args);
        return "{\"index\":" + index + (id == null ? "" : ",\"id\":\"" + id + "\"") + ",\"function\":{" + function + "}}";
    }

    private static String delta(String content, String... calls) {
        return "{\"index\":0,\"delta\":{" + (content == null ? "" : "\"content\":\"" + content + "\"")
                + (calls.length == 0 ? "" : (content == null ? "" : ",") + "\"tool_calls\":[" + String.join(",", calls) + "]") + "}}";
    }

    /** Checks the event grammar (a delta only to the open block, each block stopped once) and assembles the blocks. */
    private Map<Integer, Block> blocks() {
        Map<Integer, Block> out = new LinkedHashMap<>();
        Integer open = null;
        for (ObjectNode e : events) {
            switch (e.path("type").asText()) {
                case "content_block_start" -> {
                    assertThat(open).as("a block starts while %s is open", open).isNull();
                    open = e.path("index").asInt();
                    JsonNode b = e.get("content_block");
                    out.put(open, new Block(b.path("type").asText(), b.path("id").asText(), b.path("name").asText(),
                            new StringBuilder(b.path("text").asText(""))));
                }
                case "content_block_delta" -> {
                    assertThat(e.path("index").asInt()).isEqualTo(open);
                    JsonNode d = e.get("delta");
                    out.get(open).body().append(d.has("partial_json") ? d.get("partial_json").asText()
                            : d.has("text") ? d.get("text").asText() : d.path("thinking").asText(""));
                }
                case "content_block_stop" -> {
                    assertThat(e.path("index").asInt()).isEqualTo(open);
                    open = null;
                }
                default -> {
                }
            }
        }
        assertThat(open).isNull();
        return out;
    }

    private String stopReason() {
        return events.stream().filter(e -> e.path("type").asText().equals("message_delta")).findFirst().orElseThrow()
                .path("delta").path("stop_reason").asText();
    }

    @Test
    void interleavedParallelCallsBecomeWholeBlocks() throws Exception {
        stream.onChunk(chunk(delta(null, call(0, "call_a", "find", "{\"q\""))));
        stream.onChunk(chunk(delta(null, call(1, "call_b", "open", "{\"path\""))));
        stream.onChunk(chunk(delta(null, call(0, null, null, ":\"x\"}"))));
        stream.onChunk(chunk(delta(null, call(1, null, null, ":\"/tmp\"}"))));
        stream.onChunk(chunk("{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}"));
        stream.finish();
        List<Block> blocks = new ArrayList<>(blocks().values());
        assertThat(blocks).hasSize(2);
        assertThat(blocks.get(0).id()).isEqualTo("call_a");
        assertThat(JSON.readTree(blocks.get(0).body().toString()).path("q").asText()).isEqualTo("x");
        assertThat(blocks.get(1).id()).isEqualTo("call_b");
        assertThat(blocks.get(1).name()).isEqualTo("open");
        assertThat(JSON.readTree(blocks.get(1).body().toString()).path("path").asText()).isEqualTo("/tmp");
        assertThat(stopReason()).isEqualTo("tool_use");
    }

    @Test
    void sequentialCallsStreamLive() throws Exception {
        stream.onChunk(chunk(delta("Let me look.")));
        stream.onChunk(chunk(delta(null, call(0, "call_a", "find", "{\"q\":"))));
        int before = events.size();
        stream.onChunk(chunk(delta(null, call(0, null, null, "\"x\"}"))));
        assertThat(events.size()).as("the call's next fragment goes out as it comes").isGreaterThan(before);
        stream.onChunk(chunk(delta(null, call(1, "call_b", "find", "{\"q\":\"y\"}"))));
        stream.onChunk(chunk("{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}"));
        stream.finish();
        List<Block> blocks = new ArrayList<>(blocks().values());
        assertThat(blocks).extracting(Block::type).containsExactly("text", "tool_use", "tool_use");
        assertThat(blocks.get(0).body()).hasToString("Let me look.");
        assertThat(blocks.get(2).body()).hasToString("{\"q\":\"y\"}");
    }

    @Test
    void textWithAnUnfinishedCallFollowsTheCall() throws Exception {
        stream.onChunk(chunk(delta(null, call(0, "call_a", "note", "{\"t\":"))));
        stream.onChunk(chunk(delta("Done.", call(0, null, null, "\"hi\"}"))));
        stream.onChunk(chunk(delta(" Bye.")));
        stream.finish();
        List<Block> blocks = new ArrayList<>(blocks().values());
        assertThat(blocks).extracting(Block::type).containsExactly("tool_use", "text");
        assertThat(JSON.readTree(blocks.get(0).body().toString()).path("t").asText()).isEqualTo("hi");
        assertThat(blocks.get(1).body()).hasToString("Done. Bye.");
        // the backend said nothing of tools when it stopped: the turn still ends in tool use
        assertThat(stopReason()).isEqualTo("tool_use");
    }

    @Test
    void callsAllNumberedZeroAreToldApartByTheirIds() throws Exception {
        stream.onChunk(chunk(delta(null, call(0, "call_a", "one", "{}"))));
        stream.onChunk(chunk(delta(null, call(0, "call_b", "two", "{\"k\":1}"))));
        stream.finish();
        List<Block> blocks = new ArrayList<>(blocks().values());
        assertThat(blocks).extracting(Block::id).containsExactly("call_a", "call_b");
        assertThat(blocks).extracting(b -> b.body().toString()).containsExactly("{}", "{\"k\":1}");
    }

    @Test
    void unsignedThinkingFragmentsStayOneBlock() throws Exception {
        stream.onChunk(chunk("{\"index\":0,\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"First, \"}]}}"));
        stream.onChunk(chunk("{\"index\":0,\"delta\":{\"reasoning_content\":\"then.\"}}"));
        stream.onChunk(chunk("{\"index\":0,\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"s1\"}]}}"));
        stream.onChunk(chunk(delta("Answer.")));
        stream.finish();
        List<Block> blocks = new ArrayList<>(blocks().values());
        assertThat(blocks).extracting(Block::type).containsExactly("thinking", "text");
        assertThat(blocks.get(0).body()).hasToString("First, then.");
        assertThat(events.stream().filter(e -> e.path("delta").has("signature")).count()).isEqualTo(1);
        assertThat(stopReason()).isEqualTo("end_turn");
    }
}
