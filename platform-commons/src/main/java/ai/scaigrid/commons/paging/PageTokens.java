package ai.scaigrid.commons.paging;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Opaque page tokens (ScaiMind {@code page_token}, core {@code cursor}): a small key/value position,
 * versioned and base64url-encoded so callers treat it as opaque. Any token that does not decode is
 * a 400 VALIDATION_ERROR, never a server error.
 */
public final class PageTokens {
    private static final String VERSION = "p1";
    private static final int MAX_TOKEN_LENGTH = 2048;

    private PageTokens() {
    }

    public static String encode(Map<String, String> position) {
        StringBuilder sb = new StringBuilder(VERSION);
        position.forEach((k, v) -> sb.append('\n').append(escape(k)).append('=').append(escape(v)));
        return Base64.getUrlEncoder().withoutPadding().encodeToString(sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** The decoded position, or an empty map for a null/blank token (first page). */
    public static Map<String, String> decode(String token, String parameterName) {
        if (token == null || token.isBlank()) {
            return Map.of();
        }
        try {
            if (token.length() > MAX_TOKEN_LENGTH) {
                throw new IllegalArgumentException("too long");
            }
            String text = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
            String[] lines = text.split("\n", -1);
            if (!VERSION.equals(lines[0])) {
                throw new IllegalArgumentException("version");
            }
            Map<String, String> position = new LinkedHashMap<>();
            for (int i = 1; i < lines.length; i++) {
                int eq = lines[i].indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("entry");
                }
                position.put(unescape(lines[i].substring(0, eq)), unescape(lines[i].substring(eq + 1)));
            }
            return position;
        } catch (IllegalArgumentException e) {
            throw new ApiException(ErrorCode.VALIDATION_ERROR, "Invalid " + parameterName,
                    List.of(Map.of("field", parameterName, "message", "not a token issued by this service")));
        }
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\e");
    }

    private static String unescape(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                out.append(n == 'n' ? '\n' : n == 'e' ? '=' : n);
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
