package ai.scaigrid.scailink;

import ai.scaigrid.commons.testing.EmbeddedPostgresTestResource;
import ai.scaigrid.commons.testing.ServiceFoundationContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;

import java.util.List;

/** scailink-service starts on a real PostgreSQL, migrates, answers health, metrics, OpenAPI and the shared envelopes. */
@QuarkusTest
@QuarkusTestResource(EmbeddedPostgresTestResource.class)
class ScailinkServiceFoundationTest extends ServiceFoundationContract {

    @Override
    protected List<String> expectedTables() {
        return List.of("mod_scailink_remote_server", "mod_scailink_remote_credential", "mod_scailink_remote_capability");
    }
}
