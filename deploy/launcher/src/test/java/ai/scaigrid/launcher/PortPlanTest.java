package ai.scaigrid.launcher;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

class PortPlanTest {

    private static PortPlan plan(String... args) throws UsageException {
        return PortPlan.of(Options.parse(List.of(args), Map.of(), Path.of("/tmp")));
    }

    @Test
    void defaultPorts() throws Exception {
        PortPlan p = plan();
        assertThat(ServiceSpec.ALL).extracting(ServiceSpec::name, p::http, p::grpc).containsExactly(
                tuple("gateway-core", 8080, 50051),
                tuple("scaimind-bridge", 8081, 50052),
                tuple("scaicore-runtime", 8082, 50053),
                tuple("scailink-service", 8083, 0),
                tuple("lookup-proxy", 8084, 0),
                tuple("node-agent", 8090, 50060));
        assertThat(p.pgPort()).isEqualTo(54329);
    }

    @Test
    void offsetMovesEveryPortIncludingPostgres() throws Exception {
        PortPlan p = plan("--port-offset", "100");
        assertThat(ServiceSpec.ALL).extracting(p::http).containsExactly(8180, 8181, 8182, 8183, 8184, 8190);
        assertThat(ServiceSpec.ALL).extracting(p::grpc).containsExactly(50151, 50152, 50153, 0, 0, 50160);
        assertThat(p.pgPort()).isEqualTo(54429);
        assertThat(plan("--port-offset", "100", "--pg-port", "6000").pgPort()).isEqualTo(6000);
    }

    @Test
    void noPostgresPortWhenExternalOrNotNeeded() throws Exception {
        assertThat(plan("--pg-url", "postgresql://u:p@h").pgPort()).isNull();
        assertThat(plan("--only", "node-agent").pgPort()).isNull();
    }

    @Test
    void neededPortsNameTheirOwners() throws Exception {
        Options o = Options.parse(List.of("--only", "gateway-core,lookup-proxy", "--port-offset", "1"), Map.of(), Path.of("/tmp"));
        assertThat(PortPlan.of(o).needed(o.services(), "0.0.0.0"))
                .extracting(PortPlan.Needed::owner, PortPlan.Needed::host, PortPlan.Needed::port)
                .containsExactly(
                        tuple("PostgreSQL", "127.0.0.1", 54330),
                        tuple("gateway-core HTTP", "0.0.0.0", 8081),
                        tuple("gateway-core gRPC", "0.0.0.0", 50052),
                        tuple("lookup-proxy HTTP", "0.0.0.0", 8085));
    }

    @Test
    void offsetsBeyondTheValidRangeAreRefusedWithTheLargestThatWorks() {
        // 54329 + 11207 = 65536
        assertThatThrownBy(() -> plan("--port-offset", "11207")).isInstanceOf(UsageException.class)
                .hasMessageContaining("PostgreSQL on port 65536").hasMessageContaining("and 11206");
        assertThatThrownBy(() -> plan("--port-offset", "20000"))
                .hasMessageContaining("outside").hasMessageContaining("11206");
        // with an explicit PostgreSQL port the services' gRPC ports are the limit: 50060 + 15476 = 65536
        assertThatThrownBy(() -> plan("--port-offset", "15476", "--pg-port", "5000"))
                .hasMessageContaining("node-agent gRPC on port 65536").hasMessageContaining("and 15475");
        assertThatThrownBy(() -> plan("--port-offset", "-8000"))
                .hasMessageContaining("gateway-core HTTP on port 80");
    }

    @Test
    void postgresMustNotShareAServicePort() {
        assertThatThrownBy(() -> plan("--pg-port", "8080"))
                .hasMessageContaining("PostgreSQL and gateway-core HTTP would both use port 8080");
    }

    @Test
    void largestOffsetIsAccepted() throws Exception {
        assertThat(plan("--port-offset", "11206").pgPort()).isEqualTo(65535);
    }
}
