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
        // change the first character of the ciphertext part: all six of its bits are data bits
        // (the last character may carry only padding bits, so changing it can decode to the same bytes)
        int at = sealed.lastIndexOf('.') + 1;
        char c = sealed.charAt(at);
        String tampered = sealed.substring(0, at) + (c == 'A' ? 'B' : 'A') + sealed.substring(at + 1);
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
