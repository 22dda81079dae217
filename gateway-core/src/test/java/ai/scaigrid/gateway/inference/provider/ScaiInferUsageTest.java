package ai.scaigrid.gateway.inference.provider;

import ai.scaigrid.proto.scaiinfer.v1.Usage;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** A node's usage in OpenAI's names, as the pipeline, usage records and prices read it. */
class ScaiInferUsageTest {
    private final ScaiInferProvider provider = new ScaiInferProvider();

    {
        provider.mapper = new ObjectMapper();
    }

    @Test
    void prefixCacheHitsAndWritesKeepTheirOpenAiNames() {
        JsonNode u = provider.usage(Usage.newBuilder().setPromptTokens(20).setCompletionTokens(4).setTotalTokens(24)
                .setReasoningTokens(1).setCachedTokens(8).setCacheWriteTokens(2).build());
        assertThat(u.path("prompt_tokens").asInt()).isEqualTo(20);
        assertThat(u.at("/prompt_tokens_details/cached_tokens").asInt()).isEqualTo(8);
        assertThat(u.path("cache_creation_input_tokens").asInt()).isEqualTo(2);
        assertThat(u.at("/completion_tokens_details/reasoning_tokens").asInt()).isEqualTo(1);
    }

    @Test
    void nothingCachedAddsNoDetails() {
        JsonNode u = provider.usage(Usage.newBuilder().setPromptTokens(3).setCompletionTokens(2).setTotalTokens(5).build());
        assertThat(u.has("prompt_tokens_details")).isFalse();
        assertThat(u.has("cache_creation_input_tokens")).isFalse();
    }
}
