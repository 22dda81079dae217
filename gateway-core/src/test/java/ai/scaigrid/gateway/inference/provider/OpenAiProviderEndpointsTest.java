package ai.scaigrid.gateway.inference.provider;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.http.RequestOptions;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/** Where each OpenAI-protocol provider type sends a request when its backend names no base_url, and with which credential header. */
class OpenAiProviderEndpointsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static OpenAiProvider provider() {
        UpstreamHttp http = new UpstreamHttp();
        http.mapper = JSON;
        http.defaultConnectTimeout = Duration.ofSeconds(5);
        http.defaultFirstTokenTimeout = Duration.ofSeconds(120);
        http.defaultIdleTimeout = Duration.ofSeconds(60);
        OpenAiProvider provider = new OpenAiProvider();
        provider.http = http;
        return provider;
    }

    /** The absolute URL a request goes to. */
    private static String url(RequestOptions o) {
        boolean ssl = Boolean.TRUE.equals(o.isSsl());
        int port = o.getPort();
        boolean defaultPort = ssl ? port == 443 : port == 80;
        return (ssl ? "https://" : "http://") + o.getHost() + (defaultPort ? "" : ":" + port) + o.getURI();
    }

    private static BackendTarget backend(String type, Map<String, Object> config) {
        return new BackendTarget("b1", "b", type, "model-x", JSON.valueToTree(config), Map.of("api_key", "k1"), 0, 100);
    }

    @Test
    void hostedTypesDefaultToTheirPublicEndpoints() {
        Map<String, String> expected = Map.of(
                "openai", "https://api.openai.com/v1/chat/completions",
                "mistral", "https://api.mistral.ai/v1/chat/completions",
                "qwen", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/chat/completions",
                "google", "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions");
        expected.forEach((type, url) -> {
            RequestOptions options = provider().options(backend(type, Map.of()), "/chat/completions");
            assertThat(url(options)).as(type).isEqualTo(url);
            assertThat(options.getHeaders().get("authorization")).as(type).isEqualTo("Bearer k1");
        });
        // a base_url given wins, with or without a trailing slash
        assertThat(url(provider().options(backend("mistral", Map.of("base_url", "http://eu.example/v1/")), "/embeddings")))
                .isEqualTo("http://eu.example/v1/embeddings");
    }

    @Test
    void customAndAzureNeedAnEndpoint() {
        for (String type : new String[]{"custom", "azure"}) {
            UpstreamFailure failure = catchThrowableOfType(() -> provider().options(backend(type, Map.of()), "/chat/completions"),
                    UpstreamFailure.class);
            assertThat(failure.getMessage()).as(type).contains("no base_url");
        }
    }

    @Test
    void azureAddressesTheDeploymentWithItsApiVersion() {
        RequestOptions options = provider().options(backend("azure", Map.of("base_url", "https://res.openai.azure.com/")), "/embeddings");
        assertThat(url(options)).isEqualTo("https://res.openai.azure.com/openai/deployments/model-x/embeddings?api-version="
                + OpenAiProvider.AZURE_API_VERSION);
        assertThat(options.getHeaders().get("api-key")).isEqualTo("k1");
        assertThat(options.getHeaders().get("authorization")).isNull();
        ObjectNode config = JSON.createObjectNode().put("base_url", "https://res.openai.azure.com").put("deployment", "my gpt/4o");
        assertThat(url(provider().options(new BackendTarget("b", "b", "azure", "m", config, Map.of(), 0, 1), "/chat/completions")))
                .as("a deployment name is one path segment")
                .isEqualTo("https://res.openai.azure.com/openai/deployments/my%20gpt%2F4o/chat/completions?api-version="
                        + OpenAiProvider.AZURE_API_VERSION);
    }
}
