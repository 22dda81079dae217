package ai.scaigrid.gateway.inference;

import ai.scaigrid.gateway.inference.ModelPrices.PromptTokens;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;

import static org.assertj.core.api.Assertions.assertThat;

class ModelPricesTest {
    private static BigDecimal d(String s) {
        return s == null ? null : new BigDecimal(s);
    }

    private static ModelPrices prices(String input, String cached, String write, String write1h, String output) {
        return new ModelPrices(d(input), d(cached), d(write), d(write1h), d(output), null);
    }

    /** 100 prompt tokens: 10 read from the cache, 30 written (20 of them to the 1-hour cache); 50 completion tokens. */
    private static final PromptTokens MIXED = new PromptTokens(100, 10, 30, 20);

    @Test
    void eachPartOfThePromptAtItsPrice() {
        // Claude's shape: reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x of 3.00
        ModelPrices claude = prices("3.00", "0.30", "3.75", "6.00", "15.00");
        // 60 x 3 + 10 x 0.3 + 10 x 3.75 + 20 x 6 + 50 x 15 = 180 + 3 + 37.5 + 120 + 750
        assertThat(claude.cost(MIXED, 50)).isEqualByComparingTo("0.0010905");
    }

    @Test
    void unsetCachePricesFallBackToTheInputPriceAndTheOneHourPriceToTheWritePriceFirst() {
        assertThat(prices("3.00", null, null, null, "15.00").cost(MIXED, 50))
                .isEqualByComparingTo(prices("3.00", null, null, null, "15.00").cost(PromptTokens.plain(100), 50))
                .isEqualByComparingTo("0.00105");
        // the 1-hour writes at the 5-minute write price: 60 x 3 + 10 x 3 + 30 x 3.75 + 750
        assertThat(prices("3.00", null, "3.75", null, "15.00").cost(MIXED, 50)).isEqualByComparingTo("0.0010725");
    }

    @Test
    void onlyWhatIsPricedIsCharged() {
        assertThat(prices(null, null, null, null, null).cost(MIXED, 50)).isEqualByComparingTo("0");
        // no input price: the cache's own prices still apply to their share
        // (10 x 0.30 + 30 x 3.75) / 1M
        assertThat(prices(null, "0.30", "3.75", null, null).cost(MIXED, 50)).isEqualByComparingTo("0.0001155");
    }

    @Test
    void partsThatDoNotAddUpAreClampedToThePrompt() {
        // an upstream claiming more cached and written tokens than its prompt: never a negative fresh share
        PromptTokens odd = new PromptTokens(10, 8, 50, 99).clamped();
        assertThat(odd).isEqualTo(new PromptTokens(10, 8, 2, 2));
        assertThat(prices("1.00", "0.10", "1.25", "2.00", null).cost(new PromptTokens(10, 8, 50, 99), 0))
                .isEqualByComparingTo("0.0000048"); // 8 x 0.1 + 2 x 2.00
        assertThat(new PromptTokens(-5, -1, -1, -1).clamped()).isEqualTo(new PromptTokens(0, 0, 0, 0));
    }

    @Test
    void theReservationAssumesAMarkedPromptIsWrittenAtTheDearestPrice() {
        ModelPrices claude = prices("3.00", "0.30", "3.75", "6.00", "15.00");
        assertThat(claude.worstCost(1000, false, 100)).isEqualByComparingTo("0.0045");
        assertThat(claude.worstCost(1000, true, 100)).isEqualByComparingTo("0.0075");
        // a model whose writes cost no more than its input reserves the same either way
        ModelPrices openAi = prices("2.50", "1.25", null, null, "10.00");
        assertThat(openAi.worstCost(1000, true, 100)).isEqualByComparingTo(openAi.worstCost(1000, false, 100));
        assertThat(prices(null, null, null, null, null).worstCost(1000, true, 100)).isEqualByComparingTo("0");
    }

    @Test
    void imagesAtTheImagePriceBesideTheirTokens() {
        ModelPrices dalle = new ModelPrices(null, null, null, null, null, d("0.04"));
        assertThat(dalle.cost(PromptTokens.plain(30), 0, 3)).isEqualByComparingTo("0.12");
        assertThat(dalle.worstCost(30, false, 0, 2)).isEqualByComparingTo("0.08");
        // gpt-image-1 reports tokens: 5.00 in, 40.00 out per million, and no price per image
        ModelPrices tokens = new ModelPrices(d("5.00"), null, null, null, d("40.00"), null);
        assertThat(tokens.cost(PromptTokens.plain(20), 4160, 1)).isEqualByComparingTo("0.1665");
        // both: the tokens and the images add up; no images, no image charge
        ModelPrices both = new ModelPrices(d("5.00"), null, null, null, d("40.00"), d("0.01"));
        assertThat(both.cost(PromptTokens.plain(20), 4160, 2)).isEqualByComparingTo("0.1865");
        assertThat(both.cost(PromptTokens.plain(20), 4160, 0)).isEqualByComparingTo("0.1665");
    }

    @Test
    void audioIsChargedByTheMinute() {
        ModelPrices whisper = new ModelPrices(null, null, null, null, null, null, d("0.006"));
        assertThat(whisper.cost(ModelPrices.PromptTokens.plain(100), 50, 0, d("90"))).isEqualByComparingTo("0.009");
        assertThat(whisper.cost(ModelPrices.PromptTokens.plain(100), 50, 0, BigDecimal.ZERO)).isEqualByComparingTo("0");
        // with token prices too, both are charged; without a price per minute the seconds cost nothing
        ModelPrices both = new ModelPrices(d("1.00"), null, null, null, d("2.00"), null, d("0.006"));
        assertThat(both.cost(ModelPrices.PromptTokens.plain(1_000_000), 0, 0, d("30"))).isEqualByComparingTo("1.003");
        assertThat(prices("1.00", null, null, null, "2.00").cost(ModelPrices.PromptTokens.plain(1_000_000), 0, 0, d("30")))
                .isEqualByComparingTo("1.00");
    }
}
