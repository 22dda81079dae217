package ai.scaigrid.scaicore;

import ai.scaigrid.commons.testing.EmbeddedPostgresTestResource;
import ai.scaigrid.commons.testing.ServiceFoundationContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;

import java.util.List;

/** scaicore-runtime starts on a real PostgreSQL, migrates, answers health, metrics, OpenAPI and the shared envelopes. */
@QuarkusTest
@QuarkusTestResource(EmbeddedPostgresTestResource.class)
class ScaicoreRuntimeFoundationTest extends ServiceFoundationContract {

    @Override
    protected List<String> expectedTables() {
        return List.of("mod_scaicore_cores");
    }
}
