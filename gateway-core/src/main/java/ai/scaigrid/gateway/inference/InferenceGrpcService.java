package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.commons.scaiinfer.ChunkCoalescer;
import ai.scaigrid.commons.scaiinfer.OpenAiChatBodies;
import ai.scaigrid.commons.scaiinfer.Reasoning;
import ai.scaigrid.commons.scaiinfer.Logprobs;
import ai.scaigrid.commons.scaiinfer.ThinkingBlocks;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.GrpcCallers;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.ServiceScopes;
import ai.scaigrid.gateway.catalog.CatalogModels.FrontendModel;
import ai.scaigrid.gateway.catalog.CatalogService;
import ai.scaigrid.gateway.health.Drain;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.ChunkDelta;
import ai.scaigrid.proto.scaiinfer.v1.EmbedRequest;
import ai.scaigrid.proto.scaiinfer.v1.EmbedResponse;
import ai.scaigrid.proto.scaiinfer.v1.Embedding;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceError;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceResponse;
import ai.scaigrid.proto.scaiinfer.v1.InferenceService;
import ai.scaigrid.proto.scaiinfer.v1.ListModelsRequest;
import ai.scaigrid.proto.scaiinfer.v1.ListModelsResponse;
import ai.scaigrid.proto.scaiinfer.v1.ModelInfo;
import ai.scaigrid.proto.scaiinfer.v1.ToolCall;
import ai.scaigrid.proto.scaiinfer.v1.ToolCallDelta;
import ai.scaigrid.proto.scaiinfer.v1.Usage;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Timestamp;
import io.grpc.Context;
import io.grpc.Deadline;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.BackPressureStrategy;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code scaiinfer.v1.InferenceService} served by gateway-core on its gRPC port to high-throughput
 * clients: the same pipeline as the HTTP API (catalogue, permissions, limits, budgets, accounting),
 * with API keys or user JWTs as bearer tokens. The caller's deadline bounds the upstream call;
 * cancelling the call cancels the upstream at once. An error before the first token is a gRPC status
 * with {@code scaigrid-error-code}; after it, a final chunk with {@code finish_reason = "error"}.
 */
@GrpcService
@RegisterInterceptor(Drain.GrpcGate.class)
public class InferenceGrpcService implements InferenceService {

    @Inject
    GrpcCallers callers;

    @Inject
    InferencePipeline pipeline;

    @Inject
    GatewayOverhead overhead;

    @Inject
    CatalogService catalog;

    @Inject
    Limits limits;

    @Inject
    ObjectMapper mapper;

    @Override
    public Multi<InferenceChunk> streamInference(InferenceRequest request) {
        long arrived = System.nanoTime();
        String requestId = RequestIds.currentOrGenerate();
        long deadline = deadlineNanos();
        io.vertx.core.Context callContext = io.vertx.core.Vertx.currentContext();
        return callers.requireUserOrService(Permissions.MODELS_USE, ServiceScopes.SCAIINFER_INFERENCE)
                .flatMap(caller -> admit(caller, requestId, request, deadline))
                .onItem().transformToMulti(ex -> {
                    ex.arrivedAt(arrived);
                    AtomicBoolean started = new AtomicBoolean();
                    // deltas that reach us in one task (one read from the node) leave as one message
                    return ChunkCoalescer.coalesce(finalChunkWithUsage(pipeline.stream(ex)
                            .map(chunk -> {
                                started.set(true);
                                return toChunk(chunk);
                            }))
                            .onFailure(f -> started.get()).recoverWithItem(f -> {
                                ApiException e = InferencePipeline.toApiException(f);
                                return InferenceChunk.newBuilder().setFinishReason("error")
                                        .setError(InferenceError.newBuilder().setCode(e.errorCode().name()).setMessage(e.getMessage()))
                                        .build();
                            }), callContext)
                            .onItem().invoke(() -> overhead.relayed(ex)) // handed to the client's stream next
                            .onFailure().transform(InferencePipeline::toApiException);
                });
    }

    @Override
    public Uni<InferenceResponse> infer(InferenceRequest request) {
        long arrived = System.nanoTime();
        String requestId = RequestIds.currentOrGenerate();
        long deadline = deadlineNanos();
        return callers.requireUserOrService(Permissions.MODELS_USE, ServiceScopes.SCAIINFER_INFERENCE)
                .flatMap(caller -> admit(caller, requestId, request, deadline))
                .flatMap(ex -> pipeline.complete(ex.arrivedAt(arrived))
                        .onCancellation().invoke(() -> pipeline.cancelled(ex))
                        .map(completion -> {
                            InferenceResponse response = toResponse(completion);
                            overhead.relayed(ex);
                            return response;
                        }))
                .onFailure().transform(InferencePipeline::toApiException);
    }

    @Override
    public Uni<EmbedResponse> embed(EmbedRequest request) {
        String requestId = RequestIds.currentOrGenerate();
        long deadline = deadlineNanos();
        return callers.requireUserOrService(Permissions.MODELS_USE, ServiceScopes.SCAIINFER_INFERENCE).flatMap(caller -> {
            ObjectNode body = mapper.createObjectNode().put("model", request.getModel());
            ArrayNode input = body.putArray("input");
            request.getInputList().forEach(input::add);
            if (request.hasDimensions()) {
                body.put("dimensions", request.getDimensions());
            }
            return pipeline.admit(caller, requestId, "grpc", "embed", body, deadline);
        }).flatMap(pipeline::embed).map(result -> {
            EmbedResponse.Builder out = EmbedResponse.newBuilder().setModel(result.path("model").asText());
            for (JsonNode item : result.path("data")) {
                Embedding.Builder e = Embedding.newBuilder().setIndex(item.path("index").asInt());
                item.path("embedding").forEach(v -> e.addEmbedding((float) v.asDouble()));
                out.addData(e);
            }
            JsonNode u = result.path("usage");
            out.setUsage(Usage.newBuilder().setPromptTokens(u.path("prompt_tokens").asInt())
                    .setTotalTokens(u.path("total_tokens").asInt(u.path("prompt_tokens").asInt())));
            return out.build();
        }).onFailure().transform(InferencePipeline::toApiException);
    }

    @Override
    public Uni<ListModelsResponse> listModels(ListModelsRequest request) {
        return callers.requireUserOrService(null, ServiceScopes.SCAIINFER_INFERENCE).flatMap(caller -> {
            if (!caller.has(Permissions.MODELS_LIST) && !caller.has(Permissions.MODELS_USE)) {
                throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Missing permission models:list");
            }
            String modality = request.getModality().isBlank() ? null : request.getModality();
            // counts against the caller's request limits, as the HTTP model listings do
            return limits.admitRequest(caller).flatMap(rate -> allVisible(caller, modality, null, new ArrayList<>(), 0));
        }).map(models -> {
            ListModelsResponse.Builder out = ListModelsResponse.newBuilder();
            for (FrontendModel m : models) {
                out.addModels(ModelInfo.newBuilder().setId(m.slug()).setDisplayName(m.displayName()).setModality(m.modality())
                        .setContextWindow(m.contextWindow() == null ? 0 : m.contextWindow())
                        .setMaxOutputTokens(m.maxOutputTokens() == null ? 0 : m.maxOutputTokens())
                        .setOwnedBy(m.slug().contains("/") ? m.slug().substring(0, m.slug().indexOf('/')) : "scaigrid"));
            }
            return out.build();
        });
    }

    private Uni<List<FrontendModel>> allVisible(Caller caller, String modality, String cursor, List<FrontendModel> acc, int pages) {
        return catalog.listVisible(caller, modality, "active", 200, cursor).flatMap(page -> {
            // listVisible already applies owner scopes and a key's model-group restriction
            acc.addAll(page.items());
            if (page.nextCursor() == null || pages >= 50) {
                return Uni.createFrom().item(acc);
            }
            return allVisible(caller, modality, page.nextCursor(), acc, pages + 1);
        });
    }

    private Uni<InferenceExchange> admit(Caller caller, String requestId, InferenceRequest request, long deadline) {
        ObjectNode body = toJson(request);
        String endpoint = request.getMessagesCount() == 0 && request.hasPrompt() ? "generate" : "chat";
        return pipeline.admit(caller, requestId, "grpc", endpoint, body, deadline);
    }

    private static long deadlineNanos() {
        Deadline deadline = Context.current().getDeadline();
        return deadline == null ? 0 : System.nanoTime() + Math.max(1, deadline.timeRemaining(TimeUnit.NANOSECONDS));
    }

    // ------------------------------------------------------------------ proto <-> OpenAI JSON

    ObjectNode toJson(InferenceRequest r) {
        ObjectNode body = OpenAiChatBodies.of(r, mapper);
        body.put("model", r.getModel());
        if (r.getMessagesCount() == 0 && r.hasPrompt()) {
            Logprobs.asCompletionCount(body, r); // a raw prompt is a text completion
        }
        if (r.getMetadataCount() > 0) {
            ObjectNode metadata = body.putObject("metadata");
            r.getMetadataMap().forEach(metadata::put);
        }
        if (r.hasStreamOptions() && r.getStreamOptions().getIncludeUsage()) {
            body.putObject("stream_options").put("include_usage", true);
        }
        return body;
    }

    /**
     * One final chunk carrying finish_reason and usage (scaiinfer.proto), also when the upstream sends its
     * usage in a chunk of its own after the finish, as OpenAI-style servers do: the finishing chunk waits
     * for the next one and takes a usage-only follower's usage. Anything else lets it go unchanged.
     */
    static Multi<InferenceChunk> finalChunkWithUsage(Multi<InferenceChunk> chunks) {
        return Multi.createFrom().emitter(emitter -> {
            InferenceChunk[] held = new InferenceChunk[1]; // the stream's items arrive serially
            var subscription = chunks.subscribe().with(chunk -> {
                InferenceChunk finishing = held[0];
                held[0] = null;
                if (finishing != null) {
                    if (isUsageOnly(chunk)) {
                        emitter.emit(finishing.toBuilder().setUsage(chunk.getUsage()).build());
                        return;
                    }
                    emitter.emit(finishing);
                }
                if (!chunk.getFinishReason().isEmpty() && !chunk.hasUsage() && !chunk.hasError()) {
                    held[0] = chunk;
                } else {
                    emitter.emit(chunk);
                }
            }, failure -> {
                if (held[0] != null) {
                    emitter.emit(held[0]);
                }
                emitter.fail(failure);
            }, () -> {
                if (held[0] != null) {
                    emitter.emit(held[0]);
                }
                emitter.complete();
            });
            emitter.onTermination(subscription::cancel);
        }, BackPressureStrategy.IGNORE); // the subscriber downstream takes everything, so no queue in between
    }

    private static boolean isUsageOnly(InferenceChunk c) {
        return c.hasUsage() && c.getFinishReason().isEmpty() && !c.hasError() && c.getDelta().getContent().isEmpty()
                && c.getDelta().getReasoningContent().isEmpty() && c.getDelta().getRole().isEmpty() && c.getDelta().getToolCallsCount() == 0
                && c.getDelta().getThinkingBlocksCount() == 0;
    }

    InferenceChunk toChunk(ObjectNode chunk) {
        InferenceChunk.Builder out = InferenceChunk.newBuilder().setId(chunk.path("id").asText(""))
                .setModel(chunk.path("model").asText(""))
                .setCreated(Timestamp.newBuilder().setSeconds(chunk.path("created").asLong()));
        JsonNode choice = chunk.path("choices").path(0);
        if (!choice.isMissingNode()) {
            JsonNode delta = choice.path("delta");
            ChunkDelta.Builder d = ChunkDelta.newBuilder().setRole(delta.path("role").asText(""))
                    .setContent(delta.path("content").asText("")).setReasoningContent(Reasoning.of(delta));
            for (JsonNode call : delta.path("tool_calls")) {
                ToolCallDelta.Builder c = ToolCallDelta.newBuilder().setIndex(call.path("index").asInt())
                        .setId(call.path("id").asText("")).setType(call.path("type").asText(""));
                JsonNode fn = call.path("function");
                c.setFunction(FunctionCall.newBuilder().setName(fn.path("name").asText("")).setArguments(fn.path("arguments").asText("")));
                d.addToolCalls(c);
            }
            delta.path("thinking_blocks").forEach(b -> d.addThinkingBlocks(ThinkingBlocks.fromJson(b)));
            out.setDelta(d);
            out.addAllLogprobs(Logprobs.fromJson(choice.get("logprobs")));
            if (choice.hasNonNull("finish_reason")) {
                out.setFinishReason(choice.get("finish_reason").asText());
            }
        }
        JsonNode u = chunk.get("usage");
        if (u != null && u.isObject()) {
            out.setUsage(usage(u));
        }
        return out.build();
    }

    private static Usage usage(JsonNode u) {
        return Usage.newBuilder().setPromptTokens(u.path("prompt_tokens").asInt()).setCompletionTokens(u.path("completion_tokens").asInt())
                .setTotalTokens(u.path("total_tokens").asInt())
                .setReasoningTokens(Reasoning.tokens(u))
                .setCachedTokens(Math.max(0, u.path("prompt_tokens_details").path("cached_tokens").asInt()))
                .setCacheWriteTokens(Math.max(0, u.path("cache_creation_input_tokens").asInt())).build();
    }

    InferenceResponse toResponse(ObjectNode completion) {
        JsonNode choice = completion.path("choices").path(0);
        JsonNode message = choice.path("message");
        ChatMessage.Builder m = ChatMessage.newBuilder().setRole(message.path("role").asText("assistant"))
                .setContent(message.path("content").asText("")).setReasoningContent(Reasoning.of(message));
        for (JsonNode call : message.path("tool_calls")) {
            m.addToolCalls(ToolCall.newBuilder().setId(call.path("id").asText("")).setType(call.path("type").asText("function"))
                    .setFunction(FunctionCall.newBuilder().setName(call.path("function").path("name").asText(""))
                            .setArguments(call.path("function").path("arguments").asText(""))));
        }
        message.path("thinking_blocks").forEach(b -> m.addThinkingBlocks(ThinkingBlocks.fromJson(b)));
        return InferenceResponse.newBuilder().setId(completion.path("id").asText("")).setModel(completion.path("model").asText(""))
                .setMessage(m).setFinishReason(choice.path("finish_reason").asText(""))
                .setUsage(usage(completion.path("usage")))
                .setCreated(Timestamp.newBuilder().setSeconds(completion.path("created").asLong()))
                .addAllLogprobs(Logprobs.fromJson(choice.get("logprobs")))
                .build();
    }
}
