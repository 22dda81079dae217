package ai.scaigrid.gateway.inference;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.buffer.Buffer;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.Set;

/**
 * How long the audio of a transcription was, for a price per minute: as the upstream reports it (OpenAI's
 * {@code usage: {type: "duration", seconds}}, or {@code duration} in {@code verbose_json}), else read from the upload's
 * header when its format keeps a length there (WAV, MP3, FLAC, Ogg Opus/Vorbis, MP4/M4A, WebM/Matroska). Null when
 * neither tells.
 *
 * <p>Uploads are hostile: every parser checks each offset against the buffer, caps its loops and allocates nothing
 * from header sizes; anything unexpected gives null, never an exception.
 */
final class AudioDuration {
    private static final int MAX_CHUNKS = 64;
    private static final int MAX_BOXES = 64;
    private static final int MAX_ELEMENTS = 64;
    private static final int MAX_ID3_TAGS = 4;
    /** Zero padding some taggers leave after an ID3v2 tag, beyond its declared size. */
    private static final int MAX_ID3_PADDING = 65536;
    /** The largest Ogg page (27-byte header, 255 lacing values of 255 bytes): the last page starts within it of the end. */
    private static final int MAX_OGG_PAGE = 27 + 255 + 255 * 255;
    private static final Set<String> MP4_FIRST_BOXES = Set.of("ftyp", "moov", "mdat", "free", "skip", "wide");
    // Matroska/WebM element IDs, and the size that says "unknown" (a recording still being written)
    private static final long EBML_MAGIC = 0x1A45DFA3L;
    private static final long SEGMENT = 0x18538067L;
    private static final long INFO = 0x1549A966L;
    private static final long CLUSTER = 0x1F43B675L;
    private static final long TIMECODE_SCALE = 0x2AD7B1L;
    private static final long DURATION = 0x4489L;
    private static final long UNKNOWN_SIZE = -1;

    /*
     * The length is billed, so a header must not make audio look shorter than its bytes allow (an MP3's Xing frame
     * count of 1, a WAV's huge byte rate): the length is at least the file's bytes at the format's highest plausible
     * byte rate. Lossy ones at their codec's top bitrate; lossless ones at 192 kHz * 8 channels * 4 bytes, loose but bounded.
     * MP4 and WebM may carry a picture (OpenAI takes video files), whose bytes are no audio: they take the loose bound
     * too, so that a real video is not charged for its picture.
     */
    private static final int MP3_MAX_BYTE_RATE = 320_000 / 8;
    private static final int AAC_OPUS_VORBIS_MAX_BYTE_RATE = 512_000 / 8;
    private static final int LOSSLESS_MAX_BYTE_RATE = 192_000 * 8 * 4;
    /** Longer than any honest upload (11.6 days); keeps a crafted header within audio_seconds' numeric(12, 3). */
    private static final BigDecimal MAX_SECONDS = BigDecimal.valueOf(1_000_000);

    private static final int[] MPEG1_KBPS = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0};
    private static final int[] MPEG2_KBPS = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0};
    private static final int[] MPEG1_RATES = {44100, 48000, 32000, 0};

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

    /**
     * The length of an upload in seconds, its format told by its first bytes (a filename may lie), or null when the
     * format is none of those read here or its header is broken, truncated or says nothing of the length.
     */
    static BigDecimal ofUpload(Buffer file) {
        if (file == null || file.length() < 12) {
            return null;
        }
        if (is(file, 0, "RIFF")) {
            return billable(ofWav(file), file, LOSSLESS_MAX_BYTE_RATE);
        }
        if (is(file, 0, "OggS")) {
            return billable(ofOgg(file), file, AAC_OPUS_VORBIS_MAX_BYTE_RATE);
        }
        if (file.getUnsignedInt(0) == EBML_MAGIC) {
            return billable(ofMatroska(file), file, LOSSLESS_MAX_BYTE_RATE);
        }
        if (MP4_FIRST_BOXES.contains(file.getString(4, 8))) {
            return billable(ofMp4(file), file, LOSSLESS_MAX_BYTE_RATE);
        }
        int audio = afterId3v2(file); // taggers put ID3v2 in front of FLAC too
        if (audio < 0) {
            return null;
        }
        return is(file, audio, "fLaC") ? billable(ofFlac(file, audio), file, LOSSLESS_MAX_BYTE_RATE)
                : billable(ofMp3(file, audio), file, MP3_MAX_BYTE_RATE);
    }

    /** A header's length, at least the file's bytes at the format's highest byte rate; null when none or beyond belief. */
    private static BigDecimal billable(BigDecimal header, Buffer file, int maxByteRate) {
        if (header == null || header.signum() <= 0 || header.compareTo(MAX_SECONDS) > 0) {
            return null;
        }
        BigDecimal floor = BigDecimal.valueOf(file.length()).divide(BigDecimal.valueOf(maxByteRate), MathContext.DECIMAL64);
        return seconds(header.max(floor));
    }

    /** A WAV (RIFF/WAVE, any encoding with a byte rate): its {@code data} bytes over the {@code fmt } byte rate. */
    private static BigDecimal ofWav(Buffer file) {
        if (!is(file, 8, "WAVE")) {
            return null;
        }
        long byteRate = 0;
        long at = 12;
        for (int i = 0; i < MAX_CHUNKS && at + 8 <= file.length(); i++) {
            long size = file.getUnsignedIntLE((int) at + 4);
            if (is(file, at, "fmt ") && at + 20 <= file.length()) {
                byteRate = file.getUnsignedIntLE((int) at + 16);
            } else if (is(file, at, "data")) {
                // a streamed WAV may leave the size unset (0 or all ones): the bytes that are there count
                long available = file.length() - (at + 8);
                long bytes = size == 0 || size > available ? available : size;
                return byteRate <= 0 ? null : ratio(bytes, byteRate);
            }
            at += 8 + size + (size & 1); // long: a chunk size near 4 GB cannot wrap
        }
        return null;
    }

    /**
     * An MPEG-1/2/2.5 Layer III stream from {@code audio} (after any ID3v2 tag): a Xing/Info or VBRI header's frame
     * count when the first frame carries one, else constant bitrate: the audio bytes at the first frame's bitrate.
     */
    private static BigDecimal ofMp3(Buffer file, int audio) {
        int at = audio;
        while (audio > 0 && at < file.length() && at - audio < MAX_ID3_PADDING && file.getByte(at) == 0) {
            at++;
        }
        if (at + 4 > file.length()) {
            return null;
        }
        int header = file.getInt(at);
        int version = (header >>> 19) & 3; // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
        int layer = (header >>> 17) & 3; // 1: Layer III
        int bitrateIndex = (header >>> 12) & 15;
        int rateIndex = (header >>> 10) & 3;
        if ((header >>> 21) != 0x7FF || version == 1 || layer != 1 || rateIndex == 3) {
            return null;
        }
        boolean mpeg1 = version == 3;
        int kbps = (mpeg1 ? MPEG1_KBPS : MPEG2_KBPS)[bitrateIndex];
        int sampleRate = MPEG1_RATES[rateIndex] >> (mpeg1 ? 0 : version == 2 ? 1 : 2);
        int samplesPerFrame = mpeg1 ? 1152 : 576;
        if (kbps == 0) {
            return null; // free format, or a bad index: no bitrate to go by
        }
        boolean mono = ((header >>> 6) & 3) == 3;
        long frames = xingFrames(file, at + 4 + (mpeg1 ? (mono ? 17 : 32) : (mono ? 9 : 17)));
        if (frames <= 0 && is(file, at + 36, "VBRI") && at + 54 <= file.length()) {
            frames = file.getUnsignedInt(at + 50);
        }
        if (frames > 0) {
            return ratio(frames * samplesPerFrame, sampleRate);
        }
        int end = file.length() >= at + 128 && is(file, file.length() - 128, "TAG") ? file.length() - 128 : file.length();
        return ratio((end - at) * 8L, kbps * 1000L);
    }

    /** A Xing/Info header's frame count, or 0 when there is none or it leaves the count out. */
    private static long xingFrames(Buffer file, int at) {
        if (!(is(file, at, "Xing") || is(file, at, "Info")) || at + 12 > file.length()) {
            return 0;
        }
        return (file.getInt(at + 4) & 1) == 0 ? 0 : file.getUnsignedInt(at + 8);
    }

    /** Where the audio starts after the ID3v2 tags in front of it (0 without), or -1 for a tag cut short or malformed. */
    private static int afterId3v2(Buffer file) {
        long at = 0;
        for (int i = 0; i < MAX_ID3_TAGS && is(file, at, "ID3"); i++) {
            if (at + 10 > file.length()) {
                return -1;
            }
            int major = file.getUnsignedByte((int) at + 3);
            int flags = file.getUnsignedByte((int) at + 5);
            int size = file.getInt((int) at + 6);
            if (major < 2 || major > 4 || (size & 0x80808080) != 0) {
                return -1;
            }
            // a syncsafe int: 7 bits a byte; a v2.4 footer repeats the 10-byte header after the tag
            long syncsafe = (size & 0x7F) | (size >> 1 & 0x3F80) | (size >> 2 & 0x1FC000) | (size >> 3 & 0xFE00000);
            at += 10 + syncsafe + ((flags & 0x10) != 0 ? 10 : 0);
            if (at > file.length()) {
                return -1;
            }
        }
        return (int) at;
    }

    /** A FLAC stream from {@code at}: STREAMINFO's total samples over its sample rate; null when the total is 0 (unknown). */
    private static BigDecimal ofFlac(Buffer file, int at) {
        // the first metadata block is STREAMINFO (type 0, 34 bytes); its rate, channels, depth and total share 8 bytes
        if (at + 26 > file.length() || (file.getByte(at + 4) & 0x7F) != 0 || file.getUnsignedMedium(at + 5) < 34) {
            return null;
        }
        long packed = file.getLong(at + 18);
        long sampleRate = packed >>> 44;
        long totalSamples = packed & 0xF_FFFF_FFFFL;
        return sampleRate == 0 || totalSamples == 0 ? null : ratio(totalSamples, sampleRate);
    }

    /**
     * An Ogg Opus or Vorbis stream: the last page's granule position (samples since the start) of the first logical
     * stream, less Opus's pre-skip, at 48 kHz for Opus, else at the Vorbis identification header's sample rate.
     */
    private static BigDecimal ofOgg(Buffer file) {
        int end = oggPageEnd(file, 0);
        if (end < 0 || (file.getByte(5) & 2) == 0) {
            return null; // not a first (beginning-of-stream) page
        }
        int packet = 27 + file.getUnsignedByte(26);
        long serial = file.getUnsignedIntLE(14);
        long preSkip;
        long sampleRate;
        if (is(file, packet, "OpusHead") && packet + 19 <= end) {
            preSkip = file.getUnsignedShortLE(packet + 10);
            sampleRate = 48000;
        } else if (packet + 16 <= end && file.getByte(packet) == 1 && is(file, packet + 1, "vorbis")) {
            preSkip = 0;
            sampleRate = file.getUnsignedIntLE(packet + 12);
        } else {
            return null; // FLAC or Speex in Ogg, or not audio
        }
        // the last page of this stream: it starts within one page's length of the end
        for (int at = file.length() - 27; at >= Math.max(end, file.length() - MAX_OGG_PAGE); at--) {
            if (oggPageEnd(file, at) > 0 && file.getUnsignedIntLE(at + 14) == serial) {
                long granule = file.getLongLE(at + 6);
                if (granule >= 0) { // -1: no packet ends on this page
                    return sampleRate == 0 ? null : ratio(granule - preSkip, sampleRate);
                }
            }
        }
        return null;
    }

    /** Where the Ogg page at {@code at} ends, or -1 when there is no whole page there. */
    private static int oggPageEnd(Buffer file, int at) {
        if (at < 0 || at + 27 > file.length() || !is(file, at, "OggS") || file.getByte(at + 4) != 0) {
            return -1;
        }
        int segments = file.getUnsignedByte(at + 26);
        int end = at + 27 + segments;
        if (end > file.length()) {
            return -1;
        }
        for (int i = 0; i < segments; i++) {
            end += file.getUnsignedByte(at + 27 + i);
        }
        return end > file.length() ? -1 : end;
    }

    /** An ISO BMFF (MP4, M4A) file: the movie header's ({@code moov/mvhd}) duration over its timescale, version 0 or 1. */
    private static BigDecimal ofMp4(Buffer file) {
        long[] moov = box(file, 0, file.length(), "moov");
        long[] mvhd = moov == null ? null : box(file, moov[0], moov[1], "mvhd");
        if (mvhd == null || mvhd[0] + 4 > mvhd[1]) {
            return null;
        }
        int at = (int) mvhd[0];
        int version = file.getUnsignedByte(at);
        long timescale;
        long duration;
        if (version == 0 && at + 20 <= mvhd[1]) {
            timescale = file.getUnsignedInt(at + 12);
            duration = file.getUnsignedInt(at + 16);
            duration = duration == 0xFFFF_FFFFL ? -1 : duration; // all ones: unknown
        } else if (version == 1 && at + 32 <= mvhd[1]) {
            timescale = file.getUnsignedInt(at + 20);
            duration = file.getLong(at + 24); // all ones (-1): unknown; above 2^63 nothing honest
        } else {
            return null;
        }
        // a fragmented file (a recording's) leaves the duration 0 here
        return timescale == 0 || duration <= 0 ? null : ratio(duration, timescale);
    }

    /**
     * The payload of the first box of {@code type} among the boxes laid end to end in [{@code from}, {@code to}), as
     * {start, end}; null when none is found or a box size runs past {@code to}. Size 1: a 64-bit size follows; 0: to the end.
     */
    private static long[] box(Buffer file, long from, long to, String type) {
        long at = from;
        for (int i = 0; i < MAX_BOXES && at + 8 <= to; i++) {
            long size = file.getUnsignedInt((int) at);
            int header = 8;
            if (size == 1) {
                if (at + 16 > to) {
                    return null;
                }
                size = file.getLong((int) at + 8); // negative when above 2^63: refused below
                header = 16;
            } else if (size == 0) {
                size = to - at;
            }
            if (size < header || size > to - at) {
                return null;
            }
            if (is(file, at + 4, type)) {
                return new long[]{at + header, at + size};
            }
            at += size;
        }
        return null;
    }

    /**
     * A WebM or Matroska file (EBML elements: an ID and a size, each in variable-length bytes): the Segment's
     * Info/Duration, a float in TimecodeScale units (default 1 ms); null when absent, as browsers' MediaRecorder often leaves it.
     */
    private static BigDecimal ofMatroska(Buffer file) {
        long[] header = element(file, 0);
        if (header == null || header[2] == UNKNOWN_SIZE) {
            return null;
        }
        long[] segment = element(file, header[1] + header[2]);
        if (segment == null || segment[0] != SEGMENT) {
            return null;
        }
        // a recording still being written leaves the Segment's size unknown: it runs to the end of the file
        long segmentEnd = segment[2] == UNKNOWN_SIZE ? file.length() : Math.min(segment[1] + segment[2], file.length());
        long at = segment[1];
        for (int i = 0; i < MAX_ELEMENTS && at < segmentEnd; i++) {
            long[] child = element(file, at);
            if (child == null || child[0] == CLUSTER || child[2] == UNKNOWN_SIZE) {
                return null; // the Info comes before the media
            }
            long childEnd = child[1] + child[2];
            if (child[0] == INFO) {
                return childEnd > file.length() ? null : matroskaDuration(file, child[1], childEnd);
            }
            at = childEnd;
        }
        return null;
    }

    private static BigDecimal matroskaDuration(Buffer file, long from, long to) {
        long scale = 1_000_000;
        double duration = 0;
        long at = from;
        for (int i = 0; i < MAX_ELEMENTS && at < to; i++) {
            long[] child = element(file, at);
            if (child == null || child[2] == UNKNOWN_SIZE || child[1] + child[2] > to) {
                return null;
            }
            int value = (int) child[1];
            int size = (int) child[2];
            if (child[0] == TIMECODE_SCALE && size >= 1 && size <= 8) {
                scale = 0;
                for (int b = 0; b < size; b++) {
                    scale = scale << 8 | file.getUnsignedByte(value + b);
                }
            } else if (child[0] == DURATION && (size == 4 || size == 8)) {
                duration = size == 4 ? Float.intBitsToFloat(file.getInt(value)) : Double.longBitsToDouble(file.getLong(value));
            }
            at = child[1] + child[2];
        }
        // NaN, infinite, negative or absent all fail the test below
        if (!(duration > 0 && duration < Double.MAX_VALUE) || scale <= 0) {
            return null;
        }
        return BigDecimal.valueOf(duration).multiply(BigDecimal.valueOf(scale)).movePointLeft(9);
    }

    /**
     * The EBML element at {@code at} as {id, start of its data, data size} (size -1: unknown), or null when its ID or
     * size is malformed or cut short. IDs keep their length marker (1 to 4 bytes); sizes drop it (1 to 8 bytes).
     */
    private static long[] element(Buffer file, long at) {
        if (at < 0 || at >= file.length()) {
            return null;
        }
        int first = file.getUnsignedByte((int) at);
        int idLength = Integer.numberOfLeadingZeros(first) - 23;
        if (first == 0 || idLength > 4 || at + idLength >= file.length()) {
            return null;
        }
        long id = 0;
        for (int i = 0; i < idLength; i++) {
            id = id << 8 | file.getUnsignedByte((int) at + i);
        }
        long sizeAt = at + idLength;
        int lead = file.getUnsignedByte((int) sizeAt);
        int sizeLength = Integer.numberOfLeadingZeros(lead) - 23;
        if (lead == 0 || sizeAt + sizeLength > file.length()) {
            return null;
        }
        long size = lead & (0xFF >> sizeLength);
        for (int i = 1; i < sizeLength; i++) {
            size = size << 8 | file.getUnsignedByte((int) sizeAt + i);
        }
        boolean unknown = size == (1L << (7 * sizeLength)) - 1; // all value bits set
        return new long[]{id, sizeAt + sizeLength, unknown ? UNKNOWN_SIZE : size};
    }

    /** Whether the ASCII {@code text} is at {@code at}, within the file. */
    private static boolean is(Buffer file, long at, String text) {
        if (at < 0 || at + text.length() > file.length()) {
            return false;
        }
        for (int i = 0; i < text.length(); i++) {
            if (file.getByte((int) at + i) != text.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static BigDecimal ratio(long amount, long perSecond) {
        return amount <= 0 || perSecond <= 0 ? null
                : BigDecimal.valueOf(amount).divide(BigDecimal.valueOf(perSecond), MathContext.DECIMAL64);
    }

    private static BigDecimal seconds(BigDecimal value) {
        return value.signum() <= 0 ? null : value.setScale(3, RoundingMode.HALF_UP);
    }
}
