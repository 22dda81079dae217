package ai.scaigrid.commons.error;

import io.vertx.pgclient.PgException;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class DataErrorsTest {

    @Test
    void dataExceptionsAreTheCallersAndTheirTextStaysInside() {
        PgException nul = new PgException("invalid byte sequence for encoding \"UTF8\": 0x00", "ERROR", "22021", null);
        ApiException e = DataErrors.asValidationError(new RuntimeException("wrapped", nul));
        assertThat(e).isNotNull();
        assertThat(e.errorCode()).isEqualTo(ErrorCode.VALIDATION_ERROR);
        assertThat(e.getMessage()).contains("NUL").doesNotContain("0x00").doesNotContain("UTF8");
        assertThat(DataErrors.message("22P05")).isEqualTo(DataErrors.message("22021"));
        assertThat(DataErrors.message("22012")).isEqualTo("A value in the request is not valid");
        assertThat(DataErrors.message("54000")).isEqualTo("A value in the request is too large");
    }

    @Test
    void otherDatabaseFailuresStayInternal() {
        assertThat(DataErrors.asValidationError(new PgException("relation \"x\" does not exist", "ERROR", "42P01", null))).isNull();
        assertThat(DataErrors.asValidationError(new PgException("duplicate key", "ERROR", "23505", null))).isNull();
        assertThat(DataErrors.asValidationError(new IllegalStateException("boom"))).isNull();
        assertThat(DataErrors.message(null)).isNull();
        assertThat(DataErrors.message("08006")).isNull();
    }
}
