package ai.scaigrid.commons.crypto;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Objects;

/**
 * Envelope encryption for stored secrets (provider keys, tenant upstream keys, MCP credentials):
 * each value is encrypted with its own random AES-256-GCM data key (DEK); the DEK is wrapped with
 * the platform key-encryption key (KEK), also AES-256-GCM. The associated data binds a ciphertext
 * to its owner (e.g. {@code tenant/<id>/scaigrid_api_key}), so a ciphertext copied to another row
 * does not decrypt.
 *
 * <p>Serialised form: {@code v1.<kekId>.<wrappedDek>.<nonce>.<ciphertext>} (base64url parts).
 */
public final class EnvelopeEncryption {
    private static final String AES_GCM = "AES/GCM/NoPadding";
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
    private static final Base64.Decoder B64D = Base64.getUrlDecoder();

    private final String kekId;
    private final SecretKey kek;

    /** @param kekBase64 32 random bytes, base64 (standard or url alphabet) */
    public EnvelopeEncryption(String kekId, String kekBase64) {
        this.kekId = Objects.requireNonNull(kekId);
        if (kekId.contains(".")) {
            throw new IllegalArgumentException("KEK id must not contain '.'");
        }
        byte[] raw = decodeKey(kekBase64);
        if (raw.length != 32) {
            throw new IllegalArgumentException("KEK must be 32 bytes (AES-256), got " + raw.length);
        }
        this.kek = new SecretKeySpec(raw, "AES");
    }

    /** A fresh random KEK, base64: for first-start bootstrap and tests. */
    public static String generateKeyBase64() {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        return Base64.getEncoder().encodeToString(raw);
    }

    public String kekId() {
        return kekId;
    }

    public String seal(String plaintext, String associatedData) {
        try {
            KeyGenerator generator = KeyGenerator.getInstance("AES");
            generator.init(256, RANDOM);
            SecretKey dek = generator.generateKey();
            byte[] aad = aad(associatedData);
            byte[] wrappedDek = gcm(Cipher.ENCRYPT_MODE, kek, dek.getEncoded(), aad);
            byte[] ciphertext = gcm(Cipher.ENCRYPT_MODE, dek, plaintext.getBytes(StandardCharsets.UTF_8), aad);
            return "v1." + kekId + "." + B64.encodeToString(wrappedDek) + "." + B64.encodeToString(ciphertext);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("encryption failed", e);
        }
    }

    public String open(String sealed, String associatedData) {
        String[] parts = sealed == null ? new String[0] : sealed.split("\\.");
        if (parts.length != 4 || !"v1".equals(parts[0])) {
            throw new SecretDecryptionException("not a sealed value");
        }
        if (!kekId.equals(parts[1])) {
            throw new SecretDecryptionException("sealed with another key-encryption key: " + parts[1]);
        }
        try {
            byte[] aad = aad(associatedData);
            byte[] dek = gcmDecrypt(kek, B64D.decode(parts[2]), aad);
            byte[] plaintext = gcmDecrypt(new SecretKeySpec(dek, "AES"), B64D.decode(parts[3]), aad);
            return new String(plaintext, StandardCharsets.UTF_8);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new SecretDecryptionException("sealed value does not decrypt (wrong key, owner or tampered)");
        }
    }

    /** nonce || ciphertext+tag */
    private static byte[] gcm(int mode, SecretKey key, byte[] input, byte[] aad) throws GeneralSecurityException {
        byte[] nonce = new byte[NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        Cipher cipher = Cipher.getInstance(AES_GCM);
        cipher.init(mode, key, new GCMParameterSpec(TAG_BITS, nonce));
        cipher.updateAAD(aad);
        byte[] body = cipher.doFinal(input);
        byte[] out = new byte[NONCE_BYTES + body.length];
        System.arraycopy(nonce, 0, out, 0, NONCE_BYTES);
        System.arraycopy(body, 0, out, NONCE_BYTES, body.length);
        return out;
    }

    private static byte[] gcmDecrypt(SecretKey key, byte[] nonceAndBody, byte[] aad) throws GeneralSecurityException {
        if (nonceAndBody.length < NONCE_BYTES + TAG_BITS / 8) {
            throw new GeneralSecurityException("short");
        }
        Cipher cipher = Cipher.getInstance(AES_GCM);
        cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonceAndBody, 0, NONCE_BYTES));
        cipher.updateAAD(aad);
        return cipher.doFinal(nonceAndBody, NONCE_BYTES, nonceAndBody.length - NONCE_BYTES);
    }

    private static byte[] aad(String associatedData) {
        return (associatedData == null ? "" : associatedData).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] decodeKey(String base64) {
        if (base64 == null) {
            throw new IllegalArgumentException("KEK is not set");
        }
        String s = base64.trim();
        return s.contains("-") || s.contains("_") ? Base64.getUrlDecoder().decode(s) : Base64.getDecoder().decode(s);
    }

    /** A sealed value could not be opened; callers map it to an internal error and log it. */
    public static class SecretDecryptionException extends RuntimeException {
        public SecretDecryptionException(String message) {
            super(message);
        }
    }
}
