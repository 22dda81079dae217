package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class AudioDurationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** MPEG-1 Layer III, no CRC; 128 kbit/s, 44.1 kHz, no padding; stereo or mono. */
    static final int MP3_STEREO = 0xFFFB9000;
    private static final int MP3_MONO = 0xFFFB90C0;
    /** 144 * 128000 / 44100, unpadded. */
    static final int MP3_FRAME = 417;

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
        assertThat(length(AudioTest.wav(44100, 44100))).isEqualByComparingTo("0.5");
        // a streamed WAV whose data size was left 0: the bytes present count
        byte[] streamed = AudioTest.wav(16000, 32000);
        streamed[40] = streamed[41] = streamed[42] = streamed[43] = 0;
        assertThat(length(streamed)).isEqualByComparingTo("1");
        // not WAV, or cut inside its header
        assertThat(AudioDuration.ofUpload(Buffer.buffer("ID3 mp3 bytes"))).isNull();
        assertThat(length(Arrays.copyOf(AudioTest.wav(16000, 100), 30))).isNull();
        // a chunk claiming nearly 4 GB is skipped without wrapping round
        assertThat(length(new Bytes().ascii("RIFF").le32(0).ascii("WAVE").ascii("LIST").le32(0xFFFFFFFF).zeros(64).array())).isNull();
    }

    @Test
    void anMp3IsMeasuredByItsFrameCountOrElseItsBitrate() {
        // constant bitrate: 100 frames of 417 bytes at 128 kbit/s = 2.60625 s
        assertThat(length(mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("2.606");
        assertThat(length(mp3Frames(MP3_STEREO, 100, MP3_FRAME)).scale()).isEqualTo(3);
        // an ID3v2 tag in front (its size a syncsafe int; with a footer or zero padding after it), an ID3v1 tag at the end
        assertThat(length(id3v2(1000, false), mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("2.606");
        assertThat(length(id3v2(1000, true), mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("2.606");
        assertThat(length(id3v2(1000, false), new byte[300], mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("2.606");
        assertThat(length(mp3Frames(MP3_STEREO, 100, MP3_FRAME), id3v1())).isEqualByComparingTo("2.606");
        // MPEG-2: 22.05 kHz, 64 kbit/s, 208-byte frames: 50 of them = 1.3 s
        assertThat(length(mp3Frames(0xFFF38000, 50, 208))).isEqualByComparingTo("1.3");
        // a Xing (VBR) or Info header's frame count: 100 * 1152 / 44100 = 2.6122 s; the header frame is not counted
        assertThat(length(xingFrame(MP3_STEREO, 36, "Xing", 100), mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("2.612");
        assertThat(length(id3v2(500, false), xingFrame(MP3_MONO, 21, "Info", 100), mp3Frames(MP3_MONO, 100, MP3_FRAME)))
                .isEqualByComparingTo("2.612");
        // a Xing header without the count: the bitrate again
        byte[] countless = xingFrame(MP3_STEREO, 36, "Xing", 100);
        countless[36 + 7] = 0;
        assertThat(length(countless, mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("2.632");
        // Fraunhofer's VBRI header, 32 bytes after the frame header
        byte[] vbri = mp3Frames(MP3_STEREO, 1, MP3_FRAME);
        System.arraycopy(new Bytes().ascii("VBRI").be16(1).be16(0).be16(75).be32(41700).be32(100).array(), 0, vbri, 36, 18);
        assertThat(length(vbri, mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("2.612");
    }

    @Test
    void anMp3HeaderBrokenOrCutShortTellsNothing() {
        assertThat(length(mp3Frames(0xFFFBF000, 10, MP3_FRAME))).isNull(); // bitrate index 15
        assertThat(length(mp3Frames(0xFFFB0000, 10, MP3_FRAME))).isNull(); // free format
        assertThat(length(mp3Frames(0xFFFD9000, 10, MP3_FRAME))).isNull(); // Layer II
        assertThat(length(mp3Frames(0xFFEB9000, 10, MP3_FRAME))).isNull(); // reserved MPEG version
        assertThat(length(mp3Frames(0xFFFB9C00, 10, MP3_FRAME))).isNull(); // reserved sample rate
        // an ID3v2 tag that claims more than the file has, or a bad syncsafe size, or nothing after it
        assertThat(length(Arrays.copyOf(id3v2(1000, false), 600))).isNull();
        byte[] unsafe = id3v2(1000, false);
        unsafe[8] |= (byte) 0x80;
        assertThat(length(unsafe, mp3Frames(MP3_STEREO, 10, MP3_FRAME))).isNull();
        assertThat(length(id3v2(1000, false), new byte[]{(byte) 0xFF, (byte) 0xFB})).isNull();
        // zeros are not an MP3 without a tag in front of them
        assertThat(length(new byte[1000])).isNull();
    }

    @Test
    void aFlacIsMeasuredByItsStreamInfo() {
        // 441,000 samples at 44.1 kHz
        assertThat(length(flac(44100, 441_000), new byte[1000])).isEqualByComparingTo("10");
        assertThat(length(id3v2(200, false), flac(44100, 441_000), new byte[1000])).isEqualByComparingTo("10");
        // a total of 0 samples is "unknown" (a stream's encoder could not seek back)
        assertThat(length(flac(44100, 0), new byte[1000])).isNull();
        assertThat(length(Arrays.copyOf(flac(44100, 441_000), 20))).isNull();
        byte[] notStreamInfo = flac(44100, 441_000);
        notStreamInfo[4] = 4;
        assertThat(length(notStreamInfo)).isNull();
    }

    @Test
    void anOggIsMeasuredByItsLastGranulePosition() {
        // Opus: (48000 * 3 + 312 - 312 pre-skip) / 48 kHz
        assertThat(length(opus(312, 48000 * 3 + 312, 1000))).isEqualByComparingTo("3");
        // Vorbis: 220,500 samples at 44.1 kHz
        assertThat(length(vorbis(44100, 220_500))).isEqualByComparingTo("5");
        // another logical stream's page after it does not count
        byte[] other = oggPage(0, 999_999_999L, 0x0BAD, 2, new byte[100]);
        assertThat(length(opus(312, 48000 * 3 + 312, 1000), other)).isEqualByComparingTo("3");
        // FLAC in Ogg is not read; a last page cut short leaves no length; nor does a granule below the pre-skip
        assertThat(length(oggPage(2, 0, 7, 0, new Bytes().u8(0x7F).ascii("FLAC").zeros(46).array()),
                oggPage(4, 441_000, 7, 1, new byte[100]))).isNull();
        byte[] cut = opus(312, 48000 * 3 + 312, 1000);
        assertThat(length(Arrays.copyOf(cut, cut.length - 1))).isNull();
        assertThat(length(opus(312, 300, 1000))).isNull();
        assertThat(length(Arrays.copyOf(cut, 40))).isNull();
    }

    @Test
    void anMp4IsMeasuredByItsMovieHeader() {
        // version 0: 7 s at a 44.1 kHz timescale; the media data to the end of the file (size 0)
        byte[] ftyp = box("ftyp", new Bytes().ascii("M4A ").be32(0).ascii("M4A isom").array());
        byte[] v0 = box("moov", mvhd(0, 44100, 44100L * 7));
        assertThat(length(ftyp, v0, new Bytes().be32(0).ascii("mdat").zeros(1000).array())).isEqualByComparingTo("7");
        // version 1 after media data with a 64-bit size: 12.345 s
        byte[] mdat64 = new Bytes().be32(1).ascii("mdat").be64(16 + 1000).zeros(1000).array();
        assertThat(length(ftyp, mdat64, box("moov", mvhd(1, 1000, 12_345)))).isEqualByComparingTo("12.345");
        // a fragmented file's 0, or all ones: unknown
        assertThat(length(ftyp, box("moov", mvhd(0, 1000, 0)))).isNull();
        assertThat(length(ftyp, box("moov", mvhd(0, 1000, 0xFFFF_FFFFL)))).isNull();
        assertThat(length(ftyp, box("moov", mvhd(1, 1000, -1)))).isNull();
        // sizes past the end (64-bit, even negative ones), or a movie header cut short
        assertThat(length(ftyp, new Bytes().be32(1).ascii("mdat").be64(Long.MAX_VALUE).array(), v0)).isNull();
        assertThat(length(ftyp, new Bytes().be32(1).ascii("mdat").be64(-16).array(), v0)).isNull();
        assertThat(length(ftyp, Arrays.copyOf(v0, 30))).isNull();
        assertThat(length(ftyp, box("moov", box("trak", new byte[8])))).isNull();
    }

    @Test
    void aWebmIsMeasuredByItsSegmentInfoWhenItHasOne() {
        // TimecodeScale 1 ms, Duration 4500.0 (an 8-byte float), after a Void element
        byte[] info = ebml(0x1549A966, ebml(0x2AD7B1, new Bytes().u8(0x0F).u8(0x42).u8(0x40).array()),
                ebml(0x4489, new Bytes().be64(Double.doubleToLongBits(4500.0)).array()));
        assertThat(length(webm(ebml(0xEC, new byte[2]), info))).isEqualByComparingTo("4.5");
        // a 4-byte float, the scale left at its default
        assertThat(length(webm(ebml(0x1549A966, ebml(0x4489, new Bytes().be32(Float.floatToIntBits(2500f)).array())))))
                .isEqualByComparingTo("2.5");
        // a MediaRecorder file: no Duration; or the media before the Info; or a duration that is no number
        assertThat(length(webm(ebml(0x1549A966, ebml(0x2AD7B1, new byte[]{1}))))).isNull();
        assertThat(length(webm(new Bytes().be32(0x1F43B675).u8(0xFF).zeros(10).array(), info))).isNull();
        assertThat(length(webm(ebml(0x1549A966, ebml(0x4489, new Bytes().be64(Double.doubleToLongBits(Double.NaN)).array())))))
                .isNull();
        assertThat(length(webm(ebml(0x1549A966, ebml(0x4489, new Bytes().be64(Double.doubleToLongBits(-3.0)).array())))))
                .isNull();
        byte[] whole = webm(info);
        assertThat(length(Arrays.copyOf(whole, whole.length - 3))).isNull();
    }

    /**
     * The length is billed: a header cannot claim less than the file's bytes at the format's highest plausible byte
     * rate (MP3 40,000 B/s; Opus, Vorbis 64,000 B/s; WAV, FLAC, and MP4 and WebM, which may hold video, 6,144,000 B/s).
     */
    @Test
    void aLyingHeaderCannotMakeAudioShorterThanItsBytesAllow() {
        // a Xing header counting 1 frame in 101 frames' bytes: 42,117 B / 40,000 B/s
        assertThat(length(xingFrame(MP3_STEREO, 36, "Xing", 1), mp3Frames(MP3_STEREO, 100, MP3_FRAME))).isEqualByComparingTo("1.053");
        // a WAV byte rate of 4 GB/s over 614,444 bytes
        byte[] wav = AudioTest.wav(16000, 614_400);
        wav[28] = wav[29] = wav[30] = wav[31] = (byte) 0xFF;
        assertThat(length(wav)).isEqualByComparingTo("0.100");
        assertThat(length(flac(44100, 1), new byte[614_400])).isEqualByComparingTo("0.100");
        // an Opus granule 1 sample past the pre-skip, over 64,325 bytes
        assertThat(length(opus(312, 313, 64_000))).isEqualByComparingTo("1.005");
        // an MP4 of 1 ms over 6,144,148 bytes: a real video's picture is not charged as audio, a liar's bytes still are
        byte[] ftyp = box("ftyp", new Bytes().ascii("M4A ").be32(0).ascii("M4A isom").array());
        assertThat(length(ftyp, box("moov", mvhd(0, 1000, 1)), box("mdat", new byte[6_144_000]))).isEqualByComparingTo("1.000");
    }

    @Test
    void anythingElseTellsNothing() {
        assertThat(AudioDuration.ofUpload(null)).isNull();
        assertThat(length(new byte[0])).isNull();
        assertThat(length("just some words, not audio".getBytes(StandardCharsets.UTF_8))).isNull();
        assertThat(length(new Bytes().ascii("RIFF").le32(100).ascii("AVI LIST").zeros(100).array())).isNull();
        assertThat(length(new Bytes().ascii("OggS").zeros(100).array())).isNull();
        // a header claiming years: not believed
        assertThat(length(flac(1, 1L << 35), new byte[100])).isNull();
    }

    /** Hostile uploads: every cut and thousands of random byte changes of each sample give a length or null, never an exception. */
    @Test
    void noUploadMakesItThrow() {
        Map<String, byte[]> samples = new LinkedHashMap<>();
        samples.put("wav", AudioTest.wav(8000, 400));
        samples.put("mp3", join(id3v2(40, true), mp3Frames(MP3_STEREO, 3, MP3_FRAME), id3v1()));
        samples.put("mp3 xing", join(xingFrame(MP3_MONO, 21, "Xing", 3), mp3Frames(MP3_MONO, 3, MP3_FRAME)));
        byte[] vbri = mp3Frames(MP3_STEREO, 2, MP3_FRAME);
        System.arraycopy(new Bytes().ascii("VBRI").be16(1).be16(0).be16(75).be32(834).be32(2).array(), 0, vbri, 36, 18);
        samples.put("mp3 vbri", vbri);
        samples.put("flac", join(id3v2(20, false), flac(44100, 441_000), new byte[64]));
        samples.put("opus", join(opus(312, 48000 * 3 + 312, 300), oggPage(0, 5, 0x0BAD, 2, new byte[40])));
        samples.put("vorbis", vorbis(44100, 220_500));
        byte[] ftyp = box("ftyp", new Bytes().ascii("M4A ").be32(0).ascii("M4A isom").array());
        samples.put("mp4 v0", join(ftyp, box("moov", mvhd(0, 44100, 44100L * 7)), new Bytes().be32(0).ascii("mdat").zeros(100).array()));
        byte[] mdat64 = new Bytes().be32(1).ascii("mdat").be64(16 + 50).zeros(50).array();
        samples.put("mp4 v1", join(ftyp, mdat64, box("moov", mvhd(1, 1000, 12_345))));
        byte[] info = ebml(0x1549A966, ebml(0x2AD7B1, new byte[]{0x0F, 0x42, 0x40}),
                ebml(0x4489, new Bytes().be64(Double.doubleToLongBits(4500.0)).array()));
        samples.put("webm", webm(ebml(0xEC, new byte[2]), info, new Bytes().be32(0x1F43B675).u8(0xFF).zeros(30).array()));
        Random random = new Random(20240611);
        for (Map.Entry<String, byte[]> sample : samples.entrySet()) {
            byte[] bytes = sample.getValue();
            assertThat(length(bytes)).as(sample.getKey()).isNotNull();
            for (int cut = 0; cut <= bytes.length; cut++) {
                measure(sample.getKey() + " cut at " + cut, Arrays.copyOf(bytes, cut));
            }
            for (int i = 0; i < 4000; i++) {
                byte[] mutated = bytes.clone();
                StringBuilder changes = new StringBuilder();
                for (int n = 1 + random.nextInt(4); n > 0; n--) {
                    // headers sit at either end: most changes go there
                    int zone = random.nextInt(4);
                    int at = zone == 0 ? random.nextInt(bytes.length)
                            : zone == 3 ? bytes.length - 1 - random.nextInt(Math.min(bytes.length, 64))
                            : random.nextInt(Math.min(bytes.length, 96));
                    mutated[at] = random.nextBoolean() ? (byte) random.nextInt(256) : (byte) (mutated[at] ^ (1 << random.nextInt(8)));
                    changes.append(' ').append(at).append('=').append(mutated[at] & 0xFF);
                }
                measure(sample.getKey() + " changed at" + changes, mutated);
            }
        }
    }

    /** Random bytes behind each format's magic, at random lengths. */
    @Test
    void noRandomBytesBehindAMagicMakeItThrow() {
        byte[][] magics = {"RIFF\0\0\0\0WAVE".getBytes(StandardCharsets.US_ASCII), "OggS".getBytes(StandardCharsets.US_ASCII),
                {0x1A, 0x45, (byte) 0xDF, (byte) 0xA3}, "\0\0\0\0ftyp".getBytes(StandardCharsets.US_ASCII),
                "ID3\u0004".getBytes(StandardCharsets.US_ASCII), "fLaC".getBytes(StandardCharsets.US_ASCII), {(byte) 0xFF, (byte) 0xFB}};
        Random random = new Random(7);
        for (byte[] magic : magics) {
            for (int i = 0; i < 3000; i++) {
                byte[] bytes = new byte[magic.length + random.nextInt(300)];
                random.nextBytes(bytes);
                System.arraycopy(magic, 0, bytes, 0, magic.length);
                measure(new String(magic, StandardCharsets.ISO_8859_1) + " then random bytes (" + i + ")", bytes);
            }
        }
    }

    private static void measure(String what, byte[] bytes) {
        BigDecimal seconds;
        try {
            seconds = AudioDuration.ofUpload(Buffer.buffer(bytes));
        } catch (RuntimeException e) {
            throw new AssertionError(what + " threw", e);
        }
        if (seconds != null && (seconds.signum() < 0 || seconds.scale() != 3)) { // under half a millisecond rounds to 0.000
            throw new AssertionError(what + " gave " + seconds);
        }
    }

    private static BigDecimal length(byte[]... parts) {
        return AudioDuration.ofUpload(Buffer.buffer(join(parts)));
    }

    private static byte[] join(byte[]... parts) {
        Bytes all = new Bytes();
        for (byte[] part : parts) {
            all.bytes(part);
        }
        return all.array();
    }

    /** {@code count} frames with this 4-byte header, each {@code frameLength} bytes long. */
    static byte[] mp3Frames(int header, int count, int frameLength) {
        Bytes frames = new Bytes();
        for (int i = 0; i < count; i++) {
            frames.be32(header).zeros(frameLength - 4);
        }
        return frames.array();
    }

    /** A first frame carrying a Xing or Info header (frame count only) after the side information. */
    private static byte[] xingFrame(int header, int sideInfoEnd, String tag, int frames) {
        byte[] frame = mp3Frames(header, 1, MP3_FRAME);
        System.arraycopy(new Bytes().ascii(tag).be32(1).be32(frames).array(), 0, frame, sideInfoEnd, 12);
        return frame;
    }

    /** An ID3v2.4 tag of {@code size} bytes (zeros) after its header, with a footer when asked. */
    private static byte[] id3v2(int size, boolean footer) {
        Bytes tag = new Bytes().ascii("ID3").u8(4).u8(0).u8(footer ? 0x10 : 0)
                .u8(size >> 21 & 0x7F).u8(size >> 14 & 0x7F).u8(size >> 7 & 0x7F).u8(size & 0x7F).zeros(size);
        return footer ? tag.ascii("3DI").u8(4).u8(0).u8(0x10).u8(size >> 21 & 0x7F).u8(size >> 14 & 0x7F).u8(size >> 7 & 0x7F)
                .u8(size & 0x7F).array() : tag.array();
    }

    private static byte[] id3v1() {
        return new Bytes().ascii("TAG").zeros(125).array();
    }

    /** {@code fLaC} and a last STREAMINFO block: 16-bit stereo, 4096-sample blocks. */
    private static byte[] flac(int sampleRate, long totalSamples) {
        return new Bytes().ascii("fLaC").u8(0x80).u8(0).u8(0).u8(34).be16(4096).be16(4096).zeros(6)
                .be64((long) sampleRate << 44 | 1L << 41 | 15L << 36 | totalSamples).zeros(16).array();
    }

    /** An Ogg page: its body laced into segments (the CRC is left 0: it is not checked). */
    private static byte[] oggPage(int type, long granule, int serial, int sequence, byte[] body) {
        Bytes page = new Bytes().ascii("OggS").u8(0).u8(type).le64(granule).le32(serial).le32(sequence).le32(0)
                .u8(body.length / 255 + 1);
        for (int i = 0; i < body.length / 255; i++) {
            page.u8(255);
        }
        return page.u8(body.length % 255).bytes(body).array();
    }

    /** Two pages: OpusHead (stereo), and the last page, its body {@code lastBody} bytes. */
    private static byte[] opus(int preSkip, long lastGranule, int lastBody) {
        byte[] head = new Bytes().ascii("OpusHead").u8(1).u8(2).le16(preSkip).le32(48000).le16(0).u8(0).array();
        return join(oggPage(2, 0, 7, 0, head), oggPage(4, lastGranule, 7, 1, new byte[lastBody]));
    }

    private static byte[] vorbis(int sampleRate, long lastGranule) {
        byte[] identification = new Bytes().u8(1).ascii("vorbis").le32(0).u8(2).le32(sampleRate).le32(0).le32(128_000).le32(0)
                .u8(0xB8).u8(1).array();
        return join(oggPage(2, 0, 9, 0, identification), oggPage(0, 0, 9, 1, new byte[200]), oggPage(4, lastGranule, 9, 2, new byte[500]));
    }

    private static byte[] box(String type, byte[]... payload) {
        byte[] body = join(payload);
        return new Bytes().be32(8 + body.length).ascii(type).bytes(body).array();
    }

    /** A movie header box, version 0 (32-bit times) or 1 (64-bit), with the fields after the duration zeroed. */
    private static byte[] mvhd(int version, long timescale, long duration) {
        Bytes header = new Bytes().u8(version).zeros(3);
        if (version == 0) {
            header.be32(0).be32(0).be32((int) timescale).be32((int) duration);
        } else {
            header.be64(0).be64(0).be32((int) timescale).be64(duration);
        }
        return box("mvhd", header.be32(0x00010000).be16(0x0100).zeros(10 + 36 + 24 + 4).array());
    }

    /** An EBML element with a known size, written in 8 bytes; the ID as written (its length marker included). */
    private static byte[] ebml(int id, byte[]... children) {
        byte[] body = join(children);
        Bytes element = new Bytes();
        for (int shift = 24; shift >= 0; shift -= 8) {
            if ((id >>> shift) != 0) {
                element.u8(id >>> shift & 0xFF);
            }
        }
        return element.be64(0x0100_0000_0000_0000L | body.length).bytes(body).array();
    }

    /** A WebM: its EBML header, then a Segment of unknown size (a recording's) holding {@code children}. */
    private static byte[] webm(byte[]... children) {
        byte[] header = ebml(0x1A45DFA3, ebml(0x4282, "webm".getBytes(StandardCharsets.US_ASCII)));
        return join(header, new Bytes().be32(0x18538067).be64(0x01FF_FFFF_FFFF_FFFFL).array(), join(children));
    }

    /** A growing byte array: big- and little-endian integers, ASCII, zeros. */
    private static final class Bytes {
        private final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();

        Bytes u8(int value) {
            out.write(value);
            return this;
        }

        Bytes be16(int value) {
            return u8(value >>> 8).u8(value);
        }

        Bytes be32(int value) {
            return be16(value >>> 16).be16(value);
        }

        Bytes be64(long value) {
            return be32((int) (value >>> 32)).be32((int) value);
        }

        Bytes le16(int value) {
            return u8(value).u8(value >>> 8);
        }

        Bytes le32(int value) {
            return le16(value).le16(value >>> 16);
        }

        Bytes le64(long value) {
            return le32((int) value).le32((int) (value >>> 32));
        }

        Bytes ascii(String text) {
            return bytes(text.getBytes(StandardCharsets.US_ASCII));
        }

        Bytes zeros(int count) {
            return bytes(new byte[count]);
        }

        Bytes bytes(byte[] bytes) {
            out.writeBytes(bytes);
            return this;
        }

        byte[] array() {
            return out.toByteArray();
        }
    }
}
