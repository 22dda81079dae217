package ai.scaigrid.commons.scaiinfer;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.FunctionCall;
import ai.scaigrid.proto.scaiinfer.v1.FunctionDefinition;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.ResponseFormat;
import ai.scaigrid.proto.scaiinfer.v1.ThinkingBlock;
import ai.scaigrid.proto.scaiinfer.v1.Tool;
import ai.scaigrid.proto.scaiinfer.v1.ToolCall;
import ai.scaigrid.proto.scaiinfer.v1.ToolChoice;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/** The scaiinfer.v1 request → OpenAI chat body translation that the gateway's gRPC API and the node-agent share. */
class OpenAiChatBodiesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void everyFieldHasItsOpenAiCounterpart() throws Exception {
        InferenceRequest r = InferenceRequest.newBuilder().setModel("m")
                .addMessages(ChatMessage.newBuilder().setRole("system").setContent("be brief"))
                .addMessages(ChatMessage.newBuilder().setRole("assistant").setReasoningContent("f will do")
                        .addThinkingBlocks(ThinkingBlock.newBuilder().setType("thinking").setThinking("f will do").setSignature("sig"))
                        .addThinkingBlocks(ThinkingBlock.newBuilder().setType("redacted_thinking").setData("enc"))
                        .addThinkingBlocks(ThinkingBlock.newBuilder().setType("future_block").setData("x"))
                        .addToolCalls(ToolCall.newBuilder().setId("c1")
                        .setFunction(FunctionCall.newBuilder().setName("f").setArguments("{\"a\":1}"))))
                .addMessages(ChatMessage.newBuilder().setRole("tool").setToolCallId("c1").setName("f").setContent("done"))
                .setMaxTokens(50).setTemperature(0.5f).setTopP(0.75f).setPresencePenalty(0.25f).setFrequencyPenalty(-0.5f).setSeed(7)
                .addStop("END").setReasoningEffort("low").setLogprobs(true).setTopLogprobs(3)
                .addTools(Tool.newBuilder().setFunction(FunctionDefinition.newBuilder().setName("f").setDescription("does f")
                        .setParametersJson("{\"type\":\"object\"}").setStrict(true)))
                .setToolChoice(ToolChoice.newBuilder().setMode("function").setFunctionName("f"))
                .setResponseFormat(ResponseFormat.newBuilder().setType("json_schema").setJsonSchema("{\"type\":\"object\"}"))
                .setUserId("u1").putMetadata("k", "v")
                .build();
        ObjectNode body = OpenAiChatBodies.of(r, JSON);
        assertThat(JSON.readTree(body.toString())).isEqualTo(JSON.readTree("""
                {"messages": [
                   {"role": "system", "content": "be brief"},
                   {"role": "assistant", "content": null, "reasoning_content": "f will do",
                    "thinking_blocks": [{"type": "thinking", "thinking": "f will do", "signature": "sig"},
                                        {"type": "redacted_thinking", "data": "enc"}, {"type": "future_block", "data": "x"}],
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\\"a\\":1}"}}]},
                   {"role": "tool", "content": "done", "name": "f", "tool_call_id": "c1"}],
                 "max_tokens": 50, "temperature": 0.5, "top_p": 0.75, "presence_penalty": 0.25, "frequency_penalty": -0.5,
                 "seed": 7, "stop": ["END"], "reasoning_effort": "low", "logprobs": true, "top_logprobs": 3,
                 "tools": [{"type": "function", "function": {"name": "f", "description": "does f",
                            "parameters": {"type": "object"}, "strict": true}}],
                 "tool_choice": {"type": "function", "function": {"name": "f"}},
                 "response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}}}
                """));
        // model, stream, user and metadata are each sender's to decide
        assertThat(body.has("model") || body.has("user") || body.has("metadata") || body.has("stream")).isFalse();
    }

    @Test
    void aPromptAndModesPassAsTheyAre() {
        ObjectNode body = OpenAiChatBodies.of(InferenceRequest.newBuilder().setPrompt("once upon")
                .setToolChoice(ToolChoice.newBuilder().setMode("none")).build(), JSON);
        assertThat(body.path("prompt").asText()).isEqualTo("once upon");
        assertThat(body.has("messages")).isFalse();
        assertThat(body.path("tool_choice").asText()).isEqualTo("none");
    }

    @Test
    void aSchemaThatIsNotJsonIsAValidationErrorNamingTheField() {
        ApiException e = catchThrowableOfType(() -> OpenAiChatBodies.of(InferenceRequest.newBuilder()
                .addTools(Tool.newBuilder().setFunction(FunctionDefinition.newBuilder().setName("f").setParametersJson("{oops")))
                .build(), JSON), ApiException.class);
        assertThat(e.errorCode()).isEqualTo(ErrorCode.VALIDATION_ERROR);
        assertThat(e.getMessage()).contains("tools.function.parameters_json");
    }
}
