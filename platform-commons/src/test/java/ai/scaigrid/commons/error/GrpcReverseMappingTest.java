package ai.scaigrid.commons.error;

import io.grpc.Metadata;
import io.grpc.Status;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;

/** Seed 001's table: gRPC status (no ScaiGrid code in the trailers) → HTTP status and detail handling. */
class GrpcReverseMappingTest {

    @ParameterizedTest(name = "{0} -> {1} ({2})")
    @CsvSource({
            "NOT_FOUND,404,pass",
            "INVALID_ARGUMENT,400,pass",
            "PERMISSION_DENIED,403,pass",
            "UNAUTHENTICATED,401,pass",
            "ALREADY_EXISTS,409,pass",
            "FAILED_PRECONDITION,409,pass",
            "RESOURCE_EXHAUSTED,429,pass",
            "DEADLINE_EXCEEDED,504,friendly",
            "UNAVAILABLE,503,friendly",
            "INTERNAL,500,sanitised",
            "UNKNOWN,500,sanitised"})
    void seedTableRow(Status.Code grpc, int http, String handling) {
        String detail = "coordinator says: job job_42 is busy";
        ApiException e = GrpcErrors.fromGrpc(Status.fromCode(grpc).withDescription(detail).asRuntimeException());
        assertThat(e.httpStatus()).isEqualTo(http);
        switch (handling) {
            case "pass" -> assertThat(e.getMessage()).isEqualTo(detail);
            case "friendly" -> assertThat(e.getMessage()).doesNotContain("coordinator").isNotBlank();
            default -> assertThat(e.getMessage()).isEqualTo(e.errorCode().defaultMessage());
        }
    }

    @ParameterizedTest
    @CsvSource({"INTERNAL", "UNKNOWN", "INVALID_ARGUMENT", "NOT_FOUND"})
    void tracebacksAndSqlNeverPassThrough(Status.Code grpc) {
        String traceback = "Traceback (most recent call last):\n  File \"/app/errors.py\", line 3\n"
                + "psycopg2.errors.UndefinedTable: relation \"jobs\" does not exist";
        ApiException e = GrpcErrors.fromGrpc(Status.fromCode(grpc).withDescription(traceback).asRuntimeException());
        assertThat(e.getMessage()).doesNotContain("Traceback").doesNotContain("psycopg").doesNotContain("jobs");
        ApiException sql = GrpcErrors.fromGrpc(Status.fromCode(grpc)
                .withDescription("SELECT id FROM users WHERE tenant_id = 3").asRuntimeException());
        assertThat(sql.getMessage()).doesNotContain("SELECT");
    }

    @ParameterizedTest
    @CsvSource({"MODEL_NOT_FOUND,NOT_FOUND,404", "BUDGET_EXCEEDED,PERMISSION_DENIED,402",
            "SLUG_CONFLICT,ALREADY_EXISTS,409", "RATE_LIMITED,RESOURCE_EXHAUSTED,429",
            "MODEL_UNAVAILABLE,UNAVAILABLE,503", "BACKEND_TIMEOUT,DEADLINE_EXCEEDED,504"})
    void trailerCodeWinsOverTheStatus(String code, Status.Code grpc, int http) {
        Metadata trailers = new Metadata();
        trailers.put(GrpcErrors.ERROR_CODE_KEY, code);
        trailers.put(GrpcErrors.RETRY_AFTER_KEY, "7");
        ApiException e = GrpcErrors.fromGrpc(Status.fromCode(grpc).withDescription("d").asRuntimeException(trailers));
        assertThat(e.errorCode().code()).isEqualTo(code);
        assertThat(e.httpStatus()).isEqualTo(http);
        assertThat(e.retryAfterSeconds()).isEqualTo(7L);
    }

    @ParameterizedTest
    @CsvSource({"VALIDATION_ERROR,INVALID_ARGUMENT", "AUTH_TOKEN_INVALID,UNAUTHENTICATED",
            "PERMISSION_DENIED,PERMISSION_DENIED", "BUDGET_EXCEEDED,PERMISSION_DENIED", "NOT_FOUND,NOT_FOUND",
            "RATE_LIMITED,RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED,RESOURCE_EXHAUSTED", "MODEL_UNAVAILABLE,UNAVAILABLE",
            "SERVICE_DRAINING,UNAVAILABLE", "DEADLINE_EXCEEDED,DEADLINE_EXCEEDED", "INTERNAL_ERROR,INTERNAL"})
    void seed000Classes(String code, Status.Code grpc) {
        assertThat(ErrorCode.fromCode(code).orElseThrow().grpcStatus()).isEqualTo(grpc);
    }

    /** A status has no room for the REST envelope's details: a validation error's description names its fields. */
    @org.junit.jupiter.api.Test
    void validationErrorsNameTheirFieldsInTheDescription() {
        ApiException one = ApiException.validation("messages[1].role", "role must be one of system, user, assistant, tool");
        assertThat(GrpcErrors.toStatusException(one).getStatus().getDescription())
                .isEqualTo("messages[1].role: role must be one of system, user, assistant, tool");
        ApiException several = new ApiException(ErrorCode.VALIDATION_ERROR, "The request is not valid", java.util.List.of(
                java.util.Map.of("field", "temperature", "message", "temperature must be from 0 to 2"),
                java.util.Map.of("field", "top_p", "message", "top_p must be from 0 to 1")));
        io.grpc.StatusException status = GrpcErrors.toStatusException(several);
        assertThat(status.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(status.getStatus().getDescription()).isEqualTo(
                "The request is not valid (temperature: temperature must be from 0 to 2; top_p: top_p must be from 0 to 1)");
        assertThat(status.getTrailers().get(GrpcErrors.ERROR_CODE_KEY)).isEqualTo("VALIDATION_ERROR");
        // a message that already starts with its field is not repeated
        ApiException named = new ApiException(ErrorCode.VALIDATION_ERROR, "top_k: no top_k here",
                java.util.List.of(java.util.Map.of("field", "top_k", "message", "no top_k here")));
        assertThat(GrpcErrors.toStatusException(named).getStatus().getDescription()).isEqualTo("top_k: no top_k here");
        // other details (not field lists) leave the message as it is
        ApiException other = new ApiException(ErrorCode.VALIDATION_ERROR, "Bad", java.util.Map.of("scope", "ip"));
        assertThat(GrpcErrors.toStatusException(other).getStatus().getDescription()).isEqualTo("Bad");
    }
}
