package ai.scaigrid.commons.crypto;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EnvelopeEncryptionTest {
    private final EnvelopeEncryption crypto = new EnvelopeEncryption("k1", EnvelopeEncryption.generateKeyBase64());

    @Test
    void sealsAndOpens() {
        String sealed = crypto.seal("sgk_secret_value", "tenants/t1/scaigrid_api_key");
        assertThat(sealed).startsWith("v1.k1.").doesNotContain("sgk_secret_value");
        assertThat(crypto.open(sealed, "tenants/t1/scaigrid_api_key")).isEqualTo("sgk_secret_value");
    }

    @Test
    void eachSealUsesAFreshDataKeyAndNonce() {
        assertThat(crypto.seal("x", "a")).isNotEqualTo(crypto.seal("x", "a"));
    }

    @Test
    void ciphertextIsBoundToItsOwner() {
        String sealed = crypto.seal("secret", "tenants/t1/scaigrid_api_key");
        assertThatThrownBy(() -> crypto.open(sealed, "tenants/t2/scaigrid_api_key"))
                .isInstanceOf(EnvelopeEncryption.SecretDecryptionException.class);
    }

    @Test
    void tamperingIsDetected() {
        String sealed = crypto.seal("secret", "a");
        char last = sealed.charAt(sealed.length() - 1);
        String tampered = sealed.substring(0, sealed.length() - 1) + (last == 'A' ? 'B' : 'A');
        assertThatThrownBy(() -> crypto.open(tampered, "a")).isInstanceOf(EnvelopeEncryption.SecretDecryptionException.class);
    }

    @Test
    void anotherKekCannotOpen() {
        String sealed = crypto.seal("secret", "a");
        EnvelopeEncryption other = new EnvelopeEncryption("k1", EnvelopeEncryption.generateKeyBase64());
        assertThatThrownBy(() -> other.open(sealed, "a")).isInstanceOf(EnvelopeEncryption.SecretDecryptionException.class);
        EnvelopeEncryption rotated = new EnvelopeEncryption("k2", EnvelopeEncryption.generateKeyBase64());
        assertThatThrownBy(() -> rotated.open(sealed, "a")).hasMessageContaining("k1");
    }

    @Test
    void rejectsShortKeys() {
        assertThatThrownBy(() -> new EnvelopeEncryption("k", "AAAA")).isInstanceOf(IllegalArgumentException.class);
    }
}
