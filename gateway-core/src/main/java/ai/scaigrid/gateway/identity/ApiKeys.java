package ai.scaigrid.gateway.identity;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** Generation, hashing and shape checks of {@code sgk_} API keys. */
public final class ApiKeys {
    public static final String PREFIX = "sgk_";
    /** sgk_ + 40 base-62 characters: about 238 bits of randomness. */
    private static final int RANDOM_CHARS = 40;
    private static final int VISIBLE_PREFIX_LENGTH = 12;
    private static final Pattern SHAPE = Pattern.compile("sgk_[A-Za-z0-9]{32,128}");
    private static final char[] ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();
    private static final SecureRandom RANDOM = new SecureRandom();

    private ApiKeys() {
    }

    public static String generate() {
        StringBuilder sb = new StringBuilder(PREFIX);
        for (int i = 0; i < RANDOM_CHARS; i++) {
            sb.append(ALPHABET[RANDOM.nextInt(ALPHABET.length)]);
        }
        return sb.toString();
    }

    public static boolean looksLikeKey(String token) {
        return token != null && SHAPE.matcher(token).matches();
    }

    public static String hash(String key) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(digest.digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** What is shown in listings: enough to recognise a key, never enough to use it. */
    public static String visiblePrefix(String key) {
        return key.substring(0, Math.min(VISIBLE_PREFIX_LENGTH, key.length()));
    }

    /** Prefixed random ids such as {@code apikey_...}, {@code tnt_...}. */
    public static String newId(String prefix) {
        StringBuilder sb = new StringBuilder(prefix).append('_');
        for (int i = 0; i < 20; i++) {
            sb.append(ALPHABET[RANDOM.nextInt(ALPHABET.length)]);
        }
        return sb.toString();
    }
}
