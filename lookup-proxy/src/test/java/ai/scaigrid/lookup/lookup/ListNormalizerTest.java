package ai.scaigrid.lookup.lookup;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The envelope reader's edges: what is a list, what is not, and what id-to-slug touches. */
class ListNormalizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ListNormalizer.Page read(String json, boolean models) throws Exception {
        return ListNormalizer.read(JSON.readTree(json), models);
    }

    private static List<String> texts(ListNormalizer.Page page) {
        return page.items().stream().map(ObjectNode::toString).toList();
    }

    @Test
    void nestedPagesCarryTheirCursor() throws Exception {
        ListNormalizer.Page page = read("{\"status\":\"ok\",\"data\":{\"items\":[{\"slug\":\"a/b\"}],\"next_cursor\":\"xyz\"}}", true);
        assertThat(texts(page)).containsExactly("{\"slug\":\"a/b\"}");
        assertThat(page.nextCursor()).isEqualTo("xyz");
        assertThat(read("{\"data\":{\"items\":[],\"next_cursor\":\"\"}}", true).nextCursor()).isNull();
        assertThat(read("{\"data\":{\"items\":[],\"next_cursor\":null}}", true).nextCursor()).isNull();
    }

    @Test
    void idBecomesSlugOnlyForOpenAiModelLists() throws Exception {
        String openAi = "{\"object\":\"list\",\"data\":[{\"id\":\"openai/gpt-4o\",\"object\":\"model\",\"owned_by\":\"openai\"}]}";
        assertThat(texts(read(openAi, true))).containsExactly("{\"slug\":\"openai/gpt-4o\",\"owned_by\":\"openai\"}");
        // not a model list (ScaiQueue, ScaiBunker): ids are ids
        assertThat(texts(read(openAi, false))).containsExactly("{\"id\":\"openai/gpt-4o\",\"object\":\"model\",\"owned_by\":\"openai\"}");
        // a native list keeps both: its id is not the slug
        assertThat(texts(read("{\"data\":[{\"id\":\"fm_1\",\"slug\":\"a/b\"}]}", true))).containsExactly("{\"id\":\"fm_1\",\"slug\":\"a/b\"}");
        // an OpenAI item that already names its slug is left alone
        assertThat(texts(read("{\"object\":\"list\",\"data\":[{\"id\":\"x\",\"slug\":\"a/b\"}]}", true)))
                .containsExactly("{\"id\":\"x\",\"slug\":\"a/b\"}");
    }

    @Test
    void anythingElseIsAShapeMismatch() {
        for (String body : List.of("[]", "\"text\"", "{}", "{\"data\":null}", "{\"data\":\"x\"}", "{\"data\":{\"list\":[]}}",
                "{\"data\":[1,2]}", "{\"data\":{\"items\":\"x\"}}")) {
            assertThatThrownBy(() -> read(body, true)).as(body).isInstanceOf(ListNormalizer.ShapeException.class);
        }
    }
}
