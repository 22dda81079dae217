package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.testing.NodeScripts;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A real client: the official {@code @anthropic-ai/sdk} npm package (pinned in src/test/node/anthropic-check, installed
 * by this test with {@code npm ci}) calls /anthropic/v1: models listed page by page, a message streamed and not, a tool
 * call (streamed and not) and its result sent back, signed thinking streamed and sent back, count_tokens, a message
 * batch (created, polled, its results streamed, listed, deleted), and the
 * errors its classes stand for (a stream cut short, an unknown model, a bad request, a wrong key).
 */
@QuarkusTest
class AnthropicSdkCompatibilityTest {
    private static final Path DIR = Path.of("src/test/node/anthropic-check");

    private static String claude(String upstreamModel) {
        return InferenceFixtures.chatModelOver(List.of(Map.of("name", "claude", "provider_type", "anthropic", "model_name", upstreamModel,
                "connection_config", Map.of("base_url", AnthropicTestUpstream.get().baseUrl(), "api_key", AnthropicTestUpstream.KEY))));
    }

    @Test
    void officialAnthropicSdkWorksUnchanged() throws Exception {
        NodeScripts.npmCi(DIR, "node_modules/@anthropic-ai/sdk");
        String model = InferenceFixtures.chatModel("echo");
        InferenceFixtures.chatModel("echo"); // more models than a page of two
        String output = NodeScripts.check(DIR, "check.mjs", Map.of(
                "ANTHROPIC_BASE_URL", "http://localhost:" + RestAssured.port + "/anthropic",
                "ANTHROPIC_API_KEY", ADMIN,
                "MODEL", model,
                "TOOLS_MODEL", claude("claude-tools"),
                "THINKING_MODEL", claude("claude-thinking"),
                "MIDFAIL_MODEL", InferenceFixtures.chatModel("midfail"),
                "AGENT_MODEL", InferenceFixtures.chatModel("agent"),
                "MCP_URL", McpTestServer.streamable().url), 120);
        assertThat(output).contains("models: paged").contains("non-streaming: echo: sdk says hi with request id")
                .contains("streaming: echo: sdk streams")
                .contains("tool use: toolu_01 get_weather {\"city\":\"Oslo\"} streamed toolu_01")
                .contains("thinking: \"The user wants an echo.\" then \"echo: once more\"")
                .containsPattern("count tokens: 1[0-9][0-9]\\b")
                .contains("message batch: one=echo: batched one, two=echo: batched two message_batch_deleted")
                .contains("mcp connector: mcp_tool_use,mcp_tool_result,text \"tool said: The sum of 2 and 3 is 5.\" end_turn")
                .contains("mid-stream error:")
                .contains("unknown model: 404 not_found_error with request id")
                .contains("bad request: 400 invalid_request_error").contains("wrong key: 401").contains("OK");
    }
}
