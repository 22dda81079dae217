package ai.scaigrid.commons.requestid;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import org.jboss.logging.MDC;

import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Request ids: taken from {@code X-Request-Id} (REST) or {@code x-request-id} (gRPC) when the caller
 * sends a sane one, generated otherwise ({@code req_} + 24 random base-62 characters). The current id
 * lives in the Vert.x duplicated context of the request and in the logging MDC as {@code request_id}.
 */
public final class RequestIds {
    public static final String HTTP_HEADER = "X-Request-Id";
    public static final String GRPC_METADATA = "x-request-id";
    public static final String MDC_KEY = "request_id";
    private static final String CONTEXT_KEY = "scaigrid.request-id";
    private static final Pattern ACCEPTED = Pattern.compile("[A-Za-z0-9._:\\-]{1,128}");
    private static final char[] ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();

    private RequestIds() {
    }

    public static String generate() {
        // ids must be unique, not secret: a thread-local generator keeps this off any lock (24 base-62
        // characters are ~143 bits, so collisions are not a concern)
        ThreadLocalRandom random = ThreadLocalRandom.current();
        char[] out = new char[24];
        for (int i = 0; i < out.length; i++) {
            out[i] = ALPHABET[random.nextInt(ALPHABET.length)];
        }
        return "req_" + new String(out);
    }

    /** The caller's id if it is safe to echo and log (no control characters, bounded), else a new one. */
    public static String acceptOrGenerate(String incoming) {
        if (incoming != null && ACCEPTED.matcher(incoming).matches()) {
            return incoming;
        }
        return generate();
    }

    /** Binds the id to the current request: Vert.x local context (if any) and the MDC. */
    public static void bind(String requestId) {
        Context context = Vertx.currentContext();
        if (context != null) {
            context.putLocal(CONTEXT_KEY, requestId);
        }
        MDC.put(MDC_KEY, requestId);
    }

    /** The current request's id, or null outside a request. */
    public static String current() {
        Context context = Vertx.currentContext();
        if (context != null) {
            Object id = context.getLocal(CONTEXT_KEY);
            if (id != null) {
                return id.toString();
            }
        }
        Object fromMdc = MDC.get(MDC_KEY);
        return fromMdc == null ? null : fromMdc.toString();
    }

    /** The current id, or a fresh one when called outside a request (never null, for error envelopes). */
    public static String currentOrGenerate() {
        String id = current();
        return id != null ? id : generate();
    }
}
