package ai.scaigrid.commons.api;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.std.StdScalarDeserializer;
import com.fasterxml.jackson.databind.deser.std.StringDeserializer;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.module.SimpleModule;
import io.quarkus.jackson.ObjectMapperCustomizer;
import jakarta.inject.Singleton;

import java.io.IOException;

/**
 * Request bodies bound to our DTOs may not carry NUL ({@code \u0000}) in any string: PostgreSQL
 * cannot store it (text input stops at the NUL, so the value would be silently cut; jsonb refuses
 * it), and no name, slug, id or description needs it. The caller gets a 400 naming the field.
 * Inference bodies are read as JSON trees, not bound, so prompts pass through unchanged.
 */
@Singleton
public class NulFreeStrings implements ObjectMapperCustomizer {
    public static final String MESSAGE = "Text values must not contain NUL (\\u0000) characters";

    @Override
    public void customize(ObjectMapper mapper) {
        mapper.registerModule(new SimpleModule("scaigrid-nul-free-strings").addDeserializer(String.class, new Deserializer()));
    }

    /** Thrown for a string with NUL in it; the REST mappers turn it into a 400 on that field. */
    public static final class NulInText extends InvalidFormatException {
        NulInText(JsonParser p, String value) {
            super(p, MESSAGE, value, String.class);
        }
    }

    static final class Deserializer extends StdScalarDeserializer<String> {
        Deserializer() {
            super(String.class);
        }

        @Override
        public String deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            String value = StringDeserializer.instance.deserialize(p, ctxt);
            if (value != null && value.indexOf('\0') >= 0) {
                throw new NulInText(p, value);
            }
            return value;
        }
    }
}
