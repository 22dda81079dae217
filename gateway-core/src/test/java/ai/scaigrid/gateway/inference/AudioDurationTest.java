package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class AudioDurationTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void theUpstreamsReportComesFirst() throws Exception {
        // whisper-1's json answer today, and verbose_json's duration
        assertThat(AudioDuration.reported(JSON.readTree("{\"text\":\"x\",\"usage\":{\"type\":\"duration\",\"seconds\":9}}")))
                .isEqualByComparingTo("9");
        assertThat(AudioDuration.reported(JSON.readTree("{\"text\":\"x\",\"duration\":12.3456}"))).isEqualByComparingTo("12.346");
        // token usage (gpt-4o-transcribe) says nothing of the length
        assertThat(AudioDuration.reported(JSON.readTree("{\"usage\":{\"type\":\"tokens\",\"input_tokens\":3}}"))).isNull();
        assertThat(AudioDuration.reported(JSON.readTree("{\"duration\":\"long\"}"))).isNull();
        assertThat(AudioDuration.reported(null)).isNull();
    }

    @Test
    void aWavUploadIsMeasuredByItsHeader() {
        // 44.1 kHz 16-bit mono: 88,200 bytes a second
        assertThat(AudioDuration.ofWav(Buffer.buffer(AudioTest.wav(44100, 44100)))).isEqualByComparingTo("0.5");
        // a streamed WAV whose data size was left 0: the bytes present count
        byte[] streamed = AudioTest.wav(16000, 32000);
        streamed[40] = streamed[41] = streamed[42] = streamed[43] = 0;
        assertThat(AudioDuration.ofWav(Buffer.buffer(streamed))).isEqualByComparingTo("1");
        // not WAV, or cut inside its header
        assertThat(AudioDuration.ofWav(Buffer.buffer("ID3 mp3 bytes"))).isNull();
        assertThat(AudioDuration.ofWav(Buffer.buffer(java.util.Arrays.copyOf(AudioTest.wav(16000, 100), 30)))).isNull();
        assertThat(AudioDuration.ofWav(null)).isNull();
    }
}
