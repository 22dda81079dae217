package ai.scaigrid.gateway.inference;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.multipart.Attribute;
import io.netty.handler.codec.http.multipart.DefaultHttpDataFactory;
import io.netty.handler.codec.http.multipart.FileUpload;
import io.netty.handler.codec.http.multipart.HttpPostMultipartRequestDecoder;
import io.netty.handler.codec.http.multipart.InterfaceHttpData;
import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A whole {@code multipart/form-data} body, decoded in one piece. Netty's streaming decoder (what Vert.x's
 * {@code setExpectMultipart} uses) keeps a trailing CR in a field's value or a file's bytes when a network chunk ends
 * between the CR and LF before a boundary (netty/netty#12729, #17383): {@code model} then arrives as {@code "hear\r"}.
 * Offered as one last chunk, nothing can split.
 */
public final class MultipartForm {
    /** A form field, in the order sent. */
    public record Field(String name, String value) {
    }

    /** A file part, in the order sent. */
    public record File(String name, String filename, String contentType, Buffer bytes) {
    }

    public record Parts(List<Field> fields, List<File> files) {
    }

    private MultipartForm() {
    }

    /** Decodes {@code body} of {@code contentType} (with its boundary); an {@link IllegalArgumentException} when it is not a form. */
    public static Parts decode(Buffer body, String contentType) {
        DefaultFullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/",
                Unpooled.wrappedBuffer(body.getBytes()));
        request.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        HttpPostMultipartRequestDecoder decoder;
        try {
            decoder = new HttpPostMultipartRequestDecoder(new DefaultHttpDataFactory(false), request, StandardCharsets.UTF_8);
        } catch (RuntimeException e) {
            request.release();
            throw new IllegalArgumentException("not a multipart form", e);
        }
        try {
            List<Field> fields = new ArrayList<>();
            List<File> files = new ArrayList<>();
            for (InterfaceHttpData data : decoder.getBodyHttpDatas()) {
                if (data instanceof FileUpload f) {
                    files.add(new File(f.getName(), f.getFilename(), f.getContentType(), Buffer.buffer(f.get())));
                } else if (data instanceof Attribute a) {
                    fields.add(new Field(a.getName(), a.getValue()));
                }
            }
            return new Parts(fields, files);
        } catch (java.io.IOException | RuntimeException e) {
            throw new IllegalArgumentException("the multipart form could not be read", e);
        } finally {
            decoder.destroy();
            request.release();
        }
    }
}
