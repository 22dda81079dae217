package ai.scaigrid.gateway;

import ai.scaigrid.commons.testing.BadInputSweep;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Every documented operation, fed bad input as the super-admin: a clear 4xx in the envelope, never a 500 or internals. */
@QuarkusTest
class BadInputSweepTest {
    @TestHTTPResource("/")
    URL base;

    @Test
    void everyOperationAnswersBadInputWithAnEnvelopedClientError() throws Exception {
        BadInputSweep sweep = new BadInputSweep(base.toString(), TestKeys.ADMIN);
        List<String> findings = sweep.run();
        assertThat(sweep.requests()).as("requests sent").isGreaterThan(500);
        assertThat(findings).isEmpty();
    }
}
