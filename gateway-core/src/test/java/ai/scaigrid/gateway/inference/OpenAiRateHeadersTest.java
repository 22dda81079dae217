package ai.scaigrid.gateway.inference;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** OpenAI's rate-limit header values, as its clients parse them. */
class OpenAiRateHeadersTest {

    @Test
    void durationsUseOpenAisFormat() {
        assertThat(Limits.openAiDuration(-3)).isEqualTo("0s");
        assertThat(Limits.openAiDuration(0)).isEqualTo("0s");
        assertThat(Limits.openAiDuration(45)).isEqualTo("45s");
        assertThat(Limits.openAiDuration(60)).isEqualTo("1m0s");
        assertThat(Limits.openAiDuration(65)).isEqualTo("1m5s");
        assertThat(Limits.openAiDuration(7200)).isEqualTo("2h0m0s");
        assertThat(Limits.openAiDuration(3725)).isEqualTo("1h2m5s");
    }

    @Test
    void headersCarryTheMostRestrictiveRequestWindow() {
        Limits.RateState rate = new Limits.RateState(100, 42, 1_000_030);
        assertThat(rate.openAiHeaders(1_000_000)).containsEntry("x-ratelimit-limit-requests", "100")
                .containsEntry("x-ratelimit-remaining-requests", "42").containsEntry("x-ratelimit-reset-requests", "30s");
        assertThat(new Limits.RateState(0, 0, 0).openAiHeaders(1_000_000)).isEmpty();
        // Anthropic's names, the reset as an RFC 3339 time
        assertThat(rate.anthropicHeaders()).containsEntry("anthropic-ratelimit-requests-limit", "100")
                .containsEntry("anthropic-ratelimit-requests-remaining", "42")
                .containsEntry("anthropic-ratelimit-requests-reset", "1970-01-12T13:47:10Z");
        assertThat(new Limits.RateState(0, 0, 0).anthropicHeaders()).isEmpty();
    }
}
