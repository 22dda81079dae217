package ai.scaigrid.commons.it;

import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** The shared test resource gives the app a working reactive datasource on a real PostgreSQL 17. */
@QuarkusTest
class EmbeddedPostgresResourceTest {
    @Inject
    Pool pool;

    @Test
    void reactiveClientTalksToRealPostgres() {
        String version = pool.query("SHOW server_version").execute()
                .map(rows -> rows.iterator().next().getString(0))
                .await().atMost(Duration.ofSeconds(10));
        assertThat(version).startsWith("17.");
    }
}
