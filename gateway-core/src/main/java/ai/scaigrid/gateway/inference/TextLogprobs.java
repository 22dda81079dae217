package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A text completion's log probabilities in the completions API's shape
 * ({@code {tokens, token_logprobs, top_logprobs, text_offset}}), whichever API the upstream answered through:
 * a {@code /completions} upstream's pass as they are; a chat upstream's ({@code {content: [{token, logprob,
 * top_logprobs: [{token, logprob}]}]}}) are rewritten, with offsets counted from the start of the generated text.
 */
final class TextLogprobs {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private TextLogprobs() {
    }

    /**
     * @param logprobs a choice's {@code logprobs}, of either shape, or null
     * @param offset   the choice's generated characters so far (one element; advanced by the tokens converted),
     *                 so the offsets of a streamed answer run on from chunk to chunk
     */
    static JsonNode of(JsonNode logprobs, long[] offset) {
        if (logprobs == null || !logprobs.isObject()) {
            return NullNode.instance;
        }
        if (!logprobs.has("content")) {
            return logprobs; // the completions shape already
        }
        ObjectNode out = NODES.objectNode();
        ArrayNode tokens = out.putArray("tokens");
        ArrayNode tokenLogprobs = out.putArray("token_logprobs");
        ArrayNode top = out.putArray("top_logprobs");
        ArrayNode textOffset = out.putArray("text_offset");
        for (JsonNode entry : logprobs.path("content")) {
            String token = entry.path("token").asText("");
            tokens.add(token);
            tokenLogprobs.add(entry.path("logprob"));
            ObjectNode alternatives = top.addObject();
            for (JsonNode alt : entry.path("top_logprobs")) {
                alternatives.set(alt.path("token").asText(""), alt.path("logprob"));
            }
            textOffset.add(offset[0]);
            offset[0] += token.length();
        }
        return out;
    }
}
