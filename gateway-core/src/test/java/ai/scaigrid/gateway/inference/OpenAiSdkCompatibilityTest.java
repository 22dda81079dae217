package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.testing.NodeScripts;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A real client: the official {@code openai} npm SDK (pinned in src/test/node/openai-check, installed
 * by this test with {@code npm ci}) calls /oai/v1 streaming and not, lists models and meets errors,
 * assembles tool calls (streamed and not) from a model served by the Anthropic translation, and reads
 * embeddings in the base64 encoding it asks for by default, generates images (URLs and base64), speaks and
 * transcribes (a multipart upload), runs a batch over an uploaded file, uses the Responses API (text, events,
 * function calls, input token counts), raises the
 * error of a stream cut short, and
 * parses structured output from an Anthropic-backed model, and reads a reasoning model's thinking
 * (reasoning_content, thinking_blocks) and sends it back on the next turn.
 */
@QuarkusTest
class OpenAiSdkCompatibilityTest {
    private static final Path DIR = Path.of("src/test/node/openai-check");

    @Test
    void officialOpenAiSdkWorksUnchanged() throws Exception {
        NodeScripts.npmCi(DIR, "node_modules/openai");
        String model = InferenceFixtures.chatModel("echo");
        String toolsModel = InferenceFixtures.chatModelOver(List.of(java.util.Map.of("name", "claude", "provider_type", "anthropic",
                "model_name", "claude-tools", "connection_config", java.util.Map.of("base_url", AnthropicTestUpstream.get().baseUrl(),
                        "api_key", AnthropicTestUpstream.KEY))));
        String embedModel = InferenceFixtures.model("test-" + InferenceFixtures.run() + "/embed", "embedding", null, "embed");
        String output = NodeScripts.check(DIR, "check.mjs", environment(
                "OPENAI_BASE_URL=http://localhost:" + RestAssured.port + "/oai/v1",
                "OPENAI_API_KEY=" + ADMIN,
                "MODEL=" + model,
                "AGENT_MODEL=" + InferenceFixtures.chatModel("agent"),
                "MCP_URL=" + McpTestServer.streamable().url,
                "TOOLS_MODEL=" + toolsModel,
                "EMBED_MODEL=" + embedModel,
                "IMAGE_MODEL=" + InferenceFixtures.model("test-" + InferenceFixtures.run() + "/images", "image", null, "draw"),
                "SPEECH_MODEL=" + InferenceFixtures.model("test-" + InferenceFixtures.run() + "/tts", "audio", null, "speak"),
                "TRANSCRIBE_MODEL=" + InferenceFixtures.model("test-" + InferenceFixtures.run() + "/stt", "audio", null, "hear"),
                "MIDFAIL_MODEL=" + InferenceFixtures.chatModel("midfail"),
                "MODERATION_MODEL=" + InferenceFixtures.model("test-" + InferenceFixtures.run() + "/moderation", "moderation", null,
                        "moderate"),
                "THINKING_MODEL=" + InferenceFixtures.chatModelOver(List.of(java.util.Map.of("name", "claude", "provider_type", "anthropic",
                        "model_name", "claude-thinking", "connection_config", java.util.Map.of("base_url", AnthropicTestUpstream.get().baseUrl(),
                                "api_key", AnthropicTestUpstream.KEY)))),
                "PARSE_MODEL=" + InferenceFixtures.chatModelOver(List.of(java.util.Map.of("name", "claude", "provider_type", "anthropic",
                        "model_name", "claude-echo", "connection_config", java.util.Map.of("base_url", AnthropicTestUpstream.get().baseUrl(),
                                "api_key", AnthropicTestUpstream.KEY))))), 120);
        assertThat(output).contains("non-streaming: echo: sdk says hi").contains("streaming: echo: sdk streams")
                .contains("completions:  Paris, of course. streamed:  Paris, of course.").contains("scored prompts: 2")
                .contains("non-streaming tool call: toolu_01 get_weather")
                .contains("streamed tool call: toolu_01 get_weather").contains("embeddings: 2 vectors of 3")
                .contains("images: 2 urls, \"PNG 0: a lighthouse\" revised \"A careful drawing of a lighthouse at dusk\" "
                        + "edited \"EDITED 1 image: add a hat\"")
                .contains("image variations: 2 \"VARIATION 1 OF sdk square\"")
                .contains("speech: \"AUDIO/wav: sdk speaks\"")
                .contains("speech events: \"AUDIO/mp3: sdk speaks events\" output tokens 42")
                .contains("batch: b1=echo: batched b1, b2=echo: batched b2 files expiring in 86400 and 7200 s")
                .contains("responses: \"echo: sdk responds\" streamed \"echo: sdk streams a response\"")
                .contains("responses tool call: toolu_01 get_weather")
                .containsPattern("stored responses: retrieved, listed, continued resp_[0-9a-f]{32} and deleted resp_[0-9a-f]{32}")
                .containsPattern("input tokens: 1[0-9][0-9] continued more")
                .containsPattern("conversation: conv_[0-9a-f]{32} items paged one by one: 3")
                .contains("background response: queued then completed")
                .contains("background stream: left after event 1 resumed from 2 to response.completed")
                .contains("transcription: \"heard: sdk listens\" and as text \"heard: as text\" translation: \"heard in English: hallo\"")
                .contains("streamed transcription: \"heard: sdk streams speech\"")
                .contains("mcp: mcp_list_tools,mcp_call,message \"tool said: Echo: sdk via mcp\"")
                .contains("mid-stream error: \"Hello wor\"")
                .contains("moderation: true false")
                .contains("structured output: {\"answer\":\"echo: parse me\"}")
                .contains("reasoning: \"The user wants an echo.\" then \"echo: think it over\"")
                .contains("unknown model: 404").contains("wrong key: 401").contains("OK");
    }

    /** {@code NAME=value} pairs as an environment. */
    private static java.util.Map<String, String> environment(String... pairs) {
        java.util.Map<String, String> env = new java.util.LinkedHashMap<>();
        for (String kv : pairs) {
            env.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        }
        return env;
    }
}
