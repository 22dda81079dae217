package ai.scaigrid.commons.crypto;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.Optional;

/**
 * The platform key-encryption key of this service ({@code scaigrid.kek}, env {@code SCAIGRID_KEK}: 32
 * random bytes, base64; {@code scaigrid.kek-id} names it inside every ciphertext). Features that
 * store secrets refuse to (503) when it is not configured, rather than store them in clear.
 */
@ApplicationScoped
public class PlatformKek {
    private final Optional<EnvelopeEncryption> encryption;

    public PlatformKek(@ConfigProperty(name = "scaigrid.kek") Optional<String> kek,
                       @ConfigProperty(name = "scaigrid.kek-id", defaultValue = "k1") String kekId) {
        this.encryption = kek.filter(k -> !k.isBlank()).map(k -> new EnvelopeEncryption(kekId, k));
    }

    public boolean isConfigured() {
        return encryption.isPresent();
    }

    public Optional<EnvelopeEncryption> encryption() {
        return encryption;
    }

    /** The encryption, or 503 with the given code when no KEK is configured. */
    public EnvelopeEncryption require(ErrorCode whenMissing) {
        return encryption.orElseThrow(() -> new ApiException(whenMissing,
                "Secret storage is disabled: the platform key-encryption key (SCAIGRID_KEK) is not configured"));
    }
}
