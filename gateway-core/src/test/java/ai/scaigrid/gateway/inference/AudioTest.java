package ai.scaigrid.gateway.inference;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import io.restassured.specification.RequestSpecification;
import io.vertx.core.json.JsonObject;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static ai.scaigrid.gateway.inference.InferenceFixtures.as;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chat;
import static ai.scaigrid.gateway.inference.InferenceFixtures.chatModel;
import static ai.scaigrid.gateway.inference.InferenceFixtures.run;
import static ai.scaigrid.gateway.inference.InferenceFixtures.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

/** Text to speech and speech to text on both doors against the OpenAI-style test upstream. */
@QuarkusTest
class AudioTest {
    @Inject
    Pool pool;

    @Inject
    UsageRecorder usage;

    private static String audioModel(String upstream) {
        return InferenceFixtures.model("test-" + run() + "/audio", "audio", null, upstream);
    }

    private static Map<String, Object> speak(String model, String input) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("input", input);
        body.put("voice", "alloy");
        return body;
    }

    private static RequestSpecification form(String key) {
        return RestAssured.given().header("Authorization", "Bearer " + key);
    }

    private Row record(String requestId) {
        return InferenceFixtures.usageRecord(pool, usage, requestId);
    }

    @Test
    void speechIsTheUpstreamsAudioOnBothDoors() {
        String model = audioModel("speak");
        String input = "hello world from the gateway";
        byte[] wav = as(ADMIN).header("X-Request-Id", "req_speech_native").body(with(speak(model, input), "response_format", "wav"))
                .when().post("/v1/inference/audio/speech").then().statusCode(200)
                .contentType("audio/wav").header("X-Request-Id", "req_speech_native")
                .header("X-Scaigrid-Ratelimit-Limit", org.hamcrest.Matchers.notNullValue())
                .extract().asByteArray();
        assertThat(new String(wav, StandardCharsets.UTF_8)).isEqualTo(OpenAiTestUpstream.speechBytes("wav", input));
        JsonObject sent = OpenAiTestUpstream.get().sentContaining(input);
        assertThat(sent.getString("_path")).isEqualTo("/v1/audio/speech");
        assertThat(sent.getString("model")).isEqualTo("speak");
        assertThat(sent.getString("voice")).isEqualTo("alloy");

        byte[] mp3 = as(ADMIN).body(with(speak(model, "second line"), "speed", 1.5)).when().post("/oai/v1/audio/speech").then()
                .statusCode(200).contentType("audio/mpeg").extract().asByteArray();
        assertThat(new String(mp3, StandardCharsets.UTF_8)).isEqualTo(OpenAiTestUpstream.speechBytes("mp3", "second line"));

        Row r = record("req_speech_native");
        assertThat(r.getString("endpoint")).isEqualTo("speech");
        assertThat(r.getInteger("prompt_tokens")).isEqualTo(input.length() / 4);
        assertThat(r.getInteger("completion_tokens")).isZero();
        assertThat(r.getBigDecimal("cost")).isEqualByComparingTo("0.000007"); // 7 x 1.00 / 1M
    }

    /**
     * Speech as server-sent events ({@code stream_format: "sse"}, gpt-4o-mini-tts): the upstream's events relayed as
     * they are, the audio in base64 pieces, and the request's tokens read from the last one.
     */
    @Test
    void speechAsEventsIsRelayedWithItsUsage() throws Exception {
        String model = audioModel("speak");
        String input = "speak in events";
        for (String door : java.util.List.of("/oai/v1/audio/speech", "/v1/inference/audio/speech")) {
            String requestId = "req_speech_sse_" + door.length();
            String sse = as(ADMIN).header("X-Request-Id", requestId).body(with(speak(model, input), "stream_format", "sse"))
                    .when().post(door).then().statusCode(200).contentType(startsWith("text/event-stream")).extract().asString();
            java.io.ByteArrayOutputStream audio = new java.io.ByteArrayOutputStream();
            JsonObject done = null;
            for (String data : InferenceFixtures.parseSse(sse).data()) {
                JsonObject event = new JsonObject(data);
                if ("speech.audio.delta".equals(event.getString("type"))) {
                    audio.write(java.util.Base64.getDecoder().decode(event.getString("audio")));
                } else {
                    done = event;
                }
            }
            assertThat(audio.toString(StandardCharsets.UTF_8)).isEqualTo(OpenAiTestUpstream.speechBytes("mp3", input));
            assertThat(done).isNotNull();
            assertThat(done.getString("type")).isEqualTo("speech.audio.done");
            assertThat(OpenAiTestUpstream.get().sentContaining(input).getString("stream_format")).isEqualTo("sse");
            Row r = record(requestId);
            assertThat(r.getString("status")).isEqualTo("ok");
            assertThat(r.getInteger("prompt_tokens")).isEqualTo(11);
            assertThat(r.getInteger("completion_tokens")).isEqualTo(42);
        }
    }

    /**
     * Speech is relayed as it arrives: the client reads the first part while the upstream still holds back the rest
     * (were it buffered, nothing would arrive until the gate opens, and the read would time out); an upstream that
     * breaks off leaves the client with a broken response, never a clean, short one.
     */
    @Test
    void speechIsRelayedAsItArrives() throws Exception {
        java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
        for (String door : java.util.List.of("/oai/v1/audio/speech", "/v1/inference/audio/speech")) {
            java.util.concurrent.CompletableFuture<Void> gate = new java.util.concurrent.CompletableFuture<>();
            OpenAiTestUpstream.get().speechGate.set(gate);
            java.net.http.HttpRequest request = speechRequest(door, audioModel("speak-stream"));
            java.net.http.HttpResponse<java.io.InputStream> response = client.sendAsync(request,
                    java.net.http.HttpResponse.BodyHandlers.ofInputStream()).get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.headers().firstValue("content-type")).hasValue("audio/mpeg");
            java.io.InputStream body = response.body();
            byte[] first = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return body.readNBytes(OpenAiTestUpstream.SPEECH_PART_1.length());
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(new String(first, StandardCharsets.UTF_8)).isEqualTo(OpenAiTestUpstream.SPEECH_PART_1);
            assertThat(gate).as("the upstream has not finished").isNotDone();
            gate.complete(null);
            assertThat(new String(body.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo(OpenAiTestUpstream.SPEECH_PART_2);
        }

        java.net.http.HttpResponse<java.io.InputStream> broken = client.sendAsync(speechRequest("/oai/v1/audio/speech",
                audioModel("speak-break")), java.net.http.HttpResponse.BodyHandlers.ofInputStream())
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(broken.statusCode()).isEqualTo(200);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> broken.body().readAllBytes())
                .as("a cut answer is a broken response").isInstanceOf(java.io.IOException.class);
    }

    private static java.net.http.HttpRequest speechRequest(String path, String model) {
        return java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://localhost:" + RestAssured.port + path))
                .header("Authorization", "Bearer " + ADMIN).header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(new JsonObject().put("model", model).put("input", "stream me")
                        .put("voice", "alloy").encode())).build();
    }

    @Test
    void badSpeechRequestsAreRefusedByName() {
        String model = audioModel("speak");
        int before = OpenAiTestUpstream.get().calls("speak");
        Map<String, Object> noVoice = speak(model, "x");
        noVoice.remove("voice");
        as(ADMIN).body(noVoice).when().post("/v1/inference/audio/speech").then().statusCode(400)
                .body("error.details[0].field", equalTo("voice")).body("meta.request_id", startsWith("req_"));
        as(ADMIN).body(with(speak(model, "x"), "response_format", "ogg")).when().post("/oai/v1/audio/speech").then()
                .statusCode(400).body("error.param", equalTo("response_format"));
        as(ADMIN).body(with(speak(model, "x"), "speed", 9)).when().post("/oai/v1/audio/speech").then()
                .statusCode(400).body("error.param", equalTo("speed"));
        as(ADMIN).body(speak(model, "x".repeat(4097))).when().post("/v1/inference/audio/speech").then()
                .statusCode(400).body("error.details[0].field", equalTo("input"));
        as(ADMIN).body(with(speak(model, "x"), "stream_format", "chunks")).when().post("/v1/inference/audio/speech").then()
                .statusCode(400).body("error.details[0].field", equalTo("stream_format"));
        assertThat(OpenAiTestUpstream.get().calls("speak")).isEqualTo(before);
        // a chat model does not speak, an audio model does not chat
        as(ADMIN).body(speak(chatModel("echo"), "x")).when().post("/v1/inference/audio/speech").then().statusCode(400)
                .body("error.details[0].field", equalTo("model"));
        as(ADMIN).body(chat(model, "x")).when().post("/v1/inference/chat").then().statusCode(400)
                .body("error.details[0].field", equalTo("model"));
        // an upstream failure is a gateway error without the upstream's internals
        as(ADMIN).body(speak(audioModel("fail500"), "x")).when().post("/v1/inference/audio/speech").then()
                .statusCode(org.hamcrest.Matchers.greaterThanOrEqualTo(500)).body("status", equalTo("error"))
                .body("error.message", not(containsString("SELECT")));
    }

    /**
     * A form whose packets split the CRLF before a boundary is read right (Netty's streaming decoder kept the CR:
     * netty/netty#12729), whether the split follows a field's value or a file's bytes.
     */
    @Test
    void aFormSplitBetweenCrAndLfIsReadRight() throws Exception {
        String model = audioModel("hear");
        String boundary = "split-boundary";
        String head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n" + model + "\r";
        String rest = "\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                + "Content-Type: audio/wav\r\n\r\nsplit speech\r";
        String tail = "\n--" + boundary + "--\r\n";
        for (int splitAt : new int[]{head.length(), head.length() + rest.length()}) {
            String body = head + rest + tail;
            try (java.net.Socket socket = new java.net.Socket("localhost", RestAssured.port)) {
                socket.setTcpNoDelay(true);
                socket.setSoTimeout(10_000);
                java.io.OutputStream out = socket.getOutputStream();
                out.write(("POST /oai/v1/audio/transcriptions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ADMIN
                        + "\r\nContent-Type: multipart/form-data; boundary=" + boundary + "\r\nContent-Length: "
                        + body.getBytes(StandardCharsets.UTF_8).length + "\r\nConnection: close\r\n\r\n"
                        + body.substring(0, splitAt)).getBytes(StandardCharsets.UTF_8));
                out.flush();
                Thread.sleep(150); // the server reads the first part on its own, ending in the CR
                out.write(body.substring(splitAt).getBytes(StandardCharsets.UTF_8));
                out.flush();
                String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(response).startsWith("HTTP/1.1 200").contains("\"heard: split speech\"");
            }
        }
    }

    @Test
    void transcriptionsTakeTheMultipartFormOnBothDoors() {
        String model = audioModel("hear");
        byte[] clip = "the quick brown fox".getBytes(StandardCharsets.UTF_8);
        form(ADMIN).header("X-Request-Id", "req_hear_oai").multiPart("file", "clip-oai.wav", clip, "audio/wav")
                .multiPart("model", model).multiPart("language", "en").multiPart("temperature", "0.2")
                .multiPart("timestamp_granularities[]", "word").multiPart("timestamp_granularities[]", "segment")
                .multiPart("response_format", "verbose_json")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200)
                .body("text", equalTo("heard: the quick brown fox")).body("language", equalTo("en"));
        JsonObject sent = OpenAiTestUpstream.get().sentContaining("clip-oai.wav");
        assertThat(sent.getString("_path")).isEqualTo("/v1/audio/transcriptions");
        assertThat(sent.getString("model")).isEqualTo("hear");
        assertThat(sent.getString("language")).isEqualTo("en");
        assertThat(sent.getString("temperature")).isEqualTo("0.2");
        assertThat(sent.getString("_file_type")).isEqualTo("audio/wav");
        assertThat(sent.getInteger("_file_bytes")).isEqualTo(clip.length);
        assertThat(sent.getString("_auth")).isEqualTo("Bearer sk-upstream-secret");

        // a text format as it came on the OpenAI door; enveloped as text on the native door
        String text = form(ADMIN).multiPart("file", "a.mp3", "plain words".getBytes(StandardCharsets.UTF_8), "audio/mpeg")
                .multiPart("model", model).multiPart("response_format", "text")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200).contentType(startsWith("text/plain"))
                .extract().asString();
        assertThat(text).isEqualTo("heard: plain words");
        form(ADMIN).header("X-Request-Id", "req_hear_native").multiPart("file", "b.mp3", "native words".getBytes(StandardCharsets.UTF_8))
                .multiPart("model", model).multiPart("response_format", "srt")
                .when().post("/v1/inference/audio/transcriptions").then().statusCode(200)
                .body("status", equalTo("ok")).body("data.text", startsWith("1\n00:00:00,000"));
        form(ADMIN).multiPart("file", "c.mp3", "json words".getBytes(StandardCharsets.UTF_8)).multiPart("model", model)
                .when().post("/v1/inference/audio/transcriptions").then().statusCode(200)
                .body("data.text", equalTo("heard: json words"));

        // without upstream usage the transcript is counted like a completion
        Row r = record("req_hear_oai");
        assertThat(r.getString("endpoint")).isEqualTo("transcriptions");
        assertThat(r.getInteger("completion_tokens")).isEqualTo(("heard: the quick brown fox".length() + 3) / 4);
        assertThat(record("req_hear_native").getString("status")).isEqualTo("ok");
    }

    @Test
    void translationsGoToTheTranslationsEndpoint() {
        String model = audioModel("hear");
        form(ADMIN).header("X-Request-Id", "req_translate").multiPart("file", "fr.wav", "bonjour".getBytes(StandardCharsets.UTF_8))
                .multiPart("model", model).when().post("/oai/v1/audio/translations").then().statusCode(200)
                .body("text", equalTo("heard in English: bonjour"));
        assertThat(OpenAiTestUpstream.get().sentContaining("fr.wav").getString("_path")).isEqualTo("/v1/audio/translations");
        form(ADMIN).multiPart("file", "de.wav", "hallo".getBytes(StandardCharsets.UTF_8)).multiPart("model", model)
                .multiPart("response_format", "text").when().post("/v1/inference/audio/translations").then().statusCode(200)
                .body("data.text", equalTo("heard in English: hallo"));
        assertThat(record("req_translate").getString("endpoint")).isEqualTo("translations");
    }

    /** A WAV file: a 16-bit mono header at {@code rate} Hz and {@code dataBytes} of silence. */
    static byte[] wav(int rate, int dataBytes) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(44 + dataBytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + dataBytes).put("WAVE".getBytes(StandardCharsets.US_ASCII));
        b.put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 1).putShort((short) 1).putInt(rate)
                .putInt(rate * 2).putShort((short) 2).putShort((short) 16);
        b.put("data".getBytes(StandardCharsets.US_ASCII)).putInt(dataBytes);
        return b.array();
    }

    /**
     * A model priced by the minute of audio (whisper-1's $0.006): the seconds the upstream reports ({@code duration}
     * of verbose_json), else the upload's own length (WAV, MP3 ... headers: {@link AudioDurationTest}), are recorded
     * and charged on top of the token prices; a format that reports nothing for an upload whose length cannot be read
     * leaves the minutes uncharged.
     */
    @Test
    void audioMinutesAreChargedAtTheModelsPricePerMinute() {
        String model = audioModel("hear");
        String id = as(ADMIN).when().get("/v1/models/" + model).then().statusCode(200).extract().path("data.id");
        as(ADMIN).body(Map.of("price_per_audio_minute", "0.006")).when().put("/v1/models/" + id).then().statusCode(200)
                .body("data.price_per_audio_minute", equalTo("0.006"));
        as(ADMIN).body(Map.of("price_per_audio_minute", "-1")).when().put("/v1/models/" + id).then().statusCode(400)
                .body("error.details[0].field", equalTo("price_per_audio_minute"));

        // verbose_json: the upstream says 1.5 s
        form(ADMIN).header("X-Request-Id", "req_minutes_reported").multiPart("file", "m.mp3", "some words".getBytes(StandardCharsets.UTF_8))
                .multiPart("model", model).multiPart("response_format", "verbose_json")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200).body("duration", equalTo(1.5f));
        Row reported = record("req_minutes_reported");
        assertThat(reported.getBigDecimal("audio_seconds")).isEqualByComparingTo("1.5");
        int prompt = reported.getInteger("prompt_tokens");
        int completion = reported.getInteger("completion_tokens");
        java.math.BigDecimal tokens = java.math.BigDecimal.valueOf(prompt).add(java.math.BigDecimal.valueOf(2L * completion))
                .divide(java.math.BigDecimal.valueOf(1_000_000));
        // 1.5 s at 0.006 a minute = 0.00015, on top of the tokens
        assertThat(reported.getBigDecimal("cost")).isEqualByComparingTo(tokens.add(new java.math.BigDecimal("0.00015")));

        // text: nothing reported; the WAV upload is 2 s long (16 kHz, 16-bit mono: 64,000 bytes)
        form(ADMIN).header("X-Request-Id", "req_minutes_wav").multiPart("file", "two.wav", wav(16000, 64000), "audio/wav")
                .multiPart("model", model).multiPart("response_format", "text")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200);
        assertThat(record("req_minutes_wav").getBigDecimal("audio_seconds")).isEqualByComparingTo("2");

        // text of an MP3: 100 frames at 128 kbit/s, 41,700 bytes, are 2.606 s
        form(ADMIN).header("X-Request-Id", "req_minutes_mp3").multiPart("file", "two.mp3",
                        AudioDurationTest.mp3Frames(AudioDurationTest.MP3_STEREO, 100, AudioDurationTest.MP3_FRAME), "audio/mpeg")
                .multiPart("model", model).multiPart("response_format", "text")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200);
        assertThat(record("req_minutes_mp3").getBigDecimal("audio_seconds")).isEqualByComparingTo("2.606");

        // text of an upload that is no audio format read here: its length is not known, and only the tokens are charged
        form(ADMIN).header("X-Request-Id", "req_minutes_unknown").multiPart("file", "x.mp3", "mp3 words".getBytes(StandardCharsets.UTF_8))
                .multiPart("model", model).multiPart("response_format", "text")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200);
        assertThat(record("req_minutes_unknown").getBigDecimal("audio_seconds")).isZero();

        // the accounting shows the seconds
        as(ADMIN).when().get("/v1/accounting/usage/summary?group_by=model&model=" + model).then().statusCode(200)
                .body("data.items[0].audio_seconds", equalTo("6.106"));
    }

    /**
     * A budget holds a transcription's audio minutes before the call: a WAV's own length, any other upload's size at
     * 6 kbit/s; a request whose minutes do not fit is refused before the upstream hears of it.
     */
    @Test
    void aBudgetHoldsTheAudioMinutesBeforeTheCall() {
        String model = audioModel("hear");
        String id = as(ADMIN).when().get("/v1/models/" + model).then().statusCode(200).extract().path("data.id");
        as(ADMIN).body(Map.of("price_per_audio_minute", "1.00")).when().put("/v1/models/" + id).then().statusCode(200);
        String tenantId = InferenceFixtures.tenant();
        as(ADMIN).body(Map.of("budget_cost", "0.02", "budget_period", "day")).when().put("/v1/tenants/" + tenantId + "/limits")
                .then().statusCode(200);
        String userKey = InferenceFixtures.key(tenantId, "tenant_user", null);
        int before = OpenAiTestUpstream.get().calls("hear");
        // the transcript's tokens hold 0.008 (4,096 at 2.00 a million); 2 s at 1.00 a minute 0.033 more: over 0.02
        form(userKey).multiPart("file", "long.wav", wav(16000, 64000), "audio/wav").multiPart("model", model)
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(402).body("error.type", equalTo("insufficient_quota"));
        // an mp3 of 1,000 bytes may hold 1.33 s at 6 kbit/s: 0.022 more, over it too
        form(userKey).multiPart("file", "x.mp3", new byte[1000], "audio/mpeg").multiPart("model", model)
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(402);
        assertThat(OpenAiTestUpstream.get().calls("hear")).isEqualTo(before);
        // 0.3 s (0.005 more) fits
        form(userKey).multiPart("file", "short.wav", wav(16000, 9600), "audio/wav").multiPart("model", model)
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200);
        assertThat(OpenAiTestUpstream.get().calls("hear")).isEqualTo(before + 1);
    }

    @Test
    void transcriptionTokensAreTheUpstreams() {
        String model = audioModel("hear-tokens");
        form(ADMIN).header("X-Request-Id", "req_hear_tokens").multiPart("file", "clip.wav", new byte[]{1, 2, 3}, "audio/wav")
                .multiPart("model", model).when().post("/oai/v1/audio/transcriptions").then().statusCode(200)
                .body("usage.input_tokens", equalTo(30));
        Row r = record("req_hear_tokens");
        assertThat(r.getInteger("prompt_tokens")).isEqualTo(30);
        assertThat(r.getInteger("completion_tokens")).isEqualTo(6);
        assertThat(r.getBigDecimal("cost")).isEqualByComparingTo("0.000042"); // 30 x 1.00 + 6 x 2.00 per million
    }

    /**
     * stream=true: gpt-4o-transcribe's events relayed as they arrive on both doors, the record written when the
     * stream ends with the upstream's tokens (or the transcript counted), and a stream the upstream breaks off cut.
     */
    @Test
    void aStreamedTranscriptIsRelayedAsItArrives() throws Exception {
        String model = audioModel("hear-tokens");
        String sse = form(ADMIN).header("X-Request-Id", "req_hear_streamed").multiPart("file", "s.wav",
                        "one two three".getBytes(StandardCharsets.UTF_8), "audio/wav").multiPart("model", model).multiPart("stream", "true")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(200).contentType(startsWith("text/event-stream"))
                .extract().asString();
        List<String> deltas = new java.util.ArrayList<>();
        String done = null;
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: ")) {
                JsonObject event = new JsonObject(line.substring(6));
                if ("transcript.text.delta".equals(event.getString("type"))) {
                    deltas.add(event.getString("delta"));
                } else {
                    done = event.getString("type") + ": " + event.getString("text");
                }
            }
        }
        assertThat(deltas).containsExactly("heard: ", "one ", "two ", "three");
        assertThat(done).isEqualTo("transcript.text.done: heard: one two three");
        assertThat(OpenAiTestUpstream.get().sentContaining("s.wav").getString("stream")).isEqualTo("true");
        Row r = record("req_hear_streamed");
        assertThat(r.getString("status")).isEqualTo("ok");
        assertThat(r.getBoolean("stream")).isTrue();
        assertThat(r.getInteger("prompt_tokens")).isEqualTo(40);
        assertThat(r.getInteger("completion_tokens")).isEqualTo(7);

        // the native door relays the same events; without the upstream's usage the transcript is counted
        String counted = audioModel("hear");
        String nativeSse = form(ADMIN).header("X-Request-Id", "req_hear_streamed_native").multiPart("file", "n.wav",
                        "a fairly long transcript".getBytes(StandardCharsets.UTF_8), "audio/wav").multiPart("model", counted)
                .multiPart("stream", "true").when().post("/v1/inference/audio/transcriptions").then().statusCode(200)
                .extract().asString();
        assertThat(nativeSse).contains("\"transcript.text.done\"");
        Row n = record("req_hear_streamed_native");
        assertThat(n.getInteger("completion_tokens")).isEqualTo(("heard: a fairly long transcript".length() + 3) / 4);

        // broken off after its first word: the client's answer is cut, not complete, and the record says error
        java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
        String boundary = "stream-boundary";
        String body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n" + model + "\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\ntrue\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
                + "please break off here\r\n--" + boundary + "--\r\n";
        var sent = client.sendAsync(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://localhost:" + RestAssured.port
                                + "/oai/v1/audio/transcriptions")).header("Authorization", "Bearer " + ADMIN)
                        .header("X-Request-Id", "req_hear_broken").header("Content-Type", "multipart/form-data; boundary=" + boundary)
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        Throwable cut = org.assertj.core.api.Assertions.catchThrowable(() -> sent.get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertThat(cut).isInstanceOf(java.util.concurrent.ExecutionException.class);
        assertThat(cut.getCause()).isInstanceOf(java.io.IOException.class);
        Row broken = record("req_hear_broken");
        assertThat(broken.getString("status")).isEqualTo("error");
        assertThat(broken.getString("error_code")).isEqualTo("BACKEND_ERROR");
    }

    @Test
    void badTranscriptionRequestsAreRefusedByName() {
        String model = audioModel("hear");
        int before = OpenAiTestUpstream.get().calls("hear");
        form(ADMIN).multiPart("model", model).when().post("/oai/v1/audio/transcriptions").then().statusCode(400)
                .body("error.param", equalTo("file"));
        as(ADMIN).body(Map.of("model", model)).when().post("/v1/inference/audio/transcriptions").then().statusCode(400)
                .body("error.details[0].field", equalTo("body")).body("meta.request_id", startsWith("req_"));
        form(ADMIN).multiPart("file", "a.wav", new byte[]{1}).multiPart("model", model).multiPart("response_format", "docx")
                .when().post("/v1/inference/audio/transcriptions").then().statusCode(400)
                .body("error.details[0].field", equalTo("response_format"));
        form(ADMIN).multiPart("file", "a.wav", new byte[]{1}).multiPart("model", model).multiPart("temperature", "hot")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(400).body("error.param", equalTo("temperature"));
        form(ADMIN).multiPart("file", "a.wav", new byte[]{1}).multiPart("model", model).multiPart("stream", "yes")
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(400).body("error.param", equalTo("stream"));
        form(ADMIN).multiPart("file", "a.wav", new byte[]{1}).multiPart("model", model).multiPart("stream", "true")
                .when().post("/oai/v1/audio/translations").then().statusCode(400).body("error.param", equalTo("stream"));
        form(ADMIN).multiPart("file", "a.wav", new byte[]{1}).when().post("/v1/inference/audio/transcriptions").then()
                .statusCode(400).body("error.details[0].field", equalTo("model"));
        // over the audio limit (1 MiB in tests): 413 in the API's shape, nothing sent upstream
        form(ADMIN).multiPart("file", "big.wav", new byte[1_100_000], "audio/wav").multiPart("model", model)
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(413).body("error.code", equalTo("payload_too_large"));
        // no key: 401 before the upload is read (a file over the limit is not even looked at)
        RestAssured.given().multiPart("file", "a.wav", new byte[]{1}).multiPart("model", model)
                .when().post("/v1/inference/audio/transcriptions").then().statusCode(401)
                .body("error.code", equalTo("AUTH_TOKEN_MISSING"));
        RestAssured.given().header("Authorization", "Bearer sgk_NotARealKey0000000000000000000000000")
                .multiPart("file", "big.wav", new byte[2_000_000], "audio/wav").multiPart("model", model)
                .when().post("/oai/v1/audio/transcriptions").then().statusCode(401).body("error.code", equalTo("invalid_api_key"));
        assertThat(OpenAiTestUpstream.get().calls("hear")).isEqualTo(before);
    }
}
