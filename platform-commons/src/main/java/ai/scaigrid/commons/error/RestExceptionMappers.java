package ai.scaigrid.commons.error;

import ai.scaigrid.commons.api.ErrorEnvelope;
import ai.scaigrid.commons.api.NulFreeStrings;
import ai.scaigrid.commons.requestid.RequestIds;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.exc.InvalidDefinitionException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Every failure leaving a REST endpoint becomes the standard error envelope with the request id.
 * Internal faults are logged with the request id and answered with a generic message only.
 */
public class RestExceptionMappers {
    private static final Logger LOG = Logger.getLogger(RestExceptionMappers.class);

    @ServerExceptionMapper
    public Response mapApiException(ApiException e) {
        if (e.errorCode().isServerFault()) {
            LOG.errorf(e, "request %s failed: %s", RequestIds.current(), e.getMessage());
            return toResponse(new ApiException(e.errorCode()));
        }
        return toResponse(e);
    }

    @ServerExceptionMapper
    public Response mapWebApplicationException(WebApplicationException e) {
        if (e.getCause() instanceof JsonProcessingException json) {
            // Quarkus REST wraps body-parsing failures in a 400
            return mapJsonProblem(json);
        }
        int status = e.getResponse() != null ? e.getResponse().getStatus() : 500;
        ErrorCode code = ErrorCode.forHttpStatus(status);
        if (status >= 500) {
            LOG.errorf(e, "request %s failed with HTTP %d", RequestIds.current(), status);
            return toResponse(new ApiException(code));
        }
        String message = switch (status) {
            case 404 -> "Resource not found";
            case 405 -> "Method not allowed on this resource";
            case 406 -> "The requested media type is not available";
            case 415 -> "Unsupported media type; send application/json";
            default -> code.defaultMessage();
        };
        return toResponse(new ApiException(code, message), status);
    }

    /** More specific than Quarkus' built-in mapper for this type, so ours wins. */
    @ServerExceptionMapper(priority = 1)
    public Response mapMismatchedInput(MismatchedInputException e) {
        return mapJsonProblem(e);
    }

    @ServerExceptionMapper(priority = 1)
    public Response mapJsonProblem(JsonProcessingException e) {
        if (e instanceof InvalidDefinitionException) {
            // a type we cannot (de)serialise is our bug, not the caller's
            return mapUnexpected(e);
        }
        String field = e instanceof JsonMappingException jme ? pathOf(jme) : null;
        String message = e instanceof NulFreeStrings.NulInText ? NulFreeStrings.MESSAGE
                : e instanceof JsonMappingException && field != null && !field.isEmpty()
                ? "Invalid value for field '" + field + "'"
                : "Malformed JSON body";
        Object details = List.of(Map.of("field", field == null || field.isEmpty() ? "body" : field, "message", message));
        return toResponse(new ApiException(ErrorCode.VALIDATION_ERROR, message, details));
    }

    @ServerExceptionMapper(priority = 10_000)
    public Response mapUnexpected(Throwable e) {
        ApiException dataError = DataErrors.asValidationError(e);
        if (dataError != null) {
            return toResponse(dataError);
        }
        LOG.errorf(e, "request %s failed with an unexpected error", RequestIds.current());
        return toResponse(new ApiException(ErrorCode.INTERNAL_ERROR));
    }

    private static String pathOf(JsonMappingException e) {
        return e.getPath().stream()
                .map(ref -> ref.getFieldName() != null ? ref.getFieldName() : "[" + ref.getIndex() + "]")
                .collect(Collectors.joining("."))
                .replace(".[", "[");
    }

    public static Response toResponse(ApiException e) {
        return toResponse(e, e.httpStatus());
    }

    private static Response toResponse(ApiException e, int status) {
        String requestId = RequestIds.currentOrGenerate();
        Response.ResponseBuilder builder = Response.status(status)
                .type(MediaType.APPLICATION_JSON_TYPE)
                .header(RequestIds.HTTP_HEADER, requestId)
                .entity(ErrorEnvelope.of(e, requestId));
        e.responseHeaders().forEach(builder::header);
        return builder.build();
    }
}
