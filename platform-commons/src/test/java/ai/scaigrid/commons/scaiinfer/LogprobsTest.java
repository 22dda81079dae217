package ai.scaigrid.commons.scaiinfer;

import ai.scaigrid.proto.scaiinfer.v1.TokenLogprob;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

class LogprobsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void chatLogprobsSurviveTheRoundTripThroughTheProto() throws Exception {
        JsonNode chat = JSON.readTree("""
                {"content": [
                  {"token": "Hi", "logprob": -0.25, "bytes": [72, 105],
                   "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
                                    {"token": "Hey", "logprob": -1.5, "bytes": null}]},
                  {"token": "\\u00e9", "logprob": -3.0, "bytes": [195, 169], "top_logprobs": []}],
                 "refusal": null}""");
        List<TokenLogprob> tokens = Logprobs.fromJson(chat);
        assertThat(tokens).extracting(TokenLogprob::getToken, TokenLogprob::getLogprob)
                .containsExactly(tuple("Hi", -0.25), tuple("é", -3.0));
        assertThat(tokens.get(1).getBytes().toByteArray()).containsExactly((byte) 195, (byte) 169);
        assertThat(tokens.get(0).getTopLogprobsList()).extracting(t -> t.getToken(), t -> t.getLogprob())
                .containsExactly(tuple("Hi", -0.25), tuple("Hey", -1.5));
        assertThat(Logprobs.toJson(tokens, JSON)).isEqualTo(chat);
    }

    @Test
    void theCompletionsShapeIsReadToo() throws Exception {
        JsonNode completions = JSON.readTree("""
                {"tokens": [" Paris", "."], "token_logprobs": [-0.1, -0.7],
                 "top_logprobs": [{" Paris": -0.1, " Lyon": -2.4}, {".": -0.7}], "text_offset": [0, 6]}""");
        List<TokenLogprob> tokens = Logprobs.fromJson(completions);
        assertThat(tokens).extracting(TokenLogprob::getToken, TokenLogprob::getLogprob)
                .containsExactly(tuple(" Paris", -0.1), tuple(".", -0.7));
        assertThat(tokens.get(0).getTopLogprobsList()).extracting(t -> t.getToken(), t -> t.getLogprob())
                .containsExactly(tuple(" Paris", -0.1), tuple(" Lyon", -2.4));
        // written back in chat's shape, without bytes (the completions shape has none)
        JsonNode chat = Logprobs.toJson(tokens, JSON);
        assertThat(chat.at("/content/0/bytes").isNull()).isTrue();
        assertThat(chat.at("/content/0/top_logprobs/1/token").asText()).isEqualTo(" Lyon");
        assertThat(Logprobs.fromJson(null)).isEmpty();
        assertThat(Logprobs.fromJson(JSON.nullNode())).isEmpty();
    }
}
