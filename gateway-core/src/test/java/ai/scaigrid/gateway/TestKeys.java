package ai.scaigrid.gateway;

/** Credentials the test profile bootstraps the gateway with. */
public final class TestKeys {
    private TestKeys() {
    }

    /** The super-admin key set by {@code %test.scaigrid.bootstrap.admin-api-key}. */
    public static final String ADMIN = "sgk_TestSuperAdminKey00000000000000000000";
}
