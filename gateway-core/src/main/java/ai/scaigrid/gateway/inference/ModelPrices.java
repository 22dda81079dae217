package ai.scaigrid.gateway.inference;

import java.math.BigDecimal;
import java.math.MathContext;

/**
 * A frontend model's prices per million tokens, per generated image and per minute of audio taken in (whisper-1's
 * price). Each may be null: the input price
 * when unset for the prompt-cache prices (a 1-hour cache write falls back to the cache-write price first),
 * nothing charged when the input, output, image or audio price itself is unset.
 *
 * <p>Prompt caching changes what a prompt token costs. Anthropic charges a cache read a tenth of the
 * input price, a write to its 5-minute cache 1.25 times it and to its 1-hour cache twice it; OpenAI
 * discounts reads and charges nothing extra for writes. A model priced as its provider bills it lets
 * budgets see both what caching saves and what it costs.
 */
public record ModelPrices(BigDecimal input, BigDecimal cachedInput, BigDecimal cacheWrite, BigDecimal cacheWrite1h,
                          BigDecimal output, BigDecimal perImage, BigDecimal perAudioMinute) {
    public static final ModelPrices NONE = new ModelPrices(null, null, null, null, null, null, null);
    private static final BigDecimal MILLION = BigDecimal.valueOf(1_000_000);
    private static final BigDecimal SIXTY = BigDecimal.valueOf(60);

    /** Prices without a price per minute of audio. */
    public ModelPrices(BigDecimal input, BigDecimal cachedInput, BigDecimal cacheWrite, BigDecimal cacheWrite1h, BigDecimal output,
                       BigDecimal perImage) {
        this(input, cachedInput, cacheWrite, cacheWrite1h, output, perImage, null);
    }

    /**
     * How a call's prompt splits: {@code prompt} is all of it; of it {@code cached} tokens were read from the
     * provider's prompt cache and {@code written} written to it, {@code written1h} of those to the 1-hour cache.
     */
    public record PromptTokens(long prompt, long cached, long written, long written1h) {
        public static PromptTokens plain(long prompt) {
            return new PromptTokens(prompt, 0, 0, 0);
        }

        /** The parts made consistent with the whole: what an upstream reports is not trusted to add up. */
        PromptTokens clamped() {
            long c = Math.max(0, Math.min(cached, prompt));
            long w = Math.max(0, Math.min(written, prompt - c));
            long w1h = Math.max(0, Math.min(written1h, w));
            return new PromptTokens(Math.max(0, prompt), c, w, w1h);
        }
    }

    BigDecimal cachedInputPrice() {
        return cachedInput != null ? cachedInput : input;
    }

    BigDecimal cacheWritePrice() {
        return cacheWrite != null ? cacheWrite : input;
    }

    BigDecimal cacheWrite1hPrice() {
        return cacheWrite1h != null ? cacheWrite1h : cacheWritePrice();
    }

    /** The frontend price of a call: each part of the prompt at its price, the completion at the output price. */
    public BigDecimal cost(PromptTokens tokens, long completion) {
        return cost(tokens, completion, 0);
    }

    /** {@link #cost(PromptTokens, long)} and {@code images} generated images at the image price. */
    public BigDecimal cost(PromptTokens tokens, long completion, int images) {
        PromptTokens t = tokens.clamped();
        BigDecimal perMillion = BigDecimal.ZERO;
        perMillion = add(perMillion, input, t.prompt() - t.cached() - t.written());
        perMillion = add(perMillion, cachedInputPrice(), t.cached());
        perMillion = add(perMillion, cacheWritePrice(), t.written() - t.written1h());
        perMillion = add(perMillion, cacheWrite1hPrice(), t.written1h());
        perMillion = add(perMillion, output, completion);
        return withImages(perMillion, images);
    }

    /** {@link #cost(PromptTokens, long, int)} and {@code audioSeconds} of audio taken in at the price per minute. */
    public BigDecimal cost(PromptTokens tokens, long completion, int images, BigDecimal audioSeconds) {
        return cost(tokens, completion, images).add(audioCost(audioSeconds));
    }

    /** What {@code seconds} of audio taken in cost at the price per minute (nothing without one). */
    public BigDecimal audioCost(BigDecimal seconds) {
        if (perAudioMinute == null || seconds == null || seconds.signum() <= 0) {
            return BigDecimal.ZERO;
        }
        return perAudioMinute.multiply(seconds).divide(SIXTY, MathContext.DECIMAL64);
    }

    /**
     * The most a call can cost before its usage is known, for the budget's reservation: a prompt that marks
     * cache breakpoints may be written to the cache whole, at the dearest write price.
     */
    public BigDecimal worstCost(long promptEstimate, boolean marksCache, long worstCompletion) {
        return worstCost(promptEstimate, marksCache, worstCompletion, 0);
    }

    /** {@link #worstCost(long, boolean, long)} for a request that asks for {@code images} images. */
    public BigDecimal worstCost(long promptEstimate, boolean marksCache, long worstCompletion, int images) {
        BigDecimal perMillion = add(BigDecimal.ZERO, marksCache ? dearest(input, cacheWritePrice(), cacheWrite1hPrice()) : input,
                promptEstimate);
        perMillion = add(perMillion, output, worstCompletion);
        return withImages(perMillion, images);
    }

    private BigDecimal withImages(BigDecimal perMillion, int images) {
        BigDecimal tokens = perMillion.signum() == 0 ? BigDecimal.ZERO : perMillion.divide(MILLION, MathContext.DECIMAL64);
        return perImage == null || images <= 0 ? tokens : tokens.add(perImage.multiply(BigDecimal.valueOf(images)));
    }

    private static BigDecimal add(BigDecimal sum, BigDecimal price, long tokens) {
        return price == null || tokens <= 0 ? sum : sum.add(price.multiply(BigDecimal.valueOf(tokens)));
    }

    private static BigDecimal dearest(BigDecimal... prices) {
        BigDecimal max = null;
        for (BigDecimal p : prices) {
            if (p != null && (max == null || p.compareTo(max) > 0)) {
                max = p;
            }
        }
        return max;
    }
}
