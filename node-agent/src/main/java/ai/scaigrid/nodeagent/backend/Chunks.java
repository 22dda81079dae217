package ai.scaigrid.nodeagent.backend;

import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.ChunkDelta;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.InferenceChunk;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceResponse;
import ai.scaigrid.proto.scaiinfer.v1.ToolCall;
import ai.scaigrid.proto.scaiinfer.v1.ToolCallDelta;
import ai.scaigrid.proto.scaiinfer.v1.Usage;
import com.google.protobuf.Timestamp;

import java.security.SecureRandom;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Building and folding InferenceChunks, shared by every backend. */
public final class Chunks {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final char[] ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".toCharArray();

    private Chunks() {
    }

    public static String newCompletionId() {
        StringBuilder sb = new StringBuilder("chatcmpl-");
        for (int i = 0; i < 24; i++) {
            sb.append(ALPHABET[RANDOM.nextInt(ALPHABET.length)]);
        }
        return sb.toString();
    }

    public static Timestamp now() {
        Instant now = Instant.now();
        return Timestamp.newBuilder().setSeconds(now.getEpochSecond()).build();
    }

    public static InferenceChunk.Builder base(String id, String model, Timestamp created) {
        return InferenceChunk.newBuilder().setId(id).setModel(model).setCreated(created);
    }

    public static Usage usage(int prompt, int completion) {
        return usage(prompt, completion, 0);
    }

    /** Usage of a reasoning model, {@code reasoning} of the {@code completion} tokens spent thinking. */
    public static Usage usage(int prompt, int completion, int reasoning) {
        return Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(completion)
                .setTotalTokens(prompt + completion).setReasoningTokens(reasoning).build();
    }

    /** The text a request asks to continue: the prompt, or the messages one per line ("role: content"). */
    public static String promptText(InferenceRequest request) {
        if (request.hasPrompt()) {
            return request.getPrompt();
        }
        StringBuilder sb = new StringBuilder();
        for (ChatMessage m : request.getMessagesList()) {
            sb.append(m.getRole()).append(": ").append(m.getContent()).append('\n');
        }
        return sb.toString();
    }

    /** A tokenizer-free estimate (about four characters a token), at least one. */
    public static int estimateTokens(String text) {
        return Math.max(1, (text.length() + 3) / 4);
    }

    /**
     * Folds a finished stream into the non-streaming answer (content, reasoning and token log probabilities
     * concatenated, tool-call fragments merged).
     */
    public static InferenceResponse fold(List<InferenceChunk> chunks) {
        StringBuilder content = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        Map<Integer, ToolCall.Builder> calls = new TreeMap<>();
        String id = "";
        String model = "";
        String finish = "stop";
        Usage usage = null;
        Timestamp created = null;
        List<ai.scaigrid.proto.scaiinfer.v1.TokenLogprob> logprobs = new java.util.ArrayList<>();
        for (InferenceChunk c : chunks) {
            id = c.getId().isEmpty() ? id : c.getId();
            model = c.getModel().isEmpty() ? model : c.getModel();
            if (created == null && c.hasCreated()) {
                created = c.getCreated();
            }
            content.append(c.getDelta().getContent());
            reasoning.append(c.getDelta().getReasoningContent());
            logprobs.addAll(c.getLogprobsList());
            for (ToolCallDelta d : c.getDelta().getToolCallsList()) {
                ToolCall.Builder b = calls.computeIfAbsent(d.getIndex(), i -> ToolCall.newBuilder().setType("function")
                        .setFunction(FunctionCall.newBuilder()));
                if (!d.getId().isEmpty()) {
                    b.setId(d.getId());
                }
                if (!d.getType().isEmpty()) {
                    b.setType(d.getType());
                }
                if (d.hasFunction()) {
                    FunctionCall.Builder f = b.getFunctionBuilder();
                    if (!d.getFunction().getName().isEmpty()) {
                        f.setName(d.getFunction().getName());
                    }
                    f.setArguments(f.getArguments() + d.getFunction().getArguments());
                }
            }
            if (!c.getFinishReason().isEmpty()) {
                finish = c.getFinishReason();
            }
            if (c.hasUsage()) {
                usage = c.getUsage();
            }
        }
        ChatMessage.Builder message = ChatMessage.newBuilder().setRole("assistant").setContent(content.toString())
                .setReasoningContent(reasoning.toString());
        calls.values().forEach(b -> message.addToolCalls(b.build()));
        InferenceResponse.Builder r = InferenceResponse.newBuilder().setId(id).setModel(model).setMessage(message)
                .setFinishReason(finish).setCreated(created == null ? now() : created).addAllLogprobs(logprobs);
        if (usage != null) {
            r.setUsage(usage);
        }
        return r.build();
    }

    public static ChunkDelta.Builder delta() {
        return ChunkDelta.newBuilder();
    }
}
