package ai.scaigrid.gateway.inference.provider;

import io.vertx.core.buffer.Buffer;

/** An uploaded audio file (a transcription's {@code file} part): its name and type as the client gave them, and its bytes. */
public record AudioUpload(String filename, String contentType, Buffer bytes) {
}
