package ai.scaigrid.launcher;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OptionsTest {
    private static final Path CWD = Path.of("/home/dev/scaigrid");

    private static Options parse(Map<String, String> env, String... args) throws UsageException {
        return Options.parse(List.of(args), env, CWD);
    }

    @Test
    void defaults() throws Exception {
        Options o = parse(Map.of());
        assertThat(o.command()).isEqualTo(Options.Command.UP);
        assertThat(o.dataDir()).isEqualTo(CWD.resolve(".scaigrid"));
        assertThat(o.host()).isEqualTo("127.0.0.1");
        assertThat(o.portOffset()).isZero();
        assertThat(o.pgPort()).isNull();
        assertThat(o.effectivePgPort()).isEqualTo(54329);
        assertThat(o.pgUrl()).isNull();
        assertThat(o.root()).isNull();
        assertThat(o.services()).isEqualTo(ServiceSpec.ALL);
        assertThat(o.embeddedDatabase()).isTrue();
    }

    @Test
    void flagsInBothForms() throws Exception {
        Options o = parse(Map.of(), "up", "--data-dir", "/tmp/sg", "--host=0.0.0.0", "--port-offset", "100",
                "--pg-port=6000", "--root", "../checkout", "--only", "node-agent,gateway-core");
        assertThat(o.dataDir()).isEqualTo(Path.of("/tmp/sg"));
        assertThat(o.host()).isEqualTo("0.0.0.0");
        assertThat(o.portOffset()).isEqualTo(100);
        assertThat(o.effectivePgPort()).isEqualTo(6000);
        assertThat(o.root()).isEqualTo(Path.of("/home/dev/checkout"));
        // the suite's order, not the order given
        assertThat(o.services()).extracting(ServiceSpec::name).containsExactly("gateway-core", "node-agent");
    }

    @Test
    void environmentIsTheFallbackAndFlagsWin() throws Exception {
        Map<String, String> env = Map.of(
                "SCAIGRID_DATA_DIR", "data",
                "SCAIGRID_HOST", "10.0.0.5",
                "SCAIGRID_PORT_OFFSET", "7",
                "SCAIGRID_PG_URL", "postgresql://sg:secret@db.internal:5433",
                "SCAIGRID_ONLY", "lookup-proxy");
        Options fromEnv = parse(env);
        assertThat(fromEnv.dataDir()).isEqualTo(CWD.resolve("data"));
        assertThat(fromEnv.host()).isEqualTo("10.0.0.5");
        assertThat(fromEnv.portOffset()).isEqualTo(7);
        assertThat(fromEnv.effectivePgPort()).isEqualTo(54336);
        assertThat(fromEnv.pgUrl().host()).isEqualTo("db.internal");
        assertThat(fromEnv.embeddedDatabase()).isFalse();
        assertThat(fromEnv.services()).extracting(ServiceSpec::name).containsExactly("lookup-proxy");

        Options flagWins = parse(env, "--port-offset", "9", "--host", "127.0.0.1");
        assertThat(flagWins.portOffset()).isEqualTo(9);
        assertThat(flagWins.host()).isEqualTo("127.0.0.1");
    }

    @Test
    void blankEnvironmentValuesAreIgnored() throws Exception {
        Options o = parse(Map.of("SCAIGRID_PORT_OFFSET", " ", "SCAIGRID_PG_URL", ""));
        assertThat(o.portOffset()).isZero();
        assertThat(o.pgUrl()).isNull();
    }

    @Test
    void help() throws Exception {
        assertThat(parse(Map.of(), "help").command()).isEqualTo(Options.Command.HELP);
        assertThat(parse(Map.of(), "--help").command()).isEqualTo(Options.Command.HELP);
        assertThat(parse(Map.of(), "up", "-h").command()).isEqualTo(Options.Command.HELP);
    }

    @Test
    void onlyServicesWithoutDatabaseNeedNoPostgres() throws Exception {
        Options o = parse(Map.of(), "--only", "node-agent");
        assertThat(o.needsDatabase()).isFalse();
        assertThat(o.embeddedDatabase()).isFalse();
    }

    @Test
    void mistakesAreExplained() {
        assertThatThrownBy(() -> parse(Map.of(), "--port-offset", "ten"))
                .isInstanceOf(UsageException.class).hasMessageContaining("--port-offset").hasMessageContaining("'ten'");
        assertThatThrownBy(() -> parse(Map.of("SCAIGRID_PORT_OFFSET", "x")))
                .hasMessageContaining("SCAIGRID_PORT_OFFSET");
        assertThatThrownBy(() -> parse(Map.of(), "--data-dir"))
                .hasMessageContaining("--data-dir needs a value");
        assertThatThrownBy(() -> parse(Map.of(), "--verbose"))
                .hasMessageContaining("unknown flag --verbose");
        assertThatThrownBy(() -> parse(Map.of(), "down"))
                .hasMessageContaining("unknown command or argument 'down'");
        assertThatThrownBy(() -> parse(Map.of(), "--only", "gateway-core,billing"))
                .hasMessageContaining("unknown service billing").hasMessageContaining("node-agent");
        assertThatThrownBy(() -> parse(Map.of(), "--only", ","))
                .hasMessageContaining("at least one service");
        assertThatThrownBy(() -> parse(Map.of(), "--pg-port", "70000"))
                .hasMessageContaining("between 1 and 65535");
        assertThatThrownBy(() -> parse(Map.of(), "--pg-url", "mysql://a:b@c"))
                .hasMessageContaining("postgresql://");
    }
}
