package ai.scaigrid.lookup;

import ai.scaigrid.commons.testing.EmbeddedPostgresTestResource;
import ai.scaigrid.commons.testing.ServiceFoundationContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;

import java.util.List;

/** lookup-proxy starts on a real PostgreSQL, migrates, answers health, metrics, OpenAPI and the shared envelopes. */
@QuarkusTest
@QuarkusTestResource(EmbeddedPostgresTestResource.class)
class LookupProxyFoundationTest extends ServiceFoundationContract {

    @Override
    protected List<String> expectedTables() {
        return List.of("tenant_secrets");
    }
}
