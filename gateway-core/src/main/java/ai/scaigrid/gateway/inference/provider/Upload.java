package ai.scaigrid.gateway.inference.provider;

import io.vertx.core.buffer.Buffer;

/** An uploaded file (a transcription's audio, a file for the Files API): its name and type as the client gave them, and its bytes. */
public record Upload(String filename, String contentType, Buffer bytes) {
}
