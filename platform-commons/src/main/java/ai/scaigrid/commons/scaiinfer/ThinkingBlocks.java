package ai.scaigrid.commons.scaiinfer;

import ai.scaigrid.proto.scaiinfer.v1.ThinkingBlock;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A thinking block between its JSON shape ({@code {type: "thinking", thinking, signature}} or
 * {@code {type: "redacted_thinking", data}}, as the OpenAI-compatible API carries Anthropic's blocks) and
 * {@code scaiinfer.v1.ThinkingBlock}. Both ways keep every field that is set, so a block of a type added
 * later survives the round trip as far as the proto can carry it.
 */
public final class ThinkingBlocks {
    private ThinkingBlocks() {
    }

    public static ObjectNode toJson(ThinkingBlock b, ObjectMapper mapper) {
        ObjectNode out = mapper.createObjectNode().put("type", b.getType());
        switch (b.getType()) {
            case "thinking" -> out.put("thinking", b.getThinking()).put("signature", b.getSignature());
            case "redacted_thinking" -> out.put("data", b.getData());
            default -> {
                if (!b.getThinking().isEmpty()) {
                    out.put("thinking", b.getThinking());
                }
                if (!b.getSignature().isEmpty()) {
                    out.put("signature", b.getSignature());
                }
                if (!b.getData().isEmpty()) {
                    out.put("data", b.getData());
                }
            }
        }
        return out;
    }

    /** The block's string fields; anything else in it (no such field exists today) has no place in the proto. */
    public static ThinkingBlock fromJson(JsonNode b) {
        return ThinkingBlock.newBuilder().setType(b.path("type").asText("")).setThinking(b.path("thinking").asText(""))
                .setSignature(b.path("signature").asText("")).setData(b.path("data").asText("")).build();
    }
}
