package ai.scaigrid.commons.scaiinfer;

import ai.scaigrid.proto.scaiinfer.v1.TokenLogprob;
import ai.scaigrid.proto.scaiinfer.v1.TopLogprob;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Token log probabilities between OpenAI's JSON and {@code scaiinfer.v1.TokenLogprob}. OpenAI has two shapes: chat's
 * {@code {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}}, which is what the proto
 * carries and what {@link #toJson} writes, and the legacy completions' {@code {tokens, token_logprobs, top_logprobs:
 * [{token: logprob}], text_offset}}, which {@link #fromJson} reads too (a node's {@code /completions} upstream answers
 * in it).
 */
public final class Logprobs {
    private Logprobs() {
    }

    /**
     * A raw prompt's body ({@code /completions}): its {@code logprobs} is the count of alternatives per token, not chat's
     * {@code logprobs: true} with {@code top_logprobs}. Nothing changes unless {@code r} asks for log probabilities.
     */
    public static void asCompletionCount(ObjectNode body, ai.scaigrid.proto.scaiinfer.v1.InferenceRequest r) {
        if (r.getLogprobs()) {
            body.remove("top_logprobs");
            body.put("logprobs", r.getTopLogprobs());
        }
    }

    /** Chat's {@code logprobs} object for these tokens: {@code content} and a null {@code refusal}. */
    public static ObjectNode toJson(List<TokenLogprob> tokens, ObjectMapper mapper) {
        ObjectNode out = mapper.createObjectNode();
        ArrayNode content = out.putArray("content");
        for (TokenLogprob t : tokens) {
            ObjectNode entry = entry(content.addObject(), t.getToken(), t.getLogprob(), t.getBytes());
            ArrayNode top = entry.putArray("top_logprobs");
            for (TopLogprob alt : t.getTopLogprobsList()) {
                entry(top.addObject(), alt.getToken(), alt.getLogprob(), alt.getBytes());
            }
        }
        out.putNull("refusal");
        return out;
    }

    private static ObjectNode entry(ObjectNode node, String token, double logprob, ByteString bytes) {
        node.put("token", token).put("logprob", logprob);
        if (bytes.isEmpty()) {
            node.putNull("bytes");
        } else {
            ArrayNode list = node.putArray("bytes");
            for (byte b : bytes.toByteArray()) {
                list.add(b & 0xff);
            }
        }
        return node;
    }

    /** The tokens of a choice's {@code logprobs}, of either shape; none for null or anything else. */
    public static List<TokenLogprob> fromJson(JsonNode logprobs) {
        List<TokenLogprob> out = new ArrayList<>();
        if (logprobs == null || !logprobs.isObject()) {
            return out;
        }
        if (logprobs.path("content").isArray()) {
            for (JsonNode entry : logprobs.get("content")) {
                TokenLogprob.Builder t = TokenLogprob.newBuilder().setToken(entry.path("token").asText(""))
                        .setLogprob(entry.path("logprob").asDouble(0)).setBytes(bytes(entry.get("bytes")));
                for (JsonNode alt : entry.path("top_logprobs")) {
                    t.addTopLogprobs(TopLogprob.newBuilder().setToken(alt.path("token").asText(""))
                            .setLogprob(alt.path("logprob").asDouble(0)).setBytes(bytes(alt.get("bytes"))));
                }
                out.add(t.build());
            }
            return out;
        }
        JsonNode tokens = logprobs.path("tokens");
        JsonNode values = logprobs.path("token_logprobs");
        JsonNode tops = logprobs.path("top_logprobs");
        for (int i = 0; i < tokens.size(); i++) {
            TokenLogprob.Builder t = TokenLogprob.newBuilder().setToken(tokens.get(i).asText(""))
                    .setLogprob(values.path(i).asDouble(0));
            // a position's alternatives are an object, token → logprob (most likely first, as the server wrote it)
            for (Iterator<Map.Entry<String, JsonNode>> it = tops.path(i).fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> alt = it.next();
                t.addTopLogprobs(TopLogprob.newBuilder().setToken(alt.getKey()).setLogprob(alt.getValue().asDouble(0)));
            }
            out.add(t.build());
        }
        return out;
    }

    private static ByteString bytes(JsonNode list) {
        if (list == null || !list.isArray() || list.isEmpty()) {
            return ByteString.EMPTY;
        }
        byte[] out = new byte[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) list.get(i).asInt();
        }
        return ByteString.copyFrom(out);
    }
}
