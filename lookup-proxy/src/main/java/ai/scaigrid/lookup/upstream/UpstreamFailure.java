package ai.scaigrid.lookup.upstream;

/** An upstream call that produced no usable HTTP answer. The message is ours, never the transport's. */
public class UpstreamFailure extends RuntimeException {

    public enum Kind {
        /** No base URL configured for the upstream. */
        NOT_CONFIGURED("upstream_not_configured"),
        /** Connection refused, reset or closed before an answer. */
        UNREACHABLE("upstream_unreachable"),
        /** No answer within the attempt timeout. */
        TIMEOUT("upstream_timeout"),
        /** The circuit breaker is open: failing fast without calling. */
        CIRCUIT_OPEN("upstream_circuit_open"),
        /** The answer was larger than scaigrid.lookup.max-response-bytes. */
        TOO_LARGE("upstream_response_too_large");

        private final String code;

        Kind(String code) {
            this.code = code;
        }

        public String code() {
            return code;
        }
    }

    private final Upstream upstream;
    private final Kind kind;

    public UpstreamFailure(Upstream upstream, Kind kind, Throwable cause) {
        super(upstream.displayName() + ": " + kind.code(), cause, false, false);
        this.upstream = upstream;
        this.kind = kind;
    }

    public Upstream upstream() {
        return upstream;
    }

    public Kind kind() {
        return kind;
    }

    /** Worth one more try on an idempotent GET: the request most likely never reached the upstream's logic. */
    boolean retryable() {
        return kind == Kind.UNREACHABLE;
    }

    /** Counts against the circuit breaker: the upstream (not the caller) is at fault. */
    boolean upstreamFault() {
        return kind == Kind.UNREACHABLE || kind == Kind.TIMEOUT;
    }
}
