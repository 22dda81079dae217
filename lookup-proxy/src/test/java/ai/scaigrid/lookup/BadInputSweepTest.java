package ai.scaigrid.lookup;

import ai.scaigrid.commons.testing.BadInputSweep;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Every documented operation, fed bad input: a clear 4xx (or the seed's structured 502) in an envelope, never a 500. */
@QuarkusTest
class BadInputSweepTest extends LookupTestBase {
    @TestHTTPResource("/")
    URL base;

    @Test
    void everyOperationAnswersBadInputWithAnEnvelopedError() throws Exception {
        BadInputSweep sweep = new BadInputSweep(base.toString(), gatewayAdminKey());
        List<String> findings = sweep.run();
        assertThat(sweep.requests()).as("requests sent").isGreaterThan(20);
        assertThat(findings).isEmpty();
    }
}
