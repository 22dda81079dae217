package ai.scaigrid.gateway;

import ai.scaigrid.commons.testing.EmbeddedPostgresTestResource;
import ai.scaigrid.commons.testing.ServiceFoundationContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;

import java.util.List;

/** gateway-core starts on a real PostgreSQL, migrates, answers health, metrics, OpenAPI and the shared envelopes. */
@QuarkusTest
@QuarkusTestResource(EmbeddedPostgresTestResource.class)
@QuarkusTestResource(TestIssuer.class)
class GatewayCoreFoundationTest extends ServiceFoundationContract {

    @Override
    protected List<String> expectedTables() {
        return List.of("partners", "tenants", "users");
    }
}
