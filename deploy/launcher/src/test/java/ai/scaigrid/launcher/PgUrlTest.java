package ai.scaigrid.launcher;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PgUrlTest {

    @Test
    void fullUrl() throws Exception {
        PgUrl u = PgUrl.parse("postgresql://scaigrid:s3cret@db.example.com:5433");
        assertThat(u.user()).isEqualTo("scaigrid");
        assertThat(u.password()).isEqualTo("s3cret");
        assertThat(u.host()).isEqualTo("db.example.com");
        assertThat(u.port()).isEqualTo(5433);
        assertThat(u.adminDatabase()).isEqualTo("postgres");
        assertThat(u.jdbcUrl("scaigrid_gateway")).isEqualTo("jdbc:postgresql://db.example.com:5433/scaigrid_gateway");
        assertThat(u.reactiveUrl("scaigrid_gateway")).isEqualTo("postgresql://db.example.com:5433/scaigrid_gateway");
    }

    @Test
    void defaultsAndVariants() throws Exception {
        PgUrl u = PgUrl.parse("postgres://admin@localhost");
        assertThat(u.user()).isEqualTo("admin");
        assertThat(u.password()).isEmpty();
        assertThat(u.port()).isEqualTo(5432);

        PgUrl jdbc = PgUrl.parse("jdbc:postgresql://u:p@h:1/maintenance?sslmode=require");
        assertThat(jdbc.adminDatabase()).isEqualTo("maintenance");
        assertThat(jdbc.query()).isEqualTo("sslmode=require");
        assertThat(jdbc.jdbcUrl("x")).isEqualTo("jdbc:postgresql://h:1/x?sslmode=require");
        assertThat(jdbc.reactiveUrl("x")).isEqualTo("postgresql://h:1/x?sslmode=require");
    }

    @Test
    void percentEncodedCredentialsAndSpecialCharacters() throws Exception {
        PgUrl u = PgUrl.parse("postgresql://us%40er:p%3Ass%2Fw%25rd+x@h:5432");
        assertThat(u.user()).isEqualTo("us@er");
        assertThat(u.password()).isEqualTo("p:ss/w%rd+x");
        // an unencoded '@' in the password: the last '@' separates the host
        assertThat(PgUrl.parse("postgresql://u:pa@ss@h").password()).isEqualTo("pa@ss");
        assertThat(PgUrl.parse("postgresql://u:p%C3%A4ss@h").password()).isEqualTo("päss");
    }

    @Test
    void ipv6Host() throws Exception {
        PgUrl u = PgUrl.parse("postgresql://u:p@[::1]:6543");
        assertThat(u.host()).isEqualTo("::1");
        assertThat(u.port()).isEqualTo(6543);
        assertThat(u.jdbcUrl("d")).isEqualTo("jdbc:postgresql://[::1]:6543/d");
    }

    @Test
    void passwordNeverShown() throws Exception {
        assertThat(PgUrl.parse("postgresql://u:topsecret@h:5432").toString())
                .doesNotContain("topsecret").isEqualTo("postgresql://u:***@h:5432/postgres");
    }

    @Test
    void badUrlsGiveClearErrorsWithoutEchoingThem() {
        assertThatThrownBy(() -> PgUrl.parse("mysql://u:p@h:3306")).isInstanceOf(UsageException.class)
                .hasMessageContaining("must start with postgresql://");
        assertThatThrownBy(() -> PgUrl.parse("db.example.com:5432")).hasMessageContaining("must start with postgresql://");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://h:5432")).hasMessageContaining("has no user");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://:pw@h:5432")).hasMessageContaining("has no user");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://u:secretpw@:5432")).hasMessageContaining("has no host")
                .hasMessageNotContaining("secretpw");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://u:secretpw@h:port")).hasMessageContaining("not a number")
                .hasMessageNotContaining("secretpw");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://u:p@h:99999")).hasMessageContaining("outside 1-65535");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://u:p%zz@h")).hasMessageContaining("%-escape in the password");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://u:p@::1:5432")).hasMessageContaining("[brackets]");
        assertThatThrownBy(() -> PgUrl.parse("postgresql://u:p@h/a/b")).hasMessageContaining("single database name");
        assertThatThrownBy(() -> PgUrl.parse(" ")).hasMessageContaining("is empty");
    }
}
