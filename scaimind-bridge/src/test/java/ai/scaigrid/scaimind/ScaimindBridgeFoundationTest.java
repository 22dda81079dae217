package ai.scaigrid.scaimind;

import ai.scaigrid.commons.testing.EmbeddedPostgresTestResource;
import ai.scaigrid.commons.testing.ServiceFoundationContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;

import java.util.List;

/** scaimind-bridge starts on a real PostgreSQL, migrates, answers health, metrics, OpenAPI and the shared envelopes. */
@QuarkusTest
@QuarkusTestResource(EmbeddedPostgresTestResource.class)
class ScaimindBridgeFoundationTest extends ServiceFoundationContract {

    @Override
    protected List<String> expectedTables() {
        return List.of("mod_scaimind_jobs");
    }
}
