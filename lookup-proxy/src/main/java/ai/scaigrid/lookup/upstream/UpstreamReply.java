package ai.scaigrid.lookup.upstream;

import io.vertx.mutiny.core.buffer.Buffer;

/** An HTTP answer from an upstream (any status); {@code body} may be empty. */
public record UpstreamReply(int status, Buffer body) {
    public boolean isSuccess() {
        return status >= 200 && status < 300;
    }
}
