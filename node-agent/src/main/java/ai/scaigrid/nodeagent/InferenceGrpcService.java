package ai.scaigrid.nodeagent;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.scaiinfer.ChunkCoalescer;
import ai.scaigrid.commons.security.GrpcCallers;
import ai.scaigrid.commons.security.ServiceScopes;
import ai.scaigrid.nodeagent.backend.Backends;
import ai.scaigrid.nodeagent.backend.Chunks;
import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.EmbedResponse;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceError;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceResponse;
import ai.scaigrid.proto.scaiinfer.v1.InferenceService;
import ai.scaigrid.proto.scaiinfer.v1.ListModelsRequest;
import ai.scaigrid.proto.scaiinfer.v1.ListModelsResponse;
import ai.scaigrid.proto.scaiinfer.v1.ModelInfo;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code scaiinfer.v1.InferenceService} as a node serves it to the gateway. Every call holds a
 * generation slot for exactly as long as it runs: completion, failure, cancellation by the gateway
 * and an expired gRPC deadline all release it. A failure after the first chunk travels as a final
 * chunk with {@code error} (finish_reason "error"), before it as a gRPC status.
 */
@GrpcService
public class InferenceGrpcService implements InferenceService {
    private static final Logger LOG = Logger.getLogger(InferenceGrpcService.class);

    @Inject
    GrpcCallers callers;

    @Inject
    Backends backends;

    @Inject
    NodeRuntime runtime;

    @Override
    public Multi<InferenceChunk> streamInference(InferenceRequest request) {
        io.vertx.core.Context callContext = io.vertx.core.Vertx.currentContext();
        // tokens generated in one step (or read from the local server in one read) leave as one message
        return callers.requireService(ServiceScopes.SCAIINFER_NODE).onItem()
                .transformToMulti(c -> ChunkCoalescer.coalesce(generate(request, true), callContext));
    }

    @Override
    public Uni<InferenceResponse> infer(InferenceRequest request) {
        return callers.requireService(ServiceScopes.SCAIINFER_NODE)
                .flatMap(c -> generate(request, false).collect().asList())
                .map(Chunks::fold);
    }

    @Override
    public Uni<ListModelsResponse> listModels(ListModelsRequest request) {
        return callers.requireService(ServiceScopes.SCAIINFER_NODE).map(c -> {
            ListModelsResponse.Builder out = ListModelsResponse.newBuilder();
            for (Backends.Served s : backends.all()) {
                if (!request.getModality().isEmpty() && !request.getModality().equals(s.config().modality())) {
                    continue;
                }
                ModelInfo.Builder info = ModelInfo.newBuilder().setId(s.name()).setDisplayName(s.name())
                        .setModality(s.config().modality()).setContextWindow(s.config().contextWindow())
                        .setMaxOutputTokens(s.config().maxOutputTokens()).setCapabilities(NodeModels.capabilities(s))
                        .setOwnedBy(runtime.nodeId()).setLoaded(true)
                        .setQuantization(s.config().quantization().orElse(""));
                if (s.config().modality().equals("embedding") || s.backend().engine().equals("simulated")) {
                    info.setEmbeddingDimensions(s.config().embeddingDimensions());
                }
                out.addModels(info);
            }
            return out.build();
        });
    }

    @Override
    public Uni<EmbedResponse> embed(EmbedRequest request) {
        return callers.requireService(ServiceScopes.SCAIINFER_NODE).flatMap(c -> {
            if (request.getModel().isBlank()) {
                throw ApiException.validation("model", "model is required");
            }
            if (request.getInputCount() == 0) {
                throw ApiException.validation("input", "input must contain at least one text");
            }
            Backends.Served served = backends.require(request.getModel());
            NodeRuntime.Slot slot = runtime.acquire(served.name());
            AtomicReference<String> outcome = new AtomicReference<>("ok");
            return served.backend().embed(request)
                    .onFailure().invoke(e -> outcome.set("failed"))
                    .onCancellation().invoke(() -> outcome.set("cancelled"))
                    .onTermination().invoke(() -> slot.release(outcome.get()));
        });
    }

    private Multi<InferenceChunk> generate(InferenceRequest request, boolean errorsInBand) {
        validate(request);
        Backends.Served served = backends.require(request.getModel());
        if (served.config().modality().equals("embedding")) {
            throw ApiException.validation("model", "model " + served.name() + " is an embedding model");
        }
        NodeRuntime.Slot slot = runtime.acquire(served.name());
        AtomicBoolean emitted = new AtomicBoolean();
        AtomicReference<String> outcome = new AtomicReference<>("ok");
        Multi<InferenceChunk> stream = served.backend().stream(request)
                .onItem().invoke(c -> emitted.set(true))
                .onFailure().invoke(e -> outcome.set("failed"));
        if (errorsInBand) {
            stream = stream.onFailure(e -> emitted.get()).recoverWithMulti(e -> Multi.createFrom().item(errorChunk(request, e)));
        }
        return stream.onTermination().invoke((failure, cancelled) -> slot.release(cancelled ? "cancelled" : outcome.get()));
    }

    private static void validate(InferenceRequest r) {
        if (r.getModel().isBlank()) {
            throw ApiException.validation("model", "model is required");
        }
        if (r.hasPrompt() && r.getMessagesCount() > 0) {
            throw ApiException.validation("prompt", "set either prompt or messages, not both");
        }
        if (!r.hasPrompt() && r.getMessagesCount() == 0) {
            throw ApiException.validation("messages", "messages must not be empty");
        }
        if (r.hasMaxTokens() && r.getMaxTokens() < 1) {
            throw ApiException.validation("max_tokens", "max_tokens must be at least 1");
        }
        if (r.hasTemperature() && (r.getTemperature() < 0 || r.getTemperature() > 2)) {
            throw ApiException.validation("temperature", "temperature must be between 0 and 2");
        }
        if (r.hasTopP() && (r.getTopP() < 0 || r.getTopP() > 1)) {
            throw ApiException.validation("top_p", "top_p must be between 0 and 1");
        }
    }

    private static InferenceChunk errorChunk(InferenceRequest request, Throwable e) {
        ApiException api = e instanceof ApiException a && !a.errorCode().isServerFault() ? a
                : new ApiException(ErrorCode.BACKEND_ERROR, "The generation failed");
        if (!(e instanceof ApiException)) {
            LOG.errorf(e, "generation for %s failed mid-stream", request.getRequestId());
        }
        return InferenceChunk.newBuilder().setModel(request.getModel()).setFinishReason("error")
                .setError(InferenceError.newBuilder().setCode(api.errorCode().code()).setMessage(api.getMessage()))
                .build();
    }
}
