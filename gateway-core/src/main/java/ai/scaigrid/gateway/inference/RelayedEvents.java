package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.buffer.Buffer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Reads the usage of a streamed transcription, or of speech as events, from its server-sent events as they are relayed
 * byte for byte: the characters of each {@code transcript.text.delta}, and the upstream's token counts from
 * {@code transcript.text.done} (gpt-4o-transcribe's {@code usage}) or {@code speech.audio.done} (gpt-4o-mini-tts's)
 * when it gives them. Lines may be split across
 * reads; what is not an event it knows, or not JSON, is skipped (the client gets it unchanged either way).
 */
final class RelayedEvents {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A line longer than this is not an event of ours: it is skipped, not buffered without end. */
    private static final int MAX_LINE = 1 << 20;

    private final InferenceExchange ex;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private boolean skipping;

    RelayedEvents(InferenceExchange ex) {
        this.ex = ex;
    }

    void feed(Buffer chunk) {
        byte[] bytes = chunk.getBytes();
        for (byte b : bytes) {
            if (b == '\n') {
                if (!skipping) {
                    line(line.toString(StandardCharsets.UTF_8));
                }
                line.reset();
                skipping = false;
            } else if (!skipping) {
                line.write(b);
                if (line.size() > MAX_LINE) {
                    skipping = true;
                    line.reset();
                }
            }
        }
    }

    private void line(String text) {
        String l = text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
        if (!l.startsWith("data:")) {
            return;
        }
        JsonNode event;
        try {
            event = JSON.readTree(l.substring(5).trim());
        } catch (Exception e) {
            return;
        }
        if (event == null) {
            return;
        }
        switch (event.path("type").asText()) {
            case "transcript.text.delta" -> ex.completionChars += event.path("delta").asText("").length();
            case "speech.audio.done" -> {
                ex.takeInputOutputTokens(event.path("usage")); // gpt-4o-mini-tts's tokens: the text in, the audio out
            }
            case "transcript.text.done" -> {
                java.math.BigDecimal seconds = AudioDuration.reported(event);
                if (seconds != null) {
                    ex.audioSeconds = seconds;
                }
                if (!ex.takeInputOutputTokens(event.path("usage"))) {
                    ex.completionChars = event.path("text").asText("").length();
                }
            }
            default -> { }
        }
    }
}
