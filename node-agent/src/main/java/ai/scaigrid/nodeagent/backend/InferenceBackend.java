package ai.scaigrid.nodeagent.backend;

import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.EmbedResponse;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;

/**
 * What actually generates for one configured model. Both methods are lazy (nothing happens before
 * subscription) and cancelling the subscription stops the work at once (timers cancelled, upstream
 * request reset), so a cancelled call never keeps a node slot busy.
 *
 * <p>{@link #stream} emits content chunks and then exactly one final chunk carrying finish_reason and
 * usage. Failures are {@code ApiException}s with a ScaiGrid error code.
 */
public interface InferenceBackend {

    /** "simulated", "openai-compatible" ... (HeartbeatRequest.engine). */
    String engine();

    Multi<InferenceChunk> stream(InferenceRequest request);

    Uni<EmbedResponse> embed(EmbedRequest request);
}
