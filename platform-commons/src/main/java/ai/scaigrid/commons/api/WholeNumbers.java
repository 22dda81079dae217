package ai.scaigrid.commons.api;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.jackson.ObjectMapperCustomizer;
import jakarta.inject.Singleton;

/**
 * A whole-number field of a request body (a limit, a budget in tokens, a priority) refuses a
 * fractional value with a 400 naming the field. Jackson's default truncates it: a
 * {@code budget_tokens} of 1.5 was stored as 1 without a word. The inference API, which reads its
 * bodies as JSON trees, already refuses fractions for its integer fields ({@code max_tokens}, {@code n}).
 */
@Singleton
public class WholeNumbers implements ObjectMapperCustomizer {
    @Override
    public void customize(ObjectMapper mapper) {
        mapper.disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT);
    }
}
