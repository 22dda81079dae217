package ai.scaigrid.commons.paging;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

class PageTokensTest {

    @Test
    void roundTripsAwkwardValues() {
        Map<String, String> position = new LinkedHashMap<>();
        position.put("created_at", "2026-11-25T05:00:00Z");
        position.put("id", "a=b\\c\nd");
        String token = PageTokens.encode(position);
        assertThat(token).matches("[A-Za-z0-9_-]+");
        assertThat(PageTokens.decode(token, "page_token")).isEqualTo(position);
    }

    @Test
    void blankMeansFirstPage() {
        assertThat(PageTokens.decode(null, "cursor")).isEmpty();
        assertThat(PageTokens.decode("", "cursor")).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"garbage!!", "cDI", "eA", "cDEKbm9lcXVhbHM"})
    void foreignTokensAreValidationErrors(String token) {
        ApiException e = catchThrowableOfType(ApiException.class, () -> PageTokens.decode(token, "page_token"));
        assertThat(e.errorCode()).isEqualTo(ErrorCode.VALIDATION_ERROR);
        assertThat(e.getMessage()).contains("page_token");
    }
}
