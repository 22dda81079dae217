package ai.scaigrid.commons.error;

import ai.scaigrid.commons.requestid.RequestIds;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import org.jboss.logging.Logger;

/**
 * Both directions between {@link ApiException} and gRPC status.
 *
 * <p>Server side: an {@link ApiException} becomes its gRPC status with the ScaiGrid code in the
 * {@code scaigrid-error-code} trailer; anything else becomes a sanitised INTERNAL.
 * <p>Client side (seed 001): a status is turned back into an {@link ApiException}; the ScaiGrid code
 * is taken from the trailer when present, otherwise from the status. Details pass through for
 * caller errors (unless they look like internals), DEADLINE_EXCEEDED and UNAVAILABLE get a friendly
 * message, INTERNAL and UNKNOWN are always sanitised; the raw detail is logged with the request id.
 */
public final class GrpcErrors {
    public static final Metadata.Key<String> ERROR_CODE_KEY =
            Metadata.Key.of("scaigrid-error-code", Metadata.ASCII_STRING_MARSHALLER);
    public static final Metadata.Key<String> RETRY_AFTER_KEY =
            Metadata.Key.of("retry-after", Metadata.ASCII_STRING_MARSHALLER);
    private static final Logger LOG = Logger.getLogger(GrpcErrors.class);

    private GrpcErrors() {
    }

    /** Server side: the status exception (with trailers) that reports this failure to a gRPC caller. */
    public static StatusException toStatusException(Throwable failure) {
        Throwable t = unwrap(failure);
        if (t instanceof StatusException se) {
            return se;
        }
        if (t instanceof StatusRuntimeException sre) {
            return new StatusException(sre.getStatus(), sre.getTrailers());
        }
        ApiException api;
        if (t instanceof ApiException e && !e.errorCode().isServerFault()) {
            api = e;
        } else if (t instanceof ApiException e) {
            LOG.errorf(e, "gRPC call %s failed: %s", RequestIds.current(), e.getMessage());
            api = new ApiException(e.errorCode());
        } else if ((api = DataErrors.asValidationError(t)) == null) {
            LOG.errorf(t, "gRPC call %s failed with an unexpected error", RequestIds.current());
            api = new ApiException(ErrorCode.INTERNAL_ERROR);
        }
        Metadata trailers = new Metadata();
        trailers.put(ERROR_CODE_KEY, api.errorCode().code());
        if (api.retryAfterSeconds() != null) {
            trailers.put(RETRY_AFTER_KEY, Long.toString(api.retryAfterSeconds()));
        }
        String requestId = RequestIds.current();
        if (requestId != null) {
            trailers.put(Metadata.Key.of(RequestIds.GRPC_METADATA, Metadata.ASCII_STRING_MARSHALLER), requestId);
        }
        Status status = Status.fromCode(api.errorCode().grpcStatus()).withDescription(description(api));
        return new StatusException(status, trailers);
    }

    /**
     * The message, with the fields a validation error names ({@code details: [{field, message}]}, which the
     * REST envelope carries apart and a status cannot): {@code "messages[1].role: ..."}, or
     * {@code "<message> (a: ...; b: ...)"} for several problems.
     */
    static String description(ApiException api) {
        if (!(api.details() instanceof java.util.List<?> details) || details.isEmpty()) {
            return api.getMessage();
        }
        java.util.List<String> problems = new java.util.ArrayList<>();
        for (Object d : details) {
            if (d instanceof java.util.Map<?, ?> m && m.get("field") != null) {
                problems.add(m.get("field") + ": " + m.get("message"));
            }
        }
        if (problems.isEmpty()) {
            return api.getMessage();
        }
        if (details.size() == 1 && details.get(0) instanceof java.util.Map<?, ?> only) {
            if (String.valueOf(only.get("message")).equals(api.getMessage())) {
                return problems.get(0);
            }
            if (api.getMessage() != null && api.getMessage().startsWith(only.get("field") + ": ")) {
                return api.getMessage(); // already names it
            }
        }
        return api.getMessage() + " (" + String.join("; ", problems) + ")";
    }

    /** Client side: the {@link ApiException} a failed gRPC call stands for, sanitised per seed 001. */
    public static ApiException fromGrpc(Throwable failure) {
        Throwable t = unwrap(failure);
        if (t instanceof ApiException e) {
            return e;
        }
        Status status;
        Metadata trailers;
        if (t instanceof StatusRuntimeException sre) {
            status = sre.getStatus();
            trailers = sre.getTrailers();
        } else if (t instanceof StatusException se) {
            status = se.getStatus();
            trailers = se.getTrailers();
        } else {
            LOG.errorf(t, "request %s: gRPC client call failed without a status", RequestIds.current());
            return new ApiException(ErrorCode.SERVICE_UNAVAILABLE, "A dependent service is unavailable", null, null, t);
        }
        String rawCode = trailers == null ? null : trailers.get(ERROR_CODE_KEY);
        ErrorCode code = ErrorCode.fromCode(rawCode).orElseGet(() -> ErrorCode.forGrpcStatus(status.getCode()));
        Long retryAfter = parseLong(trailers == null ? null : trailers.get(RETRY_AFTER_KEY));
        String description = status.getDescription();
        String message = switch (status.getCode()) {
            case INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS -> {
                LOG.errorf("scaigrid_upstream_error request=%s grpc_status=%s code=%s detail=%s",
                        RequestIds.current(), status.getCode(), code.code(), description);
                yield code.defaultMessage();
            }
            case DEADLINE_EXCEEDED -> {
                LOG.warnf("request %s: upstream deadline exceeded: %s", RequestIds.current(), description);
                yield "The request timed out; please retry";
            }
            case UNAVAILABLE, CANCELLED -> {
                LOG.warnf("request %s: upstream unavailable: %s", RequestIds.current(), description);
                yield ErrorCode.fromCode(rawCode).isPresent() && !Sanitizer.looksInternal(description)
                        ? Sanitizer.safeMessage(description, code.defaultMessage())
                        : "The service is temporarily unavailable; please retry";
            }
            default -> {
                if (Sanitizer.looksInternal(description)) {
                    LOG.errorf("scaigrid_upstream_error request=%s grpc_status=%s detail=%s",
                            RequestIds.current(), status.getCode(), description);
                }
                yield Sanitizer.safeMessage(description, code.defaultMessage());
            }
        };
        return new ApiException(code, message, null, retryAfter, null);
    }

    private static Long parseLong(String value) {
        if (value == null) {
            return null;
        }
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static Throwable unwrap(Throwable t) {
        Throwable current = t;
        while ((current instanceof java.util.concurrent.CompletionException
                || current instanceof java.util.concurrent.ExecutionException)
                && current.getCause() != null) {
            current = current.getCause();
        }
        return current;
    }
}
