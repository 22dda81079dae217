package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.buffer.Buffer;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

/**
 * How long the audio of a transcription was, for a price per minute: as the upstream reports it (OpenAI's
 * {@code usage: {type: "duration", seconds}}, or {@code duration} in {@code verbose_json}), else read from the upload
 * when it is a WAV file (its header gives the byte rate, its {@code data} chunk the length). Null when neither tells.
 */
final class AudioDuration {
    private static final int MAX_CHUNKS = 64;

    private AudioDuration() {
    }

    /** What the upstream's JSON answer says, or null. */
    static BigDecimal reported(JsonNode answer) {
        if (answer == null) {
            return null;
        }
        JsonNode usage = answer.path("usage");
        if ("duration".equals(usage.path("type").asText()) && usage.path("seconds").isNumber()) {
            return seconds(usage.get("seconds").decimalValue());
        }
        return answer.path("duration").isNumber() ? seconds(answer.get("duration").decimalValue()) : null;
    }

    /** The length of a WAV (RIFF/WAVE, any encoding with a byte rate) upload, or null for anything else or a broken header. */
    static BigDecimal ofWav(Buffer file) {
        if (file == null || file.length() < 12 || !"RIFF".equals(file.getString(0, 4)) || !"WAVE".equals(file.getString(8, 12))) {
            return null;
        }
        long byteRate = 0;
        int at = 12;
        for (int i = 0; i < MAX_CHUNKS && at + 8 <= file.length(); i++) {
            String id = file.getString(at, at + 4);
            long size = file.getUnsignedIntLE(at + 4);
            if ("fmt ".equals(id) && at + 20 <= file.length()) {
                byteRate = file.getUnsignedIntLE(at + 8 + 8);
            } else if ("data".equals(id)) {
                // a streamed WAV may leave the size unset (0 or all ones): the bytes that are there count
                long available = file.length() - (at + 8L);
                long bytes = size == 0 || size > available ? available : size;
                return byteRate <= 0 ? null
                        : seconds(BigDecimal.valueOf(bytes).divide(BigDecimal.valueOf(byteRate), MathContext.DECIMAL64));
            }
            at += 8 + (int) Math.min(size + (size & 1), Integer.MAX_VALUE - at - 8L);
        }
        return null;
    }

    private static BigDecimal seconds(BigDecimal value) {
        return value.signum() <= 0 ? null : value.setScale(3, RoundingMode.HALF_UP);
    }
}
